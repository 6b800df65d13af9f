//! Cross-site request forgery protection for every state-changing request.
//!
//! The same policy as Go's `net/http.CrossOriginProtection`: browsers label every request with
//! `Sec-Fetch-Site` (and send `Origin` on POST); a request a browser marks as coming from another site is
//! refused. A request with neither header did not come from a browser form or script, so it cannot carry
//! a victim's cookies by accident and is let through (API clients authenticate with tokens). Session
//! cookies are also `SameSite=Strict`, a second, independent line.
//!
//! The evaluation routes are left out: they authenticate by token only, never by cookie, and pages on
//! other origins call them on purpose, with a frontend token (see `api::cors`).

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Origins allowed besides the request's own host.
#[derive(Debug, Clone, Default)]
pub struct TrustedOrigins(pub Arc<Vec<String>>);

pub async fn reject_cross_site(State(trusted): State<TrustedOrigins>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || crate::api::cors::is_evaluation_path(request.uri().path())
    {
        return next.run(request).await;
    }
    match verdict(&request, &trusted) {
        Ok(()) => next.run(request).await,
        Err(why) => {
            tracing::warn!(method = %request.method(), path = %request.uri().path(), why, "refused a cross-site request");
            (StatusCode::FORBIDDEN, format!("cross-site request refused: {why}")).into_response()
        }
    }
}

fn verdict(request: &Request, trusted: &TrustedOrigins) -> Result<(), &'static str> {
    let headers = request.headers();
    let origin = headers.get(header::ORIGIN).map(|o| o.to_str().map_err(|_| "unreadable Origin header")).transpose()?;
    let is_trusted = origin.is_some_and(|o| trusted.0.iter().any(|t| t.trim_end_matches('/') == o));
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            _ if is_trusted => Ok(()),
            _ => Err("the browser marked it as coming from another site"),
        };
    }
    match origin {
        // Neither Sec-Fetch-Site nor Origin: not a browser-initiated request.
        None => Ok(()),
        Some(_) if is_trusted => Ok(()),
        Some(origin) => same_host(request, origin),
    }
}

fn same_host(request: &Request, origin: &str) -> Result<(), &'static str> {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).ok_or("no Host header")?;
    let authority = origin.split_once("://").map(|(_, rest)| rest).ok_or("malformed Origin header")?;
    if authority.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err("its Origin is another site")
    }
}
