//! Server-only code (feature `ssr`): the shared state, Postgres access, authentication and the service
//! layer through which every write goes.

pub mod arguments;
pub mod audit;
pub mod auth;
pub mod charts;
pub mod config_as_code;
pub mod csv_file;
pub mod environments;
pub mod flags;
pub mod frontend_visibility;
pub mod guardrails;
pub mod hygiene;
pub mod overrides;
pub mod password;
pub mod passwords;
pub mod phases;
pub mod priority_urls;
pub mod registry;
pub mod retention;
pub mod rollouts;
pub mod schedule;
pub mod service_error;
pub mod setup;
pub mod snapshot;
pub mod state;
pub mod targeting;
pub mod tokens;
pub mod users;
pub mod webhooks;

pub use service_error::ServiceError;
pub use state::{AppState, SecurityConfig};

use crate::error::AppError;

/// Turns a service error into the error a server function returns (logging unexpected failures once, with
/// their cause chain) and sets the response's status to its.
pub fn to_app_error(err: ServiceError) -> AppError {
    respond_with(err.into())
}

/// A form field that failed a check a server function makes itself: 422, shown next to `field`.
pub fn invalid(field: &'static str, message: impl Into<String>) -> AppError {
    to_app_error(ServiceError::invalid(field, message))
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

/// This server's address as a request reached it (`https://flags.example.com`), for links a person
/// copies: the `Host` header, and the scheme a proxy reports in `X-Forwarded-Proto` (https when cookies
/// are marked Secure, else http).
pub fn origin_of(headers: &http::HeaderMap, secure_cookies: bool) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let scheme = header("x-forwarded-proto").filter(|p| p == "https" || p == "http").unwrap_or_else(|| {
        if secure_cookies {
            "https".into()
        } else {
            "http".into()
        }
    });
    let host = header("host").unwrap_or_else(|| "localhost".into());
    format!("{scheme}://{host}")
}

/// [`origin_of`] for the current server function's request.
pub fn request_origin() -> String {
    let secure = leptos::prelude::use_context::<AppState>().is_some_and(|s| s.security.secure_cookies);
    match leptos::prelude::use_context::<http::request::Parts>() {
        Some(parts) => origin_of(&parts.headers, secure),
        None => origin_of(&http::HeaderMap::new(), secure),
    }
}

/// The client's address for the current server function, as the login throttle counts it: the first
/// `X-Forwarded-For` entry behind a trusted proxy (when it is an address), else the peer address; the
/// unspecified address when neither is known.
pub fn client_address(state: &AppState) -> std::net::IpAddr {
    let unknown = std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    let Some(parts) = leptos::prelude::use_context::<http::request::Parts>() else { return unknown };
    if state.security.trust_forwarded_for {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if let Some(first) = forwarded {
            return first;
        }
    }
    parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map_or(unknown, |ci| ci.0.ip())
}
