//! Users, managed by admins: add (with a one-time set-password link), change role and sign-off roles,
//! disable and re-enable, force a password reset. `rollgate user add` upserts from the shell.
//!
//! Every change is audited in its own transaction. The last active admin can be neither disabled nor
//! demoted: such changes take one advisory lock first, so two admins disabling each other at once end
//! with one of them still active.

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::{Email, PersonName, Role, SignoffRole};
use crate::model::people::{LinkPurpose, PendingLink, UserDetail, UserStatus};
use crate::model::{TokenRow, UserRow};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::str::FromStr;

/// A user to create or update from the shell. The password is hashed before it reaches this point.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub signoff_roles: Vec<SignoffRole>,
    pub password_hash: String,
}

/// Creates a user, or updates the name, role, sign-off roles and password of an existing one with the same
/// email (and enables them). Audited. For `rollgate user add`: the shell is the way back in when nobody can
/// sign in, so no last-admin rule applies here.
#[tracing::instrument(name = "users::upsert", skip_all, fields(actor = %actor.label))]
pub async fn upsert(pool: &PgPool, actor: &Actor, user: &NewUser) -> Result<i64, ServiceError> {
    actor.require(Role::Admin, "manage users")?;
    let name = PersonName::parse(&user.name)?;
    let mut tx = pool.begin().await?;
    let existing =
        sqlx::query_scalar!("select id from users where lower(email) = lower($1) for update", user.email.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let (id, action) = match existing {
        Some(id) => {
            // A new password ends the sessions opened with the old one.
            sqlx::query!(
                "update users set name = $2, role = $3, password_hash = $4, disabled = false,
                   session_epoch = session_epoch + 1 where id = $1",
                id,
                name.as_str(),
                user.role.as_str(),
                user.password_hash
            )
            .execute(&mut *tx)
            .await?;
            // A password set here voids any set-password link still out for them: it would replace it.
            sqlx::query!("update password_links set used_at = now() where user_id = $1 and used_at is null", id)
                .execute(&mut *tx)
                .await?;
            (id, "user.updated")
        }
        None => {
            let id = sqlx::query_scalar!(
                "insert into users (email, name, role, password_hash) values ($1, $2, $3, $4) returning id",
                user.email.as_str(),
                name.as_str(),
                user.role.as_str(),
                user.password_hash
            )
            .fetch_one(&mut *tx)
            .await?;
            (id, "user.created")
        }
    };
    let roles = set_signoff_roles(&mut tx, id, &user.signoff_roles).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action,
            entity_kind: "user",
            entity_key: user.email.as_str(),
            // The password hash is a secret: it never goes into the audit trail.
            after: Some(serde_json::json!({
                "email": user.email.as_str(), "name": name.as_str(), "role": user.role.as_str(), "signoff_roles": roles,
            })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn set_signoff_roles(
    conn: &mut PgConnection,
    user_id: i64,
    roles: &[SignoffRole],
) -> Result<Vec<String>, ServiceError> {
    let mut roles: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    roles.sort();
    roles.dedup();
    sqlx::query!("delete from user_signoff_roles where user_id = $1", user_id).execute(&mut *conn).await?;
    sqlx::query!("insert into user_signoff_roles (user_id, role) select $1, unnest($2::text[])", user_id, &roles[..])
        .execute(&mut *conn)
        .await?;
    Ok(roles)
}

fn status(disabled: bool, has_password: bool) -> UserStatus {
    match (disabled, has_password) {
        (true, _) => UserStatus::Disabled,
        (false, false) => UserStatus::Pending,
        (false, true) => UserStatus::Active,
    }
}

fn parse_roles(role: &str, signoff: &[String]) -> Result<(Role, Vec<SignoffRole>), ServiceError> {
    Ok((
        Role::from_str(role).map_err(|e| ServiceError::internal("reading a user's role", e))?,
        signoff
            .iter()
            .map(|s| SignoffRole::from_str(s))
            .collect::<Result<_, _>>()
            .map_err(|e| ServiceError::internal("reading a user's sign-off roles", e))?,
    ))
}

/// Every user, by email.
pub async fn list(pool: &PgPool) -> Result<Vec<UserRow>, ServiceError> {
    let rows = sqlx::query!(
        r#"select u.id, u.email, u.name, u.role, u.disabled, u.password_hash is not null as "has_password!",
                  u.created_at as "created_at: DateTime<Utc>", u.last_login_at as "last_login_at: DateTime<Utc>",
                  coalesce(array_agg(s.role order by s.role) filter (where s.role is not null), '{}') as "signoff_roles!"
           from users u left join user_signoff_roles s on s.user_id = u.id
           group by u.id order by lower(u.email)"#
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let (role, signoff_roles) = parse_roles(&r.role, &r.signoff_roles)?;
            Ok(UserRow {
                id: r.id,
                email: r.email,
                name: r.name,
                role,
                signoff_roles,
                status: status(r.disabled, r.has_password),
                created_at: r.created_at,
                last_login_at: r.last_login_at,
            })
        })
        .collect()
}

/// One user with their admin tokens, their unused set-password link and what was done to them.
pub async fn detail(pool: &PgPool, me: i64, id: i64) -> Result<UserDetail, ServiceError> {
    let user = list(pool)
        .await?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| ServiceError::NotFound(format!("user #{id}")))?;
    let admin_tokens = super::tokens::list(pool)
        .await?
        .into_iter()
        .filter(|t: &TokenRow| t.scope == "admin" && t.revoked_at.is_none() && t.user.as_deref() == Some(&user.email))
        .collect();
    let pending_link = sqlx::query_as!(
        PendingLink,
        r#"select purpose as "purpose: LinkPurpose", created_at as "created_at: DateTime<Utc>", expires_at as "expires_at: DateTime<Utc>"
           from password_links where user_id = $1 and used_at is null and expires_at > now()
           order by id desc limit 1"#,
        id
    )
    .fetch_optional(pool)
    .await?;
    let history = sqlx::query_as!(
        crate::model::AuditEventView,
        r#"select id as "id!", occurred_at as "occurred_at!: DateTime<Utc>", actor_label as "actor!", action as "action!",
                  entity_kind as "entity_kind!", entity_key as "entity_key!", flag_key, environment_key,
                  before, after, reason
           from audit_events where entity_kind = 'user' and lower(entity_key) = lower($1)
           order by id desc limit 50"#,
        user.email
    )
    .fetch_all(pool)
    .await?;
    let last_admin = user.role == Role::Admin
        && user.status == UserStatus::Active
        && active_admins(pool).await?.iter().all(|other| *other == id);
    Ok(UserDetail { is_me: me == id, last_admin, user, admin_tokens, pending_link, history })
}

async fn active_admins<'e>(executor: impl sqlx::PgExecutor<'e>) -> Result<Vec<i64>, ServiceError> {
    Ok(sqlx::query_scalar!(
        "select id from users where role = 'admin' and not disabled and password_hash is not null order by id"
    )
    .fetch_all(executor)
    .await?)
}

