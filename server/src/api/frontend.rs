//! `PUT /api/admin/feature-flags/{key}/frontend`: shows a flag to frontends (browser pages and apps with a
//! frontend token) or hides it, as the flag page's button does.

use super::admin::AdminCaller;
use super::error::ApiError;
use app::domain::FlagKey;
use app::model::FlagDetail;
use app::server::{flags, frontend_visibility, AppState, ServiceError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::put;
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/admin/feature-flags/{key}/frontend", put(set_visibility))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetVisibility {
    visible: bool,
    /// The flag's version the caller last saw; a change since is a conflict.
    expected_version: Option<i32>,
}

async fn set_visibility(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Json<SetVisibility>, JsonRejection>,
) -> Result<Json<FlagDetail>, ApiError> {
    let Json(body) =
        body.map_err(|rejection| ApiError::new(rejection.status(), "INVALID_BODY", rejection.body_text()))?;
    let flag = FlagKey::parse(&key).map_err(ServiceError::from)?;
    frontend_visibility::set(&state.pool, &caller.actor(), &flag, body.visible, body.expected_version).await?;
    Ok(Json(flags::detail(&state.pool, flag.as_str(), caller.user.role.can_edit_flags()).await?))
}
