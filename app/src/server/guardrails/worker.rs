//! One pass of the guardrail worker, over every live rollout that has guardrails:
//!
//! 1. read each guardrail's figures over its window (Postgres, or Prometheus through [`QuerySource`]);
//! 2. decide with the pure [`decide`] and store the decision (`guardrail_evaluations`);
//! 3. act on the rollout's verdict through the rollouts service, as `system:guardrail`, like a person
//!    pressing the button: roll back or pause on a breach (the event carries the figures), freeze and alert
//!    when a source is down, or advance by itself when the rollout allows it and the guardrails have been
//!    healthy for the whole soak.
//!
//! Only one replica runs a pass at a time: the pass holds a transaction-scoped advisory lock, and a replica
//! that cannot take it skips the pass. Even two passes at once could not roll back twice: the transition
//! names the version it saw, and the second gets a conflict.

use super::store::{self, Cohorts};
use crate::domain::guardrail::{
    decide, healthy_for_soak, rollout_verdict, Baseline, CohortStats, Decision, GuardrailAction, GuardrailKind,
    GuardrailStatus, Observation, RolloutVerdict,
};
use crate::domain::rollout::{Action, RolloutStatus};
use crate::server::audit::Actor;
use crate::server::rollouts::{self, TransitionRequest};
use crate::server::{webhooks, ServiceError};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};

/// The advisory lock key of the guardrail pass ("guardrl" in ASCII).
pub const LOCK_KEY: i64 = 0x0067_7561_7264_726c;

/// When this process's worker last made a pass, for the health check. It lives in the state, so each
/// server (and each test's) has its own; a process whose worker never started reports so.
#[derive(Debug, Default)]
pub struct Pulse {
    /// Unix milliseconds of the last pass (run, or skipped because another replica held the lock); 0 before.
    last_pass_ms: AtomicI64,
    /// The interval between passes; 0 while the worker is not started.
    interval_ms: AtomicI64,
}

/// What [`Pulse::status`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PulseStatus {
    /// A pass within three intervals (and five seconds of slack).
    pub alive: bool,
    pub last_pass: Option<DateTime<Utc>>,
    /// Zero when the worker is not started in this process.
    pub interval: std::time::Duration,
}

