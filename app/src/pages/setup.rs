//! The two pages reached through a one-time link rather than a sign-in: `/setup?token=...`, which creates
//! the first admin of an empty install, and `/set-password?token=...`, where an invited user (or one whose
//! password an admin reset) chooses a password. Without a working token both answer 404, so they give
//! nothing away. Both are plain forms: they work without JavaScript, and sign the person in at the end.

use crate::components::status::Loading;
use crate::error::AppError;
use crate::model::people::LinkTarget;
use crate::pages::not_found::NotFound;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Where a person lands once signed in through a link.
pub const AFTER_SIGN_IN: &str = "/admin/feature-flags";

/// Whether the set-up link works; `NotFound` (a 404 page) otherwise.
#[server(endpoint = "setup_link")]
pub async fn setup_link(token: String) -> Result<(), AppError> {
    use crate::server::{setup, to_app_error, AppState, ServiceError};
    let state = expect_context::<AppState>();
    match setup::setup_token_valid(&state.pool, &token).await.map_err(to_app_error)? {
        true => Ok(()),
        false => Err(to_app_error(ServiceError::NotFound("page".into()))),
    }
}

/// Creates the first admin and signs them in.
#[server(endpoint = "complete_setup")]
pub async fn complete_setup(
    token: String,
    email: String,
    name: String,
    password: String,
    password_again: String,
) -> Result<(), AppError> {
    use crate::domain::{Email, PersonName};
    use crate::server::{password, setup, to_app_error, AppState, ServiceError};
    let state = expect_context::<AppState>();
    // The token first: hashing a password costs a lot of CPU, which nobody without a link may spend.
    if !setup::setup_token_valid(&state.pool, &token).await.map_err(to_app_error)? {
        return Err(to_app_error(ServiceError::NotFound("page".into())));
    }
    let invalid = |e: crate::domain::InvalidValue| to_app_error(e.into());
    let email = Email::parse(&email).map_err(invalid)?;
    let name = PersonName::parse(&name).map_err(invalid)?;
    let password_hash =
        password::hash_new(&password, &password_again, "password", "password_again").await.map_err(to_app_error)?;
    let admin = setup::FirstAdmin { email, name, password_hash };
    let id = setup::complete_setup(&state.pool, &token, &admin).await.map_err(to_app_error)?;
    tracing::info!(user_id = id, "the first admin was created through the set-up link");
    crate::server::auth::sign_in_from_server_fn(id).await?;
    leptos_axum::redirect(AFTER_SIGN_IN);
    Ok(())
}

/// Whom a set-password link is for; `NotFound` (a 404 page) when it does not work.
#[server(endpoint = "password_link")]
pub async fn password_link(token: String) -> Result<LinkTarget, AppError> {
    use crate::server::{passwords, to_app_error, AppState, ServiceError};
    let state = expect_context::<AppState>();
    passwords::link_target(&state.pool, &token)
        .await
        .map_err(to_app_error)?
        .ok_or_else(|| to_app_error(ServiceError::NotFound("page".into())))
}

/// Sets the password of a set-password link's user and signs them in.
#[server(endpoint = "set_password")]
pub async fn set_password(token: String, password: String, password_again: String) -> Result<(), AppError> {
    use crate::server::{password, passwords, to_app_error, AppState, ServiceError};
    let state = expect_context::<AppState>();
    // The link first: hashing a password costs a lot of CPU, which nobody without a link may spend.
    if passwords::link_target(&state.pool, &token).await.map_err(to_app_error)?.is_none() {
        return Err(to_app_error(ServiceError::NotFound("page".into())));
    }
    let password_hash =
        password::hash_new(&password, &password_again, "password", "password_again").await.map_err(to_app_error)?;
    let id = passwords::set_with_link(&state.pool, &token, &password_hash).await.map_err(to_app_error)?;
    crate::server::auth::sign_in_from_server_fn(id).await?;
    leptos_axum::redirect(AFTER_SIGN_IN);
    Ok(())
}

fn token_from_query() -> impl Fn() -> String + Copy + Send + Sync + 'static {
    let query = use_query_map();
    move || query.with(|q| q.get("token").unwrap_or_default())
}

/// The last answer of a form's action.
type Answer = Signal<Option<Result<(), AppError>>>;

/// The message for one field from the last answer, if it was about that field.
fn field_error(result: Answer, field: &'static str) -> impl Fn() -> Option<String> + Copy + Send + Sync + 'static {
    move || result.with(|r| r.as_ref().and_then(|r| r.as_ref().err()).and_then(|e| e.field_message(field)))
}

/// The last answer's error when it is about none of `fields`.
fn other_error(
    result: Answer,
    fields: &'static [&'static str],
) -> impl Fn() -> Option<String> + Copy + Send + Sync + 'static {
    move || {
        result.with(|r| match r {
            Some(Err(e)) if !fields.iter().any(|f| e.field_message(f).is_some()) => Some(e.to_string()),
            _ => None,
        })
    }
}

