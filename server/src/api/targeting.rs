//! Targeting in the admin API: a flag's rules and prerequisites per environment, and segments. Through the
//! same services as the pages, with an admin token (acting as its user) or a session.

use super::admin::AdminCaller;
use super::error::{ApiError, ErrorBody};
use app::domain::targeting::{Prerequisite, TargetingRule};
use app::domain::{EnvKey, FlagKey, Role};
use app::model::targeting::{SegmentInput, SegmentView, TargetingView};
use app::server::targeting::{self, segments};
use app::server::{AppState, ServiceError};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn flag_and_env(key: &str, env: &str) -> Result<(FlagKey, EnvKey), ApiError> {
    Ok((FlagKey::parse(key).map_err(ServiceError::from)?, EnvKey::parse(env).map_err(ServiceError::from)?))
}

/// `GET .../targeting`: the flag's rules, in order, and its prerequisites in one environment.
#[utoipa::path(
    get, path = "/api/admin/feature-flags/{key}/environments/{env}/targeting", tag = "targeting",
    params(("key" = String, Path, description = "The flag's key"), ("env" = String, Path, description = "The environment's key")),
    responses(
        (status = 200, description = "The rules and prerequisites, with the version an edit names", body = TargetingView),
        (status = 404, description = "No such flag or environment (`NOT_FOUND`)", body = ErrorBody),
        (status = 422, description = "A bad key (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn get_targeting(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((key, env)): Path<(String, String)>,
) -> Result<Json<TargetingView>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    let (flag, env) = flag_and_env(&key, &env)?;
    Ok(Json(targeting::get(&state.pool, &flag, &env).await?))
}

/// The whole list of rules, replacing the stored one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRules {
    /// In order: the first rule that takes a unit answers.
    rules: Vec<TargetingRule>,
    /// The version you saw; a newer one answers 409 with the current version.
    expected_version: Option<i32>,
    /// Why, for the audit trail.
    reason: Option<String>,
}

