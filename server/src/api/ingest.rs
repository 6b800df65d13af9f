//! `POST /api/v1/metrics`: applications report what each cohort of a flag did (requests, errors, a latency
//! histogram) and named gauges, for the guardrails. The body is documented in
//! `app::domain::guardrail::ingest`; an evaluate token reports for its own environment.

use super::caller::{authenticate, Purpose};
use super::error::{ApiError, ErrorBody};
use app::domain::guardrail::{validate_batch, MetricBatch};
use app::domain::EnvKey;
use app::server::guardrails::{self, IngestOutcome, UnknownKey};
use app::server::{AppState, ServiceError};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

/// The largest body: a full batch of 10,000 samples is about 3 MB.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

fn invalid(path: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_SAMPLE", format!("{path}: {message}"))
        .with_details(serde_json::json!({ "path": path, "problem": message }))
}

/// Reports requests, errors and latency per flag cohort, and named gauges, for the guardrails. A batch id
/// sent again by the same token counts once.
#[utoipa::path(
    post, path = "/api/v1/metrics", tag = "guardrails",
    request_body = MetricBatch,
    responses(
        (status = 200, description = "Stored (or a duplicate, stored before)", body = IngestOutcome),
        (status = 422, description = "A bad sample: `details.path` says which (`INVALID_SAMPLE`)", body = ErrorBody),
    ),
    security(("evaluate_token" = [])),
)]
pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<MetricBatch>, JsonRejection>,
) -> Result<Json<IngestOutcome>, ApiError> {
    let caller = authenticate(&state, &headers, Purpose::ReportMetrics).await?;
    let Json(batch) = body.map_err(|rejection| {
        ApiError::new(rejection.status(), "INVALID_BODY", format!("the batch is not valid: {}", rejection.body_text()))
    })?;
    let environment =
        EnvKey::parse(&caller.environment).map_err(|e| ServiceError::internal("reading the token's environment", e))?;
    let valid = validate_batch(&batch, Some(&environment), chrono::Utc::now())
        .map_err(|err| invalid(&err.path, err.message))?;
    match guardrails::ingest(&state.pool, caller.token_prefix, &valid).await? {
        Ok(outcome) => Ok(Json(outcome)),
        Err(UnknownKey::Flag(key)) => {
            let path = batch
                .samples
                .iter()
                .position(|s| s.flag == key)
                .map(|i| format!("samples[{i}].flag"))
                .or_else(|| {
                    batch
                        .gauges
                        .iter()
                        .position(|g| g.flag.as_deref() == Some(&key))
                        .map(|i| format!("gauges[{i}].flag"))
                })
                .unwrap_or_else(|| "samples".to_owned());
            Err(invalid(&path, format!("no flag {key:?}")))
        }
        Err(UnknownKey::Environment(key)) => Err(invalid("environment", format!("no environment {key:?}"))),
    }
}
