//! The admin REST API, for scripts and the `rollgate` operator commands. Authenticated by an admin token,
//! which acts as the user it was made for (that user's role and permissions, audited under that user), or
//! by a browser session (then the cross-site check in `csrf.rs` applies, as for every form). Every write
//! goes through the same service layer as the browser. The routes are listed in `openapi.json`.

use super::error::ApiError;
use super::evaluate::bearer_token;
use app::domain::{EnvKey, FlagKey};
use app::model::{AuditPage, AuditQuery, FlagDetail, FlagListPage, FlagListQuery, FlagState, UserView};
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

/// The user behind a valid admin token or a signed-in session.
pub struct AdminCaller {
    pub user: CurrentUser,
    pub via_token: bool,
}

impl AdminCaller {
    pub fn actor(&self) -> Actor {
        if self.via_token {
            Actor::token(&self.user)
        } else {
            Actor::user(&self.user)
        }
    }
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Ok(token) = bearer_token(&parts.headers) {
            return match tokens::authenticate_admin(&state.pool, token).await? {
                Some(user) => Ok(Self { user, via_token: true }),
                None => Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "the admin token is unknown, revoked or expired, or its user is disabled",
                )),
            };
        }
        let session = parts.extensions.get::<tower_sessions::Session>().cloned();
        let user = match session {
            Some(session) => app::server::auth::session_user(&session, state).await?,
            None => None,
        };
        user.map(|user| Self { user, via_token: false }).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "send an admin token as `Authorization: Bearer <token>`, or sign in",
            )
        })
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/whoami", get(whoami))
        .route("/api/admin/feature-flags", get(list_flags).post(create_flag))
        .route("/api/admin/feature-flags/{key}", get(get_flag))
        .route("/api/admin/feature-flags/{key}/environments/{env}", put(set_flag_state))
        .route("/api/admin/audit", get(list_audit))
}

fn bad_json(rejection: &JsonRejection) -> ApiError {
    ApiError::new(rejection.status(), "INVALID_BODY", rejection.body_text())
}

async fn whoami(caller: AdminCaller) -> Json<UserView> {
    Json(caller.user.view())
}

async fn list_flags(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<FlagListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<FlagListPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_QUERY", e.body_text()))?;
    Ok(Json(flags::list(&state.pool, &query, caller.user.role.can_edit_flags()).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateFlag {
    key: String,
    name: String,
    #[serde(default)]
    description: String,
    phase: Option<String>,
    kind: String,
}

async fn create_flag(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<CreateFlag>, JsonRejection>,
) -> Result<(StatusCode, Json<FlagDetail>), ApiError> {
    use app::domain::{Description, FlagKind, FlagName};
    use app::server::ServiceError;
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let new = flags::NewFlag {
        key: FlagKey::parse(&body.key).map_err(ServiceError::from)?,
        name: FlagName::parse(&body.name).map_err(ServiceError::from)?,
        description: Description::parse(&body.description).map_err(ServiceError::from)?,
        phase_key: body.phase.filter(|p| !p.is_empty()),
        kind: body.kind.parse::<FlagKind>().map_err(ServiceError::from)?,
    };
    let key = new.key.to_string();
    flags::create(&state.pool, &caller.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(flags::detail(&state.pool, &key, caller.user.role.can_edit_flags()).await?)))
}

async fn list_audit(
    State(state): State<AppState>,
    _caller: AdminCaller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_QUERY", e.body_text()))?;
    Ok(Json(app::server::audit::list(&state.pool, &query, 100).await?))
}

async fn get_flag(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
) -> Result<Json<FlagDetail>, ApiError> {
    Ok(Json(flags::detail(&state.pool, &key, caller.user.role.can_edit_flags()).await?))
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
