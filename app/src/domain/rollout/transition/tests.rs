//! One test per rule of [`apply`]: every action from every status, and each refusal's message.

use super::super::test_support::*;
use super::*;
use crate::domain::rollout::{check_gates, GateInput, Override, SignoffDecision};
use crate::domain::Role;
use crate::domain::SignoffRole;
use RolloutStatus::{Active, Completed, Paused, Planned, RolledBack};

fn later() -> DateTime<Utc> {
    t0() + minutes(90)
}

fn ok(state: &RolloutState, action: Action) -> Transition {
    apply(state, action, later()).unwrap()
}

fn refused(state: &RolloutState, action: Action) -> String {
    apply(state, action, later()).unwrap_err().to_string()
}

/// The parts of a transition that go into the row and the event, as one comparable tuple.
fn moved(t: &Transition) -> (TransitionKind, RolloutStatus, Option<u32>, u16, u16, Option<DateTime<Utc>>) {
    (t.kind, t.to_status, t.to_stage, t.from_percent.basis_points(), t.to_percent.basis_points(), t.stage_entered_at)
}

#[test]
fn start_enters_stage_0_and_is_gated_on_it() {
    let t = ok(&at(Planned, None), Action::Start);
    assert_eq!(moved(&t), (TransitionKind::Started, Active, Some(0), 0, 0, Some(later())));
    assert_eq!((t.from_status, t.from_stage, t.gated_stage), (Planned, None, Some(0)));
    assert!(t.needs_gates());
}

#[test]
fn advance_enters_the_next_stage_and_restarts_the_soak_clock() {
    let t = ok(&at(Active, Some(1)), Action::Advance);
    assert_eq!(moved(&t), (TransitionKind::Advanced, Active, Some(2), 100, 1000, Some(later())));
    assert_eq!(t.gated_stage, Some(2));
}

#[test]
fn every_transition_bumps_the_version_it_was_computed_from() {
    let t = ok(&at(Active, Some(1)), Action::Pause);
    assert_eq!((t.from_version, t.version), (7, 8));
    let exhausted = RolloutState { version: i32::MAX, ..at(Active, Some(1)) };
    assert_eq!(refused(&exhausted, Action::Pause), format!("the rollout's version cannot go past {}", i32::MAX));
}

#[test]
fn pause_keeps_the_stage_the_traffic_and_the_entry_time() {
    let t = ok(&at(Active, Some(2)), Action::Pause);
    assert_eq!(moved(&t), (TransitionKind::Paused, Paused, Some(2), 1000, 1000, Some(t0())));
    assert_eq!(t.gated_stage, None);
}

#[test]
fn resume_carries_on_at_the_same_stage_with_the_soak_counted_again() {
    let t = ok(&at(Paused, Some(2)), Action::Resume);
    assert_eq!(moved(&t), (TransitionKind::Resumed, Active, Some(2), 1000, 1000, Some(later())));
}

#[test]
fn rollback_to_an_earlier_stage_stays_live_in_the_same_status() {
    let t = ok(&at(Active, Some(3)), Action::RollbackTo(Some(1)));
    assert_eq!(moved(&t), (TransitionKind::RolledBack, Active, Some(1), 5000, 100, Some(later())));
    let t = ok(&at(Paused, Some(3)), Action::RollbackTo(Some(0)));
    assert_eq!(moved(&t), (TransitionKind::RolledBack, Paused, Some(0), 5000, 0, Some(later())));
    assert_eq!(t.gated_stage, None, "a rollback never waits for a gate");
}

#[test]
fn rollback_to_0_percent_finishes_the_rollout_from_any_live_status() {
    for (status, stage, from) in [(Active, Some(4), 10_000), (Paused, Some(1), 100), (Planned, None, 0)] {
        let t = ok(&at(status, stage), Action::RollbackTo(None));
        assert_eq!(moved(&t), (TransitionKind::RolledBack, RolledBack, None, from, 0, None), "from {status}");
    }
}

#[test]
fn complete_finishes_at_the_last_stage_serving_everybody() {
    let t = ok(&at(Active, Some(4)), Action::Complete);
    assert_eq!(moved(&t), (TransitionKind::Completed, Completed, Some(4), 10_000, 10_000, Some(t0())));
    assert_eq!(t.next_state(&at(Active, Some(4))).check(), Ok(()));
}

