//! Overrides: force a flag's value for one customer or organization key in one environment. The key is the
//! one applications send; it need not be registered. Like every write: permission checked, audit event
//! (before and after) and NOTIFY in the same transaction; a change or removal names the version it saw.

mod read;

pub use read::{list, list_in};

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::{EnvKey, FlagKey, Role, Target, TargetKind, ValueType};
use crate::model::targets::OverrideView;
use read::get_in;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

/// Sets (`Some`) or clears (`None`) the override of `flag` for `organization` in `env`. Returns whether
/// anything changed (setting the value already there changes nothing and records nothing).
pub async fn set_organization_override(
    pool: &PgPool,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    organization: &str,
    value: Option<Value>,
    reason: Option<&str>,
) -> Result<bool, ServiceError> {
    let target = Target::organization(organization)?;
    let mut tx = pool.begin().await?;
    let changed = set_override_in(&mut tx, actor, flag, env, &target, value, reason).await?;
    if changed {
        audit::notify_change(&mut tx, "override", flag.as_str()).await?;
        tx.commit().await?;
    }
    Ok(changed)
}

/// The flag in one environment, as a change needs it.
struct FlagInEnv {
    flag_id: i64,
    environment_id: i64,
    value_type: ValueType,
}

async fn flag_in_env(conn: &mut PgConnection, flag: &FlagKey, env: &EnvKey) -> Result<FlagInEnv, ServiceError> {
    let row = sqlx::query!(
        r#"select f.id as flag_id, f.value_type as "value_type: ValueType", f.archived_at is not null as "archived!", e.id as environment_id
           from flags f join flag_environments fe on fe.flag_id = f.id join environments e on e.id = fe.environment_id
           where f.key = $1 and e.key = $2 and e.archived_at is null"#,
        flag.as_str(),
        env.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("flag {:?} in {}", flag.as_str(), env.as_str())))?;
    if row.archived {
        return Err(ServiceError::Invalid {
            field: "flag",
            message: format!("{} is archived; its overrides can no longer change", flag.as_str()),
        });
    }
    Ok(FlagInEnv { flag_id: row.flag_id, environment_id: row.environment_id, value_type: row.value_type })
}

/// The type of the values `flag` serves, to read a value typed into a form.
pub async fn value_type_of(pool: &PgPool, flag: &FlagKey) -> Result<ValueType, ServiceError> {
    sqlx::query_scalar!(r#"select value_type as "value_type: ValueType" from flags where key = $1"#, flag.as_str())
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("flag {:?}", flag.as_str())))
}

fn check_value(flag: &FlagKey, value_type: ValueType, value: &Value) -> Result<(), ServiceError> {
    if value_type.accepts(value) {
        Ok(())
    } else {
        Err(ServiceError::Invalid {
            field: "value",
            message: format!("{} takes {value_type} values; {value} is not one", flag.as_str()),
        })
    }
}

fn check_reason(reason: Option<&str>) -> Result<(), ServiceError> {
    crate::domain::ChangeReason::parse_optional(reason)?;
    Ok(())
}

/// The stored override of one target, locked for the change.
struct Stored {
    value: Value,
    reason: String,
    version: i32,
}

/// Splits a target into the two nullable columns it is stored in.
fn columns(target: &Target) -> (Option<&str>, Option<&str>) {
    match target.kind {
        TargetKind::Organization => (Some(target.key.as_str()), None),
        TargetKind::Customer => (None, Some(target.key.as_str())),
    }
}