/// Serializes every change that could leave no active admin (disabling, demoting, resetting), across
/// replicas. Taken first, before any row lock, so two admins acting on each other at once queue rather
/// than deadlock.
async fn lock_admin_changes(conn: &mut PgConnection) -> Result<(), ServiceError> {
    sqlx::query!("select pg_advisory_xact_lock(hashtext('rollgate.admins'))").execute(&mut *conn).await?;
    Ok(())
}

/// Refuses when `id` is the only active admin: the change would leave nobody who can manage users. The
/// caller holds [`lock_admin_changes`].
async fn protect_last_admin(conn: &mut PgConnection, id: i64, change: &str) -> Result<(), ServiceError> {
    let admins = active_admins(&mut *conn).await?;
    if admins == [id] {
        return Err(ServiceError::Refused {
            code: "LAST_ADMIN",
            message: format!("this is the last active admin; make someone else an admin before you {change}"),
        });
    }
    Ok(())
}

/// A user row locked for a change, with what the audit trail shows of it.
struct Locked {
    email: String,
    role: Role,
    disabled: bool,
    has_password: bool,
}

async fn lock_user(conn: &mut PgConnection, id: i64) -> Result<Locked, ServiceError> {
    let row = sqlx::query!(
        r#"select email, role as "role: Role", disabled, password_hash is not null as "has_password!"
           from users where id = $1 for update"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("user #{id}")))?;
    Ok(Locked { email: row.email, role: row.role, disabled: row.disabled, has_password: row.has_password })
}

/// A user an admin adds; they choose their own password through the link they are given.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub email: Email,
    pub name: PersonName,
    pub role: Role,
    pub signoff_roles: Vec<SignoffRole>,
}

