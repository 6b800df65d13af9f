//! Reading overrides: a flag's, per environment, with the names registered for their keys.

use super::{columns, FlagInEnv};
use crate::domain::{EnvKey, FlagKey, Target, TargetKind};
use crate::model::targets::{EnvironmentOverrides, FlagOverrides, OverrideView};
use crate::server::ServiceError;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

/// One stored override as a page shows it.
struct Row {
    environment: String,
    organization_key: Option<String>,
    customer_key: Option<String>,
    name: Option<String>,
    value: Value,
    reason: String,
    version: i32,
    updated_at: chrono::DateTime<chrono::Utc>,
    updated_by: Option<String>,
}

impl Row {
    fn view(self) -> Result<(String, OverrideView), ServiceError> {
        let target = match (self.customer_key, self.organization_key) {
            (Some(key), _) => Target { kind: TargetKind::Customer, key },
            (None, Some(key)) => Target { kind: TargetKind::Organization, key },
            (None, None) => return Err(ServiceError::bug("an override without a target")),
        };
        let view = OverrideView {
            target,
            target_name: self.name,
            value: self.value,
            reason: self.reason,
            version: self.version,
            updated_at: self.updated_at,
            updated_by: self.updated_by,
        };
        Ok((self.environment, view))
    }
}

pub(super) async fn get_in(
    conn: &mut PgConnection,
    at: &FlagInEnv,
    target: &Target,
) -> Result<Option<OverrideView>, ServiceError> {
    let (organization, customer) = columns(target);
    let row = sqlx::query_as!(
        Row,
        r#"select e.key as environment, o.organization_key, o.customer_key,
                  coalesce(g.name, nullif(c.name, '')) as name, o.value, o.reason, o.version,
                  o.updated_at as "updated_at: chrono::DateTime<chrono::Utc>", u.email as "updated_by?"
           from overrides o join environments e on e.id = o.environment_id
           left join organizations g on g.key = o.organization_key
           left join customers c on c.key = o.customer_key
           left join users u on u.id = coalesce(o.updated_by, o.created_by)
           where o.flag_id = $1 and o.environment_id = $2
             and o.organization_key is not distinct from $3 and o.customer_key is not distinct from $4"#,
        at.flag_id,
        at.environment_id,
        organization,
        customer
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| r.view().map(|(_, v)| v)).transpose()
}

/// Every override of a flag, per environment in the environments' order; environments without any are
/// listed too, so a page can offer to add one there.
pub async fn list(pool: &PgPool, flag: &str, can_edit: bool) -> Result<FlagOverrides, ServiceError> {
    let found = sqlx::query!(
        r#"select id, value_type, archived_at is not null as "archived!" from flags where key = $1"#,
        flag
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("flag {flag:?}")))?;
    let environments = sqlx::query!(
        "select e.key, e.name from flag_environments fe join environments e on e.id = fe.environment_id
         where fe.flag_id = $1 and e.archived_at is null order by e.position",
        found.id
    )
    .fetch_all(pool)
    .await?;
    let rows = sqlx::query_as!(
        Row,
        r#"select e.key as environment, o.organization_key, o.customer_key,
                  coalesce(g.name, nullif(c.name, '')) as name, o.value, o.reason, o.version,
                  o.updated_at as "updated_at: chrono::DateTime<chrono::Utc>", u.email as "updated_by?"
           from overrides o join environments e on e.id = o.environment_id
           left join organizations g on g.key = o.organization_key
           left join customers c on c.key = o.customer_key
           left join users u on u.id = coalesce(o.updated_by, o.created_by)
           where o.flag_id = $1
           order by e.position, o.customer_key is null, coalesce(o.customer_key, o.organization_key)"#,
        found.id
    )
    .fetch_all(pool)
    .await?;
    let mut out: Vec<EnvironmentOverrides> = environments
        .into_iter()
        .map(|e| EnvironmentOverrides { environment: e.key, environment_name: e.name, overrides: Vec::new() })
        .collect();
    for row in rows {
        let (environment, view) = row.view()?;
        if let Some(env) = out.iter_mut().find(|e| e.environment == environment) {
            env.overrides.push(view);
        }
    }
    Ok(FlagOverrides {
        flag: flag.to_owned(),
        value_type: found.value_type,
        archived: found.archived,
        can_edit: can_edit && !found.archived,
        environments: out,
    })
}

/// The overrides of a flag in one environment.
pub async fn list_in(pool: &PgPool, flag: &FlagKey, env: &EnvKey) -> Result<Vec<OverrideView>, ServiceError> {
    let all = list(pool, flag.as_str(), false).await?;
    all.environments
        .into_iter()
        .find(|e| e.environment == env.as_str())
        .map(|e| e.overrides)
        .ok_or_else(|| ServiceError::NotFound(format!("flag {:?} in {}", flag.as_str(), env.as_str())))
}
