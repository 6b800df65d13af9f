//! Guardrails in Postgres: the rows, the worker's latest decision per guardrail, and the figures over a
//! window that the decision reads.

use crate::domain::guardrail::{
    Baseline, CohortStats, Decision, GuardrailAction, GuardrailHealth, GuardrailKind, GuardrailSpec, GuardrailStatus,
    PrometheusQuery, BUCKETS,
};
use crate::domain::Role;
use crate::server::audit::{self, Actor, NewEvent};
use crate::server::ServiceError;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

/// A guardrail and, once the worker has looked at it, its latest decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailRow {
    pub id: i64,
    pub rollout_id: i64,
    pub spec: GuardrailSpec,
    pub evaluation: Option<EvaluationRow>,
}

/// The worker's latest decision on one guardrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRow {
    pub status: GuardrailStatus,
    /// The figures behind it; None if the stored JSON is from an older shape.
    pub decision: Option<Decision>,
    pub healthy_since: Option<DateTime<Utc>>,
    pub evaluated_at: DateTime<Utc>,
}

fn to_i32(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Inserts guardrails for a rollout, in the caller's transaction.
pub async fn insert_specs(
    conn: &mut PgConnection,
    rollout_id: i64,
    specs: &[GuardrailSpec],
) -> Result<Vec<i64>, ServiceError> {
    let mut ids = Vec::with_capacity(specs.len());
    for spec in specs {
        spec.validate()?;
        let id = sqlx::query_scalar!(
            "insert into guardrails (rollout_id, stage, kind, gauge_name, threshold, window_seconds, min_samples,
                                     action, baseline, source, prometheus_url, promql)
             values ($1, $2, $3, $4, $5::float8::numeric, $6, $7, $8, $9, $10, $11, $12) returning id",
            rollout_id,
            spec.stage.map(|s| i32::try_from(s).unwrap_or(i32::MAX)),
            spec.kind.as_str(),
            spec.gauge_name,
            spec.threshold,
            to_i32(u64::from(spec.window_minutes) * 60),
            to_i32(spec.min_samples),
            spec.action.as_str(),
            spec.baseline.map(|b| b.as_str()),
            spec.source().as_str(),
            spec.prometheus.as_ref().map(|p| p.url.trim()),
            spec.prometheus.as_ref().map(|p| p.promql.trim()),
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(|err| match &err {
            sqlx::Error::Database(db) if db.constraint() == Some("guardrails_stage_fkey") => ServiceError::Invalid {
                field: "stage",
                message: format!("the rollout has no stage {}", spec.stage.unwrap_or_default()),
            },
            _ => err.into(),
        })?;
        ids.push(id);
    }
    Ok(ids)
}

/// A rollout's auto-advance switch and its guardrails, as its page shows them; `NotFound` if there is no
/// such rollout.
pub async fn for_rollout(pool: &PgPool, rollout_id: i64) -> Result<(bool, Vec<GuardrailRow>), ServiceError> {
    let mut conn = pool.acquire().await?;
    let auto_advance = sqlx::query_scalar!("select auto_advance from rollouts where id = $1", rollout_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("rollout {rollout_id}")))?;
    Ok((auto_advance, list(&mut conn, rollout_id).await?))
}

/// A rollout's guardrails with their latest decisions, rollout-wide ones first, then by stage.
pub async fn list(conn: &mut PgConnection, rollout_id: i64) -> Result<Vec<GuardrailRow>, ServiceError> {
    let rows = sqlx::query!(
        r#"select g.id, g.rollout_id, g.stage, g.kind, g.gauge_name, g.threshold::float8 as "threshold!",
                  g.window_seconds, g.min_samples, g.action, g.baseline, g.prometheus_url, g.promql,
                  e.status as "status?", e.observed as "observed?",
                  e.healthy_since as "healthy_since?: DateTime<Utc>",
                  e.evaluated_at as "evaluated_at?: DateTime<Utc>"
           from guardrails g left join guardrail_evaluations e on e.guardrail_id = g.id
           where g.rollout_id = $1 order by g.stage nulls first, g.id"#,
        rollout_id
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let parse = |what: &str, text: &str| ServiceError::bug(format!("guardrail {}: bad {what} {text:?}", r.id));
            let spec = GuardrailSpec {
                stage: r.stage.and_then(|s| u32::try_from(s).ok()),
                kind: r.kind.parse::<GuardrailKind>().map_err(|_| parse("kind", &r.kind))?,
                gauge_name: r.gauge_name.clone(),
                threshold: r.threshold,
                window_minutes: u32::try_from(r.window_seconds / 60).unwrap_or(1),
                min_samples: u64::try_from(r.min_samples).unwrap_or(0),
                action: r.action.parse::<GuardrailAction>().map_err(|_| parse("action", &r.action))?,
                baseline: match &r.baseline {
                    Some(b) => Some(b.parse::<Baseline>().map_err(|_| parse("baseline", b))?),
                    None => None,
                },
                prometheus: match (&r.prometheus_url, &r.promql) {
                    (Some(url), Some(promql)) => Some(PrometheusQuery { url: url.clone(), promql: promql.clone() }),
                    _ => None,
                },
            };
            let evaluation = match (&r.status, r.evaluated_at) {
                (Some(status), Some(evaluated_at)) => Some(EvaluationRow {
                    status: status.parse().map_err(|_| parse("status", status))?,
                    decision: r.observed.clone().and_then(|v| serde_json::from_value(v).ok()),
                    healthy_since: r.healthy_since,
                    evaluated_at,
                }),
                _ => None,
            };
            Ok(GuardrailRow { id: r.id, rollout_id: r.rollout_id, spec, evaluation })
        })
        .collect()
}