/// `PUT .../targeting/rules`: replaces the flag's rules in one environment.
#[utoipa::path(
    put, path = "/api/admin/feature-flags/{key}/environments/{env}/targeting/rules", tag = "targeting",
    params(("key" = String, Path, description = "The flag's key"), ("env" = String, Path, description = "The environment's key")),
    request_body = SetRules,
    responses(
        (status = 200, description = "Replaced (or unchanged)", body = TargetingView),
        (status = 404, description = "No such flag or environment (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "expected_version is stale: `details.current_version` (`CONFLICT`); the flag is archived (`FLAG_ARCHIVED`)", body = ErrorBody),
        (status = 422, description = "A bad rule: the message names the rule and constraint, `details.field` the field (`INVALID`); a body that does not read (`INVALID_BODY`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn set_rules(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((key, env)): Path<(String, String)>,
    body: Result<Json<SetRules>, JsonRejection>,
) -> Result<Json<TargetingView>, ApiError> {
    caller.require(Role::Editor, "change targeting rules")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let (flag, env) = flag_and_env(&key, &env)?;
    let view = targeting::set_rules(
        &state.pool,
        &caller.actor(),
        &flag,
        &env,
        body.rules,
        body.expected_version,
        body.reason.as_deref(),
    )
    .await?;
    Ok(Json(view))
}

/// The whole list of prerequisites, replacing the stored one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPrerequisites {
    prerequisites: Vec<Prerequisite>,
    /// The version you saw; a newer one answers 409 with the current version.
    expected_version: Option<i32>,
    /// Why, for the audit trail.
    reason: Option<String>,
}

/// `PUT .../targeting/prerequisites`: replaces the flag's prerequisites in one environment.
#[utoipa::path(
    put, path = "/api/admin/feature-flags/{key}/environments/{env}/targeting/prerequisites", tag = "targeting",
    params(("key" = String, Path, description = "The flag's key"), ("env" = String, Path, description = "The environment's key")),
    request_body = SetPrerequisites,
    responses(
        (status = 200, description = "Replaced (or unchanged)", body = TargetingView),
        (status = 404, description = "No such flag or environment (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "expected_version is stale: `details.current_version` (`CONFLICT`); the flag is archived (`FLAG_ARCHIVED`)", body = ErrorBody),
        (status = 422, description = "A flag or variant that does not exist, a cycle (named) or a chain too deep (`INVALID`); a body that does not read (`INVALID_BODY`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn set_prerequisites(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((key, env)): Path<(String, String)>,
    body: Result<Json<SetPrerequisites>, JsonRejection>,
) -> Result<Json<TargetingView>, ApiError> {
    caller.require(Role::Editor, "change prerequisites")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let (flag, env) = flag_and_env(&key, &env)?;
    let view = targeting::set_prerequisites(
        &state.pool,
        &caller.actor(),
        &flag,
        &env,
        body.prerequisites,
        body.expected_version,
        body.reason.as_deref(),
    )
    .await?;
    Ok(Json(view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentList {
    segments: Vec<SegmentView>,
}

/// `GET /api/admin/segments`: every segment, with the rules that use it.
#[utoipa::path(
    get, path = "/api/admin/segments", tag = "targeting",
    responses((status = 200, description = "Every segment, by key", body = SegmentList)),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn list_segments(State(state): State<AppState>, caller: AdminCaller) -> Result<Json<SegmentList>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    Ok(Json(SegmentList { segments: segments::list(&state.pool).await? }))
}

/// `POST /api/admin/segments`: creates a segment.
#[utoipa::path(
    post, path = "/api/admin/segments", tag = "targeting",
    request_body = SegmentInput,
    responses(
        (status = 201, description = "Created", body = SegmentView),
        (status = 422, description = "A bad field, or the key exists already regardless of case: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn create_segment(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<SegmentInput>, JsonRejection>,
) -> Result<(StatusCode, Json<SegmentView>), ApiError> {
    caller.require(Role::Editor, "create segments")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    Ok((StatusCode::CREATED, Json(segments::create(&state.pool, &caller.actor(), &body).await?)))
}

/// `GET /api/admin/segments/{key}`: one segment, with the rules that use it.
#[utoipa::path(
    get, path = "/api/admin/segments/{key}", tag = "targeting",
    params(("key" = String, Path, description = "The segment's key")),
    responses(
        (status = 200, description = "The segment", body = SegmentView),
        (status = 404, description = "No such segment (`NOT_FOUND`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn get_segment(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
) -> Result<Json<SegmentView>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    Ok(Json(segments::get(&state.pool, &key).await?))
}

/// A segment's new name, description and constraints. `key`, if given, must be the segment's own.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeSegment {
    #[serde(default)]
    key: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    constraints: Vec<app::domain::targeting::Constraint>,
    /// The version you saw; a newer one answers 409 with the current version.
    expected_version: Option<i32>,
    /// Why, for the audit trail.
    reason: Option<String>,
}

/// `PUT /api/admin/segments/{key}`: changes a segment; every rule that uses it follows at once.
#[utoipa::path(
    put, path = "/api/admin/segments/{key}", tag = "targeting",
    params(("key" = String, Path, description = "The segment's key")),
    request_body = ChangeSegment,
    responses(
        (status = 200, description = "Changed (or unchanged)", body = SegmentView),
        (status = 404, description = "No such segment (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "expected_version is stale: `details.current_version` (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "A bad field: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn change_segment(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Json<ChangeSegment>, JsonRejection>,
) -> Result<Json<SegmentView>, ApiError> {
    caller.require(Role::Editor, "change segments")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let input =
        SegmentInput { key: body.key, name: body.name, description: body.description, constraints: body.constraints };
    let view =
        segments::update(&state.pool, &caller.actor(), &key, &input, body.expected_version, body.reason.as_deref())
            .await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    expected_version: Option<i32>,
    /// Why, for the audit trail.
    reason: Option<String>,
}

/// `DELETE /api/admin/segments/{key}`: deletes a segment no rule uses.
#[utoipa::path(
    delete, path = "/api/admin/segments/{key}", tag = "targeting",
    params(("key" = String, Path, description = "The segment's key"), DeleteQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such segment (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Rules use it, named in the message (`SEGMENT_IN_USE`); expected_version is stale (`CONFLICT`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn delete_segment(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Editor, "delete segments")?;
    let Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
    segments::delete(&state.pool, &caller.actor(), &key, query.expected_version, query.reason.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
