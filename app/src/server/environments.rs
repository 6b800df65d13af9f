//! Environments, managed in the product: create, rename, reorder, archive. Admins only.
//!
//! A key never changes and is never reused: archived environments stay in the table (the database refuses
//! to delete one) and keep their key. Every change takes one advisory lock, so positions are assigned and
//! keys checked without races between replicas, appends its audit event and sends a NOTIFY so that every
//! server process's snapshot follows, all in one transaction.

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::{EnvKey, EnvName, Role, ValueType};
use crate::model::environments::EnvironmentRow;
use sqlx::{PgConnection, PgPool};

/// Serializes every change to the list of environments, across replicas.
async fn lock(conn: &mut PgConnection) -> Result<(), ServiceError> {
    sqlx::query!("select pg_advisory_xact_lock(hashtext('rollgate.environments'))").execute(&mut *conn).await?;
    Ok(())
}

/// Every environment, live ones in display order and then the archived ones, with what uses each.
pub async fn list(pool: &PgPool) -> Result<Vec<EnvironmentRow>, ServiceError> {
    let rows = sqlx::query!(
        r#"select e.key, e.name, e.archived_at as "archived_at: chrono::DateTime<chrono::Utc>",
                  e.created_at as "created_at: chrono::DateTime<chrono::Utc>",
                  (select count(*) from flag_environments fe join flags f on f.id = fe.flag_id
                   where fe.environment_id = e.id and fe.enabled and f.archived_at is null) as "flags_on!",
                  (select count(*) from api_tokens t where t.environment_id = e.id and t.revoked_at is null
                   and (t.expires_at is null or t.expires_at > now())) as "evaluate_tokens!",
                  (select count(*) from rollouts r where r.environment_id = e.id
                   and r.status in ('planned', 'active', 'paused')) as "live_rollouts!"
           from environments e
           order by e.archived_at is not null, e.position"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| EnvironmentRow {
            key: r.key,
            name: r.name,
            archived_at: r.archived_at,
            created_at: r.created_at,
            flags_on: r.flags_on,
            evaluate_tokens: r.evaluate_tokens,
            live_rollouts: r.live_rollouts,
        })
        .collect())
}

/// Creates an environment at the end of the list, with every flag off in it.
pub async fn create(pool: &PgPool, actor: &Actor, key: &EnvKey, name: &EnvName) -> Result<(), ServiceError> {
    let mut tx = pool.begin().await?;
    create_in(&mut tx, actor, key, name).await?;
    audit::notify_change(&mut tx, "environment", key.as_str()).await?;
    tx.commit().await?;
    Ok(())
}

/// [`create`] inside the caller's transaction, without the NOTIFY. Every flag (archived ones too, whose
/// states are frozen) gets a state here in the same statement: off, serving its type's zero value
/// (`false` for a boolean) until someone turns it on, so a new environment changes no answer anywhere.
pub async fn create_in(
    conn: &mut PgConnection,
    actor: &Actor,
    key: &EnvKey,
    name: &EnvName,
) -> Result<i64, ServiceError> {
    actor.require(Role::Admin, "manage environments")?;
    lock(conn).await?;
    let existing = sqlx::query_scalar!("select archived_at is not null from environments where key = $1", key.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(archived) = existing {
        let message = if archived.unwrap_or(false) {
            format!(
                "the key {:?} belonged to an archived environment; keys are never reused, choose another",
                key.as_str()
            )
        } else {
            format!("an environment with the key {:?} already exists", key.as_str())
        };
        return Err(ServiceError::Invalid { field: "key", message });
    }
    let id = sqlx::query_scalar!(
        "insert into environments (key, name, position)
         select $1, $2, coalesce(max(position) + 1, 0) from environments returning id",
        key.as_str(),
        name.as_str()
    )
    .fetch_one(&mut *conn)
    .await?;
    let types: Vec<String> = ValueType::ALL.iter().map(|t| t.as_str().to_owned()).collect();
    let zeros: Vec<serde_json::Value> = ValueType::ALL.iter().map(|t| t.zero()).collect();
    let states = sqlx::query!(
        "insert into flag_environments (flag_id, environment_id, enabled, default_value, updated_by)
         select f.id, $1, false, z.value, $2
         from flags f join unnest($3::text[], $4::jsonb[]) as z(value_type, value) on z.value_type = f.value_type",
        id,
        actor.user_id,
        &types[..],
        &zeros[..]
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "environment.created",
            entity_kind: "environment",
            entity_key: key.as_str(),
            environment_key: Some(key.as_str()),
            after: Some(serde_json::json!({ "key": key.as_str(), "name": name.as_str(), "flag_states": states })),
            ..NewEvent::default()
        },
    )
    .await?;
    Ok(id)
}

