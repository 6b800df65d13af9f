//! Server-only code (feature `ssr`): the shared state, Postgres access, authentication and the service
//! layer through which every write goes.

pub mod audit;
pub mod auth;
pub mod charts;
pub mod config_as_code;
pub mod csv_file;
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

/// Turns a service error into the error a server function returns, setting the HTTP status and logging
/// unexpected failures once, with their cause chain.
pub fn to_app_error(err: ServiceError) -> AppError {
    respond_with(err.into())
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

/// Sets the response status of the current server function to the error's, and returns the error.
///
/// Not for a plain HTML form post (no JavaScript): server_fn answers those with a redirect back to the
/// form's page carrying the error in the query string, and a 4xx status would stop the browser from
/// following it.
pub fn respond_with(err: AppError) -> AppError {
    if is_plain_form_post() {
        return err;
    }
    if let Some(options) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(status) = http::StatusCode::from_u16(err.status()) {
            options.set_status(status);
        }
    }
    err
}