/// A one-time set-password link just made; the token is known only now.
#[derive(Debug, Clone)]
pub struct IssuedLink {
    pub user_id: i64,
    pub email: String,
    pub purpose: LinkPurpose,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// How long an invitation's link works (GitLab's and Grafana's are days, not minutes: people are away).
pub const INVITE_LINK_DAYS: i32 = 7;
/// How long a forced reset's link works.
pub const RESET_LINK_HOURS: i32 = 24;

/// Adds a user with no password and makes their invitation link. Admins only; an email already in use
/// (compared without regard to case) is refused on the `email` field.
#[tracing::instrument(name = "users::invite", skip_all, fields(actor = %actor.label))]
pub async fn invite(pool: &PgPool, actor: &Actor, invitation: &Invitation) -> Result<IssuedLink, ServiceError> {
    actor.require(Role::Admin, "add users")?;
    let mut tx = pool.begin().await?;
    let exists = sqlx::query_scalar!(
        "select exists(select 1 from users where lower(email) = lower($1)) as \"e!\"",
        invitation.email.as_str()
    )
    .fetch_one(&mut *tx)
    .await?;
    if exists {
        return Err(ServiceError::Invalid {
            field: "email",
            message: format!("there is already a user with the email {}", invitation.email.as_str()),
        });
    }
    let inserted = sqlx::query_scalar!(
        "insert into users (email, name, role) values ($1, $2, $3) returning id",
        invitation.email.as_str(),
        invitation.name.as_str(),
        invitation.role.as_str()
    )
    .fetch_one(&mut *tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("users_email_key") => {
            return Err(ServiceError::Invalid {
                field: "email",
                message: format!("there is already a user with the email {}", invitation.email.as_str()),
            })
        }
        Err(other) => return Err(other.into()),
    };
    let roles = set_signoff_roles(&mut tx, id, &invitation.signoff_roles).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "user.invited",
            entity_kind: "user",
            entity_key: invitation.email.as_str(),
            after: Some(serde_json::json!({
                "email": invitation.email.as_str(), "name": invitation.name.as_str(),
                "role": invitation.role.as_str(), "signoff_roles": roles,
            })),
            ..NewEvent::default()
        },
    )
    .await?;
    let link = issue_link(&mut tx, actor, id, invitation.email.as_str(), LinkPurpose::Invite).await?;
    tx.commit().await?;
    Ok(link)
}

