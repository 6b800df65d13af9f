//! `/admin/users`: the people of the team, for admins. Adding a user makes a one-time set-password link to
//! pass on to them (shown once, also after a form posted without JavaScript); each user's own page
//! (`/admin/users/{id}`) changes their role and sign-off roles, disables them or forces a password reset.

use crate::components::status::{ErrorBox, Loading};
use crate::domain::{Role, SignoffRole};
use crate::error::AppError;
use crate::model::people::{CreatedLinkView, UserStatus, UsersPageData};
use crate::model::UserRow;
use crate::pages::format_time;
use leptos::prelude::*;
use leptos_meta::Title;

/// Session key of a set-password link made by a form posted without JavaScript, until a page shows it.
#[cfg(feature = "ssr")]
pub(crate) const CREATED_LINK_KEY: &str = "created_password_link";

/// The link's page as the link a person opens, on this server's own address.
#[cfg(feature = "ssr")]
pub(crate) async fn link_view(issued: crate::server::users::IssuedLink) -> Result<CreatedLinkView, AppError> {
    let view = CreatedLinkView {
        user_id: issued.user_id,
        email: issued.email,
        purpose: issued.purpose,
        link: format!("{}/set-password?token={}", crate::server::request_origin(), issued.token),
        expires_at: issued.expires_at,
    };
    // Without JavaScript the form comes back to its page by a redirect: the link waits in the session.
    if crate::server::is_plain_form_post() {
        crate::server::auth::put_flash(CREATED_LINK_KEY, &view).await?;
    }
    Ok(view)
}

#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<UsersPageData, AppError> {
    use crate::server::{to_app_error, users, AppState};
    crate::server::auth::require(Role::Admin, "manage users").await?;
    let state = expect_context::<AppState>();
    let users = users::list(&state.pool).await.map_err(to_app_error)?;
    Ok(UsersPageData { users, just_created: crate::server::auth::take_flash(CREATED_LINK_KEY).await? })
}

/// Adds a user with no password and answers their one-time set-password link.
#[server(endpoint = "invite_user")]
pub async fn invite_user(
    email: String,
    name: String,
    role: String,
    signoff: Option<Vec<String>>,
) -> Result<CreatedLinkView, AppError> {
    use crate::domain::{Email, PersonName};
    use crate::server::{audit::Actor, to_app_error, users, AppState};
    let me = crate::server::auth::require(Role::Admin, "add users").await?;
    let invalid = |e: crate::domain::InvalidValue| to_app_error(e.into());
    let invitation = users::Invitation {
        email: Email::parse(&email).map_err(invalid)?,
        name: PersonName::parse(&name).map_err(invalid)?,
        role: role.parse::<Role>().map_err(invalid)?,
        signoff_roles: parse_signoff(signoff).map_err(invalid)?,
    };
    let state = expect_context::<AppState>();
    let issued = users::invite(&state.pool, &Actor::user(&me), &invitation).await.map_err(to_app_error)?;
    link_view(issued).await
}

/// Sign-off roles from a form's checkboxes.
/// Errors name the form's field, `signoff`.
pub fn parse_signoff(values: Option<Vec<String>>) -> Result<Vec<SignoffRole>, crate::domain::InvalidValue> {
    SignoffRole::parse_list(&values.unwrap_or_default().join(","))
        .map_err(|e| crate::domain::InvalidValue { field: "signoff", ..e })
}