async fn stored_for_update(
    conn: &mut PgConnection,
    at: &FlagInEnv,
    target: &Target,
) -> Result<Option<Stored>, ServiceError> {
    let (organization, customer) = columns(target);
    Ok(sqlx::query_as!(
        Stored,
        "select value, reason, version from overrides where flag_id = $1 and environment_id = $2
           and organization_key is not distinct from $3 and customer_key is not distinct from $4 for update",
        at.flag_id,
        at.environment_id,
        organization,
        customer
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Writes the new state of one override (`None`: removed; else the value and the reason stored with it)
/// and its audit event, which records `why` (for a removal, say, why it went).
#[allow(clippy::too_many_arguments)]
async fn write(
    conn: &mut PgConnection,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    at: &FlagInEnv,
    target: &Target,
    before: Option<&Stored>,
    after: Option<(&Value, &str)>,
    why: Option<&str>,
) -> Result<(), ServiceError> {
    let (organization, customer) = columns(target);
    let action = match (before, after) {
        (Some(_), Some((value, reason))) => {
            sqlx::query!(
                "update overrides set value = $5, reason = $6, version = version + 1, updated_by = $7
                 where flag_id = $1 and environment_id = $2
                   and organization_key is not distinct from $3 and customer_key is not distinct from $4",
                at.flag_id,
                at.environment_id,
                organization,
                customer,
                value,
                reason,
                actor.user_id,
            )
            .execute(&mut *conn)
            .await?;
            "override.set"
        }
        (None, Some((value, reason))) => {
            sqlx::query!(
                r#"insert into overrides (flag_id, environment_id, organization_key, customer_key, value, reason, created_by, updated_by)
                   values ($1, $2, $3, $4, $5, $6, $7, $7)"#,
                at.flag_id,
                at.environment_id,
                organization,
                customer,
                value,
                reason,
                actor.user_id,
            )
            .execute(&mut *conn)
            .await?;
            "override.set"
        }
        (Some(_), None) => {
            sqlx::query!(
                "delete from overrides where flag_id = $1 and environment_id = $2
                   and organization_key is not distinct from $3 and customer_key is not distinct from $4",
                at.flag_id,
                at.environment_id,
                organization,
                customer
            )
            .execute(&mut *conn)
            .await?;
            "override.cleared"
        }
        (None, None) => return Ok(()),
    };
    let kind = target.kind.as_str();
    let key = target.key.as_str();
    let new_version = before.map_or(1, |b| b.version + 1);
    let why = crate::domain::ChangeReason::parse_optional(why)?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action,
            entity_kind: if target.kind == TargetKind::Organization {
                "organization_override"
            } else {
                "customer_override"
            },
            entity_key: &format!("{}/{}/{key}", flag.as_str(), env.as_str()),
            flag_key: Some(flag.as_str()),
            environment_key: Some(env.as_str()),
            before: before.map(|b| serde_json::json!({ kind: key, "value": b.value, "version": b.version })),
            after: after.map(|(v, _)| serde_json::json!({ kind: key, "value": v, "version": new_version })),
            reason: why.as_ref(),
        },
    )
    .await?;
    Ok(())
}

/// Sets or clears the override of `flag` for one target in `env`, inside the caller's transaction and
/// without the NOTIFY, whatever version is stored (configuration as code and the account page's switch
/// state the value wanted, not an edit of what was seen). Returns whether anything changed.
pub async fn set_override_in(
    conn: &mut PgConnection,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    target: &Target,
    value: Option<Value>,
    reason: Option<&str>,
) -> Result<bool, ServiceError> {
    actor.require(Role::Editor, "change overrides")?;
    check_reason(reason)?;
    let at = flag_in_env(conn, flag, env).await?;
    if let Some(value) = &value {
        check_value(flag, at.value_type, value)?;
    }
    let before = stored_for_update(conn, &at, target).await?;
    if before.as_ref().map(|b| &b.value) == value.as_ref() {
        return Ok(false);
    }
    let reason = reason.map(str::trim).unwrap_or_default();
    let why = Some(reason).filter(|r| !r.is_empty());
    write(conn, actor, flag, env, &at, target, before.as_ref(), value.as_ref().map(|v| (v, reason)), why).await?;
    Ok(true)
}

fn not_found(flag: &FlagKey, env: &EnvKey, target: &Target) -> ServiceError {
    ServiceError::NotFound(format!("an override of {} in {} for {target}", flag.as_str(), env.as_str()))
}

fn check_version(target: &Target, stored: &Stored, expected: Option<i32>) -> Result<(), ServiceError> {
    match expected {
        Some(expected) if expected != stored.version => Err(ServiceError::Conflict {
            message: format!(
                "the override for {target} changed since you saw it (you saw version {expected}); reload it and try again"
            ),
            current_version: stored.version,
        }),
        _ => Ok(()),
    }
}

/// Adds an override for a target that has none in `env`; one it already has is refused, naming the field,
/// so that two people adding at once cannot overwrite each other (change it instead).
#[tracing::instrument(name = "overrides::create", skip_all, fields(actor = %actor.label, flag = flag.as_str(), env = env.as_str()))]
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    target: &Target,
    value: Value,
    reason: &str,
) -> Result<OverrideView, ServiceError> {
    actor.require(Role::Editor, "change overrides")?;
    check_reason(Some(reason))?;
    let mut tx = pool.begin().await?;
    let at = flag_in_env(&mut tx, flag, env).await?;
    check_value(flag, at.value_type, &value)?;
    if let Some(existing) = stored_for_update(&mut tx, &at, target).await? {
        return Err(ServiceError::Invalid {
            field: target.kind.as_str(),
            message: format!(
                "{target} already has an override of {} in {} (value {}); change or remove that one",
                flag.as_str(),
                env.as_str(),
                existing.value
            ),
        });
    }
    let reason = reason.trim();
    write(&mut tx, actor, flag, env, &at, target, None, Some((&value, reason)), Some(reason)).await?;
    audit::notify_change(&mut tx, "override", flag.as_str()).await?;
    let view = get_in(&mut tx, &at, target).await?.ok_or_else(|| not_found(flag, env, target))?;
    tx.commit().await?;
    Ok(view)
}

