//! The buttons: start, advance, pause, resume, roll back and complete, through the pure
//! `domain::rollout::apply` and its gates, with the sign-off request a refused advance files.

use super::store::{insert_event, load_signoffs, lock, unfinished_prerequisites, EventRow, Locked};
use super::{detail, refused};
use crate::domain::rollout::{
    apply, check_gates, Action, GateInput, GateRefusal, Override, RolloutStatus, TransitionKind,
};
use crate::domain::{ChangeReason, Percent, Role, SignoffRole};
use crate::server::audit::{self, Actor};
use crate::server::ServiceError;
use chrono::Utc;
use sqlx::{PgConnection, PgPool};

/// A button press, from the UI or the API.
#[derive(Debug, Clone)]
pub struct TransitionRequest {
    pub action: Action,
    /// The rollout version the caller's page showed; `None` acts on whatever is current.
    pub expected_version: Option<i32>,
    pub reason: Option<String>,
    /// An admin forcing the transition past unmet gates; needs a reason.
    pub override_gates: bool,
    /// Merged into the timeline event's details, e.g. the guardrail and the figures that fired it.
    pub details: Option<serde_json::Value>,
}

/// The transition's own details with the caller's added (the caller's win on a clash).
fn merge_details(mut own: serde_json::Value, extra: Option<&serde_json::Value>) -> serde_json::Value {
    if let (Some(own), Some(serde_json::Value::Object(extra))) = (own.as_object_mut(), extra) {
        own.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    own
}

/// Presses a button. Start and advance pass the gates of the stage they enter, or an admin overrides
/// them with a written reason. A refusal for want of sign-offs records a sign-off request (in its own
/// transaction, so the approvals queue shows who asked) and changes nothing else.
pub async fn transition(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    request: &TransitionRequest,
) -> Result<crate::model::RolloutView, ServiceError> {
    transition_with_notice(pool, actor, id, request, None).await
}

/// [`transition`], also queueing `notice` (e.g. the guardrail that fired) in the same transaction: the
/// notification goes out if and only if the transition committed.
#[tracing::instrument(name = "rollouts::transition::transition_with_notice", skip_all, fields(actor = %actor.label, id = id))]
pub async fn transition_with_notice(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    request: &TransitionRequest,
    notice: Option<&crate::server::webhooks::Notice>,
) -> Result<crate::model::RolloutView, ServiceError> {
    actor.require(Role::Editor, "change rollouts")?;
    let reason = ChangeReason::parse_optional(request.reason.as_deref())?;
    let reason = reason.as_ref();
    let mut tx = pool.begin().await?;
    let locked = lock(&mut tx, id).await?;
    let state = &locked.state;
    locked.check_version(request.expected_version, "")?;
    let now = Utc::now();
    let mut transition = apply(state, request.action, now).map_err(|e| refused("INVALID_TRANSITION", e.to_string()))?;
    if let Some(stage) = transition.gated_stage {
        // Guardrails on the current stage that are breached or cannot be read hold the rollout where it is.
        let guardrail_blockers = crate::server::guardrails::advance_blockers(&mut tx, id, state.current_stage).await?;
        let signoffs = load_signoffs(&mut tx, id).await?;
        let prerequisites = if state.stages.stage(stage).is_some_and(|s| s.percent.basis_points() > 0) {
            unfinished_prerequisites(&mut tx, locked.flag_id, locked.environment_id).await?
        } else {
            Vec::new()
        };
        let report = check_gates(GateInput {
            state,
            target_stage: stage,
            now,
            signoffs: &signoffs,
            requester: actor.user_id,
            unfinished_prerequisites: &prerequisites,
            guardrail_blockers: &guardrail_blockers,
        });
        let admin_override = request.override_gates.then(|| Override {
            actor_role: actor.role,
            reason: reason.map(ChangeReason::to_string).unwrap_or_default(),
        });
        transition = match transition.pass_gates(report, admin_override.as_ref()) {
            Ok(t) => t,
            Err(GateRefusal::Blocked(report)) => {
                let message = report.message();
                let roles = report.unsigned_roles();
                if !roles.is_empty() {
                    // Ask for the missing sign-offs, once per stage and version.
                    request_signoffs(&mut tx, id, &locked, actor, stage, &roles).await?;
                    tx.commit().await?;
                }
                return Err(refused("GATE_BLOCKED", message));
            }
            Err(other) => return Err(refused("GATE_BLOCKED", other.to_string())),
        };
    }

    let to_stage = transition.to_stage.map(|s| i32::try_from(s).unwrap_or(i32::MAX));
    let updated = sqlx::query!(
        "update rollouts set status = $2, current_stage = $3, stage_entered_at = $4, version = $5,
                started_at = case when $6 then now() else started_at end,
                completed_at = case when $7 then now() else completed_at end
         where id = $1 and version = $8",
        id,
        transition.to_status.as_str(),
        to_stage,
        transition.stage_entered_at as _,
        transition.version,
        transition.kind == TransitionKind::Started,
        transition.kind == TransitionKind::Completed,
        transition.from_version,
    )
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        // Cannot happen under the row lock; refuse rather than write a half.
        return Err(ServiceError::bug(format!("rollout {id} changed under its lock")));
    }
    insert_event(
        &mut tx,
        id,
        actor,
        EventRow {
            kind: transition.kind.as_str(),
            from_basis_points: Some(transition.from_percent.basis_points()),
            to_basis_points: Some(transition.to_percent.basis_points()),
            from_stage: transition.from_stage,
            to_stage: transition.to_stage,
            reason,
            details: merge_details(transition.details(), request.details.as_ref()),
            gate_overridden: transition.gate_overridden,
        },
    )
    .await?;
    let entity_key = locked.entity_key();
    let describe = |status: RolloutStatus, stage: Option<u32>, percent: Percent| serde_json::json!({ "status": status.as_str(), "stage": stage, "percent": percent.to_string() });
    let action = format!("rollout.{}", transition.kind.as_str());
    locked
        .audit(
            &mut tx,
            actor,
            &action,
            Some(describe(transition.from_status, transition.from_stage, transition.from_percent)),
            Some({
                let mut after = describe(transition.to_status, transition.to_stage, transition.to_percent);
                if transition.gate_overridden {
                    after["gate_overridden"] = serde_json::json!(transition.details());
                }
                if let Some(details) = &request.details {
                    after["details"] = details.clone();
                }
                after
            }),
            reason,
        )
        .await?;
    crate::server::webhooks::rollouts::transition(
        &mut tx,
        &crate::server::webhooks::rollouts::TransitionNotice {
            rollout_id: id,
            flag: &locked.flag,
            environment: &locked.environment,
            kind: transition.kind,
            status: transition.to_status,
            from_stage: transition.from_stage,
            to_stage: transition.to_stage,
            from_percent: transition.from_percent,
            to_percent: transition.to_percent,
            actor,
            reason: reason.and_then(ChangeReason::given),
            gate_overridden: transition.gate_overridden,
        },
    )
    .await?;
    if let Some(notice) = notice {
        crate::server::webhooks::enqueue(&mut tx, notice.event, &notice.summary, notice.data.clone()).await?;
    }
    audit::notify_change(&mut tx, "rollout", &entity_key).await?;
    tx.commit().await?;
    detail(pool, id).await
}

