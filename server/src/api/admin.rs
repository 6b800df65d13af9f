//! The admin REST API, for scripts and the `rollgate` operator commands. Authenticated by an admin token,
//! which acts as the user it was made for (that user's role and permissions, audited under that user), or
//! by a browser session (then the cross-site check in `csrf.rs` applies, as for every form). Every write
//! goes through the same service layer as the browser. Every handler states the role it needs with
//! `caller.require(Role::...)`, the one permission check the pages and the services use too.

use super::caller::bearer_token;
use super::error::{ApiError, ErrorBody};
use app::domain::{EnvKey, FlagKey, Role};
use app::model::{AuditPage, AuditQuery, FlagDetail, FlagListPage, FlagListQuery, FlagState, StuckRollout, UserView};
use app::server::audit::Actor;
use app::server::auth::CurrentUser;
use app::server::tokens::TokenScope;
use app::server::{flags, rollouts, tokens, AppState, ServiceError};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// The user behind a valid admin token or a signed-in session.
pub struct AdminCaller {
    pub user: CurrentUser,
    pub via_token: bool,
}

impl AdminCaller {
    /// Refuses the caller unless their role is at least `needed` (`app::server::auth::permit`); `doing`
    /// completes "a viewer cannot ...".
    pub fn require(&self, needed: Role, doing: &str) -> Result<&Self, ApiError> {
        self.user.require(needed, doing)?;
        Ok(self)
    }

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

/// The user the token or session acts as.
///
/// The example of a plain admin read: an admin token or a session, the role it needs stated first.
#[utoipa::path(
    get, path = "/api/admin/whoami", tag = "admin",
    responses((status = 200, description = "The caller", body = UserView)),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn whoami(caller: AdminCaller) -> Result<Json<UserView>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    Ok(Json(caller.user.view()))
}

/// The flag list, filtered and paged as on `/admin/feature-flags`.
///
/// The example of a read with query parameters: a type deriving `IntoParams` documents them.
#[utoipa::path(
    get, path = "/api/admin/feature-flags", tag = "admin",
    params(FlagListQuery),
    responses((status = 200, description = "One page of flags", body = FlagListPage)),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn list_flags(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<FlagListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<FlagListPage>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    let Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
    Ok(Json(flags::list(&state.pool, &query, caller.user.role.can_edit_flags()).await?))
}

/// A new flag: off in every environment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFlag {
    /// Letters, digits, `_`, `.` and `-`, up to 100; never reused once archived.
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,100}$", example = "new_checkout")]
    key: String,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[serde(default)]
    description: String,
    /// The phase's key, if the flag belongs to one.
    phase: Option<String>,
    #[schema(value_type = app::domain::FlagKind)]
    kind: String,
}

/// Creates a flag, off in every environment; answers 201 with the flag.
///
/// The example of a create: a JSON body type deriving `ToSchema`, 201 with the new entity, 409 when the
/// key is taken, 422 naming the field at fault.
#[utoipa::path(
    post, path = "/api/admin/feature-flags", tag = "admin",
    request_body = CreateFlag,
    responses(
        (status = 201, description = "Created", body = FlagDetail),
        (status = 409, description = "The key is taken, or was used by an archived flag (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "A field is invalid: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn create_flag(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<CreateFlag>, JsonRejection>,
) -> Result<(StatusCode, Json<FlagDetail>), ApiError> {
    use app::domain::{Description, FlagKind, FlagName};
    caller.require(Role::Editor, "change flags")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
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

/// The audit trail, newest first, 100 events a page; `next_before` is the next page's cursor.
#[utoipa::path(
    get, path = "/api/admin/audit", tag = "admin",
    params(AuditQuery),
    responses((status = 200, description = "One page of events", body = AuditPage)),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    let Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
    Ok(Json(app::server::audit::list(&state.pool, &query, 100).await?))
}

/// Stale flags: fully rolled out or untouched past their kind's limit, or archived but still evaluated
/// (what `rollgate flags stale` lists).
#[utoipa::path(
    get, path = "/api/admin/stale-flags", tag = "admin",
    responses((status = 200, description = "The stale flags and why", body = Vec<app::model::StaleFlag>)),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn stale_flags(
    State(state): State<AppState>,
    caller: AdminCaller,
) -> Result<Json<Vec<app::model::StaleFlag>>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    Ok(Json(app::server::hygiene::stale_flags(&state.pool, Utc::now()).await?))
}

/// The audit trail with the same filters as `/admin/audit`, as a CSV download (the page links here with
/// its filters; without `before`, from the newest event).
#[utoipa::path(
    get, path = "/api/admin/audit.csv", tag = "admin",
    params(AuditQuery),
    responses((status = 200, description = "Every matching event", body = String, content_type = "text/csv")),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn audit_csv(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    caller.require(Role::Viewer, "see this")?;
    let Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
    let csv = app::server::audit::export_csv(&state.pool, &query).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"rollgate-audit.csv\""),
        ],
        csv,
    )
        .into_response())
}

