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

/// One event of the stream, as Server-Sent Events frame it.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StreamMessage {
    /// `ready`, then `refetchEvaluation`.
    event: String,
    /// A `StreamEvent` as JSON.
    data: String,
    /// The configuration version, on `refetchEvaluation`.
    id: Option<String>,
}

/// The data of a stream event: `ready` (`environment`, `version`) at once, then `refetchEvaluation`
/// (`type`, `version`) after every configuration change.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct StreamEvent {
    /// The configuration version.
    pub version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// `refetchEvaluation`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The query of a stream opened by a browser.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// A frontend token, for clients that cannot send an `Authorization` header (a server token never may).
    token: Option<String>,
}

/// Server-Sent Events: `ready` at once, then `refetchEvaluation` after every configuration change (the
/// event carries the version only; refetch with a bulk OFREP evaluation and its ETag).
#[utoipa::path(
    get, path = "/api/v1/stream", tag = "evaluation",
    params(StreamQuery),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream",
               body = StreamMessage)),
    security(("evaluate_token" = [])),
)]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let axum::extract::Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
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
    let ready = Event::default().event("ready").data(event_data(&StreamEvent {
        version: first,
        environment: Some(environment),
        kind: None,
    }));
    let updates = stream::unfold(changes, move |mut changes| async move {
        // Ends when the process shuts down (the sender is dropped).
        changes.changed().await.ok()?;
        let version = *changes.borrow_and_update();
        let event = Event::default().id(version.to_string()).data(event_data(&StreamEvent {
            version,
            environment: None,
            kind: Some("refetchEvaluation".to_owned()),
        }));
        Some((Ok(event), changes))
    });
    let events = stream::once(async move { Ok(ready) }).chain(updates).take_until(caller.life.revoked());
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn event_data(event: &StreamEvent) -> String {
    serde_json::to_string(event).unwrap_or_default()
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
