//! The retention worker of a server process: every `--retention-interval-minutes` (60 by default) it
//! prunes old per-minute metrics, counted batch ids, finished webhook deliveries and expired sessions
//! (see `app::server::retention`); one replica at a time does the work.

use app::server::retention::{self, Policy};
use clap::Args;
use sqlx::PgPool;
use std::time::Duration;

/// How long `rollgate serve` keeps what only grows. The audit trail and timelines are never pruned.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Days of per-minute guardrail metrics to keep (at least 8: the charts show 7). Metrics a live
    /// rollout's guardrails still read are kept regardless.
    #[arg(long, env = "ROLLGATE_METRICS_RETENTION_DAYS", default_value_t = Policy::default().metrics_days)]
    pub metrics_retention_days: u32,
    /// Days a metric batch id is remembered, so that a retried batch counts once.
    #[arg(long, env = "ROLLGATE_BATCH_ID_RETENTION_DAYS", default_value_t = Policy::default().batch_id_days)]
    pub batch_id_retention_days: u32,
    /// Days delivered and failed webhook deliveries stay listed (pending ones always do).
    #[arg(long, env = "ROLLGATE_WEBHOOK_DELIVERY_RETENTION_DAYS", default_value_t = Policy::default().delivery_days)]
    pub webhook_delivery_retention_days: u32,
    /// Minutes between pruning passes.
    #[arg(long, env = "ROLLGATE_RETENTION_INTERVAL_MINUTES", default_value_t = 60)]
    pub retention_interval_minutes: u64,
}

impl RetentionArgs {
    /// The policy, or what is wrong with it (checked before serving starts).
    pub fn policy(&self) -> Result<Policy, String> {
        let policy = Policy {
            metrics_days: self.metrics_retention_days,
            batch_id_days: self.batch_id_retention_days,
            delivery_days: self.webhook_delivery_retention_days,
        };
        policy.validate().map(|()| policy)
    }
}

pub async fn run(pool: PgPool, policy: Policy, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match retention::prune(&pool, &policy, chrono::Utc::now()).await {
            Ok(pruned) if pruned.total() > 0 => tracing::info!(
                metric_minutes = pruned.metric_minutes,
                metric_batches = pruned.metric_batches,
                webhook_deliveries = pruned.webhook_deliveries,
                sessions = pruned.sessions,
                "pruned old rows"
            ),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "pruning failed; retrying next interval"),
        }
    }
}
