//! `/admin/account`: the signed-in person's own account: who they are, what they may do, and a new
//! password (the current one is asked for; every other session of theirs ends).

use super::users::signoff_text;
use crate::components::layout::whoami;
use crate::components::status::{ErrorBox, Loading};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

/// Replaces the signed-in user's password. A wrong current password counts as a failed sign-in (the same
/// throttle), so the form cannot be used to guess it.
#[server(endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
    new_password_again: String,
) -> Result<(), AppError> {
    use crate::server::auth::{attempt_login, keep_session, LoginOutcome};
    use crate::server::{audit::Actor, password, passwords, to_app_error, AppState, ServiceError};
    let me = crate::server::auth::require(crate::domain::Role::Viewer, "change your password").await?;
    let state = expect_context::<AppState>();
    let client = crate::server::client_address(&state);
    let email = crate::domain::Email::parse(&me.email).map_err(|e| to_app_error(e.into()))?;
    match attempt_login(&state.pool, &state.security, &email, &current_password, client).await.map_err(to_app_error)? {
        LoginOutcome::Success(_) => {}
        LoginOutcome::Invalid => {
            return Err(to_app_error(ServiceError::invalid("current_password", "that is not your current password")))
        }
        LoginOutcome::Throttled { retry_after_secs } => {
            return Err(to_app_error(ServiceError::Refused {
                code: "THROTTLED",
                message: format!("too many wrong passwords; try again in {} minutes", retry_after_secs.div_ceil(60)),
            }))
        }
    }
    let old_hash = passwords::current_hash(&state.pool, me.id)
        .await
        .map_err(to_app_error)?
        .ok_or_else(|| to_app_error(ServiceError::Unauthenticated("your session has ended; sign in again".into())))?;
    let new_hash = password::hash_new(&new_password, &new_password_again, "new_password", "new_password_again")
        .await
        .map_err(to_app_error)?;
    let epoch =
        passwords::change_own(&state.pool, &Actor::user(&me), &old_hash, &new_hash).await.map_err(to_app_error)?;
    keep_session(epoch).await?;
    if crate::server::is_plain_form_post() {
        leptos_axum::redirect("/admin/account?changed=1");
    }
    Ok(())
}

#[component]
pub fn AccountPage() -> AnyView {
    let me = Resource::new(|| (), |_| whoami());
    let change = ServerAction::<ChangePassword>::new();
    let query = leptos_router::hooks::use_query_map();
    let result = change.value();
    let error = move |field: &'static str| result.get().and_then(Result::err).and_then(|e| e.field_message(field));
    let other_error = move || {
        result.get().and_then(Result::err).filter(|e| {
            !["current_password", "new_password", "new_password_again"].iter().any(|f| e.field_message(f).is_some())
        })
    };
    let changed = move || result.get() == Some(Ok(())) || query.with(|q| q.get("changed").is_some());
    view! {
        <Title text="Your account" />
        <div class="page-head"><h1>"Your account"</h1></div>
        <Transition fallback=|| view! { <Loading what="your account" /> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(user) => view! {
                        <section class="card" aria-labelledby="me-h">
                            <h2 id="me-h">{user.name.clone()}</h2>
                            <dl class="details">
                                <dt>"Email"</dt><dd>{user.email.clone()}</dd>
                                <dt>"Role"</dt><dd><span class="role-badge">{user.role.as_str()}</span></dd>
                                <dt>"Sign-off roles"</dt><dd>{signoff_text(&user.signoff_roles)}</dd>
                            </dl>
                            <p class="muted small">"An admin changes roles on the users page."</p>
                        </section>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
        <section class="card" aria-labelledby="password-h">
            <h2 id="password-h">"Change your password"</h2>
            {move || changed().then(|| view! {
                <p class="state state-info" role="status">"Your password is changed. Your other sessions have ended."</p>
            })}
            {move || other_error().map(|error| view! { <ErrorBox error /> })}
            <ActionForm action=change attr:class="form-narrow" attr:aria-label="Change your password">
                <div class="field">
                    <label for="current-password">"Current password"</label>
                    <input id="current-password" name="current_password" type="password" autocomplete="current-password" required
                        aria-invalid=move || error("current_password").is_some().to_string() aria-describedby="current-password-error" />
                    <p id="current-password-error" class="field-error" role="alert">{move || error("current_password")}</p>
                </div>
                <div class="field">
                    <label for="new-password">"New password"</label>
                    <input id="new-password" name="new_password" type="password" autocomplete="new-password" required
                        aria-invalid=move || error("new_password").is_some().to_string() aria-describedby="new-password-hint new-password-error" />
                    <p class="hint" id="new-password-hint">"At least 12 characters."</p>
                    <p id="new-password-error" class="field-error" role="alert">{move || error("new_password")}</p>
                </div>
                <div class="field">
                    <label for="new-password-again">"New password again"</label>
                    <input id="new-password-again" name="new_password_again" type="password" autocomplete="new-password" required
                        aria-invalid=move || error("new_password_again").is_some().to_string() aria-describedby="new-password-again-error" />
                    <p id="new-password-again-error" class="field-error" role="alert">{move || error("new_password_again")}</p>
                </div>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || change.pending().get()>"Change password"</button>
                </div>
            </ActionForm>
        </section>
    }
    .into_any()
}
