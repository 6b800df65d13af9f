//! Rollouts waiting on people rather than on time: active, past their stage's soak, and their next stage
//! still lacks sign-offs. `rollgate verify` and the health report list them. The rule is the advance
//! button's own gate check, read for its sign-off and soak gates only, over every active rollout in a
//! fixed number of queries.

use super::store::{load_plans, load_signoffs_of};
use crate::domain::rollout::{check_gates, Gate, GateInput, RolloutState, RolloutStatus};
use crate::model::StuckRollout;
use crate::server::ServiceError;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use std::collections::HashMap;

/// Every active rollout stuck for want of sign-offs at `now`, by id.
pub async fn stuck(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<StuckRollout>, ServiceError> {
    let mut conn = pool.acquire().await?;
    let rows = sqlx::query!(
        r#"select r.id, r.current_stage, r.stage_entered_at as "stage_entered_at: DateTime<Utc>", r.version,
                  f.key as flag, e.key as environment
           from rollouts r join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
           where r.status = 'active'
           order by r.id"#
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut plans = load_plans(&mut conn, &ids).await?;
    let signoffs = load_signoffs_of(&mut conn, &ids).await?;
    // Who asked for the sign-offs of each rollout's next stage at its current version: their own approval
    // does not count, exactly as when they press advance.
    let requesters: HashMap<i64, i64> = sqlx::query!(
        r#"select distinct on (ev.rollout_id) ev.rollout_id, ev.actor_user_id as "actor_user_id!"
           from rollout_events ev join rollouts r on r.id = ev.rollout_id
           where ev.rollout_id = any($1) and ev.kind = 'signoff_requested' and ev.actor_user_id is not null
             and ev.to_stage = r.current_stage + 1 and (ev.details->>'version')::int = r.version
           order by ev.rollout_id, ev.id"#,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.rollout_id, r.actor_user_id))
    .collect();

    let mut stuck = Vec::new();
    for row in rows {
        let Some(stages) = plans.remove(&row.id) else { continue };
        let state = RolloutState {
            status: RolloutStatus::Active,
            current_stage: row.current_stage.and_then(|s| u32::try_from(s).ok()),
            stage_entered_at: row.stage_entered_at,
            version: row.version,
            stages,
        };
        let Some(next) = state.next_stage() else { continue };
        let report = check_gates(GateInput {
            state: &state,
            target_stage: next,
            now,
            signoffs: signoffs.get(&row.id).map_or(&[], Vec::as_slice),
            requester: requesters.get(&row.id).copied(),
            // Neither changes which sign-offs are missing or when the soak ends.
            unfinished_prerequisites: &[],
            guardrail_blockers: &[],
        });
        let missing = report.unsigned_roles();
        if missing.is_empty() || report.missing.iter().any(|g| matches!(g, Gate::Soak { .. })) {
            continue;
        }
        let current = state.current_stage.and_then(|s| state.stages.stage(s));
        let target = state.stages.stage(next);
        stuck.push(StuckRollout {
            rollout: row.id,
            flag: row.flag,
            environment: row.environment,
            stage: state.current_stage.unwrap_or(0),
            stage_name: current.map(|s| s.name.clone()).unwrap_or_default(),
            percent: state.served_percent().to_string(),
            next_stage: next,
            next_stage_name: target.map(|s| s.name.clone()).unwrap_or_default(),
            missing_roles: missing.iter().map(|r| r.as_str().to_owned()).collect(),
            soak_ended_at: state
                .stage_entered_at
                .map(|at| at + TimeDelta::seconds(i64::from(current.map_or(0, |s| s.min_soak_seconds)))),
        });
    }
    Ok(stuck)
}
