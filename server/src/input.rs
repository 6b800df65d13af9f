//! A first look at every request's input, before any handler or the session store sees it.
//!
//! - Text PostgreSQL cannot store, a NUL character, is refused with 422 naming the field, whichever route
//!   it was sent to: in the path, the query string, a form or a JSON body. No field of Rollgate takes one,
//!   and a NUL that reached a query would fail there as a server error.
//! - The body of a server function's form or JSON request is kept in the request's extensions
//!   ([`app::server::arguments::ArgumentBody`]), where a server function whose arguments do not decode
//!   finds which argument was wrong.

use crate::api::error::ApiError;
use app::error::AppError;
use app::server::arguments::ArgumentBody;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The largest body screened; the largest any route takes is a metrics batch (8 MB). Larger ones are
/// refused here with 413, as the routes would.
pub const MAX_SCREENED_BODY: usize = 16 * 1024 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Form,
    Json,
}

/// Middleware: [`screened`] before the handler.
pub async fn screen(request: Request, next: Next) -> Response {
    match screened(request).await {
        Ok(request) => next.run(request).await,
        Err(refusal) => *refusal,
    }
}

/// The request, its body read and checked, or the refusal to answer instead.
pub async fn screened(request: Request) -> Result<Request, Box<Response>> {
    let (mut parts, body) = request.into_parts();
    let server_function = is_server_function(parts.uri.path());
    if parts.uri.path().to_ascii_lowercase().contains("%00") {
        return Err(Box::new(refuse(server_function, "path", "the path")));
    }
    if let Some(field) = parts.uri.query().and_then(|q| nul_in_form(q.as_bytes())) {
        return Err(Box::new(refuse(server_function, &field, &field)));
    }
    let kind = match parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(t) if t.starts_with("application/x-www-form-urlencoded") => Kind::Form,
        Some(t) if t.starts_with("application/json") => Kind::Json,
        _ => return Ok(Request::from_parts(parts, body)),
    };
    let declared =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_SCREENED_BODY) {
        return Err(Box::new(too_large()));
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_SCREENED_BODY).await else { return Err(Box::new(too_large())) };
    let nul = match kind {
        Kind::Form => nul_in_form(&bytes),
        Kind::Json => nul_in_json(&bytes),
    };
    if let Some(field) = nul {
        return Err(Box::new(refuse(server_function, &field, &field)));
    }
    if server_function {
        parts.extensions.insert(ArgumentBody(bytes.clone()));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Server functions live at `/api/<name>`; the JSON APIs under `/api/admin/` and `/api/v1/`.
fn is_server_function(path: &str) -> bool {
    path.strip_prefix("/api/").is_some_and(|rest| {
        !rest.contains('/') && !rest.starts_with("admin") && !rest.starts_with("v1") && rest != "openapi.json"
    })
}

fn refuse(server_function: bool, field: &str, what: &str) -> Response {
    let message = format!("{what}: a NUL character (%00, \\u0000) is not allowed in any text");
    if server_function {
        let error = AppError::Invalid { field: field.to_owned(), message };
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        return (status, axum::Json(error)).into_response();
    }
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID", message)
        .with_details(serde_json::json!({ "field": field }))
        .into_response()
}

fn too_large() -> Response {
    let limit = MAX_SCREENED_BODY / (1024 * 1024);
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", format!("the request body is over {limit} MB"))
        .into_response()
}

/// The field (its name up to any `[`) of the first `key=value` pair holding a NUL, raw or `%00`.
fn nul_in_form(text: &[u8]) -> Option<String> {
    text.split(|b| *b == b'&').find(|pair| has_nul(pair)).map(|pair| {
        let key = pair.split(|b| *b == b'=').next().unwrap_or_default();
        let key: String =
            form_urlencoded::parse(&[key, b"=".as_slice()].concat()).map(|(k, _)| k.into_owned()).collect();
        let base = key.split('[').next().unwrap_or_default().replace('\0', "");
        if base.is_empty() {
            "arguments".to_owned()
        } else {
            base
        }
    })
}

fn has_nul(bytes: &[u8]) -> bool {
    bytes.contains(&0) || bytes.windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// The path (`samples[3].flag`) of the first string or key of a JSON body that holds a NUL (`\u0000`).
/// A body that is not JSON is left to the handler, which says why.
fn nul_in_json(bytes: &[u8]) -> Option<String> {
    if !escaped_nul(bytes) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    find_nul(&value, String::new())
}

/// Whether the text holds `\u0000` as an escape (not as an escaped backslash followed by `u0000`).
fn escaped_nul(bytes: &[u8]) -> bool {
    let needle = b"\\u0000";
    bytes
        .windows(needle.len())
        .enumerate()
        .any(|(at, w)| w == needle && bytes[..at].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0)
}

fn find_nul(value: &serde_json::Value, path: String) -> Option<String> {
    let here = || if path.is_empty() { "body".to_owned() } else { path.clone() };
    match value {
        serde_json::Value::String(text) if text.contains('\0') => Some(here()),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| find_nul(item, format!("{}[{i}]", here())))
        }
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let path =
                if path.is_empty() { key.replace('\0', "") } else { format!("{path}.{}", key.replace('\0', "")) };
            if key.contains('\0') {
                Some(path)
            } else {
                find_nul(item, path)
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_in_a_form_or_query_is_found_with_its_field() {
        assert_eq!(nul_in_form(b"flag=a&reason=why%00not"), Some("reason".into()));
        assert_eq!(nul_in_form(b"events%5B0%5D=a%00"), Some("events".into()));
        assert_eq!(nul_in_form(b"flag=a&reason=100%25"), None);
    }

    #[test]
    fn a_nul_in_json_is_found_with_its_path_but_an_escaped_backslash_is_text() {
        assert_eq!(nul_in_json(br#"{"samples": [{"flag": "a\u0000b"}]}"#), Some("samples[0].flag".into()));
        assert_eq!(nul_in_json(br#"{"reason": "a\\u0000b"}"#), None);
        assert_eq!(nul_in_json(br#"{"reason": "\\\u0000"}"#), Some("reason".into()));
    }

    #[test]
    fn server_functions_are_told_from_the_json_apis() {
        assert!(is_server_function("/api/toggle_flag"));
        assert!(!is_server_function("/api/admin/whoami"));
        assert!(!is_server_function("/api/v1/evaluate"));
        assert!(!is_server_function("/api/openapi.json"));
    }
}
