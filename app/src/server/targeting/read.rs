//! A flag's targeting in every environment, as the flag page's card shows it.

use super::super::ServiceError;
use super::{corrupt, variants_of};
use crate::domain::ValueType;
use crate::model::targeting::{EnvironmentTargeting, FlagTargeting};
use sqlx::PgPool;

/// The flag's rules and prerequisites per environment (in the team's order), with what the card's forms
/// offer: the flag's variants, the segments and the other flags.
pub async fn for_flag(pool: &PgPool, flag: &str, can_edit: bool) -> Result<FlagTargeting, ServiceError> {
    let found = sqlx::query!(
        r#"select id, value_type as "value_type: ValueType", variants, archived_at is not null as "archived!"
           from flags where key = $1"#,
        flag
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("flag {flag:?}")))?;
    let variants = variants_of(found.value_type, &found.variants)?
        .map(|v| v.as_slice().iter().map(|v| v.key.clone()).collect())
        .unwrap_or_default();
    let rows = sqlx::query!(
        "select e.key, e.name, fe.rules, fe.prerequisites, fe.targeting_version, fe.default_value
         from flag_environments fe join environments e on e.id = fe.environment_id
         where fe.flag_id = $1 and e.archived_at is null order by e.position",
        found.id
    )
    .fetch_all(pool)
    .await?;
    let mut environments = Vec::with_capacity(rows.len());
    for row in rows {
        environments.push(EnvironmentTargeting {
            rules: serde_json::from_value(row.rules).map_err(|e| corrupt("rules", e))?,
            prerequisites: serde_json::from_value(row.prerequisites).map_err(|e| corrupt("prerequisites", e))?,
            environment: row.key,
            environment_name: row.name,
            version: row.targeting_version,
            default_value: row.default_value,
        });
    }
    let segments = super::segments::names(pool).await?;
    let flags = sqlx::query!(
        r#"select key, value_type as "value_type: ValueType", variants from flags
           where archived_at is null and id <> $1 order by key"#,
        found.id
    )
    .fetch_all(pool)
    .await?;
    let mut other_flags = Vec::with_capacity(flags.len());
    for f in flags {
        let keys = variants_of(f.value_type, &f.variants)?
            .map(|v| v.as_slice().iter().map(|v| v.key.clone()).collect())
            .unwrap_or_default();
        other_flags.push((f.key, keys));
    }
    Ok(FlagTargeting {
        flag: flag.to_owned(),
        value_type: found.value_type,
        variants,
        archived: found.archived,
        can_edit: can_edit && !found.archived,
        segments,
        other_flags,
        environments,
    })
}
