//! `/admin/users`: the accounts, for admins only.

use crate::components::status::{ErrorBox, Loading};
use crate::error::AppError;
use crate::model::UserRow;
use crate::pages::format_time;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    use crate::server::{to_app_error, users, AppState};
    crate::server::auth::require(crate::domain::Role::Admin, "manage users").await?;
    let state = expect_context::<AppState>();
    users::list(&state.pool).await.map_err(to_app_error)
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let users = Resource::new(|| (), |_| list_users());
    view! {
        <Title text="Users" />
        <div class="page-head">
            <h1>"Users"</h1>
            <p class="muted">"Add users with "<code>"rollgate user add"</code>"."</p>
        </div>
        <Transition fallback=|| view! { <Loading what="users" /> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(rows) => view! {
                        <div class="table-wrap">
                        <table class="table">
                            <thead><tr>
                                <th scope="col">"Email"</th><th scope="col">"Name"</th><th scope="col">"Role"</th>
                                <th scope="col">"Sign-off roles"</th><th scope="col">"Status"</th><th scope="col">"Created"</th>
                            </tr></thead>
                            <tbody>
                                {rows.into_iter().map(|u| view! {
                                    <tr>
                                        <td>{u.email}</td>
                                        <td>{u.name}</td>
                                        <td><span class="role-badge">{u.role.as_str()}</span></td>
                                        <td>{u.signoff_roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")}</td>
                                        <td>{if u.disabled { "disabled" } else { "active" }}</td>
                                        <td class="nowrap">{format_time(&u.created_at)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}
