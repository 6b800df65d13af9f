#![recursion_limit = "512"]
//! Rollgate's pages, server functions and domain, shared by the server (feature `ssr`) and the browser
//! bundle (feature `hydrate`).

pub mod components;
pub mod domain;
pub mod error;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" href="/pkg/rollgate.css" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|text: String| if text.is_empty() { "Rollgate".to_owned() } else { format!("{text} · Rollgate") } />
        <Router>
            <Routes fallback=pages::not_found::NotFound>
                <Route path=path!("/login") view=pages::login::LoginPage ssr=SsrMode::Async />
                <Route path=path!("/setup") view=pages::setup::SetupPage ssr=SsrMode::Async />
                <Route path=path!("/set-password") view=pages::setup::SetPasswordPage ssr=SsrMode::Async />
                <ParentRoute path=path!("/admin") view=components::layout::AdminLayout>
                    // Async: the server waits for the data and sends whole pages, so they work without
                    // JavaScript (streamed Suspense content needs a script to be swapped in).
                    <Route path=path!("feature-flags") view=pages::flags::list::FlagListPage ssr=SsrMode::Async />
                    <Route path=path!("feature-flags/:key") view=pages::flags::detail::FlagPage ssr=SsrMode::Async />
                    <Route path=path!("priority-urls") view=pages::priority_urls::accounts::AccountsPage ssr=SsrMode::Async />
                    <Route path=path!("priority-urls/:account") view=pages::priority_urls::account::AccountPage ssr=SsrMode::Async />
                    <Route path=path!("organizations") view=pages::organizations::OrganizationsPage ssr=SsrMode::Async />
                    <Route path=path!("audit") view=pages::audit::AuditPage ssr=SsrMode::Async />
                    <Route path=path!("users") view=pages::users::UsersPage ssr=SsrMode::Async />
                    <Route path=path!("users/:id") view=pages::user::UserPage ssr=SsrMode::Async />
                    <Route path=path!("account") view=pages::account::AccountPage ssr=SsrMode::Async />
                    <Route path=path!("phases") view=pages::phases::PhasesPage ssr=SsrMode::Async />
                    <Route path=path!("segments") view=pages::segments::SegmentsPage ssr=SsrMode::Async />
                    <Route path=path!("settings/environments") view=pages::settings::environments::EnvironmentsPage ssr=SsrMode::Async />
                    <Route path=path!("tokens") view=pages::tokens::TokensPage ssr=SsrMode::Async />
                    <Route path=path!("settings/webhooks") view=pages::settings::webhooks::WebhooksPage ssr=SsrMode::Async />
                    <Route path=path!("rollouts/:id") view=pages::rollouts::page::RolloutPage ssr=SsrMode::Async />
                    <Route path=path!("approvals") view=pages::rollouts::approvals::ApprovalsPage ssr=SsrMode::Async />
                    <Route path=path!("schedule") view=pages::schedule::SchedulePage ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