async fn request_signoffs(
    conn: &mut PgConnection,
    id: i64,
    locked: &Locked,
    actor: &Actor,
    stage: u32,
    roles: &[SignoffRole],
) -> Result<(), ServiceError> {
    let stage_i32 = i32::try_from(stage).unwrap_or(i32::MAX);
    let already = sqlx::query_scalar!(
        r#"select exists (select 1 from rollout_events where rollout_id = $1 and kind = 'signoff_requested'
                          and to_stage = $2 and (details->>'version')::int = $3) as "e!""#,
        id,
        stage_i32,
        locked.state.version
    )
    .fetch_one(&mut *conn)
    .await?;
    if already {
        return Ok(());
    }
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let details = serde_json::json!({ "stage": stage, "version": locked.state.version, "roles": roles });
    insert_event(
        conn,
        id,
        actor,
        EventRow { kind: "signoff_requested", to_stage: Some(stage), details: details.clone(), ..EventRow::default() },
    )
    .await?;
    locked.audit(conn, actor, "rollout.signoff_requested", None, Some(details), None).await?;
    let percent = locked.state.stages.stage(stage).map(|s| s.percent);
    crate::server::webhooks::rollouts::signoff_requested(
        conn,
        id,
        &locked.flag,
        &locked.environment,
        stage,
        percent,
        &roles,
        actor,
    )
    .await?;
    Ok(())
}
