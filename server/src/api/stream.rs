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

/// Server-Sent Events: `ready` at once, then `refetchEvaluation` after every configuration change (the
/// event carries the version only; refetch with a bulk OFREP evaluation and its ETag).
#[utoipa::path(
    get, path = "/api/v1/stream", tag = "evaluation",
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String)),
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
    let ready = Event::default()
        .event("ready")
        .data(serde_json::json!({ "environment": environment, "version": first }).to_string());
    let updates = stream::unfold(changes, move |mut changes| async move {
        // Ends when the process shuts down (the sender is dropped).
        changes.changed().await.ok()?;
        let version = *changes.borrow_and_update();
        let event = Event::default()
            .event("refetchEvaluation")
            .id(version.to_string())
            .data(serde_json::json!({ "type": "refetchEvaluation", "version": version }).to_string());
        Some((Ok(event), changes))
    });
    let events = stream::once(async move { Ok(ready) }).chain(updates);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