impl Pulse {
    /// The worker started, passing every `interval`.
    pub fn started(&self, interval: std::time::Duration) {
        self.interval_ms.store(i64::try_from(interval.as_millis()).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// A pass ended at `now`.
    pub fn beat(&self, now: DateTime<Utc>) {
        self.last_pass_ms.store(now.timestamp_millis(), Ordering::Relaxed);
    }

    pub fn status(&self, now: DateTime<Utc>) -> PulseStatus {
        let last = self.last_pass_ms.load(Ordering::Relaxed);
        let interval = self.interval_ms.load(Ordering::Relaxed);
        let last_pass = (last > 0).then(|| DateTime::from_timestamp_millis(last)).flatten();
        let alive = interval > 0 && last > 0 && now.timestamp_millis() - last <= 3 * interval + 5_000;
        PulseStatus {
            alive,
            last_pass,
            interval: std::time::Duration::from_millis(u64::try_from(interval).unwrap_or(0)),
        }
    }
}

/// Reads a Prometheus query: Ok(None) for an empty result, Err with the reason when the server cannot be
/// read (down, timeout, bad query, not one number).
pub trait QuerySource: Sync {
    fn query(&self, base_url: &str, promql: &str) -> impl Future<Output = Result<Option<f64>, String>> + Send;
}

/// What a pass did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PassReport {
    /// False when another replica held the lock and this one skipped the pass.
    pub ran: bool,
    pub rollouts: usize,
    pub guardrails: usize,
    /// E.g. "rolled back new-checkout in production: error rate 10.4% above 1% ...".
    pub actions: Vec<String>,
}

struct LiveRollout {
    id: i64,
    flag_id: i64,
    environment_id: i64,
    flag: String,
    environment: String,
    status: RolloutStatus,
    current_stage: Option<i32>,
    version: i32,
    auto_advance: bool,
    started_at: Option<DateTime<Utc>>,
    soak_seconds: Option<i32>,
    has_next_stage: bool,
}

/// Runs one pass at `now`.
pub async fn run_pass<S: QuerySource>(
    pool: &PgPool,
    source: &S,
    now: DateTime<Utc>,
) -> Result<PassReport, ServiceError> {
    let mut lock = pool.begin().await?;
    let got = sqlx::query_scalar!(r#"select pg_try_advisory_xact_lock($1) as "got!""#, LOCK_KEY)
        .fetch_one(&mut *lock)
        .await?;
    if !got {
        return Ok(PassReport::default());
    }
    let live = sqlx::query_as!(
        LiveRollout,
        r#"select r.id, r.flag_id, r.environment_id, f.key as flag, e.key as environment,
                  r.status as "status: RolloutStatus",
                  r.current_stage, r.version, r.auto_advance, r.started_at as "started_at: DateTime<Utc>",
                  s.min_soak_seconds as "soak_seconds?",
                  exists (select 1 from rollout_stages n where n.rollout_id = r.id
                          and n.position = r.current_stage + 1) as "has_next_stage!"
           from rollouts r
           join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
           left join rollout_stages s on s.rollout_id = r.id and s.position = r.current_stage
           where r.status in ('active', 'paused') and exists (select 1 from guardrails g where g.rollout_id = r.id)
           order by r.id"#
    )
    .fetch_all(&mut *lock)
    .await?;
    let mut report = PassReport { ran: true, rollouts: live.len(), ..PassReport::default() };
    for rollout in &live {
        if let Err(err) = check_rollout(pool, source, rollout, now, &mut report).await {
            // One rollout's trouble must not stop the others being watched.
            tracing::error!(rollout = rollout.id, error = %err, "guardrail check failed");
        }
    }
    lock.commit().await?;
    Ok(report)
}

/// A rollout's cohort sums already read in this pass, by cohorts and window: the template's guardrails
/// share windows (5 and 10 minutes of treatment and control), so each is read once.
type WindowCache = HashMap<(Cohorts, DateTime<Utc>, DateTime<Utc>), CohortStats>;

async fn cohort_window(
    conn: &mut sqlx::PgConnection,
    cache: &mut WindowCache,
    rollout: &LiveRollout,
    cohorts: Cohorts,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<CohortStats, ServiceError> {
    if let Some(stats) = cache.get(&(cohorts, from, until)) {
        return Ok(*stats);
    }
    let stats = store::cohort_stats(conn, rollout.flag_id, rollout.environment_id, cohorts, from, until).await?;
    cache.insert((cohorts, from, until), stats);
    Ok(stats)
}

async fn observe<S: QuerySource>(
    conn: &mut sqlx::PgConnection,
    cache: &mut WindowCache,
    source: &S,
    rollout: &LiveRollout,
    spec: &crate::domain::guardrail::GuardrailSpec,
    now: DateTime<Utc>,
) -> Result<Observation, ServiceError> {
    if let Some(query) = &spec.prometheus {
        return Ok(match source.query(&query.url, &query.promql).await {
            Ok(value) => Observation::Query(value),
            Err(why) => Observation::SourceDown(why),
        });
    }
    // A rollout's window never reaches back before its start, to the instant: figures of an earlier
    // rollout of the same flag, or from before this one started, are not this one's.
    let mut from = store::window_start(now, spec.window_minutes);
    if let Some(started) = rollout.started_at {
        from = from.max(started);
    }
    let until = now + TimeDelta::minutes(1);
    if spec.kind == GuardrailKind::Gauge {
        let name = spec.gauge_name.as_deref().unwrap_or_default();
        let (points, mean) = store::gauge_stats(conn, rollout.flag_id, rollout.environment_id, name, from).await?;
        return Ok(Observation::Gauge { points, mean });
    }
    let treatment = cohort_window(conn, cache, rollout, Cohorts::Treatment, from, until).await?;
    let baseline = match spec.baseline {
        None => None,
        Some(Baseline::Control) => Some(cohort_window(conn, cache, rollout, Cohorts::Control, from, until).await?),
        // The same length of time just before the start, up to the start itself.
        Some(Baseline::PreRollout) => match rollout.started_at {
            Some(started) => {
                let start = store::window_start(started, spec.window_minutes + 1);
                Some(cohort_window(conn, cache, rollout, Cohorts::All, start, started).await?)
            }
            None => None,
        },
    };
    Ok(Observation::Cohorts { treatment, baseline })
}

async fn check_rollout<S: QuerySource>(
    pool: &PgPool,
    source: &S,
    rollout: &LiveRollout,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> Result<(), ServiceError> {
    let current_stage = rollout.current_stage.and_then(|s| u32::try_from(s).ok());
    // One connection for the reads, given back before the writes.
    let mut conn = pool.acquire().await?;
    let guardrails: Vec<_> =
        store::list(&mut conn, rollout.id).await?.into_iter().filter(|g| g.spec.watches(current_stage)).collect();
    if guardrails.is_empty() {
        return Ok(());
    }
    report.guardrails += guardrails.len();
    let mut cache = WindowCache::new();
    let mut decisions: Vec<Decision> = Vec::with_capacity(guardrails.len());
    for guardrail in &guardrails {
        let observation = observe(&mut conn, &mut cache, source, rollout, &guardrail.spec, now).await?;
        decisions.push(decide(&guardrail.spec, &observation));
    }
    drop(conn);
    let specs: Vec<_> = guardrails.iter().map(|g| g.spec.clone()).collect();
    let verdict = rollout_verdict(&specs, &decisions);
    let system = Actor::system("guardrail");
    let rollout_path = format!("/admin/rollouts/{}", rollout.id);

    // Store the decisions; a source that has just gone down is recorded on the timeline and alerted, once.
    let mut tx = pool.begin().await?;
    let mut health = Vec::with_capacity(guardrails.len());
    for (guardrail, decision) in guardrails.iter().zip(&decisions) {
        let store::Recorded { previous, health: stored } =
            store::record_evaluation(&mut tx, guardrail.id, decision, now).await?;
        health.push(stored);
        if decision.status == GuardrailStatus::SourceDown && previous != Some(GuardrailStatus::SourceDown) {
            let details = serde_json::json!({
                "guardrail": { "id": guardrail.id, "rule": guardrail.spec.describe(), "kind": guardrail.spec.kind },
                "decision": decision,
            });
            rollouts::record_system_event(
                &mut tx,
                rollout.id,
                &system,
                "guardrail_source_down",
                &decision.message,
                details.clone(),
            )
            .await?;
            let summary = format!(
                "{} in {}: guardrail {} frozen, {}; the rollout will not advance until the source answers",
                rollout.flag,
                rollout.environment,
                guardrail.spec.kind.label(),
                decision.message
            );
            webhooks::enqueue(
                &mut tx,
                crate::domain::WebhookEvent::GuardrailSourceDown,
                &summary,
                serde_json::json!({ "flag": rollout.flag, "environment": rollout.environment,
                                    "rollout": rollout.id, "link": rollout_path, "details": details }),
            )
            .await?;
            report.actions.push(summary);
        }
    }
    tx.commit().await?;

    match verdict {
        RolloutVerdict::Act { action, guardrail } => {
            let (fired, decision) = (&guardrails[guardrail], &decisions[guardrail]);
            if action == GuardrailAction::Pause && rollout.status == RolloutStatus::Paused {
                return Ok(());
            }
            let verb = match action {
                GuardrailAction::Rollback => "rolled back",
                GuardrailAction::Pause => "paused",
            };
            let reason = format!("guardrail {} breached: {}", fired.spec.kind.label(), decision.message);
            let details = serde_json::json!({
                "guardrail": { "id": fired.id, "rule": fired.spec.describe(), "kind": fired.spec.kind,
                               "threshold": fired.spec.threshold, "window_minutes": fired.spec.window_minutes },
                "decision": decision,
                "all_decisions": guardrails.iter().zip(&decisions).map(|(g, d)| serde_json::json!({
                    "id": g.id, "rule": g.spec.describe(), "status": d.status, "message": d.message,
                })).collect::<Vec<_>>(),
            });
            let request = TransitionRequest {
                action: match action {
                    GuardrailAction::Rollback => Action::RollbackTo(None),
                    GuardrailAction::Pause => Action::Pause,
                },
                expected_version: Some(rollout.version),
                reason: Some(reason.clone()),
                override_gates: false,
                details: Some(details.clone()),
            };
            let summary = format!("{} in {} {verb} by a guardrail: {reason}", rollout.flag, rollout.environment);
            let notice = webhooks::Notice {
                event: crate::domain::WebhookEvent::GuardrailBreached,
                summary: summary.clone(),
                data: serde_json::json!({ "flag": rollout.flag, "environment": rollout.environment,
                                          "rollout": rollout.id, "action": action, "link": rollout_path,
                                          "details": details }),
            };
            match rollouts::transition_with_notice(pool, &system, rollout.id, &request, Some(&notice)).await {
                Ok(_) => {
                    tracing::warn!(rollout = rollout.id, flag = %rollout.flag, environment = %rollout.environment,
                                   %reason, "guardrail {verb} a rollout");
                    report.actions.push(summary);
                }
                // Someone (or another pass) changed the rollout since it was read: the next pass sees it.
                Err(ServiceError::Conflict { .. }) | Err(ServiceError::Refused { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        RolloutVerdict::Continue
            if rollout.auto_advance && rollout.status == RolloutStatus::Active && rollout.has_next_stage =>
        {
            let soak = TimeDelta::seconds(i64::from(rollout.soak_seconds.unwrap_or(0)));
            if healthy_for_soak(&health, soak, now).is_ok() {
                let request = TransitionRequest {
                    action: Action::Advance,
                    expected_version: Some(rollout.version),
                    reason: Some("auto-advance: soak over and every guardrail healthy throughout".to_owned()),
                    override_gates: false,
                    details: Some(serde_json::json!({ "auto_advance": true })),
                };
                match rollouts::transition(pool, &system, rollout.id, &request).await {
                    Ok(_) => report.actions.push(format!("advanced {} in {}", rollout.flag, rollout.environment)),
                    // Soak or sign-offs not there yet: the gates said so, and the page shows it.
                    Err(ServiceError::Refused { .. }) | Err(ServiceError::Conflict { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        RolloutVerdict::Continue | RolloutVerdict::Freeze { .. } => {}
    }
    Ok(())
}
