//! A server that starts while PostgreSQL does not answer starts anyway, and never gives up on it.
//!
//! It listens at once. Until the database has answered and its migrations are applied, it answers
//! `/healthz` (alive), `/readyz` and the evaluation APIs with their usual 503 (no snapshot yet), and
//! everything else with 503 and `Retry-After`; meanwhile [`prepare_until_ready`] retries with backoff,
//! then the caller loads its snapshot and starts its workers. Under an orchestrator the process does not
//! crash-loop: it becomes ready as soon as PostgreSQL does.

use crate::api::error::ApiError;
use crate::db::{Preparation, PrepareError};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The first wait between attempts; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between attempts: a database that comes back is used within this long.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Whether the database has been prepared, shared by the gate and the start-up task.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Applies the migrations and grants, retrying while PostgreSQL does not answer: 250 ms, then twice as
/// long each time up to 5 s. Any other failure ends it (a migration that fails will not pass by waiting).
pub async fn prepare_until_ready(preparation: Preparation) -> anyhow::Result<()> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match preparation.run().await {
            Ok(()) => {
                if attempts > 1 {
                    tracing::info!(attempts, "the database answers; serving");
                }
                return Ok(());
            }
            Err(PrepareError::Unreachable(err)) => {
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis(), "the database does not answer yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(PrepareError::Fatal(err)) => return Err(err),
        }
    }
}

/// Paths that answer without the database whether or not it is ready: liveness and readiness, the
/// evaluation APIs (which answer from the snapshot, 503 until there is one), Prometheus metrics and the
/// browser bundle.
fn needs_no_database(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/favicon.svg")
        || path.starts_with("/pkg/")
        || path.starts_with("/ofrep/")
        || (path.starts_with("/api/v1/") && path != "/api/v1/metrics")
}

/// Until the database is ready, answers 503 with `Retry-After` for everything that needs it.
pub async fn gate(State(readiness): State<Readiness>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if readiness.is_ready() || needs_no_database(path) {
        return next.run(request).await;
    }
    if path.starts_with("/api/") || path == "/login" || path == "/logout" {
        use axum::response::IntoResponse;
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "DATABASE_UNAVAILABLE",
            "the database is unreachable; this server is starting and keeps trying",
        )
        .into_response();
    }
    crate::unavailable_page()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation_and_probes_pass_the_gate_and_the_rest_waits_for_the_database() {
        for open in
            ["/healthz", "/readyz", "/metrics", "/api/v1/evaluate", "/api/v1/flags/x", "/ofrep/v1/configuration"]
        {
            assert!(needs_no_database(open), "{open}");
        }
        for gated in ["/api/v1/metrics", "/api/admin/whoami", "/admin/feature-flags", "/login", "/api/toggle_flag"] {
            assert!(!needs_no_database(gated), "{gated}");
        }
    }
}
