//! `/admin/tokens`: API tokens for server applications (evaluate, one environment), browser pages and apps
//! (frontend: one environment, the flags visible to frontends, listed origins, a rate) and scripts (admin,
//! acting as one user). Admins only. A new token's secret is shown once, right after it is made.

use crate::components::status::{Empty, ErrorBox, Loading};
use crate::error::AppError;
use crate::model::{CreatedTokenView, TokenRow, TokensPageData};
use crate::pages::format_time;
use leptos::prelude::*;
use leptos_meta::Title;

/// Session key of a token created by a form posted without JavaScript, until the page shows it.
#[cfg(feature = "ssr")]
const CREATED_FLASH_KEY: &str = "created_token";

#[server(endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<TokensPageData, AppError> {
    use crate::server::{flags, to_app_error, tokens, users, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Admin, "manage API tokens").await?;
    let state = expect_context::<AppState>();
    let just_created: Option<CreatedTokenView> = crate::server::auth::take_flash(CREATED_FLASH_KEY).await?;
    let tokens = tokens::list(&state.pool).await.map_err(to_app_error)?;
    let environments = flags::environments(&state.pool).await.map_err(to_app_error)?;
    let users = users::list(&state.pool)
        .await
        .map_err(to_app_error)?
        .into_iter()
        .filter(|u| u.status != crate::model::people::UserStatus::Disabled)
        .map(|u| u.email)
        .collect();
    Ok(TokensPageData { tokens, environments, users, me: me.email, just_created })
}

/// Creates a token. The secret goes back in the answer; for a form posted without JavaScript, which comes
/// back to the page by a redirect, it waits in the session until the page has shown it once.
#[server(endpoint = "create_token")]
pub async fn create_token(
    name: String,
    scope: String,
    environment: Option<String>,
    user: Option<String>,
    origins: Option<String>,
    rate_limit: Option<String>,
) -> Result<CreatedTokenView, AppError> {
    use crate::domain::{AllowedOrigin, Email, EnvKey, RateLimit, TokenScope};
    use crate::server::{audit::Actor, to_app_error, tokens, AppState, ServiceError};
    let me = crate::server::auth::require(crate::domain::Role::Admin, "manage API tokens").await?;
    let invalid = |field: &'static str, message: String| to_app_error(ServiceError::invalid(field, message));
    let scope: TokenScope = scope.parse().map_err(|e: crate::domain::InvalidValue| invalid("scope", e.message))?;
    let blank_to_none = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let (environment, user) = match scope {
        TokenScope::Evaluate | TokenScope::Frontend => (blank_to_none(environment), None),
        TokenScope::Admin => (None, blank_to_none(user)),
    };
    // The form sends every field whatever the scope; only a frontend token reads these two.
    let (origins, rate_limit) = match scope {
        TokenScope::Frontend => (
            AllowedOrigin::parse_list(origins.as_deref().unwrap_or_default())
                .map_err(|e| invalid("origins", e.message))?,
            Some(
                RateLimit::parse(rate_limit.as_deref().unwrap_or_default())
                    .map_err(|e| invalid("rate_limit", e.message))?,
            ),
        ),
        _ => (Vec::new(), None),
    };
    let new = tokens::NewToken {
        name,
        scope,
        environment: environment
            .as_deref()
            .map(EnvKey::parse)
            .transpose()
            .map_err(|e| invalid("environment", e.message))?,
        user: user.as_deref().map(Email::parse).transpose().map_err(|e| invalid("user", e.message))?,
        origins,
        rate_limit,
    };
    let state = expect_context::<AppState>();
    let created = tokens::create(&state.pool, &Actor::user(&me), &new).await.map_err(to_app_error)?;
    let view = CreatedTokenView { prefix: created.prefix, scope: scope.as_str().to_owned(), secret: created.secret };
    if crate::server::is_plain_form_post() {
        crate::server::auth::put_flash(CREATED_FLASH_KEY, &view).await?;
    }
    Ok(view)
}