#[component]
pub fn UsersPage() -> AnyView {
    let invite = ServerAction::<InviteUser>::new();
    let page = Resource::new(move || invite.version().get(), |_| list_users());
    view! {
        <Title text="Users" />
        <div class="page-head">
            <h1>"Users"</h1>
            <p class="muted">
                "Add the people of your team. Each gets a one-time link to choose their own password; pass it on "
                "by chat or mail. Roles: viewers see everything, editors change flags and rollouts, admins also "
                "manage people, environments and tokens. Sign-off roles say which rollout stages someone can approve."
            </p>
        </div>
        <Transition fallback=|| view! { <Loading what="users" /> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(data) => view! { <UsersBody data invite /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

#[component]
fn UsersBody(data: UsersPageData, invite: ServerAction<InviteUser>) -> AnyView {
    let UsersPageData { users, just_created } = data;
    let created = move || invite.value().get().and_then(Result::ok).or_else(|| just_created.clone());
    let result = invite.value();
    let error = move |field: &'static str| result.get().and_then(Result::err).and_then(|e| e.field_message(field));
    let other_error = move || {
        result
            .get()
            .and_then(Result::err)
            .filter(|e| !["email", "name", "role", "signoff"].iter().any(|f| e.field_message(f).is_some()))
    };
    view! {
        {move || created().map(|link| view! { <CreatedLink link /> })}
        <section class="card" aria-labelledby="new-user-h">
            <h2 id="new-user-h">"Add a user"</h2>
            {move || other_error().map(|error| view! { <ErrorBox error /> })}
            <ActionForm action=invite attr:class="form-grid" attr:aria-label="Add a user">
                <div class="field">
                    <label for="user-email">"Email"</label>
                    <input id="user-email" name="email" type="email" required maxlength="254" autocomplete="off"
                        aria-invalid=move || error("email").is_some().to_string() aria-describedby="user-email-error" />
                    <p id="user-email-error" class="field-error" role="alert">{move || error("email")}</p>
                </div>
                <div class="field">
                    <label for="user-name">"Name"</label>
                    <input id="user-name" name="name" type="text" required maxlength="200" autocomplete="off"
                        aria-invalid=move || error("name").is_some().to_string() aria-describedby="user-name-error" />
                    <p id="user-name-error" class="field-error" role="alert">{move || error("name")}</p>
                </div>
                <RoleFields current_role=Role::Viewer current_signoff=Vec::new() role_error=Signal::derive(move || error("role"))
                    signoff_error=Signal::derive(move || error("signoff")) prefix="new" />
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || invite.pending().get()>"Add the user"</button>
                </div>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="users-h">
            <h2 id="users-h">{format!("People ({})", users.len())}</h2>
            <UserTable users />
        </section>
    }
    .into_any()
}

/// The role select and the sign-off role checkboxes, shared by "Add a user" and a user's page.
#[component]
pub fn RoleFields(
    current_role: Role,
    current_signoff: Vec<SignoffRole>,
    role_error: Signal<Option<String>>,
    signoff_error: Signal<Option<String>>,
    prefix: &'static str,
) -> AnyView {
    let role_id = format!("{prefix}-role");
    let role_error_id = format!("{prefix}-role-error");
    view! {
        <div class="field">
            <label for=role_id.clone()>"Role"</label>
            <select id=role_id name="role" aria-describedby=role_error_id.clone()>
                {Role::ALL.iter().map(|r| view! {
                    <option value=r.as_str() selected=*r == current_role>{role_label(*r)}</option>
                }).collect_view()}
            </select>
            <p id=role_error_id class="field-error" role="alert">{move || role_error.get()}</p>
        </div>
        <fieldset class="field">
            <legend>"Sign-off roles"</legend>
            <div class="checkbox-row">
                {SignoffRole::ALL.iter().map(|r| view! {
                    <label class="checkbox">
                        <input type="checkbox" name="signoff[]" value=r.as_str() checked=current_signoff.contains(r) />
                        {signoff_label(*r)}
                    </label>
                }).collect_view()}
            </div>
            <p class="field-error" role="alert">{move || signoff_error.get()}</p>
        </fieldset>
    }
    .into_any()
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Viewer => "Viewer (read only)",
        Role::Editor => "Editor (flags, phases, rollouts)",
        Role::Admin => "Admin (also people, environments)",
    }
}

pub fn signoff_label(role: SignoffRole) -> &'static str {
    match role {
        SignoffRole::DevLead => "Dev lead",
        SignoffRole::OpsOncall => "Ops on-call",
        SignoffRole::ProductOwner => "Product owner",
        SignoffRole::Qa => "QA",
    }
}

/// A set-password link just made, shown once.
#[component]
pub fn CreatedLink(link: CreatedLinkView) -> AnyView {
    let what = if link.purpose == crate::model::people::LinkPurpose::Invite { "Invitation" } else { "Password reset" };
    view! {
        <section class="card notice" role="status" aria-labelledby="created-link-h" data-testid="created-link">
            <h2 id="created-link-h">{format!("{what} link for {}", link.email)}</h2>
            <p>
                "Pass this link on to them. It works once, until " {format_time(&link.expires_at)}
                ", and is shown only now: Rollgate keeps only a hash of it."
            </p>
            <label class="visually-hidden" for="created-link">"The set-password link"</label>
            <input id="created-link" class="mono secret" type="text" readonly value=link.link size="60" />
        </section>
    }
    .into_any()
}

#[component]
fn UserTable(users: Vec<UserRow>) -> AnyView {
    view! {
        <div class="table-wrap">
        <table class="table" data-testid="user-table">
            <thead><tr>
                <th scope="col">"User"</th><th scope="col">"Role"</th><th scope="col">"Sign-off roles"</th>
                <th scope="col">"Status"</th><th scope="col">"Last sign-in"</th>
            </tr></thead>
            <tbody>
                {users.into_iter().map(|u| {
                    let href = format!("/admin/users/{}", u.id);
                    let status_class = match u.status {
                        UserStatus::Active => "badge state-on",
                        UserStatus::Pending => "badge",
                        UserStatus::Disabled => "badge state-off",
                    };
                    view! {
                        <tr data-testid=format!("user-{}", u.email)>
                            <td>
                                <a href=href>{u.email.clone()}</a>
                                <div class="muted small">{u.name.clone()}</div>
                            </td>
                            <td><span class="role-badge">{u.role.as_str()}</span></td>
                            <td>{signoff_text(&u.signoff_roles)}</td>
                            <td><span class=status_class>{u.status.label()}</span></td>
                            <td class="nowrap">{u.last_login_at.as_ref().map_or_else(|| "never".to_owned(), format_time)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
    .into_any()
}

pub fn signoff_text(roles: &[SignoffRole]) -> String {
    if roles.is_empty() {
        "—".to_owned()
    } else {
        roles.iter().map(|r| signoff_label(*r)).collect::<Vec<_>>().join(", ")
    }
}