/// Makes a new one-time set-password link for a user, voiding the unused ones before it.
async fn issue_link(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    email: &str,
    purpose: LinkPurpose,
) -> Result<IssuedLink, ServiceError> {
    let (token, hash) = super::setup::new_one_time_token();
    let hours = if purpose == LinkPurpose::Invite { INVITE_LINK_DAYS * 24 } else { RESET_LINK_HOURS };
    sqlx::query!("update password_links set used_at = now() where user_id = $1 and used_at is null", user_id)
        .execute(&mut *conn)
        .await?;
    let expires_at = sqlx::query_scalar!(
        r#"insert into password_links (user_id, token_hash, purpose, created_by, expires_at)
           values ($1, $2, $3, $4, now() + make_interval(hours => $5)) returning expires_at as "expires_at: DateTime<Utc>""#,
        user_id,
        hash,
        purpose.as_str(),
        actor.user_id,
        hours
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(IssuedLink { user_id, email: email.to_owned(), purpose, token, expires_at })
}

/// Changes a user's role and sign-off roles. Demoting the last active admin is refused.
#[tracing::instrument(name = "users::update_roles", skip_all, fields(actor = %actor.label, id = id))]
pub async fn update_roles(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    role: Role,
    signoff_roles: &[SignoffRole],
) -> Result<(), ServiceError> {
    actor.require(Role::Admin, "change users' roles")?;
    let mut tx = pool.begin().await?;
    lock_admin_changes(&mut tx).await?;
    let user = lock_user(&mut tx, id).await?;
    if user.role == Role::Admin && role != Role::Admin {
        protect_last_admin(&mut tx, id, "demote this one").await?;
    }
    let before_roles = sqlx::query_scalar!("select role from user_signoff_roles where user_id = $1 order by role", id)
        .fetch_all(&mut *tx)
        .await?;
    sqlx::query!("update users set role = $2 where id = $1", id, role.as_str()).execute(&mut *tx).await?;
    let after_roles = set_signoff_roles(&mut tx, id, signoff_roles).await?;
    if user.role == role && before_roles == after_roles {
        return Ok(());
    }
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "user.roles_changed",
            entity_kind: "user",
            entity_key: &user.email,
            before: Some(serde_json::json!({ "role": user.role.as_str(), "signoff_roles": before_roles })),
            after: Some(serde_json::json!({ "role": role.as_str(), "signoff_roles": after_roles })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Disables a user: they cannot sign in, every session of theirs ends at once (their epoch moves on) and
/// every admin token of theirs is revoked in the same transaction. Refused for oneself and for the last
/// active admin. Returns the prefixes of the tokens revoked.
#[tracing::instrument(name = "users::disable", skip_all, fields(actor = %actor.label, id = id))]
pub async fn disable(pool: &PgPool, actor: &Actor, id: i64, reason: Option<&str>) -> Result<Vec<String>, ServiceError> {
    actor.require(Role::Admin, "disable users")?;
    let reason = crate::domain::ChangeReason::parse_optional(reason)?;
    if actor.user_id == Some(id) {
        return Err(ServiceError::Refused {
            code: "SELF",
            message: "you cannot disable yourself; ask another admin".into(),
        });
    }
    let mut tx = pool.begin().await?;
    lock_admin_changes(&mut tx).await?;
    let user = lock_user(&mut tx, id).await?;
    if user.disabled {
        return Err(ServiceError::Refused {
            code: "ALREADY_DISABLED",
            message: format!("{} is already disabled", user.email),
        });
    }
    if user.role == Role::Admin {
        protect_last_admin(&mut tx, id, "disable this one").await?;
    }
    sqlx::query!("update users set disabled = true, session_epoch = session_epoch + 1 where id = $1", id)
        .execute(&mut *tx)
        .await?;
    sqlx::query!("update password_links set used_at = now() where user_id = $1 and used_at is null", id)
        .execute(&mut *tx)
        .await?;
    let revoked = sqlx::query_scalar!(
        "update api_tokens set revoked_at = now() where user_id = $1 and scope = 'admin' and revoked_at is null
         returning prefix",
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "user.disabled",
            entity_kind: "user",
            entity_key: &user.email,
            before: Some(serde_json::json!({ "disabled": false })),
            after: Some(
                serde_json::json!({ "disabled": true, "sessions_ended": true, "admin_tokens_revoked": revoked }),
            ),
            reason: reason.as_ref(),
            ..NewEvent::default()
        },
    )
    .await?;
    // Every process holds the tokens in its snapshot (read when PostgreSQL is unreachable): tell them.
    if !revoked.is_empty() {
        audit::notify_change(&mut tx, "user", &user.email).await?;
    }
    tx.commit().await?;
    Ok(revoked)
}

/// Enables a disabled user again. Their old sessions and admin tokens stay ended.
#[tracing::instrument(name = "users::enable", skip_all, fields(actor = %actor.label, id = id))]
pub async fn enable(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), ServiceError> {
    actor.require(Role::Admin, "enable users")?;
    let mut tx = pool.begin().await?;
    let user = lock_user(&mut tx, id).await?;
    if !user.disabled {
        return Err(ServiceError::Refused { code: "NOT_DISABLED", message: format!("{} is not disabled", user.email) });
    }
    sqlx::query!("update users set disabled = false where id = $1", id).execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "user.enabled",
            entity_kind: "user",
            entity_key: &user.email,
            before: Some(serde_json::json!({ "disabled": true })),
            after: Some(serde_json::json!({ "disabled": false })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Forces a password reset: the password stops working and every session ends at once; the user sets a
/// new one through the link returned (to pass on to them). For a user still waiting to set their first
/// password, a fresh invitation link. Refused for oneself (change your own password on your account
/// page) and for a disabled user (enable them first). Their admin tokens are separate credentials and
/// keep working.
#[tracing::instrument(name = "users::reset_password", skip_all, fields(actor = %actor.label, id = id))]
pub async fn reset_password(pool: &PgPool, actor: &Actor, id: i64) -> Result<IssuedLink, ServiceError> {
    actor.require(Role::Admin, "reset passwords")?;
    if actor.user_id == Some(id) {
        return Err(ServiceError::Refused {
            code: "SELF",
            message: "change your own password on your account page".into(),
        });
    }
    let mut tx = pool.begin().await?;
    lock_admin_changes(&mut tx).await?;
    let user = lock_user(&mut tx, id).await?;
    if user.disabled {
        return Err(ServiceError::Refused {
            code: "USER_DISABLED",
            message: format!("{} is disabled; enable them first", user.email),
        });
    }
    let purpose = if user.has_password { LinkPurpose::Reset } else { LinkPurpose::Invite };
    if user.has_password {
        if user.role == Role::Admin {
            protect_last_admin(&mut tx, id, "reset this one's password").await?;
        }
        sqlx::query!("update users set password_hash = null, session_epoch = session_epoch + 1 where id = $1", id)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: if user.has_password { "user.password_reset" } else { "user.invite_renewed" },
            entity_kind: "user",
            entity_key: &user.email,
            after: Some(serde_json::json!({ "sessions_ended": user.has_password })),
            ..NewEvent::default()
        },
    )
    .await?;
    let link = issue_link(&mut tx, actor, id, &user.email, purpose).await?;
    tx.commit().await?;
    Ok(link)
}