#[test]
fn actions_before_the_start_are_refused_but_a_cancel() {
    let planned = at(Planned, None);
    for action in [Action::Advance, Action::Pause, Action::Resume, Action::Complete] {
        assert_eq!(
            refused(&planned, action),
            format!("cannot {} a rollout that has not started; start it first", action.verb())
        );
    }
    assert_eq!(
        refused(&planned, Action::RollbackTo(Some(0))),
        "the rollout has not started, so there is no earlier stage to roll back to; roll back to 0% to cancel it"
    );
}

#[test]
fn a_started_rollout_cannot_start_again() {
    assert_eq!(refused(&at(Active, Some(0)), Action::Start), "the rollout has already started");
    assert_eq!(refused(&at(Paused, Some(2)), Action::Start), "the rollout has already started");
}

#[test]
fn a_paused_rollout_must_resume_before_it_advances_or_completes() {
    assert_eq!(refused(&at(Paused, Some(1)), Action::Advance), "cannot advance a paused rollout; resume it first");
    assert_eq!(refused(&at(Paused, Some(4)), Action::Complete), "cannot complete a paused rollout; resume it first");
    assert_eq!(refused(&at(Paused, Some(1)), Action::Pause), "the rollout is already paused");
    assert_eq!(refused(&at(Active, Some(1)), Action::Resume), "the rollout is not paused");
}

#[test]
fn the_last_stage_completes_rather_than_advances() {
    assert_eq!(refused(&at(Active, Some(4)), Action::Advance), "already at the last stage; complete it instead");
    assert_eq!(
        refused(&at(Active, Some(2)), Action::Complete),
        "cannot complete at stage 2 (\"early adopters\"); advance to the last stage, stage 4 (\"full\"), first"
    );
}

#[test]
fn rollback_goes_only_to_an_existing_earlier_stage() {
    assert_eq!(
        refused(&at(Active, Some(2)), Action::RollbackTo(Some(4))),
        "stage 4 is not earlier than the current stage 2"
    );
    assert_eq!(
        refused(&at(Active, Some(2)), Action::RollbackTo(Some(2))),
        "stage 2 is not earlier than the current stage 2"
    );
    assert_eq!(
        refused(&at(Active, Some(2)), Action::RollbackTo(Some(9))),
        "stage 9 does not exist; the rollout's stages are 0 to 4"
    );
}

#[test]
fn a_finished_rollout_takes_no_more_actions() {
    let all =
        [Action::Start, Action::Advance, Action::Pause, Action::Resume, Action::RollbackTo(None), Action::Complete];
    for action in all {
        assert_eq!(
            refused(&at(Completed, Some(4)), action),
            format!("cannot {}: the rollout is completed, and a finished rollout takes no more actions; going again is a new rollout", action.verb())
        );
        assert!(refused(&at(RolledBack, None), action).contains("the rollout is rolled back"));
    }
}

#[test]
fn a_state_the_table_would_refuse_is_reported_not_acted_on() {
    let active_without_stage =
        RolloutState { status: Active, current_stage: None, stage_entered_at: None, ..at(Active, None) };
    assert_eq!(
        refused(&active_without_stage, Action::Pause),
        "the rollout's stored state is inconsistent: status active cannot have current stage None"
    );
    let stage_without_time = RolloutState { stage_entered_at: None, ..at(Active, Some(1)) };
    assert!(refused(&stage_without_time, Action::Advance).contains("go together"));
    let past_the_end = RolloutState { current_stage: Some(5), ..at(Active, Some(1)) };
    assert!(refused(&past_the_end, Action::Advance).contains("current stage 5 does not exist"));
}

#[test]
fn next_stage_is_what_start_and_advance_would_enter() {
    assert_eq!(at(Planned, None).next_stage(), Some(0));
    assert_eq!(at(Active, Some(2)).next_stage(), Some(3));
    assert_eq!(at(Paused, Some(3)).next_stage(), Some(4));
    assert_eq!(at(Active, Some(4)).next_stage(), None);
    assert_eq!(at(Completed, Some(4)).next_stage(), None);
    assert_eq!(at(RolledBack, None).next_stage(), None);
}

