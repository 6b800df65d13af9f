//! The admin frame: header, navigation, the signed-in user and sign-out.
//!
//! Unlike other widgets, the frame loads its own data (who is signed in): it is the route that wraps every
//! admin page, so there is no page above it to hand the user down.

use crate::error::AppError;
use crate::model::UserView;
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

/// The signed-in user, for the header and for pages that adapt to the role.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<UserView, AppError> {
    Ok(crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?.view())
}

#[component]
pub fn AdminLayout() -> impl IntoView {
    let me = Resource::new(|| (), |_| whoami());
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/admin/feature-flags">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                "Rollgate"
            </a>
            <nav class="mainnav" aria-label="Main">
                <A href="/admin/feature-flags">"Feature flags"</A>
                <A href="/admin/segments">"Segments"</A>
                <A href="/admin/approvals">"Approvals"</A>
                <A href="/admin/schedule">"Schedule"</A>
                <A href="/admin/priority-urls">"Priority URLs"</A>
                <A href="/admin/organizations">"Organizations"</A>
                <A href="/admin/audit">"Audit log"</A>
                <A href="/admin/users">"Users"</A>
                <A href="/admin/tokens">"API tokens"</A>
                <A href="/admin/settings/webhooks">"Webhooks"</A>
                <A href="/admin/settings/environments">"Environments"</A>
            </nav>
            <div class="usermenu">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match me.await {
                            Ok(user) => view! {
                                <a class="user-name" href="/admin/account" data-testid="current-user"
                                    title="Your account">{user.name.clone()}</a>
                                <span class="role-badge"><span class="visually-hidden">"Role: "</span>{user.role.as_str()}</span>
                            }.into_any(),
                            Err(_) => ().into_any(),
                        }
                    })}
                </Suspense>
                <form method="post" action="/logout" class="logout-form">
                    <button type="submit" class="btn btn-quiet">"Sign out"</button>
                </form>
            </div>
        </header>
        <main id="main" class="content">
            <Outlet />
        </main>
    }
}
