//! The scheduled-change endpoints of the admin API: schedule, list and cancel, through the same service as
//! the `/admin/schedule` page, with an admin token (acting as its user) or a session.

use super::admin::AdminCaller;
use super::error::{ApiError, ErrorBody};
use app::domain::{EnvKey, FlagKey, Role};
use app::model::schedule::{ScheduleFilter, ScheduledAction, ScheduledChangeView};
use app::server::schedule::{self, NewScheduledChange};
use app::server::{AppState, ServiceError};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

/// A change to run at a given time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScheduled {
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,100}$")]
    flag: String,
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,49}$")]
    environment: String,
    #[schema(value_type = ScheduledAction)]
    action: String,
    /// Advance: the stage it must enter; rollback: the stage to go back to (default 0%).
    to_stage: Option<u32>,
    /// RFC 3339, or `YYYY-MM-DDTHH:MM` read as UTC; in the future.
    #[schema(example = "2026-12-24T09:00:00Z")]
    run_at: String,
    #[serde(default)]
    reason: String,
}

/// Schedules an advance, a toggle or a rollback; when it runs it passes every gate or ends failed.
#[utoipa::path(
    post, path = "/api/admin/schedule", tag = "schedule",
    request_body = CreateScheduled,
    responses(
        (status = 201, description = "Scheduled", body = ScheduledChangeView),
        (status = 404, description = "No such flag or environment (`NOT_FOUND`)", body = ErrorBody),
        (status = 422, description = "A bad field, e.g. a time in the past (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<CreateScheduled>, JsonRejection>,
) -> Result<(StatusCode, Json<ScheduledChangeView>), ApiError> {
    caller.require(Role::Editor, "schedule changes")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
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

/// Scheduled changes: every pending one and those finished in the last `recent_days` (7).
#[utoipa::path(
    get, path = "/api/admin/schedule", tag = "schedule",
    params(ScheduleFilter),
    responses((status = 200, description = "The changes, soonest first", body = Vec<ScheduledChangeView>)),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<ScheduleFilter>, QueryRejection>,
) -> Result<Json<Vec<ScheduledChangeView>>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    let Query(filter) = query.map_err(|e| ApiError::bad_query(&e))?;
    Ok(Json(schedule::list(&state.pool, &filter).await?))
}

/// Cancels a pending scheduled change; answers 204.
///
/// The example of a delete: 204 with no body.
#[utoipa::path(
    delete, path = "/api/admin/schedule/{id}", tag = "schedule",
    params(("id" = i64, Path, description = "The scheduled change's id")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 404, description = "No such scheduled change (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "It has run or was cancelled already (`CONFLICT`, `NOT_PENDING`...)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Editor, "schedule changes")?;
    let Path(id) = id.map_err(|e| ApiError::bad_path(&e))?;
    schedule::cancel(&state.pool, &caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