#[test]
fn the_served_percentage_follows_the_status() {
    assert_eq!(at(Planned, None).served_percent(), pct(0));
    assert_eq!(at(Paused, Some(3)).served_percent(), pct(5000));
    assert_eq!(at(Completed, Some(4)).served_percent(), pct(10_000));
    assert_eq!(at(RolledBack, None).served_percent(), pct(0));
}

/// The state at stage 2 ("early adopters") after its 60-minute soak: stage 3 needs ops_oncall.
fn ready_but_unsigned() -> (RolloutState, Transition, GateReport) {
    let state = at(Active, Some(2));
    let t = ok(&state, Action::Advance);
    let report = check_gates(GateInput {
        state: &state,
        target_stage: 3,
        now: later(),
        signoffs: &[],
        requester: Some(1),
        unfinished_prerequisites: &[],
        guardrail_blockers: &[],
    });
    (state, t, report)
}

#[test]
fn a_gated_transition_passes_when_nothing_is_missing_and_is_not_marked() {
    let (state, t, _) = ready_but_unsigned();
    let signoffs = [signed(3, 7, SignoffRole::OpsOncall, 2, SignoffDecision::Approved)];
    let report = check_gates(GateInput {
        state: &state,
        target_stage: 3,
        now: later(),
        signoffs: &signoffs,
        requester: Some(1),
        unfinished_prerequisites: &[],
        guardrail_blockers: &[],
    });
    let t = t.pass_gates(report, None).unwrap();
    assert!(!t.needs_gates() && !t.gate_overridden);
    assert_eq!(t.details(), serde_json::json!({}));
}

#[test]
fn a_missing_gate_refuses_the_transition_with_what_is_missing() {
    let (_, t, report) = ready_but_unsigned();
    assert_eq!(t.pass_gates(report, None).unwrap_err().to_string(), "missing sign-off: ops_oncall");
}

#[test]
fn an_admin_overrides_a_gate_only_with_a_written_reason_and_the_event_says_so() {
    let (_, t, report) = ready_but_unsigned();
    let by = |actor_role, reason: &str| Override { actor_role, reason: reason.to_owned() };
    let editor = t.clone().pass_gates(report.clone(), Some(&by(Role::Editor, "urgent fix"))).unwrap_err();
    assert_eq!(editor.to_string(), "missing sign-off: ops_oncall (only an admin can override a gate)");
    let blank = t.clone().pass_gates(report.clone(), Some(&by(Role::Admin, "  \n"))).unwrap_err();
    assert_eq!(blank.to_string(), "missing sign-off: ops_oncall (an override needs a written reason)");
    let long = t.clone().pass_gates(report.clone(), Some(&by(Role::Admin, &"x".repeat(2001)))).unwrap_err();
    assert_eq!(long.to_string(), "the reason is 2001 characters long; the limit is 2000");

    let t = t.pass_gates(report, Some(&by(Role::Admin, "on-call is in the incident room"))).unwrap();
    assert!(t.gate_overridden && !t.needs_gates());
    assert_eq!(
        t.details(),
        serde_json::json!({"overridden_gates": [{"gate": "missing_signoff", "role": "ops_oncall"}]})
    );
}

#[test]
fn a_report_for_another_stage_or_version_is_refused() {
    let (_, t, report) = ready_but_unsigned();
    let stale = GateReport { version: 6, ..report.clone() };
    assert_eq!(
        t.clone().pass_gates(stale, None).unwrap_err().to_string(),
        "the gates were checked for stage 3 at version 6, not stage 3 at version 7"
    );
    let other_stage = GateReport { stage: 4, missing: vec![], ..report };
    assert!(matches!(t.pass_gates(other_stage, None), Err(GateRefusal::WrongReport { .. })));
}

#[test]
fn an_ungated_transition_needs_no_report() {
    let t = ok(&at(Active, Some(3)), Action::RollbackTo(None));
    assert!(!t.needs_gates());
    let any = GateReport { stage: 9, version: 1, missing: vec![Gate::NoSuchStage { stage: 9 }] };
    assert_eq!(t.clone().pass_gates(any, None), Ok(t));
}
