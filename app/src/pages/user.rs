//! `/admin/users/{id}`: one user, for admins: role and sign-off roles, disable or re-enable, force a
//! password reset, their admin tokens and what was done to them. Every control is a plain form, so the
//! page works without JavaScript; the server refuses what the page only hides (the last admin, oneself).

use super::users::{CreatedLink, RoleFields};
use crate::components::status::{Empty, ErrorBox, Loading};
use crate::error::AppError;
use crate::model::people::{CreatedLinkView, UserDetail, UserStatus};
use crate::pages::{describe_change, format_time};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

/// What the page shows: the user, and a link made by a form posted without JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPageData {
    pub detail: UserDetail,
    pub just_created: Option<CreatedLinkView>,
}

#[server(endpoint = "get_user")]
pub async fn get_user(id: i64) -> Result<UserPageData, AppError> {
    use crate::server::{to_app_error, users, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Admin, "manage users").await?;
    let state = expect_context::<AppState>();
    let detail = users::detail(&state.pool, me.id, id).await.map_err(to_app_error)?;
    Ok(UserPageData { detail, just_created: crate::server::auth::take_flash(super::users::CREATED_LINK_KEY).await? })
}

#[server(endpoint = "update_user_roles")]
pub async fn update_user_roles(id: i64, role: String, signoff: Option<Vec<String>>) -> Result<(), AppError> {
    use crate::server::{audit::Actor, to_app_error, users, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Admin, "change users' roles").await?;
    let invalid = |e: crate::domain::InvalidValue| to_app_error(e.into());
    let role = role.parse::<crate::domain::Role>().map_err(invalid)?;
    let signoff = super::users::parse_signoff(signoff).map_err(invalid)?;
    let state = expect_context::<AppState>();
    users::update_roles(&state.pool, &Actor::user(&me), id, role, &signoff).await.map_err(to_app_error)
}

/// Disables a user (with `disable` set) or enables them again.
#[server(endpoint = "set_user_disabled")]
pub async fn set_user_disabled(id: i64, disable: bool, reason: Option<String>) -> Result<(), AppError> {
    use crate::server::{audit::Actor, to_app_error, users, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Admin, "disable users").await?;
    let state = expect_context::<AppState>();
    let actor = Actor::user(&me);
    if disable {
        let reason = reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
        users::disable(&state.pool, &actor, id, reason).await.map(|_| ()).map_err(to_app_error)
    } else {
        users::enable(&state.pool, &actor, id).await.map_err(to_app_error)
    }
}

/// Forces a password reset and answers the new set-password link.
#[server(endpoint = "reset_user_password")]
pub async fn reset_user_password(id: i64) -> Result<CreatedLinkView, AppError> {
    use crate::server::{audit::Actor, to_app_error, users, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Admin, "reset passwords").await?;
    let state = expect_context::<AppState>();
    let issued = users::reset_password(&state.pool, &Actor::user(&me), id).await.map_err(to_app_error)?;
    super::users::link_view(issued).await
}

