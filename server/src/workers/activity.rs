//! Writes `flags.last_evaluated_at` for flag hygiene, off the evaluation path: once a tick, the flags
//! whose evaluation counters (served or archived) moved since the last tick get `now()`, in one statement.
//! Every replica does the same for its own answers; the column then holds the latest of them, give or
//! take a tick.

use app::server::snapshot::SnapshotHolder;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The flags whose totals moved since `previous`, which becomes the current totals.
pub fn moved(snapshot: &SnapshotHolder, previous: &mut HashMap<String, u64>) -> Vec<String> {
    let (counters, _) = snapshot.evaluation_counts();
    let mut totals: HashMap<String, u64> = HashMap::new();
    for c in counters {
        *totals.entry(c.flag).or_default() += c.counters.total();
    }
    let mut keys: Vec<String> = totals
        .iter()
        .filter(|(key, total)| **total > previous.get(*key).copied().unwrap_or(0))
        .map(|(key, _)| key.clone())
        .collect();
    keys.sort();
    *previous = totals;
    keys
}

/// Marks the flags evaluated since the last tick, and announces newly stale flags, every `every`.
pub async fn run(pool: PgPool, snapshot: Arc<SnapshotHolder>, every: Duration) {
    let mut previous = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let before = previous.clone();
        let keys = moved(&snapshot, &mut previous);
        if !keys.is_empty() {
            if let Err(err) = mark(&pool, &keys).await {
                // Back to the totals last recorded, so the next tick marks these flags again, and only these:
                // the counters run from the process start, and clearing would mark every flag ever evaluated.
                tracing::warn!(error = %err, flags = keys.len(), "could not record when flags were last evaluated");
                previous = before;
            }
        }
        // Flags that have become stale since the last tick get their `flag.stale` webhook.
        match app::server::hygiene::announce_newly_stale(&pool, chrono::Utc::now()).await {
            Ok(announced) if !announced.is_empty() => tracing::info!(flags = ?announced, "flags became stale"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not announce stale flags"),
        }
    }
}

pub async fn mark(pool: &PgPool, keys: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query!("update flags set last_evaluated_at = now() where key = any($1)", keys).execute(pool).await?;
    Ok(())
}
