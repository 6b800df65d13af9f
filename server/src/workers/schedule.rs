//! Runs scheduled changes as they come due (see `app::server::schedule`): a pass every few seconds. Any
//! number of replicas may run it; each due change is claimed by one of them.

use sqlx::PgPool;
use std::time::Duration;

/// Runs passes until the task is aborted.
pub async fn run(pool: PgPool, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match app::server::schedule::run_due(&pool, chrono::Utc::now()).await {
            Ok(outcomes) => {
                for outcome in &outcomes {
                    if outcome.status == "done" {
                        tracing::info!(%outcome, "scheduled change ran");
                    } else {
                        tracing::warn!(%outcome, "scheduled change refused");
                    }
                }
            }
            Err(err) => tracing::error!(error = %err, "scheduled changes pass failed; retrying next interval"),
        }
    }
}