#[component]
pub fn UserPage() -> AnyView {
    let params = use_params_map();
    let roles = ServerAction::<UpdateUserRoles>::new();
    let status = ServerAction::<SetUserDisabled>::new();
    let reset = ServerAction::<ResetUserPassword>::new();
    let id = move || params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok()).unwrap_or(0));
    let page = Resource::new(
        move || (id(), roles.version().get(), status.version().get(), reset.version().get()),
        |(id, ..)| get_user(id),
    );
    view! {
        <Title text="User" />
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href="/admin/users">"Users"</a>
            " / "
            <span aria-current="page">"User"</span>
        </nav>
        {move || status.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        {move || reset.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        <Transition fallback=|| view! { <Loading what="the user" /> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(data) => view! { <UserBody data roles status reset /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

#[component]
fn UserBody(
    data: UserPageData,
    roles: ServerAction<UpdateUserRoles>,
    status: ServerAction<SetUserDisabled>,
    reset: ServerAction<ResetUserPassword>,
) -> AnyView {
    let UserPageData { detail, just_created } = data;
    let UserDetail { user, admin_tokens, pending_link, history, is_me, last_admin } = detail;
    let created = move || reset.value().get().and_then(Result::ok).or_else(|| just_created.clone());
    let roles_result = roles.value();
    let roles_error =
        move |field: &'static str| roles_result.get().and_then(Result::err).and_then(|e| e.field_message(field));
    let roles_other = move || {
        roles_result
            .get()
            .and_then(Result::err)
            .filter(|e| e.field_message("role").is_none() && e.field_message("signoff").is_none())
    };
    let uid = user.id;
    let disabled = user.status == UserStatus::Disabled;
    let pending = user.status == UserStatus::Pending;
    view! {
        <div class="page-head">
            <h1>{user.name.clone()}</h1>
            <p class="lead">
                {user.email.clone()}" · "<span class="role-badge">{user.role.as_str()}</span>" · "
                <span data-testid="user-status">{user.status.label()}</span>
            </p>
            <p class="muted small">
                "Added " {format_time(&user.created_at)} "; last sign-in "
                {user.last_login_at.as_ref().map_or_else(|| "never".to_owned(), format_time)} "."
            </p>
        </div>
        {move || created().map(|link| view! { <CreatedLink link /> })}
        <div class="grid-2">
            <section class="card" aria-labelledby="roles-h">
                <h2 id="roles-h">"Role and sign-off roles"</h2>
                {last_admin.then(|| view! {
                    <p class="state state-info">"The only active admin: make someone else an admin before demoting them."</p>
                })}
                {move || roles_other().map(|error| view! { <ErrorBox error /> })}
                {move || (roles_result.get() == Some(Ok(()))).then(|| view! { <p class="state state-info" role="status">"Saved."</p> })}
                <ActionForm action=roles attr:aria-label="Role and sign-off roles">
                    <input type="hidden" name="id" value=uid.to_string() />
                    <RoleFields current_role=user.role current_signoff=user.signoff_roles.clone()
                        role_error=Signal::derive(move || roles_error("role"))
                        signoff_error=Signal::derive(move || roles_error("signoff")) prefix="edit" />
                    <div class="form-actions">
                        <button type="submit" class="btn btn-primary" disabled=move || roles.pending().get()>"Save roles"</button>
                    </div>
                </ActionForm>
            </section>
            <section class="card" aria-labelledby="access-h">
                <h2 id="access-h">"Access"</h2>
                {pending_link.map(|link| view! {
                    <p class="muted" data-testid="pending-link">
                        {if link.purpose == crate::model::people::LinkPurpose::Invite { "An invitation link" } else { "A password-reset link" }}
                        " made " {format_time(&link.created_at)} " works until " {format_time(&link.expires_at)} "."
                    </p>
                })}
                {if is_me {
                    view! { <p class="muted">"This is you: change your password on "<a href="/admin/account">"your account page"</a>"."</p> }.into_any()
                } else if disabled {
                    view! {
                        <p>"Disabled: they cannot sign in. Their sessions and admin tokens were ended."</p>
                        <ActionForm action=status attr:class="inline-form" attr:aria-label="Enable the user">
                            <input type="hidden" name="id" value=uid.to_string() />
                            <input type="hidden" name="disable" value="false" />
                            <button type="submit" class="btn">"Enable again"</button>
                        </ActionForm>
                    }.into_any()
                } else {
                    // The address goes in a data attribute, never into script text: an email may hold a quote.
                    let confirm_reset = format!(
                        "Reset the password of {}? Their password stops working and their sessions end now.",
                        user.email
                    );
                    let confirm_disable = format!(
                        "Disable {}? They are signed out everywhere and their admin tokens are revoked.",
                        user.email
                    );
                    let confirm = crate::pages::rollouts::buttons::CONFIRM;
                    view! {
                        <ActionForm action=reset attr:class="stack-form" attr:aria-label="Password" attr:onsubmit=(!pending).then_some(confirm)>
                            <input type="hidden" name="id" value=uid.to_string() />
                            <p class="muted small">
                                {if pending { "They have not set a password yet. A new link voids the old one." }
                                 else { "Their password stops working and their sessions end; they choose a new one through the link." }}
                            </p>
                            <button type="submit" class="btn" data-confirm=(!pending).then_some(confirm_reset)>
                                {if pending { "New invitation link" } else { "Reset password" }}
                            </button>
                        </ActionForm>
                        <ActionForm action=status attr:class="stack-form" attr:aria-label="Disable the user" attr:onsubmit=confirm>
                            <input type="hidden" name="id" value=uid.to_string() />
                            <input type="hidden" name="disable" value="true" />
                            <p class="muted small">
                                "Disabling signs them out everywhere and revokes their admin tokens; they can be enabled again."
                            </p>
                            <div class="field">
                                <label for="disable-reason">"Why disable them (optional, for the audit log)"</label>
                                <input id="disable-reason" name="reason" type="text" maxlength="2000" />
                            </div>
                            <button type="submit" class="btn btn-danger" disabled=last_admin data-confirm=confirm_disable>"Disable"</button>
                        </ActionForm>
                    }.into_any()
                }}
            </section>
        </div>
        <section class="card" aria-labelledby="user-tokens-h">
            <h2 id="user-tokens-h">"Admin tokens acting as this user"</h2>
            {if admin_tokens.is_empty() {
                view! { <Empty message="None." /> }.into_any()
            } else {
                view! {
                    <ul class="plain-list">
                        {admin_tokens.into_iter().map(|t| view! {
                            <li><code>{t.prefix}</code>" "{t.name}" · last used "
                                {t.last_used_at.as_ref().map_or_else(|| "never".to_owned(), format_time)}</li>
                        }).collect_view()}
                    </ul>
                    <p class="muted small">"Revoke them on "<a href="/admin/tokens">"API tokens"</a>"; disabling the user revokes them all."</p>
                }.into_any()
            }}
        </section>
        <section class="card" aria-labelledby="user-history-h">
            <h2 id="user-history-h">"History"</h2>
            <div class="table-wrap">
            <table class="table" data-testid="user-history">
                <thead><tr><th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Action"</th><th scope="col">"Change"</th><th scope="col">"Reason"</th></tr></thead>
                <tbody>
                    {history.into_iter().map(|ev| view! {
                        <tr>
                            <td class="nowrap">{format_time(&ev.occurred_at)}</td>
                            <td>{ev.actor}</td>
                            <td><code>{ev.action}</code></td>
                            <td class="change">{describe_change(ev.before.as_ref(), ev.after.as_ref())}</td>
                            <td>{ev.reason.unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            </div>
        </section>
    }
    .into_any()
}
