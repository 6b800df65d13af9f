//! Cross-origin requests to the evaluation API, and to nothing else.
//!
//! The evaluation routes authenticate by token only: no cookie, nothing ambient a foreign page could
//! borrow. So browsers may call them from other origins, within what frontend tokens allow: a preflight
//! (which carries no token) goes through when some live frontend token lists its origin, and an answer
//! carries `Access-Control-Allow-Origin` for such an origin. Which token may be used from which origin is
//! then checked with the token itself (`caller::authenticate`): a frontend token from its own origins
//! only, a server token from none. No `Access-Control-Allow-Credentials`, ever: cookies never ride along.
//!
//! Admin routes, pages and server functions get no CORS headers at all, and their cross-site writes stay
//! refused by `csrf`.

use app::server::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE_SECONDS: u32 = 600;

/// The routes applications call with an evaluate or frontend token: OFREP, REST evaluation, the stream.
pub fn is_evaluation_path(path: &str) -> bool {
    path == "/api/v1/evaluate"
        || path == "/api/v1/stream"
        || path.starts_with("/api/v1/flags/")
        || path.starts_with("/ofrep/v1/")
}

/// Answers preflights of the evaluation routes and adds CORS headers to their answers.
pub async fn evaluation_cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = match admit(&state, &request) {
        Ok(origin) => origin,
        Err(preflight) => return *preflight,
    };
    let mut response = next.run(request).await;
    if let Some(origin) = origin {
        decorate(&state, &origin, &mut response);
    }
    response
}

/// Before the handler: the answer to a preflight of an evaluation route, or else the foreign origin whose
/// request this is (`None` for a same-origin request or a route that is not for evaluation).
pub fn admit(state: &AppState, request: &Request) -> Result<Option<String>, Box<Response>> {
    if !is_evaluation_path(request.uri().path()) {
        return Ok(None);
    }
    let Some(origin) = super::caller::cross_origin(request.headers()).map(str::to_owned) else {
        return Ok(None);
    };
    let is_preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight {
        return Err(Box::new(preflight(request.headers(), &origin, origin_allowed(state, &origin))));
    }
    Ok(Some(origin))
}

/// After the handler: the CORS headers of an answer to a request from `origin`.
pub fn decorate(state: &AppState, origin: &str, response: &mut Response) {
    // Asked after the request: it may have taught this process a token newer than its snapshot.
    let allowed = origin_allowed(state, origin);
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if allowed {
        if let Ok(value) = HeaderValue::from_str(origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("ETag, Retry-After"));
        }
    }
}

fn origin_allowed(state: &AppState, origin: &str) -> bool {
    state.snapshot.get().is_some_and(|snapshot| state.snapshot.origin_may_preflight(&snapshot, origin))
}

fn preflight(request: &HeaderMap, origin: &str, allowed: bool) -> Response {
    let Some(origin) = allowed.then(|| HeaderValue::from_str(origin).ok()).flatten() else {
        // No CORS headers: the browser refuses the request before it is sent.
        return (StatusCode::FORBIDDEN, "no frontend token lists this origin").into_response();
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    // Whatever headers the page asks to send (OpenFeature providers add their own); without credentials
    // that is safe, and a token in any of them is still checked.
    if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(PREFLIGHT_MAX_AGE_SECONDS));
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
    );
    response
}
