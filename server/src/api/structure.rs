//! The admin API for what flags are organised by: environments (admins) and phases (editors), and moving
//! a flag from one phase to another. The same service functions as the pages, so the same checks, audit
//! events and NOTIFYs. `rollgate env ...` and `rollgate phase ...` are thin clients of these routes.
//! `/environments/reorder` and `/phases/reorder` are no key clash: neither list has a POST on `/{key}`.

use super::admin::AdminCaller;
use super::error::{ApiError, ErrorBody};
use app::domain::{Description, EnvKey, EnvName, FlagKey, PhaseKey, PhaseName, Role};
use app::model::environments::{EnvironmentRow, PhaseRow};
use app::model::FlagDetail;
use app::server::phases::PhaseFields;
use app::server::{environments, flags, phases, AppState, ServiceError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What managing environments takes, in the refusal's words.
const MANAGE_ENVIRONMENTS: &str = "manage environments";
/// What managing phases takes, in the refusal's words.
const MANAGE_PHASES: &str = "manage phases";

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

/// The environments: in use first, in order, then the archived ones, with what uses each.
#[utoipa::path(
    get, path = "/api/admin/environments", tag = "environments",
    responses((status = 200, description = "Every environment", body = Vec<EnvironmentRow>)),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn list_environments(
    State(state): State<AppState>,
    caller: AdminCaller,
) -> Result<Json<Vec<EnvironmentRow>>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    Ok(Json(environments::list(&state.pool).await?))
}

/// A new environment, added at the end of the list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    /// Never changes, never reused.
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,49}$", example = "staging")]
    key: String,
    #[schema(min_length = 1, max_length = 100)]
    name: String,
}

/// Admins: adds an environment at the end; every flag gets a state in it, off. Answers 201.
#[utoipa::path(
    post, path = "/api/admin/environments", tag = "environments",
    request_body = CreateEnvironment,
    responses(
        (status = 201, description = "Created", body = EnvironmentRow),
        (status = 422, description = "A field is invalid, or the key is taken or was an archived environment's: \
                                      `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn create_environment(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<CreateEnvironment>, JsonRejection>,
) -> Result<(StatusCode, Json<EnvironmentRow>), ApiError> {
    caller.require(Role::Admin, MANAGE_ENVIRONMENTS)?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let key = env_key(&body.key)?;
    let name = EnvName::parse(&body.name).map_err(ServiceError::from)?;
    environments::create(&state.pool, &caller.actor(), &key, &name).await?;
    Ok((StatusCode::CREATED, Json(environment(&state, &key).await?)))
}

/// An environment's new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameEnvironment {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
}

/// Admins: renames an environment (its key never changes).
#[utoipa::path(
    put, path = "/api/admin/environments/{key}", tag = "environments",
    params(("key" = String, Path, description = "The environment's key")),
    request_body = RenameEnvironment,
    responses(
        (status = 200, description = "Renamed", body = EnvironmentRow),
        (status = 404, description = "No such environment (`NOT_FOUND`)", body = ErrorBody),
        (status = 422, description = "A bad key or name: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn rename_environment(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Json<RenameEnvironment>, JsonRejection>,
) -> Result<Json<EnvironmentRow>, ApiError> {
    caller.require(Role::Admin, MANAGE_ENVIRONMENTS)?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let key = env_key(&key)?;
    let name = EnvName::parse(&body.name).map_err(ServiceError::from)?;
    environments::rename(&state.pool, &caller.actor(), &key, &name).await?;
    Ok(Json(environment(&state, &key).await?))
}

/// Why an environment is archived, for the audit trail.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveEnvironment {
    reason: Option<String>,
}

