//! Setting passwords: through a one-time link (an invitation, or a reset an admin forced), or one's own
//! change on the account page. Hashing is the caller's (argon2id, off the async threads); these write.

use super::audit::{self, Actor, ActorKind, NewEvent};
use super::ServiceError;
use crate::domain::Role;
use crate::model::people::LinkTarget;
use sqlx::PgPool;

/// Whom a set-password link is for, while it works: unused, unexpired, its user not disabled. `None`
/// otherwise, and the page answers 404.
pub async fn link_target(pool: &PgPool, token: &str) -> Result<Option<LinkTarget>, ServiceError> {
    let hash = super::tokens::hash_secret(token);
    Ok(sqlx::query_as!(
        LinkTarget,
        r#"select u.email, u.name, l.purpose as "purpose: crate::model::people::LinkPurpose"
         from password_links l join users u on u.id = l.user_id
         where l.token_hash = $1 and l.used_at is null and l.expires_at > now() and not u.disabled"#,
        hash
    )
    .fetch_optional(pool)
    .await?)
}

/// Sets the password of the link's user and uses the link up; every other session of theirs ends. The
/// change is audited as done by the user themself. Returns the user's id, to sign them in.
pub async fn set_with_link(pool: &PgPool, token: &str, password_hash: &str) -> Result<i64, ServiceError> {
    let hash = super::tokens::hash_secret(token);
    let mut tx = pool.begin().await?;
    let link = sqlx::query!(
        "update password_links l set used_at = now() from users u
         where l.token_hash = $1 and l.used_at is null and l.expires_at > now() and u.id = l.user_id and not u.disabled
         returning l.user_id, l.purpose, u.email, u.role as \"role: Role\"",
        hash
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        ServiceError::NotFound("set-password link (it was used or it expired; ask an admin for a new one)".into())
    })?;
    sqlx::query!(
        "update users set password_hash = $2, session_epoch = session_epoch + 1 where id = $1",
        link.user_id,
        password_hash
    )
    .execute(&mut *tx)
    .await?;
    let actor =
        Actor { kind: ActorKind::User, user_id: Some(link.user_id), label: link.email.clone(), role: link.role };
    audit::record(
        &mut tx,
        &actor,
        NewEvent {
            action: "user.password_set",
            entity_kind: "user",
            entity_key: &link.email,
            after: Some(serde_json::json!({ "through": link.purpose })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(link.user_id)
}

/// The stored hash of an enabled user's password, to check "current password" against (`None`: no
/// password set).
pub async fn current_hash(pool: &PgPool, user_id: i64) -> Result<Option<String>, ServiceError> {
    Ok(sqlx::query_scalar!("select password_hash from users where id = $1 and not disabled", user_id)
        .fetch_optional(pool)
        .await?
        .flatten())
}

/// Replaces a signed-in user's own password (the caller checked the current one). Every session of theirs
/// ends; the caller keeps the current one alive with the epoch returned.
pub async fn change_own(pool: &PgPool, actor: &Actor, old_hash: &str, new_hash: &str) -> Result<i32, ServiceError> {
    let user_id = actor.user_id.ok_or_else(|| ServiceError::Forbidden("only a person has a password".into()))?;
    let mut tx = pool.begin().await?;
    // Compared with the hash the caller checked, so two changes at once cannot both pass with one password.
    let epoch = sqlx::query_scalar!(
        "update users set password_hash = $3, session_epoch = session_epoch + 1
         where id = $1 and password_hash = $2 and not disabled returning session_epoch",
        user_id,
        old_hash,
        new_hash
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::Invalid {
        field: "current_password",
        message: "your password was changed meanwhile; sign in again".into(),
    })?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "user.password_changed",
            entity_kind: "user",
            entity_key: &actor.label,
            after: Some(serde_json::json!({ "other_sessions_ended": true })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(epoch)
}
