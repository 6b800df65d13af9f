//! Who is asking: sessions, logins and the login throttle.

use super::{AppState, ServiceError};
use crate::domain::{Email, Role, SignoffRole};
use crate::error::AppError;
use crate::model::UserView;
use sqlx::PgPool;
use std::str::FromStr;
use tower_sessions::Session;

/// Session key holding the signed-in user's id.
pub const USER_ID_KEY: &str = "user_id";
/// Session key holding the login time (unix seconds), for the absolute timeout.
pub const AUTH_AT_KEY: &str = "auth_at";

/// The signed-in user, with what they may do.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub signoff_roles: Vec<SignoffRole>,
}

impl CurrentUser {
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id,
            email: self.email.clone(),
            name: self.name.clone(),
            role: self.role,
            signoff_roles: self.signoff_roles.clone(),
        }
    }
}

/// Loads an enabled user by id, with their sign-off roles.
pub async fn load_user(pool: &PgPool, id: i64) -> Result<Option<CurrentUser>, ServiceError> {
    let row = sqlx::query!(
        r#"select u.id, u.email, u.name, u.role,
                  coalesce(array_agg(s.role order by s.role) filter (where s.role is not null), '{}') as "signoff_roles!"
           from users u left join user_signoff_roles s on s.user_id = u.id
           where u.id = $1 and not u.disabled
           group by u.id"#,
        id
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(CurrentUser {
        id: row.id,
        email: row.email,
        name: row.name,
        role: Role::from_str(&row.role).map_err(|e| ServiceError::Other(e.message))?,
        signoff_roles: row
            .signoff_roles
            .iter()
            .map(|r| SignoffRole::from_str(r))
            .collect::<Result<_, _>>()
            .map_err(|e| ServiceError::Other(e.message))?,
    }))
}

/// The user behind a session, or `None` when nobody is signed in or the session passed its absolute
/// timeout (in which case it is ended on the server). The idle timeout is enforced by the session store.
pub async fn session_user(session: &Session, state: &AppState) -> Result<Option<CurrentUser>, ServiceError> {
    let user_id: Option<i64> = session.get(USER_ID_KEY).await.map_err(session_error)?;
    let Some(user_id) = user_id else { return Ok(None) };
    let auth_at: Option<i64> = session.get(AUTH_AT_KEY).await.map_err(session_error)?;
    let now = chrono::Utc::now().timestamp();
    let limit = i64::try_from(state.security.absolute_timeout.as_secs()).unwrap_or(i64::MAX);
    let expired = auth_at.is_none_or(|at| now.saturating_sub(at) > limit);
    if expired {
        session.flush().await.map_err(session_error)?;
        return Ok(None);
    }
    load_user(&state.pool, user_id).await
}

/// Sessions live in PostgreSQL, so a session that cannot be read or written means the database does not
/// answer (the store reports its errors as text, without their kind).
fn session_error(err: tower_sessions::session::Error) -> ServiceError {
    tracing::warn!(error = %err, "the session store failed");
    ServiceError::Unavailable
}

/// The signed-in user for a server function, or `Unauthenticated`.
///
/// On an admin page the login middleware has already loaded the user and left it in the request's
/// extensions: use that rather than reading the session and the users table again for every server
/// function the page renders.
pub async fn require_user() -> Result<CurrentUser, AppError> {
    let known = leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CurrentUser>().cloned());
    if let Some(user) = known {
        return Ok(user);
    }
    let state = leptos::prelude::expect_context::<AppState>();
    let session: Session = leptos_axum::extract().await.map_err(|_| AppError::Unauthenticated)?;
    match session_user(&session, &state).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(super::respond_with(AppError::Unauthenticated)),
        Err(err) => Err(super::to_app_error(err)),
    }
}

/// The outcome of a login attempt.
#[derive(Debug, PartialEq)]
pub enum LoginOutcome {
    /// The credentials are right.
    Success(i64),
    /// Wrong email or password; the two are never told apart.
    Invalid,
    /// Too many recent failures for this account or address; retry after this many seconds.
    Throttled { retry_after_secs: u64 },
}

fn account_key(email: &Email) -> String {
    format!("account:{}", email.as_str().to_lowercase())
}

fn ip_key(ip: std::net::IpAddr) -> String {
    format!("ip:{ip}")
}

/// Checks credentials, counting failures per account and per client address in Postgres so that every
/// replica sees the same counts. Throttled attempts are refused before the password is even checked.
/// The typed email and address keep the throttle's keys within what its table holds.
pub async fn attempt_login(
    pool: &PgPool,
    security: &super::SecurityConfig,
    email: &Email,
    password: &str,
    client_ip: std::net::IpAddr,
) -> Result<LoginOutcome, ServiceError> {
    let window = i64::try_from(security.throttle_window.as_secs()).unwrap_or(i64::MAX);
    let keys = [account_key(email), ip_key(client_ip)];
    let limits = [security.max_failures_per_account, security.max_failures_per_ip];

    // Seconds until each key's window ends, if that key has used up its failures.
    let rows = sqlx::query!(
        r#"select key, failures,
                  greatest(0, extract(epoch from (window_started_at + make_interval(secs => $2) - now())))::bigint as "remaining!"
           from login_throttle
           where key = any($1) and window_started_at + make_interval(secs => $2) > now()"#,
        &keys[..],
        window as f64,
    )
    .fetch_all(pool)
    .await?;
    for row in &rows {
        let limit = if row.key == keys[0] { limits[0] } else { limits[1] };
        if row.failures >= limit {
            return Ok(LoginOutcome::Throttled { retry_after_secs: u64::try_from(row.remaining.max(1)).unwrap_or(1) });
        }
    }

    let user = sqlx::query!(
        "select id, password_hash from users where lower(email) = lower($1) and not disabled",
        email.as_str()
    )
    .fetch_optional(pool)
    .await?;
    let password = password.to_owned();
    let hash = user.as_ref().map_or_else(|| super::password::dummy_hash().to_owned(), |u| u.password_hash.clone());
    // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let matches = tokio::task::spawn_blocking(move || super::password::verify_password(&password, &hash))
        .await
        .map_err(|e| ServiceError::Other(e.to_string()))?;

    match user {
        Some(user) if matches => {
            sqlx::query!("delete from login_throttle where key = $1", keys[0]).execute(pool).await?;
            Ok(LoginOutcome::Success(user.id))
        }
        _ => {
            sqlx::query!(
                r#"insert into login_throttle (key, failures, window_started_at)
                   select k, 1, now() from unnest($1::text[]) as k
                   on conflict (key) do update set
                     failures = case when login_throttle.window_started_at + make_interval(secs => $2) > now()
                                     then login_throttle.failures + 1 else 1 end,
                     window_started_at = case when login_throttle.window_started_at + make_interval(secs => $2) > now()
                                     then login_throttle.window_started_at else now() end"#,
                &keys[..],
                window as f64,
            )
            .execute(pool)
            .await?;
            Ok(LoginOutcome::Invalid)
        }
    }
}
