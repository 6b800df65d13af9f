//! The admin API for people (admins): list, add with a one-time set-password link, change roles, disable,
//! enable, force a password reset. The same service functions as `/admin/users`, so the same rules (the
//! last active admin, nobody disables themselves) and the same audit events. A link is answered once, to
//! be passed on to its user; Rollgate keeps only its hash.

use super::admin::AdminCaller;
use super::error::{ApiError, ErrorBody};
use app::domain::{Email, PersonName, Role, SignoffRole};
use app::model::UserRow;
use app::server::users::{self, Invitation, IssuedLink};
use app::server::{AppState, ServiceError};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user's id from the path; anything but a number is a 400 naming it.
fn user_id(path: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    path.map(|Path(id)| id).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PATH",
            "the user id in the path is not a number (see GET /api/admin/users)",
        )
        .with_details(serde_json::json!({ "field": "id" }))
    })
}

/// A one-time set-password link, as answered once.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkAnswer {
    pub user: UserRow,
    pub purpose: app::model::people::LinkPurpose,
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

/// Errors name the property, `signoff_roles`.
fn signoff_roles(raw: &[String]) -> Result<Vec<SignoffRole>, ServiceError> {
    raw.iter()
        .map(|r| {
            r.parse::<SignoffRole>().map_err(|e| ServiceError::Invalid { field: "signoff_roles", message: e.message })
        })
        .collect()
}

/// Admins: every user, with role, sign-off roles and status.
#[utoipa::path(
    get, path = "/api/admin/users", tag = "people",
    responses((status = 200, description = "Every user, by email", body = Vec<UserRow>)),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn list(State(state): State<AppState>, caller: AdminCaller) -> Result<Json<Vec<UserRow>>, ApiError> {
    caller.require(Role::Admin, "manage users")?;
    Ok(Json(users::list(&state.pool).await?))
}

/// A new user, with no password yet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUser {
    #[schema(example = "sam@example.com")]
    email: String,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(value_type = Role)]
    role: String,
    #[serde(default)]
    #[schema(value_type = Vec<SignoffRole>)]
    signoff_roles: Vec<String>,
}

/// Admins: adds a user with no password and answers their one-time set-password link (valid 7 days),
/// to be passed on to them. Answers 201.
#[utoipa::path(
    post, path = "/api/admin/users", tag = "people",
    request_body = AddUser,
    responses(
        (status = 201, description = "Added; the link is shown this once", body = LinkAnswer),
        (status = 422, description = "A field is invalid, or the email is taken: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn add(
    State(state): State<AppState>,
    caller: AdminCaller,
    headers: HeaderMap,
    body: Result<Json<AddUser>, JsonRejection>,
) -> Result<(StatusCode, Json<LinkAnswer>), ApiError> {
    caller.require(Role::Admin, "add users")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let invitation = Invitation {
        email: Email::parse(&body.email).map_err(ServiceError::from)?,
        name: PersonName::parse(&body.name).map_err(ServiceError::from)?,
        role: body.role.parse::<Role>().map_err(ServiceError::from)?,
        signoff_roles: signoff_roles(&body.signoff_roles)?,
    };
    let link = users::invite(&state.pool, &caller.actor(), &invitation).await?;
    Ok((StatusCode::CREATED, Json(answer(&state, &headers, link).await?)))
}

/// A user's role and sign-off roles, replacing theirs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoles {
    #[schema(value_type = Role)]
    role: String,
    #[serde(default)]
    #[schema(value_type = Vec<SignoffRole>)]
    signoff_roles: Vec<String>,
}

/// Admins: sets a user's role and sign-off roles.
#[utoipa::path(
    put, path = "/api/admin/users/{id}", tag = "people",
    params(("id" = i64, Path, description = "The user's id (`GET /api/admin/users`)")),
    request_body = UpdateRoles,
    responses(
        (status = 200, description = "The user as they are now", body = UserRow),
        (status = 404, description = "No such user (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The last active admin would be demoted (`LAST_ADMIN`)", body = ErrorBody),
        (status = 422, description = "An unknown role: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn update_roles(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<UpdateRoles>, JsonRejection>,
) -> Result<Json<UserRow>, ApiError> {
    caller.require(Role::Admin, "change users' roles")?;
    let id = user_id(id)?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let role = body.role.parse::<Role>().map_err(ServiceError::from)?;
    users::update_roles(&state.pool, &caller.actor(), id, role, &signoff_roles(&body.signoff_roles)?).await?;
    Ok(Json(user(&state, id).await?))
}

/// Why a user is disabled, for the audit trail.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Disable {
    reason: Option<String>,
}

/// A user just disabled.
#[derive(Debug, Serialize, ToSchema)]
pub struct Disabled {
    user: UserRow,
    /// The prefixes of the admin tokens revoked with it.
    admin_tokens_revoked: Vec<String>,
}

/// Admins: disables a user; their sessions end and their admin tokens are revoked at once.
#[utoipa::path(
    post, path = "/api/admin/users/{id}/disable", tag = "people",
    params(("id" = i64, Path, description = "The user's id (`GET /api/admin/users`)")),
    request_body = Option<Disable>,
    responses(
        (status = 200, description = "Disabled", body = Disabled),
        (status = 404, description = "No such user (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Yourself (`SELF`), the last active admin (`LAST_ADMIN`) or disabled already \
                                      (`ALREADY_DISABLED`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn disable(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Option<Json<Disable>>, JsonRejection>,
) -> Result<Json<Disabled>, ApiError> {
    caller.require(Role::Admin, "disable users")?;
    let id = user_id(id)?;
    let body = body.map_err(|e| ApiError::bad_body(&e))?.map(|Json(b)| b).unwrap_or_default();
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let revoked = users::disable(&state.pool, &caller.actor(), id, reason).await?;
    Ok(Json(Disabled { user: user(&state, id).await?, admin_tokens_revoked: revoked }))
}

/// Admins: enables a disabled user again.
#[utoipa::path(
    post, path = "/api/admin/users/{id}/enable", tag = "people",
    params(("id" = i64, Path, description = "The user's id (`GET /api/admin/users`)")),
    responses(
        (status = 200, description = "Enabled", body = UserRow),
        (status = 404, description = "No such user (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The user is not disabled (`NOT_DISABLED`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn enable(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<UserRow>, ApiError> {
    caller.require(Role::Admin, "enable users")?;
    let id = user_id(id)?;
    users::enable(&state.pool, &caller.actor(), id).await?;
    Ok(Json(user(&state, id).await?))
}

/// Admins: forces a password reset: the password stops working and the user's sessions end. Answers a
/// set-password link valid 24 hours, to be passed on to them.
#[utoipa::path(
    post, path = "/api/admin/users/{id}/reset-password", tag = "people",
    params(("id" = i64, Path, description = "The user's id (`GET /api/admin/users`)")),
    responses(
        (status = 200, description = "Reset; the link is shown this once", body = LinkAnswer),
        (status = 404, description = "No such user (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Yourself (`SELF`) or a disabled user (`USER_DISABLED`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn reset_password(
    State(state): State<AppState>,
    caller: AdminCaller,
    headers: HeaderMap,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<LinkAnswer>, ApiError> {
    caller.require(Role::Admin, "reset passwords")?;
    let id = user_id(id)?;
    let link = users::reset_password(&state.pool, &caller.actor(), id).await?;
    Ok(Json(answer(&state, &headers, link).await?))
}
