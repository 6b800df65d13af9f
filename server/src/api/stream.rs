//! `GET /api/v1/stream`: Server-Sent Events that tell a connected client the configuration changed, in
//! OFREP's event-stream style (the `eventStreams` of a bulk evaluation point here): the event carries no
//! flag values, only the news, and the client refetches (a bulk OFREP evaluation with its ETag, which costs
//! a 304 when its own answers did not change).
//!
//! Frames: `event: ready` at once (`{"environment", "version"}`), then, after every change, an unnamed
//! event (EventSource's `message`) with `{"type": "refetchEvaluation", "version"}` and the version as its
//! id, which is what OpenFeature's OFREP web provider listens for.
//!
//! Browsers' `EventSource` cannot send headers, so a frontend token may come as `?token=` instead (it is
//! public anyway, and the request log records paths without their query). A server token never may: it
//! would end up in proxies' logs. The stream ends when its token is revoked.

use super::caller::{authenticate, authenticate_token, bearer_token, Caller, Purpose};
use super::error::ApiError;
use app::server::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use futures_util::StreamExt;
use std::convert::Infallible;
use std::time::Duration;

/// The query of a stream opened by a browser.
#[derive(Debug, serde::Deserialize)]
pub struct StreamQuery {
    /// A frontend token, for clients that cannot send an `Authorization` header.
    token: Option<String>,
}

pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: axum::extract::Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let caller = match query.token.as_deref() {
        Some(token) if bearer_token(&headers).is_err() => {
            let caller = authenticate_token(&state, &headers, token, Purpose::Evaluate).await?;
            if !caller.frontend {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "TOKEN_IN_URL",
                    "only a frontend token may travel in a URL; send this one as `Authorization: Bearer`, and \
                     revoke it if the URL was logged anywhere",
                ));
            }
            caller
        }
        _ => authenticate(&state, &headers, Purpose::Evaluate).await?,
    };
    let environment = caller.environment;
    let mut changes = state.snapshot.subscribe();
    let first = *changes.borrow_and_update();
    let ready = Event::default()
        .event("ready")
        .data(serde_json::json!({ "environment": environment, "version": first }).to_string());
    let updates = stream::unfold(changes, move |mut changes| async move {
        // Ends when the process shuts down (the sender is dropped).
        changes.changed().await.ok()?;
        let version = *changes.borrow_and_update();
        let event = Event::default()
            .id(version.to_string())
            .data(serde_json::json!({ "type": "refetchEvaluation", "version": version }).to_string());
        Some((Ok(event), changes))
    });
    let events = stream::once(async move { Ok(ready) }).chain(updates).take_until(caller.life.revoked());
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Where a bulk evaluation's caller listens for changes: this server's stream, with a frontend token in
/// the URL (browsers' `EventSource` sends no headers). Secure cookies mean the server is reached over
/// HTTPS (behind a TLS proxy), so the stream is too.
pub fn url_for(state: &AppState, headers: &HeaderMap, caller: &Caller<'_>) -> String {
    let scheme = if state.security.secure_cookies { "https" } else { "http" };
    let mut url = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| "/api/v1/stream".to_owned(), |host| format!("{scheme}://{host}/api/v1/stream"));
    if caller.frontend {
        if let Ok(token) = bearer_token(headers) {
            url.push_str("?token=");
            url.push_str(token);
        }
    }
    url
}
