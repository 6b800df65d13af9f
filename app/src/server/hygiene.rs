//! Flag hygiene: which flags are stale, by the rules of `domain::staleness` over what the database knows.

use super::ServiceError;
use crate::domain::staleness::{staleness, FlagActivity};
use crate::domain::FlagKind;
use crate::model::StaleFlag;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::str::FromStr;

/// Every stale flag at `now`, in phase order then key.
pub async fn stale_flags(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<StaleFlag>, ServiceError> {
    // A flag's last change is the latest of its own row, its states and its rollouts. "Fully rolled out":
    // on in every environment, with no rollout still in progress.
    let rows = sqlx::query!(
        r#"select f.key, f.name, f.kind, p.key as "phase?",
                  f.archived_at as "archived_at: DateTime<Utc>",
                  f.last_evaluated_at as "last_evaluated_at: DateTime<Utc>",
                  greatest(f.updated_at, s.updated_at, r.updated_at) as "last_changed_at!: DateTime<Utc>",
                  coalesce(s.all_on, false) and r.live = 0 as "fully_rolled_out!"
           from flags f
           left join phases p on p.id = f.phase_id
           left join lateral (select max(updated_at) as updated_at, bool_and(enabled) as all_on
                              from flag_environments where flag_id = f.id) s on true
           cross join lateral (select max(updated_at) as updated_at,
                                      count(*) filter (where status in ('planned', 'active', 'paused')) as live
                               from rollouts where flag_id = f.id) r
           order by p.position nulls last, f.key"#
    )
    .fetch_all(pool)
    .await?;
    let mut stale = Vec::new();
    for row in rows {
        let kind = FlagKind::from_str(&row.kind).map_err(|e| ServiceError::Other(format!("stored flag kind: {e}")))?;
        let activity = FlagActivity {
            kind,
            last_changed_at: row.last_changed_at,
            fully_rolled_out: row.fully_rolled_out,
            archived_at: row.archived_at,
            last_evaluated_at: row.last_evaluated_at,
        };
        if let Some(reason) = staleness(&activity, now) {
            stale.push(StaleFlag {
                key: row.key,
                name: row.name,
                kind,
                phase: row.phase,
                last_changed_at: row.last_changed_at,
                reason,
            });
        }
    }
    Ok(stale)
}