/// Changes an existing override's value (and reason, when given). `expected_version` is the version the
/// caller saw; a newer one is a conflict.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(name = "overrides::change", skip_all, fields(actor = %actor.label, flag = flag.as_str(), env = env.as_str()))]
pub async fn change(
    pool: &PgPool,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    target: &Target,
    value: Value,
    reason: Option<&str>,
    expected_version: Option<i32>,
) -> Result<OverrideView, ServiceError> {
    actor.require(Role::Editor, "change overrides")?;
    check_reason(reason)?;
    let mut tx = pool.begin().await?;
    let at = flag_in_env(&mut tx, flag, env).await?;
    check_value(flag, at.value_type, &value)?;
    let stored = stored_for_update(&mut tx, &at, target).await?.ok_or_else(|| not_found(flag, env, target))?;
    check_version(target, &stored, expected_version)?;
    let reason = reason.map_or(stored.reason.as_str(), str::trim).to_owned();
    if stored.value == value && stored.reason == reason {
        return get_in(&mut tx, &at, target).await?.ok_or_else(|| not_found(flag, env, target));
    }
    write(&mut tx, actor, flag, env, &at, target, Some(&stored), Some((&value, &reason)), Some(&reason)).await?;
    audit::notify_change(&mut tx, "override", flag.as_str()).await?;
    let view = get_in(&mut tx, &at, target).await?.ok_or_else(|| not_found(flag, env, target))?;
    tx.commit().await?;
    Ok(view)
}

/// Removes an override; `expected_version` as for [`change`], `why` for the audit trail.
#[tracing::instrument(name = "overrides::remove", skip_all, fields(actor = %actor.label, flag = flag.as_str(), env = env.as_str()))]
pub async fn remove(
    pool: &PgPool,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    target: &Target,
    expected_version: Option<i32>,
    why: Option<&str>,
) -> Result<(), ServiceError> {
    actor.require(Role::Editor, "change overrides")?;
    check_reason(why)?;
    let why = why.map(str::trim).filter(|r| !r.is_empty());
    let mut tx = pool.begin().await?;
    let at = flag_in_env(&mut tx, flag, env).await?;
    let stored = stored_for_update(&mut tx, &at, target).await?.ok_or_else(|| not_found(flag, env, target))?;
    check_version(target, &stored, expected_version)?;
    write(&mut tx, actor, flag, env, &at, target, Some(&stored), None, why).await?;
    audit::notify_change(&mut tx, "override", flag.as_str()).await?;
    tx.commit().await?;
    Ok(())
}
