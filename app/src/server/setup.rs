//! The first start on an empty database: the environments every install needs, and the one-time set-up
//! link that creates the first admin (as Grafana and Jenkins do), so nobody has to touch SQL or the shell.

use super::audit::{self, Actor, ActorKind, NewEvent};
use super::ServiceError;
use crate::domain::{Email, EnvKey, EnvName, PersonName, Role};
use sqlx::PgPool;

/// How long a set-up link works. A server that still has no user prints a new one when it runs out.
pub const SETUP_LINK_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The environments a fresh install starts with; a team renames them or adds its own.
const INITIAL_ENVIRONMENTS: &[(&str, &str)] = &[("development", "Development"), ("production", "Production")];

/// A random one-time token (32 letters and digits, about 190 bits) and the SHA-256 stored for it.
pub fn new_one_time_token() -> (String, String) {
    use rand::distributions::{Alphanumeric, DistString};
    let token = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    let hash = super::tokens::hash_secret(&token);
    (token, hash)
}

/// On a database that has never had an environment, creates `development` and `production`, audited as
/// `system:setup`. Exactly once: environments are never deleted, so "none at all" only holds before the
/// first start, and an advisory lock makes replicas starting together create them once between them.
/// Returns the keys created (none on every later start).
pub async fn ensure_environments(pool: &PgPool) -> Result<Vec<String>, ServiceError> {
    let mut tx = pool.begin().await?;
    sqlx::query!("select pg_advisory_xact_lock(hashtext('rollgate.environments'))").execute(&mut *tx).await?;
    let any = sqlx::query_scalar!("select exists(select 1 from environments) as \"any!\"").fetch_one(&mut *tx).await?;
    if any {
        return Ok(Vec::new());
    }
    let actor = Actor::system("setup");
    let mut created = Vec::new();
    for (key, name) in INITIAL_ENVIRONMENTS {
        let key = EnvKey::parse(key)?;
        let name = EnvName::parse(name)?;
        super::environments::create_in(&mut tx, &actor, &key, &name).await?;
        created.push(key.as_str().to_owned());
    }
    audit::notify_change(&mut tx, "environment", "initial").await?;
    tx.commit().await?;
    Ok(created)
}

/// Whether the install still waits for its first user.
pub async fn needs_first_user(pool: &PgPool) -> Result<bool, ServiceError> {
    Ok(!sqlx::query_scalar!("select exists(select 1 from users) as \"any!\"").fetch_one(pool).await?)
}

/// A new set-up link's token, valid for [`SETUP_LINK_LIFETIME`], when there is no user yet. Every server
/// process may make its own: each works, once, until the first admin exists.
pub async fn issue_setup_token(pool: &PgPool) -> Result<Option<String>, ServiceError> {
    if !needs_first_user(pool).await? {
        return Ok(None);
    }
    let (token, hash) = new_one_time_token();
    let lifetime = f64::from(u32::try_from(SETUP_LINK_LIFETIME.as_secs()).unwrap_or(u32::MAX));
    sqlx::query!(
        "insert into setup_tokens (token_hash, expires_at) values ($1, now() + make_interval(secs => $2))",
        hash,
        lifetime
    )
    .execute(pool)
    .await?;
    Ok(Some(token))
}

/// Whether `/setup?token=...` should show its form: the token is unused and unexpired, and there is still
/// no user. Anything else is a 404, so the page gives nothing away.
pub async fn setup_token_valid(pool: &PgPool, token: &str) -> Result<bool, ServiceError> {
    let hash = super::tokens::hash_secret(token);
    Ok(sqlx::query_scalar!(
        r#"select exists(select 1 from setup_tokens where token_hash = $1 and used_at is null and expires_at > now())
                  and not exists(select 1 from users) as "valid!""#,
        hash
    )
    .fetch_one(pool)
    .await?)
}

/// The first admin, validated at the edge; the password is hashed before it reaches this point.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub email: Email,
    pub name: PersonName,
    pub password_hash: String,
}

/// Creates the first admin with a set-up token and uses the token up (and every other set-up token with
/// it). Refused as `NotFound` when the token is unknown, used or expired, or when a user exists already:
/// the advisory lock makes two people racing with two links end with one admin. Returns the user's id.
pub async fn complete_setup(pool: &PgPool, token: &str, admin: &FirstAdmin) -> Result<i64, ServiceError> {
    let not_found =
        || ServiceError::NotFound("set-up link (it was used, it expired, or Rollgate is set up already)".into());
    let hash = super::tokens::hash_secret(token);
    let mut tx = pool.begin().await?;
    sqlx::query!("select pg_advisory_xact_lock(hashtext('rollgate.setup'))").execute(&mut *tx).await?;
    let any_user = sqlx::query_scalar!("select exists(select 1 from users) as \"any!\"").fetch_one(&mut *tx).await?;
    if any_user {
        return Err(not_found());
    }
    sqlx::query_scalar!(
        "update setup_tokens set used_at = now() where token_hash = $1 and used_at is null and expires_at > now()
         returning id",
        hash
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(not_found)?;
    let id = sqlx::query_scalar!(
        "insert into users (email, name, role, password_hash) values ($1, $2, $3, $4) returning id",
        admin.email.as_str(),
        admin.name.as_str(),
        Role::Admin.as_str(),
        admin.password_hash
    )
    .fetch_one(&mut *tx)
    .await?;
    // The other links printed by other replicas, or earlier, end here too.
    sqlx::query!("update setup_tokens set used_at = now() where used_at is null").execute(&mut *tx).await?;
    let actor =
        Actor { kind: ActorKind::User, user_id: Some(id), label: admin.email.as_str().to_owned(), role: Role::Admin };
    audit::record(
        &mut tx,
        &actor,
        NewEvent {
            action: "user.created",
            entity_kind: "user",
            entity_key: admin.email.as_str(),
            after: Some(serde_json::json!({
                "email": admin.email.as_str(), "name": admin.name.as_str(), "role": Role::Admin.as_str(),
                "signoff_roles": [],
            })),
            reason: Some(&crate::domain::ChangeReason::system("the first admin, through the set-up link")),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
