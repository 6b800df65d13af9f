//! Server-only code (feature `ssr`): the shared state, Postgres access, authentication and the service
//! layer through which every write goes.

pub mod arguments;
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
pub fn respond_with(err: AppError) -> AppError {
    set_response_status(&err);
    err
}

/// How long a client should wait before trying again after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// Sets the status of the response being made (a server function's, or a page's while it renders) to the
/// error's, with `Retry-After` on a 503. `AppError` calls it as server_fn serializes the error, so every
/// error of every server function gets its status.
///
/// Not for a plain HTML form post (no JavaScript): server_fn answers those with a redirect back to the
/// form's page carrying the error in the query string, and a 4xx status would stop the browser from
/// following it.
pub fn set_response_status(err: &AppError) {
    if is_plain_form_post() {
        return;
    }
    if let Some(options) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(status) = http::StatusCode::from_u16(err.status()) {
            options.set_status(status);
        }
        if matches!(err, AppError::Unavailable) {
            options.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(RETRY_AFTER_SECONDS));
        }
    }
}