/// Renames an environment (its key stays). Renaming to the same name changes nothing.
pub async fn rename(pool: &PgPool, actor: &Actor, key: &EnvKey, name: &EnvName) -> Result<(), ServiceError> {
    let mut tx = pool.begin().await?;
    if rename_in(&mut tx, actor, key, name).await? {
        audit::notify_change(&mut tx, "environment", key.as_str()).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// [`rename`] inside the caller's transaction, without the NOTIFY; says whether anything changed.
pub async fn rename_in(
    conn: &mut PgConnection,
    actor: &Actor,
    key: &EnvKey,
    name: &EnvName,
) -> Result<bool, ServiceError> {
    actor.require(Role::Admin, "manage environments")?;
    lock(conn).await?;
    let current = sqlx::query_scalar!("select name from environments where key = $1", key.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("environment {:?}", key.as_str())))?;
    if current == name.as_str() {
        return Ok(false);
    }
    sqlx::query!("update environments set name = $2 where key = $1", key.as_str(), name.as_str())
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "environment.renamed",
            entity_kind: "environment",
            entity_key: key.as_str(),
            environment_key: Some(key.as_str()),
            before: Some(serde_json::json!({ "name": current })),
            after: Some(serde_json::json!({ "name": name.as_str() })),
            ..NewEvent::default()
        },
    )
    .await?;
    Ok(true)
}

/// Puts the live environments in this order; `keys` must name each of them exactly once. Archived ones
/// keep their place after them.
pub async fn reorder(pool: &PgPool, actor: &Actor, keys: &[EnvKey]) -> Result<(), ServiceError> {
    actor.require(Role::Admin, "manage environments")?;
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let current = sqlx::query_scalar!("select key from environments order by archived_at is not null, position")
        .fetch_all(&mut *tx)
        .await?;
    let live = sqlx::query_scalar!("select key from environments where archived_at is null order by position")
        .fetch_all(&mut *tx)
        .await?;
    let wanted: Vec<String> = keys.iter().map(|k| k.as_str().to_owned()).collect();
    let mut sorted_wanted = wanted.clone();
    sorted_wanted.sort();
    let mut sorted_live = live.clone();
    sorted_live.sort();
    if sorted_wanted != sorted_live {
        return Err(ServiceError::Invalid {
            field: "keys",
            message: format!("the order must name every environment in use exactly once: {}", live.join(", ")),
        });
    }
    if wanted == live {
        return Ok(());
    }
    let order: Vec<String> = wanted.iter().cloned().chain(current.into_iter().filter(|k| !live.contains(k))).collect();
    // Out of the way first (past the largest position, so no two rows ever meet), then into place.
    sqlx::query!("update environments set position = position + (select max(position) + 1 from environments)")
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "update environments e set position = o.ordinality - 1
         from unnest($1::text[]) with ordinality as o(key, ordinality) where e.key = o.key",
        &order[..]
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "environment.reordered",
            entity_kind: "environment",
            entity_key: "order",
            before: Some(serde_json::json!({ "order": live })),
            after: Some(serde_json::json!({ "order": wanted })),
            ..NewEvent::default()
        },
    )
    .await?;
    audit::notify_change(&mut tx, "environment", "order").await?;
    tx.commit().await?;
    Ok(())
}

