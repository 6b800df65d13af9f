//! The admin API for people (admins): list, add with a one-time set-password link, change roles, disable,
//! enable, force a password reset. The same service functions as `/admin/users`, so the same rules (the
//! last active admin, nobody disables themselves) and the same audit events. A link is answered once, to
//! be passed on to its user; Rollgate keeps only its hash.

use super::admin::AdminCaller;
use super::error::ApiError;
use app::domain::{Email, PersonName, Role, SignoffRole};
use app::model::UserRow;
use app::server::users::{self, Invitation, IssuedLink};
use app::server::{AppState, ServiceError};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/users", get(list).post(add))
        .route("/api/admin/users/{id}", put(update_roles))
        .route("/api/admin/users/{id}/disable", post(disable))
        .route("/api/admin/users/{id}/enable", post(enable))
        .route("/api/admin/users/{id}/reset-password", post(reset_password))
}

fn bad_json(rejection: &JsonRejection) -> ApiError {
    ApiError::new(rejection.status(), "INVALID_BODY", rejection.body_text())
}

/// A user's id from the path; anything but a number is a 400 naming it.
fn user_id(path: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    path.map(|Path(id)| id).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID",
            "the user id in the path is not a number (see GET /api/admin/users)",
        )
        .with_details(serde_json::json!({ "field": "id" }))
    })
}

/// A one-time set-password link, as answered once.
#[derive(Debug, Serialize)]
pub struct LinkAnswer {
    pub user: UserRow,
    /// `invite` or `reset`.
    pub purpose: &'static str,
    /// The address to pass on: `https://flags.example.com/set-password?token=...`.
    pub set_password_link: String,
    pub expires_at: DateTime<Utc>,
}

async fn user(state: &AppState, id: i64) -> Result<UserRow, ServiceError> {
    users::list(&state.pool)
        .await?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| ServiceError::NotFound(format!("user #{id}")))
}

async fn answer(state: &AppState, headers: &HeaderMap, link: IssuedLink) -> Result<LinkAnswer, ServiceError> {
    let origin = app::server::origin_of(headers, state.security.secure_cookies);
    Ok(LinkAnswer {
        user: user(state, link.user_id).await?,
        purpose: link.purpose,
        set_password_link: format!("{origin}/set-password?token={}", link.token),
        expires_at: link.expires_at,
    })
}

fn signoff_roles(raw: &[String]) -> Result<Vec<SignoffRole>, ServiceError> {
    raw.iter().map(|r| r.parse::<SignoffRole>().map_err(ServiceError::from)).collect()
}

async fn list(State(state): State<AppState>, caller: AdminCaller) -> Result<Json<Vec<UserRow>>, ApiError> {
    caller.actor().require_admin("manage users")?;
    Ok(Json(users::list(&state.pool).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUser {
    email: String,
    name: String,
    role: String,
    #[serde(default)]
    signoff_roles: Vec<String>,
}

async fn add(
    State(state): State<AppState>,
    caller: AdminCaller,
    headers: HeaderMap,
    body: Result<Json<AddUser>, JsonRejection>,
) -> Result<(StatusCode, Json<LinkAnswer>), ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let invitation = Invitation {
        email: Email::parse(&body.email).map_err(ServiceError::from)?,
        name: PersonName::parse(&body.name).map_err(ServiceError::from)?,
        role: body.role.parse::<Role>().map_err(ServiceError::from)?,
        signoff_roles: signoff_roles(&body.signoff_roles)?,
    };
    let link = users::invite(&state.pool, &caller.actor(), &invitation).await?;
    Ok((StatusCode::CREATED, Json(answer(&state, &headers, link).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRoles {
    role: String,
    #[serde(default)]
    signoff_roles: Vec<String>,
}

async fn update_roles(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<UpdateRoles>, JsonRejection>,
) -> Result<Json<UserRow>, ApiError> {
    let id = user_id(id)?;
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let role = body.role.parse::<Role>().map_err(ServiceError::from)?;
    users::update_roles(&state.pool, &caller.actor(), id, role, &signoff_roles(&body.signoff_roles)?).await?;
    Ok(Json(user(&state, id).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Disable {
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct Disabled {
    user: UserRow,
    /// The prefixes of the admin tokens revoked with it.
    admin_tokens_revoked: Vec<String>,
}

async fn disable(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Option<Json<Disable>>, JsonRejection>,
) -> Result<Json<Disabled>, ApiError> {
    let id = user_id(id)?;
    let body = body.map_err(|e| bad_json(&e))?.map(|Json(b)| b).unwrap_or_default();
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let revoked = users::disable(&state.pool, &caller.actor(), id, reason).await?;
    Ok(Json(Disabled { user: user(&state, id).await?, admin_tokens_revoked: revoked }))
}

async fn enable(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<UserRow>, ApiError> {
    let id = user_id(id)?;
    users::enable(&state.pool, &caller.actor(), id).await?;
    Ok(Json(user(&state, id).await?))
}

async fn reset_password(
    State(state): State<AppState>,
    caller: AdminCaller,
    headers: HeaderMap,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<LinkAnswer>, ApiError> {
    let id = user_id(id)?;
    let link = users::reset_password(&state.pool, &caller.actor(), id).await?;
    Ok(Json(answer(&state, &headers, link).await?))
}