/// Admins: archives an environment. Refused while evaluate tokens, live rollouts or scheduled changes use
/// it, naming them.
#[utoipa::path(
    post, path = "/api/admin/environments/{key}/archive", tag = "environments",
    params(("key" = String, Path, description = "The environment's key")),
    request_body = Option<ArchiveEnvironment>,
    responses(
        (status = 200, description = "Archived", body = EnvironmentRow),
        (status = 404, description = "No such environment (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Still in use, or archived already (`ENVIRONMENT_IN_USE`...)", body = ErrorBody),
        (status = 422, description = "A bad key (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn archive_environment(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Option<Json<ArchiveEnvironment>>, JsonRejection>,
) -> Result<Json<EnvironmentRow>, ApiError> {
    caller.require(Role::Admin, MANAGE_ENVIRONMENTS)?;
    let key = env_key(&key)?;
    let body = body.map_err(|e| ApiError::bad_body(&e))?.map(|Json(b)| b).unwrap_or_default();
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    environments::archive(&state.pool, &caller.actor(), &key, reason).await?;
    Ok(Json(environment(&state, &key).await?))
}

/// A new order: every key of the list, each exactly once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reorder {
    keys: Vec<String>,
}

/// Admins: puts the environments in use in this order.
#[utoipa::path(
    post, path = "/api/admin/environments/reorder", tag = "environments",
    request_body = Reorder,
    responses(
        (status = 200, description = "The environments in their new order", body = Vec<EnvironmentRow>),
        (status = 422, description = "Not every environment in use exactly once (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn reorder_environments(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<Reorder>, JsonRejection>,
) -> Result<Json<Vec<EnvironmentRow>>, ApiError> {
    caller.require(Role::Admin, MANAGE_ENVIRONMENTS)?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let keys = body
        .keys
        .iter()
        .map(|k| EnvKey::parse(k).map_err(|e| ServiceError::Invalid { field: "keys", message: e.message }))
        .collect::<Result<Vec<_>, _>>()?;
    environments::reorder(&state.pool, &caller.actor(), &keys).await?;
    Ok(Json(environments::list(&state.pool).await?))
}

/// The phases in order, with how many live flags each holds.
#[utoipa::path(
    get, path = "/api/admin/phases", tag = "phases",
    responses((status = 200, description = "Every phase", body = Vec<PhaseRow>)),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn list_phases(State(state): State<AppState>, caller: AdminCaller) -> Result<Json<Vec<PhaseRow>>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    Ok(Json(phases::list(&state.pool).await?))
}

async fn phase(state: &AppState, key: &PhaseKey) -> Result<PhaseRow, ServiceError> {
    phases::list(&state.pool)
        .await?
        .into_iter()
        .find(|p| p.key == key.as_str())
        .ok_or_else(|| ServiceError::NotFound(format!("phase {:?}", key.as_str())))
}

/// A new phase, added after the last one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePhase {
    #[schema(pattern = r"^[a-z0-9][a-z0-9_.-]{0,99}$", example = "api-features")]
    key: String,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    description: String,
    /// Whether its flags wait for every flag of the phase before it to be fully rolled out.
    #[serde(default)]
    requires_previous: bool,
}

/// Editors: adds a phase after the last one. Answers 201.
#[utoipa::path(
    post, path = "/api/admin/phases", tag = "phases",
    request_body = CreatePhase,
    responses(
        (status = 201, description = "Created", body = PhaseRow),
        (status = 422, description = "A field is invalid, or the key is taken: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn create_phase(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<CreatePhase>, JsonRejection>,
) -> Result<(StatusCode, Json<PhaseRow>), ApiError> {
    caller.require(Role::Editor, MANAGE_PHASES)?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let key = PhaseKey::parse(&body.key).map_err(ServiceError::from)?;
    let fields = PhaseFields {
        name: PhaseName::parse(&body.name).map_err(ServiceError::from)?,
        description: Description::parse(&body.description).map_err(ServiceError::from)?,
        requires_previous: body.requires_previous,
    };
    phases::create(&state.pool, &caller.actor(), &key, &fields).await?;
    Ok((StatusCode::CREATED, Json(phase(&state, &key).await?)))
}

/// A phase's new fields; any field left out keeps its value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePhase {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(max_length = 2000)]
    description: Option<String>,
    requires_previous: Option<bool>,
    /// The version your view showed; 409 `CONFLICT` if it moved since.
    expected_version: Option<i32>,
}

