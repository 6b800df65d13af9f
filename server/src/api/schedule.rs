//! The scheduled-change endpoints of the admin API: schedule, list and cancel, through the same service as
//! the `/admin/schedule` page, with an admin token (acting as its user) or a session.

use super::admin::AdminCaller;
use super::error::ApiError;
use app::domain::{EnvKey, FlagKey};
use app::model::schedule::{ScheduleFilter, ScheduledAction, ScheduledChangeView};
use app::server::schedule::{self, NewScheduledChange};
use app::server::{AppState, ServiceError};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/admin/schedule", get(list).post(create)).route("/api/admin/schedule/{id}", delete(cancel))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateScheduled {
    flag: String,
    environment: String,
    action: String,
    to_stage: Option<u32>,
    /// RFC 3339, or `YYYY-MM-DDTHH:MM` read as UTC.
    run_at: String,
    #[serde(default)]
    reason: String,
}

async fn create(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<CreateScheduled>, JsonRejection>,
) -> Result<(StatusCode, Json<ScheduledChangeView>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::new(e.status(), "INVALID_BODY", e.body_text()))?;
    let new = NewScheduledChange {
        flag: FlagKey::parse(&body.flag).map_err(|e| ServiceError::from(e.at("flag")))?,
        environment: EnvKey::parse(&body.environment).map_err(ServiceError::from)?,
        action: body.action.parse::<ScheduledAction>().map_err(ServiceError::from)?,
        to_stage: body.to_stage,
        run_at: schedule::parse_run_at(&body.run_at).map_err(ServiceError::from)?,
        reason: body.reason,
    };
    let id = schedule::create(&state.pool, &caller.actor(), &new, chrono::Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(schedule::get(&state.pool, id).await?)))
}

async fn list(
    State(state): State<AppState>,
    _caller: AdminCaller,
    query: Result<Query<ScheduleFilter>, QueryRejection>,
) -> Result<Json<Vec<ScheduledChangeView>>, ApiError> {
    let Query(filter) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_QUERY", e.body_text()))?;
    Ok(Json(schedule::list(&state.pool, &filter).await?))
}

async fn cancel(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    schedule::cancel(&state.pool, &caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
