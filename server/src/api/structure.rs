//! The admin API for what flags are organised by: environments (admins) and phases (editors), and moving
//! a flag from one phase to another. The same service functions as the pages, so the same checks, audit
//! events and NOTIFYs. `rollgate env ...` and `rollgate phase ...` are thin clients of these routes.

use super::admin::AdminCaller;
use super::error::ApiError;
use app::domain::{Description, EnvKey, EnvName, FlagKey, PhaseKey, PhaseName};
use app::model::environments::{EnvironmentRow, PhaseRow};
use app::model::FlagDetail;
use app::server::phases::PhaseFields;
use app::server::{environments, flags, phases, AppState, ServiceError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/environments", get(list_environments).post(create_environment))
        // `reorder` is not a key clash: no POST exists on /environments/{key} itself.
        .route("/api/admin/environments/reorder", post(reorder_environments))
        .route("/api/admin/environments/{key}", put(rename_environment))
        .route("/api/admin/environments/{key}/archive", post(archive_environment))
        .route("/api/admin/phases", get(list_phases).post(create_phase))
        .route("/api/admin/phases/reorder", post(reorder_phases))
        .route("/api/admin/phases/{key}", put(update_phase).delete(delete_phase))
        .route("/api/admin/feature-flags/{key}/phase", put(move_flag))
}

fn bad_json(rejection: &JsonRejection) -> ApiError {
    ApiError::new(rejection.status(), "INVALID_BODY", rejection.body_text())
}

/// An environment key from a body or a path, reported against `key`.
fn env_key(raw: &str) -> Result<EnvKey, ServiceError> {
    EnvKey::parse(raw).map_err(|e| ServiceError::Invalid { field: "key", message: e.message })
}

async fn environment(state: &AppState, key: &EnvKey) -> Result<EnvironmentRow, ServiceError> {
    environments::list(&state.pool)
        .await?
        .into_iter()
        .find(|e| e.key == key.as_str())
        .ok_or_else(|| ServiceError::NotFound(format!("environment {:?}", key.as_str())))
}