/// Editors: edits a phase's name, description or `requires_previous`.
#[utoipa::path(
    put, path = "/api/admin/phases/{key}", tag = "phases",
    params(("key" = String, Path, description = "The phase's key")),
    request_body = UpdatePhase,
    responses(
        (status = 200, description = "The phase as it is now", body = PhaseRow),
        (status = 404, description = "No such phase (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The phase moved since `expected_version` (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "A field is invalid: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn update_phase(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Json<UpdatePhase>, JsonRejection>,
) -> Result<Json<PhaseRow>, ApiError> {
    caller.require(Role::Editor, MANAGE_PHASES)?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
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

/// Editors: deletes an empty phase. Answers 204.
#[utoipa::path(
    delete, path = "/api/admin/phases/{key}", tag = "phases",
    params(("key" = String, Path, description = "The phase's key")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such phase (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The phase still holds flags; the message says how many (`PHASE_NOT_EMPTY`)", body = ErrorBody),
        (status = 422, description = "A bad key (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn delete_phase(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Editor, MANAGE_PHASES)?;
    let key = PhaseKey::parse(&key).map_err(ServiceError::from)?;
    phases::delete(&state.pool, &caller.actor(), &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Editors: puts the phases in this order.
#[utoipa::path(
    post, path = "/api/admin/phases/reorder", tag = "phases",
    request_body = Reorder,
    responses(
        (status = 200, description = "The phases in their new order", body = Vec<PhaseRow>),
        (status = 422, description = "Not every phase exactly once (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn reorder_phases(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<Reorder>, JsonRejection>,
) -> Result<Json<Vec<PhaseRow>>, ApiError> {
    caller.require(Role::Editor, MANAGE_PHASES)?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let keys = body
        .keys
        .iter()
        .map(|k| PhaseKey::parse(k).map_err(|e| ServiceError::Invalid { field: "keys", message: e.message }))
        .collect::<Result<Vec<_>, _>>()?;
    phases::reorder(&state.pool, &caller.actor(), &keys).await?;
    Ok(Json(phases::list(&state.pool).await?))
}

/// The phase a flag moves to.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveFlag {
    /// The phase's key; `null` takes the flag out of every phase.
    #[schema(required)]
    phase: Option<String>,
    /// The flag's version your view showed; 409 `CONFLICT` if it moved since.
    expected_version: Option<i32>,
}

/// Editors: moves a flag to another phase, or out of every phase.
#[utoipa::path(
    put, path = "/api/admin/feature-flags/{key}/phase", tag = "admin",
    params(("key" = String, Path, description = "The flag's key")),
    request_body = MoveFlag,
    responses(
        (status = 200, description = "The flag as it is now", body = FlagDetail),
        (status = 404, description = "No such flag (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The flag moved since `expected_version` (`CONFLICT`), or is archived (`FLAG_ARCHIVED`)", body = ErrorBody),
        (status = 422, description = "A bad key, or no such phase: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn move_flag(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Json<MoveFlag>, JsonRejection>,
) -> Result<Json<FlagDetail>, ApiError> {
    caller.require(Role::Editor, "move flags between phases")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let flag = FlagKey::parse(&key).map_err(ServiceError::from)?;
    let phase = body
        .phase
        .as_deref()
        .map(|p| PhaseKey::parse(p).map_err(|e| ServiceError::Invalid { field: "phase", message: e.message }))
        .transpose()?;
    phases::move_flag(&state.pool, &caller.actor(), &flag, phase.as_ref(), body.expected_version).await?;
    Ok(Json(flags::detail(&state.pool, flag.as_str(), caller.user.role.can_edit_flags()).await?))
}