/// A labelled input with its error below it.
#[component]
fn Field(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    error: impl Fn() -> Option<String> + Copy + Send + Sync + 'static,
) -> AnyView {
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = if hint.is_some() { format!("{hint_id} {error_id}") } else { error_id.clone() };
    view! {
        <div class="field" class:field-invalid=move || error().is_some()>
            <label for=id>{label}</label>
            <input id=id name=name type=kind autocomplete=autocomplete required
                aria-invalid=move || error().is_some().to_string() aria-describedby=described />
            {hint.map(|h| view! { <p class="hint" id=hint_id>{h}</p> })}
            <p class="field-error" id=error_id role="alert">{error}</p>
        </div>
    }
    .into_any()
}

const PASSWORD_HINT: &str = "At least 12 characters. A few unrelated words make a good one.";

#[component]
pub fn SetupPage() -> AnyView {
    let token = token_from_query();
    let link = Resource::new(token, setup_link);
    let action = ServerAction::<CompleteSetup>::new();
    let result: Answer = Signal::derive(move || action.value().get());
    let fields: &'static [&'static str] = &["email", "name", "password", "password_again"];
    view! {
        <Title text="Set up Rollgate" />
        <Transition fallback=|| view! { <Loading what="the set-up" /> }>
            {move || Suspend::new(async move {
                match link.await {
                    Err(_) => view! { <NotFound /> }.into_any(),
                    Ok(()) => view! {
                        <main class="login-page">
                            <section class="card login-card" aria-labelledby="setup-h">
                                <h1 id="setup-h"><span class="brand-mark" aria-hidden="true">"◆"</span>" Set up Rollgate"</h1>
                                <p class="muted">
                                    "Create the first admin account. It can then add environments, phases, flags and the "
                                    "people of your team. This link works once."
                                </p>
                                {move || other_error(result, fields)().map(|e| view! { <p class="state state-error" role="alert">{e}</p> })}
                                <ActionForm action attr:aria-label="Create the first admin">
                                    <input type="hidden" name="token" value=token />
                                    <Field id="setup-email" name="email" label="Email" kind="email" autocomplete="username"
                                        error=field_error(result, "email") />
                                    <Field id="setup-name" name="name" label="Your name" kind="text" autocomplete="name"
                                        error=field_error(result, "name") />
                                    <Field id="setup-password" name="password" label="Password" kind="password"
                                        autocomplete="new-password" hint=PASSWORD_HINT error=field_error(result, "password") />
                                    <Field id="setup-password-again" name="password_again" label="Password again" kind="password"
                                        autocomplete="new-password" error=field_error(result, "password_again") />
                                    <button type="submit" class="btn btn-primary btn-block" disabled=move || action.pending().get()>
                                        "Create the admin account"
                                    </button>
                                </ActionForm>
                            </section>
                        </main>
                    }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

#[component]
pub fn SetPasswordPage() -> AnyView {
    let token = token_from_query();
    let link = Resource::new(token, password_link);
    let action = ServerAction::<SetPassword>::new();
    let result: Answer = Signal::derive(move || action.value().get());
    let fields: &'static [&'static str] = &["password", "password_again"];
    view! {
        <Title text="Choose a password" />
        <Transition fallback=|| view! { <Loading what="the link" /> }>
            {move || Suspend::new(async move {
                match link.await {
                    Err(_) => view! { <NotFound /> }.into_any(),
                    Ok(target) => {
                        let greeting = if target.purpose == crate::model::people::LinkPurpose::Invite {
                            format!("Welcome, {}. Choose a password for {} to finish setting up your account.", target.name, target.email)
                        } else {
                            format!("{}, an admin reset your password. Choose a new one for {}.", target.name, target.email)
                        };
                        view! {
                            <main class="login-page">
                                <section class="card login-card" aria-labelledby="set-password-h">
                                    <h1 id="set-password-h"><span class="brand-mark" aria-hidden="true">"◆"</span>" Choose a password"</h1>
                                    <p class="muted" data-testid="set-password-greeting">{greeting}</p>
                                    {move || other_error(result, fields)().map(|e| view! { <p class="state state-error" role="alert">{e}</p> })}
                                    <ActionForm action attr:aria-label="Choose a password">
                                        <input type="hidden" name="token" value=token />
                                        // Lets password managers file the new password under the right account.
                                        <input type="hidden" autocomplete="username" value=target.email.clone() />
                                        <Field id="new-password" name="password" label="Password" kind="password"
                                            autocomplete="new-password" hint=PASSWORD_HINT error=field_error(result, "password") />
                                        <Field id="new-password-again" name="password_again" label="Password again" kind="password"
                                            autocomplete="new-password" error=field_error(result, "password_again") />
                                        <button type="submit" class="btn btn-primary btn-block" disabled=move || action.pending().get()>
                                            "Set the password and sign in"
                                        </button>
                                    </ActionForm>
                                </section>
                            </main>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
    .into_any()
}
