//! Users: created from the command line (and later the admin UI), listed for admins.

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::{Email, Role, SignoffRole};
use crate::model::UserRow;
use sqlx::PgPool;
use std::str::FromStr;

/// A user to create. The password is hashed before it reaches this point.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub signoff_roles: Vec<SignoffRole>,
    pub password_hash: String,
}

/// Creates a user, or updates the name, role, sign-off roles and password of an existing one with the same
/// email. Audited.
pub async fn upsert(pool: &PgPool, actor: &Actor, user: &NewUser) -> Result<i64, ServiceError> {
    actor.require(Role::Admin, "manage users")?;
    let name = user.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ServiceError::Invalid {
            field: "name",
            message: "the name is required (up to 200 characters)".into(),
        });
    }
    let mut tx = pool.begin().await?;
    let existing =
        sqlx::query_scalar!("select id from users where lower(email) = lower($1) for update", user.email.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let (id, action) = match existing {
        Some(id) => {
            sqlx::query!(
                "update users set name = $2, role = $3, password_hash = $4, disabled = false where id = $1",
                id,
                name,
                user.role.as_str(),
                user.password_hash
            )
            .execute(&mut *tx)
            .await?;
            (id, "user.updated")
        }
        None => {
            let id = sqlx::query_scalar!(
                "insert into users (email, name, role, password_hash) values ($1, $2, $3, $4) returning id",
                user.email.as_str(),
                name,
                user.role.as_str(),
                user.password_hash
            )
            .fetch_one(&mut *tx)
            .await?;
            (id, "user.created")
        }
    };
    let roles: Vec<String> = user.signoff_roles.iter().map(|r| r.as_str().to_owned()).collect();
    sqlx::query!("delete from user_signoff_roles where user_id = $1", id).execute(&mut *tx).await?;
    sqlx::query!("insert into user_signoff_roles (user_id, role) select $1, unnest($2::text[])", id, &roles[..])
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action,
            entity_kind: "user",
            entity_key: user.email.as_str(),
            // The password hash is a secret: it never goes into the audit trail.
            after: Some(serde_json::json!({
                "email": user.email.as_str(), "name": name, "role": user.role.as_str(), "signoff_roles": roles,
            })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Every user, by email.
pub async fn list(pool: &PgPool) -> Result<Vec<UserRow>, ServiceError> {
    let rows = sqlx::query!(
        r#"select u.email, u.name, u.role, u.disabled, u.created_at as "created_at: chrono::DateTime<chrono::Utc>",
                  coalesce(array_agg(s.role order by s.role) filter (where s.role is not null), '{}') as "signoff_roles!"
           from users u left join user_signoff_roles s on s.user_id = u.id
           group by u.id order by lower(u.email)"#
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(UserRow {
                role: Role::from_str(&r.role).map_err(|e| ServiceError::internal("reading a user's role", e))?,
                signoff_roles: r
                    .signoff_roles
                    .iter()
                    .map(|s| SignoffRole::from_str(s))
                    .collect::<Result<_, _>>()
                    .map_err(|e| ServiceError::internal("reading a user's sign-off roles", e))?,
                email: r.email,
                name: r.name,
                disabled: r.disabled,
                created_at: r.created_at,
            })
        })
        .collect()
}
