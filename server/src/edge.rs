//! What every evaluation request passes on its way to its handler, in one middleware: the request's
//! span, CORS ([`crate::api::cors`]), the input screen ([`crate::input`]) and the HTTP metrics
//! ([`crate::metrics`]). The console's routes get the same from a layer each; the evaluation routes are the
//! hot path, and every layer costs a few hundred nanoseconds of boxing and copying per request, which
//! measured about a tenth of a conditional request's time each (`cargo bench -p server --bench
//! evaluate_http`).

use crate::metrics::Metrics;
use app::server::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// What the middleware needs: the state (for CORS's view of the tokens) and the metrics.
#[derive(Clone)]
pub struct Edge {
    pub state: AppState,
    pub metrics: Arc<Metrics>,
}

/// The middleware, in the order the console's layers run: span, CORS, screen, metrics, handler.
pub async fn evaluation_edge(State(edge): State<Edge>, request: Request, next: Next) -> Response {
    let span = crate::request_span(&request);
    let started = Instant::now();
    let request_id = request.headers().get("x-request-id").cloned();
    async move {
        let origin = match crate::api::cors::admit(&edge.state, &request) {
            Ok(origin) => origin,
            Err(preflight) => return *preflight,
        };
        let mut response = match crate::input::screened(request).await {
            Ok(request) => {
                let handler_started = Instant::now();
                let method = request.method().clone();
                let route = request.extensions().get::<MatchedPath>().cloned();
                let response = next.run(request).await;
                edge.metrics.observe(&method, route.as_ref(), response.status(), handler_started);
                response
            }
            Err(refusal) => *refusal,
        };
        if let Some(origin) = origin {
            crate::api::cors::decorate(&edge.state, &origin, &mut response);
        }
        // As the console's trace layer reports a server error, with the id the answer carries, whatever
        // the log level of the request's span.
        if response.status().is_server_error() {
            tracing::error!(
                status = response.status().as_u16(),
                latency = ?started.elapsed(),
                request_id = request_id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or("-"),
                "response failed"
            );
        }
        response
    }
    .instrument(span)
    .await
}
