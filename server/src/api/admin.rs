//! The admin REST API, for scripts and the `rollgate` operator commands. Authenticated by an admin token,
//! which acts as the user it was made for: that user's role and permissions, audited under that user.
//! Every write goes through the same service layer as the browser.
//!
//! - `GET  /api/v1/admin/whoami`
//! - `GET  /api/v1/admin/flags?q=&phase=&env=&state=on|off&page=&per_page=`
//! - `GET  /api/v1/admin/flags/{key}`
//! - `PUT  /api/v1/admin/flags/{key}/environments/{env}` with `{"enabled": bool, "expected_version"?: n,
//!   "reason"?: "..."}`: the kill switch. A stale `expected_version` gets 409 with the current version.

use super::error::ApiError;
use super::evaluate::bearer_token;
use app::domain::{EnvKey, FlagKey};
use app::model::{FlagDetail, FlagListPage, FlagListQuery, FlagState, UserView};
use app::server::audit::Actor;
use app::server::auth::CurrentUser;
use app::server::{flags, tokens, AppState};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;

/// The user behind a valid admin token.
pub struct AdminCaller(pub CurrentUser);

impl AdminCaller {
    fn actor(&self) -> Actor {
        Actor::token(&self.0)
    }
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?;
        match tokens::authenticate_admin(&state.pool, token).await? {
            Some(user) => Ok(Self(user)),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "the admin token is unknown, revoked or expired, or its user is disabled",
            )),
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/whoami", get(whoami))
        .route("/api/v1/admin/flags", get(list_flags))
        .route("/api/v1/admin/flags/{key}", get(get_flag))
        .route("/api/v1/admin/flags/{key}/environments/{env}", put(set_flag_state))
}

fn bad_json(rejection: &JsonRejection) -> ApiError {
    ApiError::new(rejection.status(), "INVALID_BODY", rejection.body_text())
}

async fn whoami(caller: AdminCaller) -> Json<UserView> {
    Json(caller.0.view())
}

async fn list_flags(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<FlagListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<FlagListPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_QUERY", e.body_text()))?;
    Ok(Json(flags::list(&state.pool, &query, caller.0.role.can_edit_flags()).await?))
}

async fn get_flag(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
) -> Result<Json<FlagDetail>, ApiError> {
    Ok(Json(flags::detail(&state.pool, &key, caller.0.role.can_edit_flags()).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFlagState {
    enabled: bool,
    expected_version: Option<i32>,
    reason: Option<String>,
}

async fn set_flag_state(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((key, env)): Path<(String, String)>,
    body: Result<Json<SetFlagState>, JsonRejection>,
) -> Result<Json<FlagState>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let flag = FlagKey::parse(&key).map_err(app::server::ServiceError::from)?;
    let env = EnvKey::parse(&env).map_err(app::server::ServiceError::from)?;
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let result =
        flags::set_enabled(&state.pool, &caller.actor(), &flag, &env, body.enabled, body.expected_version, reason)
            .await?;
    Ok(Json(result))
}
