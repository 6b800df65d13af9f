//! Flag hygiene: which flags are stale, by the rules of `domain::staleness` over what the database knows.

use super::ServiceError;
use crate::domain::staleness::{staleness, FlagActivity};
use crate::domain::FlagKind;
use crate::model::StaleFlag;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Every stale flag at `now`, in phase order then key.
pub async fn stale_flags(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<StaleFlag>, ServiceError> {
    // A flag's last change is the latest of its own row, its states and its rollouts. "Fully rolled out":
    // on in every environment, with no rollout still in progress.
    let rows = sqlx::query!(
        r#"select f.key, f.name, f.kind as "kind: FlagKind", p.key as "phase?",
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
        let kind = row.kind;
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

/// Announces the flags that have become stale since the last call: one `flag.stale` webhook per flag and
/// stale spell, recorded in `flag_stale_notices` in the same transaction; flags no longer stale lose their
/// notice, so a later spell is announced again. Answers the keys announced now.
pub async fn announce_newly_stale(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<String>, ServiceError> {
    let mut tx = pool.begin().await?;
    // One announcer at a time across replicas; another one skips this round without computing anything.
    let got =
        sqlx::query_scalar!(r#"select pg_try_advisory_xact_lock(7364281915) as "got!""#).fetch_one(&mut *tx).await?;
    if !got {
        return Ok(Vec::new());
    }
    let stale = stale_flags(pool, now).await?;
    let keys: Vec<&str> = stale.iter().map(|f| f.key.as_str()).collect();
    sqlx::query!(
        "delete from flag_stale_notices n using flags f where f.id = n.flag_id and not (f.key = any($1))",
        &keys as &[&str]
    )
    .execute(&mut *tx)
    .await?;
    let mut announced = Vec::new();
    for flag in &stale {
        let reason = flag.reason.to_string();
        let inserted = sqlx::query_scalar!(
            "insert into flag_stale_notices (flag_id, reason) select id, $2 from flags where key = $1
             on conflict (flag_id) do nothing returning flag_id",
            flag.key,
            reason.chars().take(500).collect::<String>()
        )
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            continue;
        }
        let summary = format!("Flag {} is stale: {reason}. Remove it from the code, or archive it.", flag.key);
        super::webhooks::enqueue(
            &mut tx,
            crate::domain::WebhookEvent::FlagStale,
            &summary,
            serde_json::json!({
                "flag": flag.key, "name": flag.name, "kind": flag.kind, "phase": flag.phase,
                "reason": reason, "last_changed_at": flag.last_changed_at,
                "links": { "flag": format!("/admin/feature-flags/{}", flag.key) },
            }),
        )
        .await?;
        announced.push(flag.key.clone());
    }
    tx.commit().await?;
    Ok(announced)
}
