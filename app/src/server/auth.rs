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
/// Session key holding the user's session epoch at login: once the user's epoch moves on (disabled, a
/// password reset or change), the session is refused. Sessions opened before epochs existed count as 0.
pub const EPOCH_KEY: &str = "epoch";

/// The signed-in user, with what they may do.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub signoff_roles: Vec<SignoffRole>,
    /// The user's session epoch: a session opened at another epoch is no longer valid.
    pub session_epoch: i32,
}

/// The one permission check, behind every server function, API handler and service call: refuses anyone
/// whose role is below `needed`. Roles are ordered (viewer < editor < admin), each including the last.
/// `doing` completes the refusal, "a viewer cannot ...", e.g. "change flags".
pub fn permit(role: Role, needed: Role, doing: &str) -> Result<(), ServiceError> {
    if role >= needed {
        return Ok(());
    }
    let ask = if needed == Role::Admin { "ask an admin" } else { "ask an editor or an admin" };
    Err(ServiceError::Forbidden(format!("{} cannot {doing}; {ask}", role.with_article())))
}

/// The signed-in user for a server function, if their role is at least `needed` ([`permit`]); otherwise
/// `Unauthenticated` or `Forbidden`, with the response status set. Every server function starts here.
pub async fn require(needed: Role, doing: &str) -> Result<CurrentUser, AppError> {
    let user = require_user().await?;
    permit(user.role, needed, doing).map_err(super::to_app_error)?;
    Ok(user)
}

impl CurrentUser {
    /// Refuses this user unless their role is at least `needed` ([`permit`]).
    pub fn require(&self, needed: Role, doing: &str) -> Result<(), ServiceError> {
        permit(self.role, needed, doing)
    }

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
        r#"select u.id, u.email, u.name, u.role as "role: Role", u.session_epoch,
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
        role: row.role,
        signoff_roles: row
            .signoff_roles
            .iter()
            .map(|r| SignoffRole::from_str(r))
            .collect::<Result<_, _>>()
            .map_err(|e| ServiceError::internal("reading a user's sign-off roles", e))?,
        session_epoch: row.session_epoch,
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
    let Some(user) = load_user(&state.pool, user_id).await? else { return Ok(None) };
    let epoch: i32 =
        session.get(EPOCH_KEY).await.map_err(|e| ServiceError::internal("reading the session", e))?.unwrap_or(0);
    if epoch != user.session_epoch {
        // Ended since: the user was disabled, or their password was reset or changed elsewhere.
        session.flush().await.map_err(|e| ServiceError::internal("ending a session of an earlier epoch", e))?;
        return Ok(None);
    }
    Ok(Some(user))
}

/// Signs a user in on this session: a new session id (so an id planted before sign-in is worthless after
/// it), the user, the time and the user's current session epoch. Records the sign-in time.
pub async fn start_session(session: &Session, pool: &PgPool, user_id: i64) -> Result<(), ServiceError> {
    let epoch =
        sqlx::query_scalar!("update users set last_login_at = now() where id = $1 returning session_epoch", user_id)
            .fetch_one(pool)
            .await?;
    let stored = async {
        session.cycle_id().await?;
        session.insert(USER_ID_KEY, user_id).await?;
        session.insert(AUTH_AT_KEY, chrono::Utc::now().timestamp()).await?;
        session.insert(EPOCH_KEY, epoch).await
    };
    stored.await.map_err(session_error)
}

/// Sessions live in PostgreSQL, so a session that cannot be read or written means the database does not
/// answer (the store reports its errors as text, without their kind).
fn session_error(err: tower_sessions::session::Error) -> ServiceError {
    tracing::warn!(error = %err, "the session store failed");
    ServiceError::Unavailable
}

/// The signed-in user for a server function, or `Unauthenticated`; [`require`] adds the role check.
///
/// On an admin page the login middleware has already loaded the user and left it in the request's
/// extensions: use that rather than reading the session and the users table again for every server
/// function the page renders.
async fn require_user() -> Result<CurrentUser, AppError> {
    let known = leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CurrentUser>().cloned());
    if let Some(user) = known {
        return Ok(user);
    }
    let state = leptos::prelude::expect_context::<AppState>();
    let session = current_session().await?;
    match session_user(&session, &state).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => {
            Err(super::to_app_error(ServiceError::Unauthenticated("your session has ended; sign in again".into())))
        }
        Err(err) => Err(super::to_app_error(err)),
    }
}

/// The request's session, for a server function.
async fn current_session() -> Result<Session, AppError> {
    leptos_axum::extract()
        .await
        .map_err(|_| super::to_app_error(ServiceError::Unauthenticated("your session has ended; sign in again".into())))
}

/// Takes a one-time value out of the session (a secret a plain form post created, shown once).
pub async fn take_flash<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, AppError> {
    let session = current_session().await?;
    session.remove(key).await.map_err(|e| super::to_app_error(ServiceError::internal("reading the session", e)))
}

/// Leaves a one-time value in the session for the next page view to take.
pub async fn put_flash<T: serde::Serialize>(key: &str, value: &T) -> Result<(), AppError> {
    let session = current_session().await?;
    session.insert(key, value).await.map_err(|e| super::to_app_error(ServiceError::internal("writing the session", e)))
}

/// Keeps the current server function's session valid after the signed-in user's epoch moved on (their own
/// password change, which ends every other session).
pub async fn keep_session(epoch: i32) -> Result<(), AppError> {
    let session = current_session().await?;
    session
        .insert(EPOCH_KEY, epoch)
        .await
        .map_err(|e| super::to_app_error(ServiceError::internal("storing the session", e)))
}

/// Signs the user of a just-finished set-up or set-password link in, for a server function.
pub async fn sign_in_from_server_fn(user_id: i64) -> Result<(), AppError> {
    let state = leptos::prelude::expect_context::<AppState>();
    let session = current_session().await?;
    start_session(&session, &state.pool, user_id).await.map_err(super::to_app_error)
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
    // No such user, or one who has not set a password yet: compare with the dummy hash, which takes the
    // same time and never matches a password that leads anywhere.
    let usable = user.as_ref().and_then(|u| u.password_hash.clone());
    let has_password = usable.is_some();
    let hash = usable.unwrap_or_else(|| super::password::dummy_hash().to_owned());
    // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let matches = tokio::task::spawn_blocking(move || super::password::verify_password(&password, &hash))
        .await
        .map_err(|e| ServiceError::internal("checking a password", e))?;

    match user {
        Some(user) if matches && has_password => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_passes_the_check_for_its_own_level_and_below_only() {
        for (role, needed, allowed) in [
            (Role::Viewer, Role::Viewer, true),
            (Role::Viewer, Role::Editor, false),
            (Role::Editor, Role::Editor, true),
            (Role::Editor, Role::Admin, false),
            (Role::Admin, Role::Editor, true),
            (Role::Admin, Role::Admin, true),
        ] {
            assert_eq!(permit(role, needed, "do it").is_ok(), allowed, "{role} needing {needed}");
        }
    }

    #[test]
    fn a_refusal_says_who_is_refused_what_and_whom_to_ask() {
        let err = permit(Role::Viewer, Role::Editor, "change flags").expect_err("a viewer may not edit");
        assert_eq!(err.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(err.to_string(), "not allowed: a viewer cannot change flags; ask an editor or an admin");
        let err = permit(Role::Editor, Role::Admin, "manage users").expect_err("an editor may not manage users");
        assert_eq!(err.to_string(), "not allowed: an editor cannot manage users; ask an admin");
    }
}
