//! Server-only code (feature `ssr`): the shared state, Postgres access, authentication and the service
//! layer through which every write goes.

pub mod audit;
pub mod auth;
pub mod charts;
pub mod config_as_code;
pub mod flags;
pub mod guardrails;
pub mod hygiene;
pub mod overrides;
pub mod password;
pub mod priority_urls;
pub mod retention;
pub mod rollouts;
pub mod schedule;
pub mod service_error;
pub mod snapshot;
pub mod state;
pub mod tokens;
pub mod users;
pub mod webhooks;

pub use service_error::ServiceError;
pub use state::{AppState, SecurityConfig};

use crate::error::AppError;

/// Turns a service error into the error a server function returns, setting the HTTP status from the
/// error's and logging unexpected failures once, with their cause chain.
///
/// The status is left alone for a plain HTML form post (no JavaScript): server_fn answers those with a
/// redirect back to the form's page carrying the error in the query string, and a 4xx status would stop
/// the browser from following it.
pub fn to_app_error(err: ServiceError) -> AppError {
    if !is_plain_form_post() {
        if let Some(options) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            options.set_status(err.status());
        }
    }
    err.into()
}

/// Whether the current server function was called by a plain HTML form (no JavaScript): the browser then
/// expects a page, and server_fn answers with a redirect back to the form's page.
pub fn is_plain_form_post() -> bool {
    leptos::prelude::use_context::<http::request::Parts>().is_some_and(|parts| {
        parts.method == http::Method::POST
            && parts
                .headers
                .get(http::header::ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(|a| a.contains("text/html"))
    })
}
