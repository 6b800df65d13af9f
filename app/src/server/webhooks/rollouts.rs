//! The notifications of the rollouts service: one per transition (`rollout.started` ... `rollout.completed`)
//! and one per sign-off request, queued in the transaction that writes the timeline event.

use super::enqueue;
use crate::domain::rollout::{RolloutStatus, TransitionKind};
use crate::domain::{Percent, WebhookEvent};
use crate::server::audit::Actor;
use serde_json::json;
use sqlx::PgConnection;

/// A rollout transition as written to the timeline.
#[derive(Debug)]
pub struct TransitionNotice<'a> {
    pub rollout_id: i64,
    pub flag: &'a str,
    pub environment: &'a str,
    pub kind: TransitionKind,
    pub status: RolloutStatus,
    pub from_stage: Option<u32>,
    pub to_stage: Option<u32>,
    pub from_percent: Percent,
    pub to_percent: Percent,
    pub actor: &'a Actor,
    pub reason: Option<&'a str>,
    pub gate_overridden: bool,
}

fn links(rollout_id: i64, flag: &str) -> serde_json::Value {
    json!({ "rollout": format!("/admin/rollouts/{rollout_id}"), "flag": format!("/admin/feature-flags/{flag}") })
}

/// "new-checkout in production advanced 10% → 50% by alice@example.com (reason)".
pub fn transition_summary(n: &TransitionNotice<'_>) -> String {
    let what = match n.kind {
        TransitionKind::Started => format!("started at {}", n.to_percent),
        TransitionKind::Advanced => format!("advanced {} → {}", n.from_percent, n.to_percent),
        TransitionKind::Paused => format!("paused at {}", n.from_percent),
        TransitionKind::Resumed => format!("resumed at {}", n.to_percent),
        TransitionKind::RolledBack => format!("rolled back {} → {}", n.from_percent, n.to_percent),
        TransitionKind::Completed => format!("completed at {}", n.to_percent),
    };
    let forced = if n.gate_overridden { ", past unmet gates," } else { "" };
    let reason = n.reason.map(|r| format!(" ({r})")).unwrap_or_default();
    format!("{} in {} {what}{forced} by {}{reason}", n.flag, n.environment, n.actor.label)
}

/// Queues `rollout.<kind>`.
pub async fn transition(conn: &mut PgConnection, n: &TransitionNotice<'_>) -> Result<u64, sqlx::Error> {
    let data = json!({
        "rollout_id": n.rollout_id,
        "flag": n.flag,
        "environment": n.environment,
        "status": n.status,
        "from_stage": n.from_stage,
        "to_stage": n.to_stage,
        "from_percent": n.from_percent,
        "to_percent": n.to_percent,
        "actor": n.actor.label,
        "reason": n.reason,
        "gate_overridden": n.gate_overridden,
        "links": links(n.rollout_id, n.flag),
    });
    enqueue(conn, WebhookEvent::from(n.kind), &transition_summary(n), data).await
}

/// Queues `signoff.requested`: `roles` must sign before the rollout enters `stage` (at `percent`).
#[allow(clippy::too_many_arguments)]
pub async fn signoff_requested(
    conn: &mut PgConnection,
    rollout_id: i64,
    flag: &str,
    environment: &str,
    stage: u32,
    percent: Option<Percent>,
    roles: &[&str],
    actor: &Actor,
) -> Result<u64, sqlx::Error> {
    let at = percent.map(|p| format!(" ({p})")).unwrap_or_default();
    let summary = format!(
        "Sign-off requested: {flag} in {environment} needs {} before stage {}{at}, asked by {}",
        roles.join(", ").replace('_', " "),
        stage + 1,
        actor.label
    );
    let data = json!({
        "rollout_id": rollout_id,
        "flag": flag,
        "environment": environment,
        "stage": stage,
        "percent": percent,
        "roles": roles,
        "requested_by": actor.label,
        "links": { "approvals": "/admin/approvals", "rollout": format!("/admin/rollouts/{rollout_id}") },
    });
    enqueue(conn, WebhookEvent::SignoffRequested, &summary, data).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advance_reads_as_a_sentence_with_percentages_actor_and_reason() {
        let actor = Actor::system("guardrail");
        let pct = |bp| Percent::from_basis_points(bp).unwrap_or_else(|_| unreachable!());
        let notice = TransitionNotice {
            rollout_id: 7,
            flag: "new-checkout",
            environment: "production",
            kind: TransitionKind::Advanced,
            status: RolloutStatus::Active,
            from_stage: Some(1),
            to_stage: Some(2),
            from_percent: pct(1000),
            to_percent: pct(5000),
            actor: &actor,
            reason: Some("metrics look good"),
            gate_overridden: false,
        };
        assert_eq!(
            transition_summary(&notice),
            "new-checkout in production advanced 10% → 50% by system:guardrail (metrics look good)"
        );
        let back = TransitionNotice { kind: TransitionKind::RolledBack, to_percent: pct(0), reason: None, ..notice };
        assert_eq!(transition_summary(&back), "new-checkout in production rolled back 10% → 0% by system:guardrail");
    }
}
