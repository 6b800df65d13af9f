//! Builders shared by the rollout tests.

use super::*;
use crate::domain::{Percent, SignoffRole};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

/// A fixed "now" for tests that do not vary time.
pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

pub(super) fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

pub(super) fn pct(basis_points: u16) -> Percent {
    Percent::from_basis_points(basis_points).unwrap()
}

/// A stage with sign-off roles and a soak in minutes.
pub(super) fn stage(name: &str, basis_points: u16, roles: &[SignoffRole], soak_minutes: u32) -> StagePlan {
    StagePlan {
        required_roles: roles.to_vec(),
        min_soak_seconds: soak_minutes * 60,
        ..StagePlan::new(name, pct(basis_points))
    }
}

/// The five-tier shape, 0 / 1 / 10 / 50 / 100, with a product owner before 10%, a 60-minute soak at 10%
/// and ops on-call before 50%.
pub(super) fn five_stages() -> RolloutPlan {
    use SignoffRole::*;
    RolloutPlan::new(vec![
        stage("disabled", 0, &[], 0),
        stage("internal", 100, &[], 0),
        stage("early adopters", 1000, &[ProductOwner], 60),
        stage("general", 5000, &[OpsOncall], 0),
        stage("full", 10_000, &[DevLead, OpsOncall, ProductOwner], 0),
    ])
    .unwrap()
}

/// A rollout in `status` at `stage`, entered at [`t0`], at version 7.
pub(super) fn at(status: RolloutStatus, stage: Option<u32>) -> RolloutState {
    RolloutState {
        status,
        current_stage: stage,
        stage_entered_at: stage.map(|_| t0()),
        version: 7,
        stages: five_stages(),
    }
}

/// An approval or rejection by a holder of the role, for `stage` at `version`.
pub(super) fn signed(
    stage: u32,
    version: i32,
    role: SignoffRole,
    user_id: i64,
    decision: SignoffDecision,
) -> SignoffRecord {
    SignoffRecord { stage, version, role, user_id, decision, signer_holds_role: true }
}
