//! Keeps the tables that only grow from growing without end: per-minute metrics, the ids of metric
//! batches already counted, finished webhook deliveries and expired sessions. The audit trail and the
//! rollout timelines are the record and are never pruned.
//!
//! Rows go in chunks of [`CHUNK`], one short transaction each, so a large backlog never holds locks long
//! or blocks ingest. Only one replica prunes at a time (a transaction-scoped advisory lock per chunk).
//! Metrics that a live rollout's guardrails may still read are kept however old they are: the window
//! before an active or paused rollout started (its pre-rollout baseline, up to the longest guardrail
//! window), and everything since.

use crate::domain::guardrail::MAX_WINDOW_MINUTES;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgPool};

/// The advisory lock key of a pruning chunk ("retentn" in ASCII).
pub const LOCK_KEY: i64 = 0x0072_6574_656e_746e;

/// Rows deleted per statement.
pub const CHUNK: i64 = 10_000;

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Per-minute metrics (charts reach back 7 days).
    pub metrics_days: u32,
    /// Ids of metric batches already counted: a retry older than this would count twice.
    pub batch_id_days: u32,
    /// Delivered and failed webhook deliveries (pending ones are never pruned).
    pub delivery_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { metrics_days: 35, batch_id_days: 7, delivery_days: 30 }
    }
}

impl Policy {
    /// Refuses retentions too short for what reads the rows.
    pub fn validate(&self) -> Result<(), String> {
        if self.metrics_days < 8 {
            return Err(format!(
                "metrics retention must be at least 8 days (the charts show 7), not {}",
                self.metrics_days
            ));
        }
        if self.batch_id_days < 1 {
            return Err("metric batch ids must be kept at least 1 day, or retries would count twice".into());
        }
        if self.delivery_days < 1 {
            return Err("webhook deliveries must be kept at least 1 day".into());
        }
        Ok(())
    }
}

/// What one [`prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub metric_minutes: u64,
    pub metric_batches: u64,
    pub webhook_deliveries: u64,
    pub sessions: u64,
    /// Another replica held the lock, so this one left the work to it.
    pub skipped: bool,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.metric_minutes + self.metric_batches + self.webhook_deliveries + self.sessions
    }
}

fn days(n: u32) -> TimeDelta {
    TimeDelta::days(i64::from(n))
}

/// The tables pruned in chunks, in the order they are pruned.
#[derive(Debug, Clone, Copy)]
enum Table {
    MetricMinutes,
    MetricBatches,
    WebhookDeliveries,
}

/// Deletes what `policy` no longer keeps as of `now`, chunk by chunk until nothing is left.
pub async fn prune(pool: &PgPool, policy: &Policy, now: DateTime<Utc>) -> Result<Pruned, sqlx::Error> {
    let mut pruned = Pruned::default();
    for (table, keep_days) in [
        (Table::MetricMinutes, policy.metrics_days),
        (Table::MetricBatches, policy.batch_id_days),
        (Table::WebhookDeliveries, policy.delivery_days),
    ] {
        let before = now - days(keep_days);
        loop {
            let Some(mut tx) = locked(pool).await? else { return Ok(Pruned { skipped: true, ..pruned }) };
            let n = delete_chunk(&mut tx, table, before).await?;
            tx.commit().await?;
            *match table {
                Table::MetricMinutes => &mut pruned.metric_minutes,
                Table::MetricBatches => &mut pruned.metric_batches,
                Table::WebhookDeliveries => &mut pruned.webhook_deliveries,
            } += n;
            if n < CHUNK.unsigned_abs() {
                break;
            }
        }
    }
    // Expired sessions are already refused on read; this only keeps the table small.
    pruned.sessions = sqlx::query("delete from tower_sessions.session where expiry_date < $1")
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(pruned)
}

/// Deletes up to [`CHUNK`] rows of `table` older than `before`; answers how many went.
async fn delete_chunk(conn: &mut PgConnection, table: Table, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = match table {
        Table::MetricMinutes => {
            // A pre-rollout baseline reads the window just before the start, at most the longest guardrail
            // window: those minutes stay while the rollout is live.
            let baseline_minutes = i32::try_from(MAX_WINDOW_MINUTES + 1).unwrap_or(i32::MAX);
            sqlx::query!(
                r#"delete from metric_minutes where ctid = any (array(
                       select m.ctid from metric_minutes m
                       where m.minute < $1
                         and not exists (
                             select 1 from rollouts r
                             where r.flag_id = m.flag_id and r.environment_id = m.environment_id
                               and r.status in ('active', 'paused') and r.started_at is not null
                               and m.minute >= r.started_at - make_interval(mins => $2))
                       limit $3))"#,
                before as _,
                baseline_minutes,
                CHUNK
            )
            .execute(conn)
            .await?
        }
        Table::MetricBatches => {
            sqlx::query!(
                r#"delete from metric_batches where id = any (array(
                       select id from metric_batches where received_at < $1 order by received_at limit $2))"#,
                before as _,
                CHUNK
            )
            .execute(conn)
            .await?
        }
        Table::WebhookDeliveries => {
            sqlx::query!(
                r#"delete from webhook_deliveries where id = any (array(
                       select id from webhook_deliveries
                       where status in ('delivered', 'failed') and updated_at < $1 limit $2))"#,
                before as _,
                CHUNK
            )
            .execute(conn)
            .await?
        }
    };
    Ok(done.rows_affected())
}

/// A transaction holding the pruning lock, or `None` when another replica holds it.
async fn locked(pool: &PgPool) -> Result<Option<sqlx::Transaction<'static, sqlx::Postgres>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let got =
        sqlx::query_scalar!(r#"select pg_try_advisory_xact_lock($1) as "got!""#, LOCK_KEY).fetch_one(&mut *tx).await?;
    Ok(got.then_some(tx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_valid_and_short_retentions_are_refused_with_the_reason() {
        assert_eq!(Policy::default().validate(), Ok(()));
        let short = Policy { metrics_days: 7, ..Policy::default() };
        assert!(short.validate().unwrap_err().contains("at least 8 days"));
        let no_batches = Policy { batch_id_days: 0, ..Policy::default() };
        assert!(no_batches.validate().unwrap_err().contains("count twice"));
    }
}