/// One flag with its per-environment state and history.
#[utoipa::path(
    get, path = "/api/admin/feature-flags/{key}", tag = "admin",
    params(("key" = String, Path, description = "The flag's key")),
    responses(
        (status = 200, description = "The flag", body = FlagDetail),
        (status = 404, description = "No such flag (`NOT_FOUND`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn get_flag(
    State(state): State<AppState>,
    caller: AdminCaller,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<FlagDetail>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    let Path(key) = key.map_err(|e| ApiError::bad_path(&e))?;
    Ok(Json(flags::detail(&state.pool, &key, caller.user.role.can_edit_flags()).await?))
}

/// The kill switch's new position.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetFlagState {
    enabled: bool,
    /// The version your view showed; 409 `CONFLICT` if it moved since.
    expected_version: Option<i32>,
    reason: Option<String>,
}

/// The kill switch: turns a flag on or off in one environment.
#[utoipa::path(
    put, path = "/api/admin/feature-flags/{key}/environments/{env}", tag = "admin",
    params(
        ("key" = String, Path, description = "The flag's key"),
        ("env" = String, Path, description = "The environment's key"),
    ),
    request_body = SetFlagState,
    responses(
        (status = 200, description = "The new state", body = FlagState),
        (status = 404, description = "No such flag or environment (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The state moved since `expected_version` (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "A bad key (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn set_flag_state(
    State(state): State<AppState>,
    caller: AdminCaller,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<SetFlagState>, JsonRejection>,
) -> Result<Json<FlagState>, ApiError> {
    caller.require(Role::Editor, "change flags")?;
    let Path((key, env)) = path.map_err(|e| ApiError::bad_path(&e))?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let flag = FlagKey::parse(&key).map_err(app::server::ServiceError::from)?;
    let env = EnvKey::parse(&env).map_err(|e| app::server::ServiceError::from(e.at("env")))?;
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let result =
        flags::set_enabled(&state.pool, &caller.actor(), &flag, &env, body.enabled, body.expected_version, reason)
            .await?;
    Ok(Json(result))
}

/// How long the health check waits for PostgreSQL: long enough for a busy database, short enough that
/// `rollgate verify` reports an outage at once instead of waiting out the pool's acquire timeout.
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The bound on the token check and on finding stuck rollouts, once the probe has answered.
const DATABASE_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The snapshot counts as stale past this age: the same threshold as `/readyz`.
pub const SNAPSHOT_STALE_AFTER_MS: i64 = 15_000;

/// `GET /api/admin/health`: what `rollgate verify` checks beyond liveness and readiness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthReport {
    pub database: DatabaseHealth,
    pub snapshot: SnapshotHealth,
    pub guardrail_worker: GuardrailWorkerHealth,
    /// Active rollouts past their stage's soak whose next stage still lacks sign-offs; `None` when the
    /// database could not be asked.
    pub stuck_rollouts: Option<Vec<StuckRollout>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatabaseHealth {
    pub ok: bool,
    /// How long the probe (`select version from config_state`) took, or how long it was waited for.
    pub latency_ms: f64,
    /// The configuration version in PostgreSQL, to compare with the snapshot's.
    pub config_version: Option<i64>,
    /// What went wrong, in general terms (the details are in the server's log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SnapshotHealth {
    pub loaded: bool,
    pub version: Option<i64>,
    /// Milliseconds since PostgreSQL last confirmed the snapshot is current.
    pub age_ms: Option<i64>,
    pub stale_after_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GuardrailWorkerHealth {
    pub running: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Answers 200 whenever it can authenticate the caller, with `database.ok = false` when PostgreSQL is
/// unreachable: an outage is what this endpoint exists to report, so it must not turn into a 5xx.
///
/// The caller is checked as for every admin endpoint while PostgreSQL answers. When it does not, the
/// token is checked against this process's configuration snapshot instead (which holds every token's
/// hash, scope and revocation as of the last load): a revocation or a disabled user since then goes
/// unnoticed, which is acceptable for a read-only report that names no flag. With neither PostgreSQL
/// nor a snapshot (or with a session, which lives in PostgreSQL) the answer is 503
/// `DATABASE_UNAVAILABLE`, which says what is wrong rather than a confusing authentication error.
#[utoipa::path(
    get, path = "/api/admin/health", tag = "admin",
    responses(
        (status = 200, description = "The report, also when PostgreSQL is down (`database.ok = false`)", body = HealthReport),
        (status = 503, description = "PostgreSQL is down and the caller cannot be checked (`DATABASE_UNAVAILABLE`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn health(State(state): State<AppState>, request: Request) -> Result<Json<HealthReport>, ApiError> {
    let (mut parts, _body) = request.into_parts();
    let database = probe_database(&state.pool).await;
    if database.ok {
        let caller: AdminCaller =
            tokio::time::timeout(DATABASE_READ_TIMEOUT, AdminCaller::from_request_parts(&mut parts, &state))
                .await
                .map_err(|_| database_unavailable("the token check did not finish within 5 s"))??;
        caller.require(Role::Viewer, "see this")?;
    } else {
        authenticate_from_snapshot(&state, &parts.headers, database.error.as_deref().unwrap_or("unknown"))?;
    }
    let stuck_rollouts = if database.ok {
        match tokio::time::timeout(DATABASE_READ_TIMEOUT, rollouts::stuck(&state.pool, chrono::Utc::now())).await {
            Ok(Ok(stuck)) => Some(stuck),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "health check: could not look for stuck rollouts");
                None
            }
            Err(_) => {
                tracing::warn!("health check: looking for stuck rollouts took more than 5 s");
                None
            }
        }
    } else {
        None
    };
    Ok(Json(HealthReport {
        database,
        snapshot: SnapshotHealth {
            loaded: state.snapshot.version().is_some(),
            version: state.snapshot.version(),
            age_ms: state.snapshot.age_ms(),
            stale_after_ms: SNAPSHOT_STALE_AFTER_MS,
        },
        guardrail_worker: {
            let app::server::guardrails::worker::PulseStatus { alive, last_pass, interval } =
                state.guardrail_worker.status(chrono::Utc::now());
            GuardrailWorkerHealth {
                running: alive,
                reason: match (alive, last_pass) {
                    (true, Some(at)) => Some(format!("last pass {at}, every {}s", interval.as_secs())),
                    (false, Some(at)) => Some(format!("no pass since {at} (every {}s)", interval.as_secs())),
                    (_, None) if interval.is_zero() => {
                        Some("the guardrail worker is not started in this process".to_owned())
                    }
                    (_, None) => Some("the guardrail worker has not made its first pass yet".to_owned()),
                },
            }
        },
        stuck_rollouts,
    }))
}

fn database_unavailable(why: &str) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "DATABASE_UNAVAILABLE", format!("PostgreSQL is unreachable: {why}"))
}

async fn probe_database(pool: &PgPool) -> DatabaseHealth {
    let started = Instant::now();
    let outcome = tokio::time::timeout(DATABASE_PROBE_TIMEOUT, app::server::snapshot::stored_version(pool)).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match outcome {
        Ok(Ok(version)) => return DatabaseHealth { ok: true, latency_ms, config_version: Some(version), error: None },
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health check: PostgreSQL unreachable");
            describe_database_error(&err)
        }
        Err(_) => {
            tracing::warn!("health check: PostgreSQL did not answer within 2 s");
            "no answer within 2 s".to_owned()
        }
    };
    DatabaseHealth { ok: false, latency_ms, config_version: None, error: Some(error) }
}

/// The kind of failure, without the driver's text (which may name hosts and users).
fn describe_database_error(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::PoolTimedOut => "no connection could be made within the pool's acquire timeout".to_owned(),
        sqlx::Error::PoolClosed => "the connection pool is closed".to_owned(),
        sqlx::Error::Io(io) => format!("network error: {}", io.kind()),
        sqlx::Error::Tls(_) => "TLS error".to_owned(),
        sqlx::Error::Database(db) => {
            format!("PostgreSQL refused the probe (SQLSTATE {})", db.code().as_deref().unwrap_or("unknown"))
        }
        _ => "unexpected error (see the server log)".to_owned(),
    }
}

/// The admin token checked against the snapshot, for when PostgreSQL cannot be asked.
fn authenticate_from_snapshot(state: &AppState, headers: &HeaderMap, why: &str) -> Result<(), ApiError> {
    let Ok(token) = bearer_token(headers) else {
        return Err(database_unavailable(&format!(
            "{why}; a session cannot be checked without it (send an admin token)"
        )));
    };
    let Some(snapshot) = state.snapshot.get() else {
        return Err(database_unavailable(&format!(
            "{why}; this process has no configuration snapshot to check the token against"
        )));
    };
    let valid = tokens::prefix_of(token).and_then(|prefix| snapshot.tokens.get(prefix)).is_some_and(|entry| {
        entry.usable
            && entry.scope == TokenScope::Admin
            && entry.user_id.is_some()
            && tokens::matches(token, &entry.secret_hash)
    });
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "the admin token is unknown, revoked or expired (checked against the configuration snapshot, as \
             PostgreSQL is unreachable)",
        ))
    }
}