#[server(endpoint = "revoke_token")]
pub async fn revoke_token(prefix: String) -> Result<(), AppError> {
    use crate::server::{audit::Actor, to_app_error, tokens, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Admin, "manage API tokens").await?;
    let state = expect_context::<AppState>();
    tokens::revoke(&state.pool, &Actor::user(&me), prefix.trim()).await.map_err(to_app_error)
}

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let page = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_tokens());
    view! {
        <Title text="API tokens" />
        <div class="page-head">
            <h1>"API tokens"</h1>
            <p class="muted">
                "Evaluate tokens let a server application read flags in one environment. Frontend tokens are for browser pages "
                "and mobile apps: public by design, they read only the flags visible to frontends, from the origins they list, "
                "at a limited rate. Admin tokens let a script act as one user, with exactly that user's permissions; what they "
                "do is audited under that user. Also: "<code>"rollgate token create"</code>"."
            </p>
        </div>
        {move || revoke.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        <Transition fallback=|| view! { <Loading what="API tokens" /> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(data) => view! { <TokensBody data create revoke /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn TokensBody(
    data: TokensPageData,
    create: ServerAction<CreateToken>,
    revoke: ServerAction<RevokeToken>,
) -> impl IntoView {
    let TokensPageData { tokens, environments, users, me, just_created } = data;
    // With JavaScript the secret comes back in the action's answer; without, from the session, once.
    let created = move || create.value().get().and_then(Result::ok).or_else(|| just_created.clone());
    let error =
        move |field: &'static str| create.value().get().and_then(Result::err).and_then(|e| e.field_message(field));
    let other_error = move || {
        create.value().get().and_then(Result::err).filter(|e| {
            !["name", "scope", "environment", "user", "origins", "rate_limit"]
                .iter()
                .any(|f| e.field_message(f).is_some())
        })
    };
    view! {
        {move || created().map(|c| view! { <CreatedSecret created=c /> })}
        <section class="card" aria-labelledby="new-token-h">
            <h2 id="new-token-h">"New token"</h2>
            {move || other_error().map(|error| view! { <ErrorBox error /> })}
            <ActionForm action=create attr:class="form-grid" attr:aria-label="New API token">
                <div class="field">
                    <label for="token-name">"Name"</label>
                    <input id="token-name" name="name" type="text" required maxlength="100" placeholder="checkout-service production"
                        aria-invalid=move || error("name").is_some().to_string() aria-describedby="token-name-error" />
                    <p id="token-name-error" class="field-error" role="alert">{move || error("name")}</p>
                </div>
                <fieldset class="field">
                    <legend>"Scope"</legend>
                    <label><input type="radio" name="scope" value="evaluate" checked /> " Evaluate (an application, one environment)"</label>
                    <label><input type="radio" name="scope" value="frontend" /> " Frontend (a browser page or mobile app, one environment)"</label>
                    <label><input type="radio" name="scope" value="admin" /> " Admin (a script acting as a user)"</label>
                    <p class="field-error" role="alert">{move || error("scope")}</p>
                </fieldset>
                <div class="field">
                    <label for="token-env">"Environment (evaluate tokens)"</label>
                    <select id="token-env" name="environment" aria-describedby="token-env-error">
                        {environments.into_iter().map(|e| view! { <option value=e.key.clone()>{e.name}</option> }).collect_view()}
                    </select>
                    <p id="token-env-error" class="field-error" role="alert">{move || error("environment")}</p>
                </div>
                <div class="field">
                    <label for="token-origins">"Allowed origins (frontend tokens)"</label>
                    <textarea id="token-origins" name="origins" rows="2" placeholder="https://app.example"
                        aria-describedby="token-origins-help token-origins-error"
                        aria-invalid=move || error("origins").is_some().to_string()></textarea>
                    <p id="token-origins-help" class="muted small">
                        "One per line: the web pages allowed to use the token. None for a mobile app only; "<code>"*"</code>" for any site."
                    </p>
                    <p id="token-origins-error" class="field-error" role="alert">{move || error("origins")}</p>
                </div>
                <div class="field">
                    <label for="token-rate">"Rate limit (frontend tokens, requests per second)"</label>
                    <input id="token-rate" name="rate_limit" type="number" min="1" max="100000" inputmode="numeric"
                        placeholder=crate::domain::RateLimit::DEFAULT.per_second().to_string()
                        aria-describedby="token-rate-error" aria-invalid=move || error("rate_limit").is_some().to_string() />
                    <p id="token-rate-error" class="field-error" role="alert">{move || error("rate_limit")}</p>
                </div>
                <div class="field">
                    <label for="token-user">"Acts as (admin tokens)"</label>
                    <select id="token-user" name="user" aria-describedby="token-user-error">
                        {users.into_iter().map(|u| {
                            let selected = u == me;
                            view! { <option value=u.clone() selected=selected>{u.clone()}</option> }
                        }).collect_view()}
                    </select>
                    <p id="token-user-error" class="field-error" role="alert">{move || error("user")}</p>
                </div>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>"Create token"</button>
                </div>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="tokens-h">
            <h2 id="tokens-h">"Tokens"</h2>
            {if tokens.is_empty() {
                view! { <Empty message="No API tokens yet." /> }.into_any()
            } else {
                view! { <TokenTable tokens revoke /> }.into_any()
            }}
        </section>
    }
}

#[component]
fn CreatedSecret(created: CreatedTokenView) -> impl IntoView {
    view! {
        <section class="card notice" role="status" aria-labelledby="created-h" data-testid="created-token">
            <h2 id="created-h">{format!("Token {} created", created.prefix)}</h2>
            <p>"Copy it now: this is the only time it is shown. Rollgate keeps only a hash of it."</p>
            <label class="visually-hidden" for="created-secret">"The new token"</label>
            <input id="created-secret" class="mono secret" type="text" readonly value=created.secret size="48" />
            <p class="muted small">
                {match created.scope.as_str() {
                    "evaluate" => "Send it as ",
                    "frontend" => "Give it to the OpenFeature OFREP web provider, which sends it as ",
                    _ => "Use it with rollgate's commands, or send it as ",
                }}
                <code>"Authorization: Bearer <token>"</code>"."
            </p>
        </section>
    }
}

#[component]
fn TokenTable(tokens: Vec<TokenRow>, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    view! {
        <div class="table-wrap">
        <table class="table" data-testid="token-table">
            <thead><tr>
                <th scope="col">"Prefix"</th><th scope="col">"Name"</th><th scope="col">"Scope"</th>
                <th scope="col">"Environment / user"</th><th scope="col">"Created"</th><th scope="col">"Last used"</th>
                <th scope="col">"Status"</th>
            </tr></thead>
            <tbody>
                {tokens.into_iter().map(|t| {
                    let target = t.environment.clone().or_else(|| t.user.clone()).unwrap_or_default();
                    let frontend = t.rate_limit.map(|rate| {
                        let origins = if t.origins.is_empty() { "no web origins (apps only)".to_owned() } else { t.origins.join(", ") };
                        format!("{origins}; {rate}/s")
                    });
                    let revoked = t.revoked_at.is_some();
                    let prefix = t.prefix.clone();
                    let confirm = format!(
                        "return confirm('Revoke token {prefix}? Applications using it are refused from now on.')"
                    );
                    view! {
                        <tr data-testid=format!("token-{}", t.prefix)>
                            <td class="mono">{t.prefix.clone()}</td>
                            <td>{t.name.clone()}</td>
                            <td>{t.scope.clone()}</td>
                            <td>
                                {target}
                                {frontend.map(|f| view! { <div class="muted small" data-testid="token-origins">{f}</div> })}
                            </td>
                            <td class="nowrap">{format_time(&t.created_at)}</td>
                            <td class="nowrap">{t.last_used_at.as_ref().map_or_else(|| "never".to_owned(), format_time)}</td>
                            <td>
                                {if revoked {
                                    view! {
                                        <span class="badge state-off" title=t.revoked_at.as_ref().map(format_time)>"revoked"</span>
                                    }.into_any()
                                } else {
                                    view! {
                                        <span class="badge state-on">"active"</span>
                                        " "
                                        <ActionForm action=revoke attr:class="inline-form" attr:onsubmit=confirm>
                                            <input type="hidden" name="prefix" value=prefix.clone() />
                                            <button type="submit" class="btn btn-danger" aria-label=format!("Revoke {prefix}")>"Revoke"</button>
                                        </ActionForm>
                                    }.into_any()
                                }}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}