/// What keeps the rollout from advancing: guardrails on the current stage that are breached or whose
/// source is down ("guardrail error rate: metrics source down: connection refused").
pub async fn advance_blockers(
    conn: &mut PgConnection,
    rollout_id: i64,
    current_stage: Option<u32>,
) -> Result<Vec<String>, ServiceError> {
    Ok(list(conn, rollout_id)
        .await?
        .into_iter()
        .filter(|g| g.spec.watches(current_stage))
        .filter_map(|g| {
            let evaluation = g.evaluation?;
            matches!(evaluation.status, GuardrailStatus::Breached | GuardrailStatus::SourceDown).then(|| {
                let what =
                    evaluation.decision.map(|d| d.message).unwrap_or_else(|| evaluation.status.label().to_owned());
                format!("guardrail {}: {what}", g.spec.kind.label())
            })
        })
        .collect())
}

/// What storing a decision did: the status it replaced, and the guardrail's health as now stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recorded {
    pub previous: Option<GuardrailStatus>,
    pub health: GuardrailHealth,
}

/// Stores the worker's decision on a guardrail. A healthy streak keeps its start; any other status ends
/// it.
pub async fn record_evaluation(
    conn: &mut PgConnection,
    guardrail_id: i64,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<Recorded, ServiceError> {
    let previous = sqlx::query!(
        r#"select status, healthy_since as "healthy_since: DateTime<Utc>"
           from guardrail_evaluations where guardrail_id = $1 for update"#,
        guardrail_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let previous_status = previous.as_ref().and_then(|p| p.status.parse::<GuardrailStatus>().ok());
    let healthy_since = (decision.status == GuardrailStatus::Healthy).then(|| {
        match (previous_status, previous.as_ref().and_then(|p| p.healthy_since)) {
            (Some(GuardrailStatus::Healthy), Some(since)) => since,
            _ => now,
        }
    });
    let observed =
        serde_json::to_value(decision).map_err(|e| ServiceError::internal("recording a guardrail decision", e))?;
    sqlx::query!(
        "insert into guardrail_evaluations (guardrail_id, status, observed, healthy_since, evaluated_at)
         values ($1, $2, $3, $4, $5)
         on conflict (guardrail_id) do update set status = excluded.status, observed = excluded.observed,
             healthy_since = excluded.healthy_since, evaluated_at = excluded.evaluated_at",
        guardrail_id,
        decision.status.as_str(),
        observed,
        healthy_since as _,
        now as _,
    )
    .execute(&mut *conn)
    .await?;
    Ok(Recorded { previous: previous_status, health: GuardrailHealth { status: decision.status, healthy_since } })
}

/// The first minute of a window of `minutes` whole minutes ending with the minute of `now` (the current,
/// partial minute counts, so a breach shows within seconds).
pub fn window_start(now: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    let this_minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    this_minute - TimeDelta::minutes(i64::from(minutes.max(1)) - 1)
}

fn truncate_minute(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

/// Which cohorts to sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cohorts {
    /// Flag on: `treatment` and every `variant:*`.
    Treatment,
    Control,
    /// Everybody (the pre-rollout baseline).
    All,
}

/// One flag's figures in one environment from `from` up to, not including, `until`. Each bound is a whole
/// minute or a rollout's start, where the stored rows are cut (see the migration adding `part_start`), so
/// the sum is exact to the instant.
pub async fn cohort_stats(
    conn: &mut PgConnection,
    flag_id: i64,
    environment_id: i64,
    cohorts: Cohorts,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<CohortStats, ServiceError> {
    let (treatment, control) = match cohorts {
        Cohorts::Treatment => (true, false),
        Cohorts::Control => (false, true),
        Cohorts::All => (true, true),
    };
    let rows = sqlx::query!(
        r#"select request_count, error_count, latency_buckets, latency_sum_ms from metric_minutes
           where flag_id = $1 and environment_id = $2 and minute >= $7 and minute < $4
             and part_start >= $3 and part_start < $4
             and (($5 and (cohort = 'treatment' or cohort like 'variant:%')) or ($6 and cohort = 'control'))"#,
        flag_id,
        environment_id,
        from as _,
        until as _,
        treatment,
        control,
        truncate_minute(from) as _,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut stats = CohortStats::default();
    for row in rows {
        let mut buckets = [0u64; BUCKETS];
        for (slot, count) in buckets.iter_mut().zip(&row.latency_buckets) {
            *slot = u64::try_from(*count).unwrap_or(0);
        }
        stats.add(&CohortStats {
            requests: u64::try_from(row.request_count).unwrap_or(0),
            errors: u64::try_from(row.error_count).unwrap_or(0),
            buckets,
            latency_sum_ms: row.latency_sum_ms,
        });
    }
    Ok(stats)
}

/// A gauge's points and mean in one environment since `from` (a whole minute or a rollout's start, as for
/// [`cohort_stats`]): the flag's own values and flag-less ones.
pub async fn gauge_stats(
    conn: &mut PgConnection,
    flag_id: i64,
    environment_id: i64,
    name: &str,
    from: DateTime<Utc>,
) -> Result<(u64, Option<f64>), ServiceError> {
    let row = sqlx::query!(
        r#"select coalesce(sum(value_count), 0)::int8 as "points!", sum(value_sum) as total
           from gauge_minutes
           where environment_id = $1 and name = $2 and minute >= $5 and part_start >= $3
             and (flag_id = $4 or flag_id is null)"#,
        environment_id,
        name,
        from as _,
        flag_id,
        truncate_minute(from) as _,
    )
    .fetch_one(&mut *conn)
    .await?;
    let points = u64::try_from(row.points).unwrap_or(0);
    Ok((points, row.total.filter(|_| points > 0).map(|total| total / points as f64)))
}

/// The rollout a guardrail change is about, for permissions and the audit trail.
struct RolloutRef {
    flag: String,
    environment: String,
}

async fn rollout_ref(conn: &mut PgConnection, rollout_id: i64) -> Result<RolloutRef, ServiceError> {
    sqlx::query_as!(
        RolloutRef,
        r#"select f.key as flag, e.key as environment from rollouts r
           join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
           where r.id = $1 for update of r"#,
        rollout_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("rollout {rollout_id}")))
}

impl RolloutRef {
    /// Appends the audit event of a change to this rollout's guardrails (or its auto-advance) and announces
    /// the change, in the caller's transaction.
    async fn audit(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        rollout_id: i64,
        action: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), ServiceError> {
        let entity_key = format!("{}/{}#{rollout_id}", self.flag, self.environment);
        audit::record(
            conn,
            actor,
            NewEvent {
                action,
                entity_kind: "rollout",
                entity_key: &entity_key,
                flag_key: Some(&self.flag),
                environment_key: Some(&self.environment),
                before,
                after,
                ..NewEvent::default()
            },
        )
        .await?;
        audit::notify_change(conn, "rollout", &entity_key).await?;
        Ok(())
    }
}

/// Adds a guardrail to a rollout; editors only, audited.
pub async fn add(pool: &PgPool, actor: &Actor, rollout_id: i64, spec: &GuardrailSpec) -> Result<i64, ServiceError> {
    actor.require(Role::Editor, "change guardrails")?;
    spec.validate()?;
    let mut tx = pool.begin().await?;
    let target = rollout_ref(&mut tx, rollout_id).await?;
    let id = insert_specs(&mut tx, rollout_id, std::slice::from_ref(spec)).await?[0];
    target
        .audit(
            &mut tx,
            actor,
            rollout_id,
            "rollout.guardrail_added",
            None,
            Some(serde_json::json!({ "guardrail": id, "rule": spec.describe(), "spec": spec })),
        )
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// Removes a guardrail (and its latest decision); editors only, audited.
pub async fn remove(pool: &PgPool, actor: &Actor, rollout_id: i64, guardrail_id: i64) -> Result<(), ServiceError> {
    actor.require(Role::Editor, "change guardrails")?;
    let mut tx = pool.begin().await?;
    let target = rollout_ref(&mut tx, rollout_id).await?;
    let existing = list(&mut tx, rollout_id)
        .await?
        .into_iter()
        .find(|g| g.id == guardrail_id)
        .ok_or_else(|| ServiceError::NotFound(format!("guardrail {guardrail_id} of rollout {rollout_id}")))?;
    sqlx::query!("delete from guardrails where id = $1", guardrail_id).execute(&mut *tx).await?;
    target.audit(&mut tx, actor, rollout_id, "rollout.guardrail_removed", Some(serde_json::json!({ "guardrail": guardrail_id, "rule": existing.spec.describe(), "spec": existing.spec })), None).await?;
    tx.commit().await?;
    Ok(())
}

/// Turns auto-advance on or off; editors only, audited.
pub async fn set_auto_advance(pool: &PgPool, actor: &Actor, rollout_id: i64, on: bool) -> Result<(), ServiceError> {
    actor.require(Role::Editor, "change guardrails")?;
    let mut tx = pool.begin().await?;
    let target = rollout_ref(&mut tx, rollout_id).await?;
    let before =
        sqlx::query_scalar!("select auto_advance from rollouts where id = $1", rollout_id).fetch_one(&mut *tx).await?;
    if before == on {
        return Ok(());
    }
    sqlx::query!("update rollouts set auto_advance = $2 where id = $1", rollout_id, on).execute(&mut *tx).await?;
    target
        .audit(
            &mut tx,
            actor,
            rollout_id,
            "rollout.auto_advance",
            Some(serde_json::json!({ "auto_advance": before })),
            Some(serde_json::json!({ "auto_advance": on })),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}
