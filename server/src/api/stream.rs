//! `GET /api/v1/stream`: Server-Sent Events that tell a connected client the configuration changed, in
//! the OFREP event-stream style: the event carries no flag values, only the news, and the client refetches
//! (a bulk OFREP evaluation with its ETag, which costs a 304 when its own answers did not change).

use super::error::ApiError;
use super::evaluate::authenticate;
use app::server::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
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

/// Server-Sent Events: `ready` at once, then `refetchEvaluation` after every configuration change (the
/// event carries the version only; refetch with a bulk OFREP evaluation and its ETag).
#[utoipa::path(
    get, path = "/api/v1/stream", tag = "evaluation",
    responses((status = 200, description = "An event stream", content_type = "text/event-stream",
               body = StreamMessage)),
    security(("evaluate_token" = [])),
)]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let caller = authenticate(&state, &headers)?;
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
        let event = Event::default()
            .event("refetchEvaluation")
            .id(version.to_string())
            .data(event_data(&StreamEvent { version, environment: None, kind: Some("refetchEvaluation".to_owned()) }));
        Some((Ok(event), changes))
    });
    let events = stream::once(async move { Ok(ready) }).chain(updates);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn event_data(event: &StreamEvent) -> String {
    serde_json::to_string(event).unwrap_or_default()
}