/// Archives an environment: it leaves every page, the evaluation snapshot and the export, and its key stays
/// reserved. Refused while something still uses it (live evaluate tokens, live rollouts, pending scheduled
/// changes), naming each, and for the last environment in use.
pub async fn archive(pool: &PgPool, actor: &Actor, key: &EnvKey, reason: Option<&str>) -> Result<(), ServiceError> {
    actor.require(Role::Admin, "manage environments")?;
    let reason = crate::domain::ChangeReason::parse_optional(reason)?;
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let env = sqlx::query!(
        "select id, name, archived_at is not null as \"archived!\" from environments where key = $1",
        key.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("environment {:?}", key.as_str())))?;
    if env.archived {
        return Err(ServiceError::Refused {
            code: "ALREADY_ARCHIVED",
            message: format!("{} is already archived", key.as_str()),
        });
    }
    let others = sqlx::query_scalar!(
        "select count(*) as \"n!\" from environments where archived_at is null and id <> $1",
        env.id
    )
    .fetch_one(&mut *tx)
    .await?;
    if others == 0 {
        return Err(ServiceError::Refused {
            code: "ENVIRONMENT_IN_USE",
            message: format!("{} is the only environment in use; add another before archiving it", key.as_str()),
        });
    }
    let users = in_use(&mut tx, env.id).await?;
    if !users.is_empty() {
        return Err(ServiceError::Refused {
            code: "ENVIRONMENT_IN_USE",
            message: format!("{} is still in use: {}", key.as_str(), users.join("; ")),
        });
    }
    sqlx::query!("update environments set archived_at = now() where id = $1", env.id).execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "environment.archived",
            entity_kind: "environment",
            entity_key: key.as_str(),
            environment_key: Some(key.as_str()),
            before: Some(serde_json::json!({ "name": env.name, "archived": false })),
            after: Some(serde_json::json!({ "name": env.name, "archived": true })),
            reason: reason.as_ref(),
            ..NewEvent::default()
        },
    )
    .await?;
    audit::notify_change(&mut tx, "environment", key.as_str()).await?;
    tx.commit().await?;
    Ok(())
}

/// What keeps an environment from being archived, one sentence per kind, each naming what to act on.
async fn in_use(conn: &mut PgConnection, env_id: i64) -> Result<Vec<String>, ServiceError> {
    let tokens = sqlx::query!(
        "select prefix, name from api_tokens where environment_id = $1 and revoked_at is null
           and (expires_at is null or expires_at > now()) order by prefix",
        env_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let rollouts = sqlx::query!(
        "select f.key, r.status from rollouts r join flags f on f.id = r.flag_id
         where r.environment_id = $1 and r.status in ('planned', 'active', 'paused') order by f.key",
        env_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let scheduled = sqlx::query_scalar!(
        "select distinct f.key from scheduled_changes sc join flags f on f.id = sc.flag_id
         where sc.environment_id = $1 and sc.status = 'pending' order by f.key",
        env_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut reasons = Vec::new();
    if !tokens.is_empty() {
        let list: Vec<String> = tokens.iter().map(|t| format!("{} ({})", t.prefix, t.name)).collect();
        reasons.push(format!("evaluate tokens {} (revoke them on /admin/tokens)", list.join(", ")));
    }
    if !rollouts.is_empty() {
        let list: Vec<String> = rollouts.iter().map(|r| format!("{} ({})", r.key, r.status)).collect();
        reasons.push(format!("live rollouts of {} (complete or roll them back)", list.join(", ")));
    }
    if !scheduled.is_empty() {
        reasons.push(format!("scheduled changes of {} (cancel them on /admin/schedule)", scheduled.join(", ")));
    }
    Ok(reasons)
}