/// `GET /api/admin/environments`: in use first, in order, then the archived ones.
async fn list_environments(
    State(state): State<AppState>,
    _caller: AdminCaller,
) -> Result<Json<Vec<EnvironmentRow>>, ApiError> {
    Ok(Json(environments::list(&state.pool).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEnvironment {
    key: String,
    name: String,
}

async fn create_environment(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<CreateEnvironment>, JsonRejection>,
) -> Result<(StatusCode, Json<EnvironmentRow>), ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let key = env_key(&body.key)?;
    let name = EnvName::parse(&body.name).map_err(ServiceError::from)?;
    environments::create(&state.pool, &caller.actor(), &key, &name).await?;
    Ok((StatusCode::CREATED, Json(environment(&state, &key).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameEnvironment {
    name: String,
}

async fn rename_environment(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Json<RenameEnvironment>, JsonRejection>,
) -> Result<Json<EnvironmentRow>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let key = env_key(&key)?;
    let name = EnvName::parse(&body.name).map_err(ServiceError::from)?;
    environments::rename(&state.pool, &caller.actor(), &key, &name).await?;
    Ok(Json(environment(&state, &key).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchiveEnvironment {
    reason: Option<String>,
}

async fn archive_environment(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Option<Json<ArchiveEnvironment>>, JsonRejection>,
) -> Result<Json<EnvironmentRow>, ApiError> {
    let key = env_key(&key)?;
    let body = body.map_err(|e| bad_json(&e))?.map(|Json(b)| b).unwrap_or_default();
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    environments::archive(&state.pool, &caller.actor(), &key, reason).await?;
    Ok(Json(environment(&state, &key).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reorder {
    keys: Vec<String>,
}

async fn reorder_environments(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<Reorder>, JsonRejection>,
) -> Result<Json<Vec<EnvironmentRow>>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let keys = body
        .keys
        .iter()
        .map(|k| EnvKey::parse(k).map_err(|e| ServiceError::Invalid { field: "keys", message: e.message }))
        .collect::<Result<Vec<_>, _>>()?;
    environments::reorder(&state.pool, &caller.actor(), &keys).await?;
    Ok(Json(environments::list(&state.pool).await?))
}

/// `GET /api/admin/phases`: in order, with how many live flags each holds.
async fn list_phases(State(state): State<AppState>, _caller: AdminCaller) -> Result<Json<Vec<PhaseRow>>, ApiError> {
    Ok(Json(phases::list(&state.pool).await?))
}

async fn phase(state: &AppState, key: &PhaseKey) -> Result<PhaseRow, ServiceError> {
    phases::list(&state.pool)
        .await?
        .into_iter()
        .find(|p| p.key == key.as_str())
        .ok_or_else(|| ServiceError::NotFound(format!("phase {:?}", key.as_str())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePhase {
    key: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    requires_previous: bool,
}

async fn create_phase(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<CreatePhase>, JsonRejection>,
) -> Result<(StatusCode, Json<PhaseRow>), ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let key = PhaseKey::parse(&body.key).map_err(ServiceError::from)?;
    let fields = PhaseFields {
        name: PhaseName::parse(&body.name).map_err(ServiceError::from)?,
        description: Description::parse(&body.description).map_err(ServiceError::from)?,
        requires_previous: body.requires_previous,
    };
    phases::create(&state.pool, &caller.actor(), &key, &fields).await?;
    Ok((StatusCode::CREATED, Json(phase(&state, &key).await?)))
}

/// Any field left out keeps its value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePhase {
    name: Option<String>,
    description: Option<String>,
    requires_previous: Option<bool>,
    expected_version: Option<i32>,
}

async fn update_phase(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Json<UpdatePhase>, JsonRejection>,
) -> Result<Json<PhaseRow>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let key = PhaseKey::parse(&key).map_err(ServiceError::from)?;
    let current = phase(&state, &key).await?;
    let fields = PhaseFields {
        name: PhaseName::parse(body.name.as_deref().unwrap_or(&current.name)).map_err(ServiceError::from)?,
        description: Description::parse(body.description.as_deref().unwrap_or(&current.description))
            .map_err(ServiceError::from)?,
        requires_previous: body.requires_previous.unwrap_or(current.requires_previous),
    };
    phases::update(&state.pool, &caller.actor(), &key, &fields, body.expected_version).await?;
    Ok(Json(phase(&state, &key).await?))
}

async fn delete_phase(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let key = PhaseKey::parse(&key).map_err(ServiceError::from)?;
    phases::delete(&state.pool, &caller.actor(), &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reorder_phases(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<Reorder>, JsonRejection>,
) -> Result<Json<Vec<PhaseRow>>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let keys = body
        .keys
        .iter()
        .map(|k| PhaseKey::parse(k).map_err(|e| ServiceError::Invalid { field: "keys", message: e.message }))
        .collect::<Result<Vec<_>, _>>()?;
    phases::reorder(&state.pool, &caller.actor(), &keys).await?;
    Ok(Json(phases::list(&state.pool).await?))
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct MoveFlag {
    /// The phase's key; `null` takes the flag out of every phase.
    phase: Option<String>,
    expected_version: Option<i32>,
}

async fn move_flag(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Json<MoveFlag>, JsonRejection>,
) -> Result<Json<FlagDetail>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let flag = FlagKey::parse(&key).map_err(ServiceError::from)?;
    let phase = body
        .phase
        .as_deref()
        .map(|p| PhaseKey::parse(p).map_err(|e| ServiceError::Invalid { field: "phase", message: e.message }))
        .transpose()?;
    phases::move_flag(&state.pool, &caller.actor(), &flag, phase.as_ref(), body.expected_version).await?;
    Ok(Json(flags::detail(&state.pool, flag.as_str(), caller.user.role.can_edit_flags()).await?))
}
