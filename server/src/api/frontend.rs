//! `PUT /api/admin/feature-flags/{key}/frontend`: shows a flag to frontends (browser pages and apps with a
//! frontend token) or hides it, as the flag page's button does.

use super::admin::AdminCaller;
use super::error::{ApiError, ErrorBody};
use app::domain::{FlagKey, Role};
use app::model::FlagDetail;
use app::server::{flags, frontend_visibility, AppState, ServiceError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

/// Whether frontends see the flag.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetVisibility {
    visible: bool,
    /// The flag's version the caller last saw; a change since is a conflict.
    expected_version: Option<i32>,
}

/// Editors: shows a flag to frontends (browser pages and apps with a frontend token) or hides it.
#[utoipa::path(
    put, path = "/api/admin/feature-flags/{key}/frontend", tag = "admin",
    params(("key" = String, Path, description = "The flag's key")),
    request_body = SetVisibility,
    responses(
        (status = 200, description = "The flag, as `GET /api/admin/feature-flags/{key}` answers", body = FlagDetail),
        (status = 404, description = "No such flag (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "expected_version is stale: `details.current_version` (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "A bad key (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn set_visibility(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Json<SetVisibility>, JsonRejection>,
) -> Result<Json<FlagDetail>, ApiError> {
    caller.require(Role::Editor, "change which flags frontends see")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let flag = FlagKey::parse(&key).map_err(ServiceError::from)?;
    frontend_visibility::set(&state.pool, &caller.actor(), &flag, body.visible, body.expected_version).await?;
    Ok(Json(flags::detail(&state.pool, flag.as_str(), caller.user.role.can_edit_flags()).await?))
}
