//! Overrides: force a flag's value for one organization or customer in one environment, or clear that.
//! Like every write: permission checked, audit event and NOTIFY in the same transaction.

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::{ChangeReason, EnvKey, FlagKey};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

fn fits(value_type: &str, value: &Value) -> bool {
    match value_type {
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        _ => true,
    }
}

/// Whom an override forces a value for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideTarget {
    /// An organization, by key.
    Organization(String),
    /// A customer, by key.
    Customer(String),
}

impl OverrideTarget {
    fn kind(&self) -> &'static str {
        match self {
            Self::Organization(_) => "organization",
            Self::Customer(_) => "customer",
        }
    }

    fn key(&self) -> &str {
        match self {
            Self::Organization(key) | Self::Customer(key) => key,
        }
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
    let mut tx = pool.begin().await?;
    let target = OverrideTarget::Organization(organization.to_owned());
    let changed = set_override_in(&mut tx, actor, flag, env, &target, value, reason).await?;
    if changed {
        audit::notify_change(&mut tx, "override", flag.as_str()).await?;
        tx.commit().await?;
    }
    Ok(changed)
}

/// Sets or clears the override of `flag` for one organization or customer in `env`, inside the caller's
/// transaction and without the NOTIFY. Returns whether anything changed.
pub async fn set_override_in(
    conn: &mut PgConnection,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    target: &OverrideTarget,
    value: Option<Value>,
    reason: Option<&str>,
) -> Result<bool, ServiceError> {
    actor.require_editor()?;
    let reason = ChangeReason::parse_optional(reason)?;
    let reason = reason.as_ref();
    let flag_row = sqlx::query!(
        r#"select f.id as flag_id, f.value_type, f.archived_at is not null as "archived!", e.id as environment_id
           from flags f join flag_environments fe on fe.flag_id = f.id join environments e on e.id = fe.environment_id
           where f.key = $1 and e.key = $2"#,
        flag.as_str(),
        env.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("flag {:?} in {}", flag.as_str(), env.as_str())))?;
    if flag_row.archived {
        return Err(ServiceError::Invalid {
            field: "flag",
            message: format!("{} is archived; its overrides can no longer change", flag.as_str()),
        });
    }
    if let Some(value) = &value {
        if !fits(&flag_row.value_type, value) {
            return Err(ServiceError::Invalid {
                field: "value",
                message: format!("{} takes {} values; {value} is not one", flag.as_str(), flag_row.value_type),
            });
        }
    }
    let (org_id, customer_id) = match target {
        OverrideTarget::Organization(key) => {
            let id = sqlx::query_scalar!("select id from organizations where key = $1", key)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("account {key:?}")))?;
            (Some(id), None)
        }
        OverrideTarget::Customer(key) => {
            let id = sqlx::query_scalar!("select id from customers where key = $1", key)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("customer {key:?}")))?;
            (None, Some(id))
        }
    };
    let before = sqlx::query_scalar!(
        "select value from overrides where flag_id = $1 and environment_id = $2
           and organization_id is not distinct from $3 and customer_id is not distinct from $4 for update",
        flag_row.flag_id,
        flag_row.environment_id,
        org_id,
        customer_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if before == value {
        return Ok(false);
    }
    let action = match &value {
        Some(value) => {
            let reason = reason.map(ChangeReason::as_str).unwrap_or_default();
            if before.is_some() {
                sqlx::query!(
                    "update overrides set value = $5, reason = $6 where flag_id = $1 and environment_id = $2
                       and organization_id is not distinct from $3 and customer_id is not distinct from $4",
                    flag_row.flag_id,
                    flag_row.environment_id,
                    org_id,
                    customer_id,
                    value,
                    reason,
                )
                .execute(&mut *conn)
                .await?;
            } else {
                sqlx::query!(
                    r#"insert into overrides (flag_id, environment_id, organization_id, customer_id, value, reason, created_by)
                       values ($1, $2, $3, $4, $5, $6, $7)"#,
                    flag_row.flag_id,
                    flag_row.environment_id,
                    org_id,
                    customer_id,
                    value,
                    reason,
                    actor.user_id,
                )
                .execute(&mut *conn)
                .await?;
            }
            "override.set"
        }
        None => {
            sqlx::query!(
                "delete from overrides where flag_id = $1 and environment_id = $2
                   and organization_id is not distinct from $3 and customer_id is not distinct from $4",
                flag_row.flag_id,
                flag_row.environment_id,
                org_id,
                customer_id
            )
            .execute(&mut *conn)
            .await?;
            "override.cleared"
        }
    };
    let (kind, key) = (target.kind(), target.key());
    audit::record(
        conn,
        actor,
        NewEvent {
            action,
            entity_kind: if kind == "organization" { "organization_override" } else { "customer_override" },
            entity_key: &format!("{}/{}/{key}", flag.as_str(), env.as_str()),
            flag_key: Some(flag.as_str()),
            environment_key: Some(env.as_str()),
            before: before.map(|v| serde_json::json!({ kind: key, "value": v })),
            after: value.map(|v| serde_json::json!({ kind: key, "value": v })),
            reason,
        },
    )
    .await?;
    Ok(true)
}
