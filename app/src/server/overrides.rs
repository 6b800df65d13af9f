//! Organization overrides: force a flag's value for one organization in one environment, or clear that.
//! Like every write: permission checked, audit event and NOTIFY in the same transaction.

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::{EnvKey, FlagKey};
use serde_json::Value;
use sqlx::PgPool;

fn fits(value_type: &str, value: &Value) -> bool {
    match value_type {
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        _ => true,
    }
}

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
    actor.require_editor()?;
    if reason.is_some_and(|r| r.chars().count() > 2000) {
        return Err(ServiceError::Invalid {
            field: "reason",
            message: "the reason is limited to 2,000 characters".into(),
        });
    }
    let mut tx = pool.begin().await?;
    let target = sqlx::query!(
        r#"select f.id as flag_id, f.value_type, f.archived_at is not null as "archived!", e.id as environment_id
           from flags f join flag_environments fe on fe.flag_id = f.id join environments e on e.id = fe.environment_id
           where f.key = $1 and e.key = $2"#,
        flag.as_str(),
        env.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("flag {:?} in {}", flag.as_str(), env.as_str())))?;
    if target.archived {
        return Err(ServiceError::Invalid {
            field: "flag",
            message: format!("{} is archived; its overrides can no longer change", flag.as_str()),
        });
    }
    if let Some(value) = &value {
        if !fits(&target.value_type, value) {
            return Err(ServiceError::Invalid {
                field: "value",
                message: format!("{} takes {} values; {value} is not one", flag.as_str(), target.value_type),
            });
        }
    }
    let org_id = sqlx::query_scalar!("select id from organizations where key = $1", organization)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("account {organization:?}")))?;
    let before = sqlx::query_scalar!(
        "select value from overrides where flag_id = $1 and environment_id = $2 and organization_id = $3 for update",
        target.flag_id,
        target.environment_id,
        org_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if before == value {
        return Ok(false);
    }
    let action = match &value {
        Some(value) => {
            sqlx::query!(
                r#"insert into overrides (flag_id, environment_id, organization_id, value, reason, created_by)
                   values ($1, $2, $3, $4, $5, $6)
                   on conflict (flag_id, environment_id, organization_id)
                   do update set value = excluded.value, reason = excluded.reason"#,
                target.flag_id,
                target.environment_id,
                org_id,
                value,
                reason.map(str::trim).unwrap_or_default(),
                actor.user_id,
            )
            .execute(&mut *tx)
            .await?;
            "override.set"
        }
        None => {
            sqlx::query!(
                "delete from overrides where flag_id = $1 and environment_id = $2 and organization_id = $3",
                target.flag_id,
                target.environment_id,
                org_id
            )
            .execute(&mut *tx)
            .await?;
            "override.cleared"
        }
    };
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action,
            entity_kind: "organization_override",
            entity_key: &format!("{}/{}/{organization}", flag.as_str(), env.as_str()),
            flag_key: Some(flag.as_str()),
            environment_key: Some(env.as_str()),
            before: before.map(|v| serde_json::json!({ "organization": organization, "value": v })),
            after: value.map(|v| serde_json::json!({ "organization": organization, "value": v })),
            reason,
        },
    )
    .await?;
    audit::notify_change(&mut tx, "override", flag.as_str()).await?;
    tx.commit().await?;
    Ok(true)
}
