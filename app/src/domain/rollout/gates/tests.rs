//! The gates one rule at a time, then the message and the duration format.

use super::super::test_support::*;
use super::*;
use crate::domain::rollout::RolloutStatus;
use SignoffDecision::{Approved, Rejected};
use SignoffRole::{DevLead, OpsOncall, ProductOwner, Qa};

const REQUESTER: i64 = 1;

/// Active at stage 3 ("general", 0 soak), version 7: entering stage 4 needs dev_lead, ops_oncall and
/// product_owner.
fn at_general() -> RolloutState {
    at(RolloutStatus::Active, Some(3))
}

fn report(state: &RolloutState, target: u32, now: DateTime<Utc>, signoffs: &[SignoffRecord]) -> GateReport {
    check_gates(GateInput {
        state,
        target_stage: target,
        now,
        signoffs,
        requester: Some(REQUESTER),
        unfinished_prerequisites: &[],
        guardrail_blockers: &[],
    })
}

fn message(signoffs: &[SignoffRecord]) -> String {
    report(&at_general(), 4, t0(), signoffs).message()
}

fn all_three() -> Vec<SignoffRecord> {
    vec![
        signed(4, 7, DevLead, 2, Approved),
        signed(4, 7, OpsOncall, 3, Approved),
        signed(4, 7, ProductOwner, 4, Approved),
    ]
}

#[test]
fn every_required_role_approved_by_a_distinct_holder_passes() {
    let r = report(&at_general(), 4, t0(), &all_three());
    assert!(r.is_clear(), "{}", r.message());
    assert_eq!((r.stage, r.version, r.message()), (4, 7, String::new()));
}

#[test]
fn each_unsigned_role_is_named() {
    assert_eq!(message(&[]), "missing sign-off: dev_lead, ops_oncall, product_owner");
    assert_eq!(message(&all_three()[1..]), "missing sign-off: dev_lead");
}

#[test]
fn the_requesters_own_approval_does_not_count() {
    let mut signoffs = all_three();
    signoffs[1].user_id = REQUESTER;
    assert_eq!(message(&signoffs), "missing sign-off: ops_oncall");
}

#[test]
fn a_signer_who_no_longer_holds_the_role_does_not_count() {
    let mut signoffs = all_three();
    signoffs[2].signer_holds_role = false;
    assert_eq!(message(&signoffs), "missing sign-off: product_owner");
}

#[test]
fn sign_offs_for_another_version_or_stage_are_void() {
    let mut signoffs = all_three();
    signoffs[0].version = 6;
    signoffs[1].stage = 3;
    assert_eq!(message(&signoffs), "missing sign-off: dev_lead, ops_oncall");
}

#[test]
fn one_user_fills_one_role_even_when_they_approved_two() {
    let signoffs = [
        signed(4, 7, DevLead, 2, Approved),
        signed(4, 7, OpsOncall, 2, Approved),
        signed(4, 7, ProductOwner, 4, Approved),
    ];
    assert_eq!(message(&signoffs), "missing sign-off: ops_oncall");
}

#[test]
fn roles_are_matched_to_users_so_that_as_many_as_possible_are_filled() {
    // User 2 approved both dev_lead and ops_oncall, user 3 only dev_lead: filling dev_lead with user 2 first
    // (as a greedy pass would) would leave ops_oncall empty, yet 3 -> dev_lead, 2 -> ops_oncall fills both.
    let signoffs = [
        signed(4, 7, DevLead, 2, Approved),
        signed(4, 7, OpsOncall, 2, Approved),
        signed(4, 7, DevLead, 3, Approved),
        signed(4, 7, ProductOwner, 4, Approved),
    ];
    assert_eq!(message(&signoffs), "");
}

#[test]
fn a_rejection_blocks_its_role_whatever_else_was_approved() {
    let mut signoffs = all_three();
    signoffs.push(signed(4, 7, OpsOncall, 5, Rejected));
    let r = report(&at_general(), 4, t0(), &signoffs);
    assert_eq!(r.message(), "rejected sign-off: ops_oncall");
    assert_eq!(r.unsigned_roles(), vec![OpsOncall]);
    // A new version voids the rejection with everything else; the approvals must be given again too.
    let edited = RolloutState { version: 8, ..at_general() };
    assert_eq!(report(&edited, 4, t0(), &signoffs).message(), "missing sign-off: dev_lead, ops_oncall, product_owner");
}

#[test]
fn approvals_in_roles_the_stage_does_not_require_change_nothing() {
    let signoffs = [signed(4, 7, Qa, 2, Approved), signed(4, 7, Qa, 3, Rejected)];
    assert_eq!(message(&signoffs), "missing sign-off: dev_lead, ops_oncall, product_owner");
}

#[test]
fn the_current_stages_soak_must_have_passed_counted_from_its_entry() {
    // Stage 2 ("early adopters") soaks 60 minutes, from t0; stage 3 needs ops_oncall.
    let state = at(RolloutStatus::Active, Some(2));
    let ops = [signed(3, 7, OpsOncall, 2, Approved)];
    // 42m29.5s remain, shown rounded up so that a countdown never reaches 0 early.
    let r = report(&state, 3, t0() + minutes(17) + TimeDelta::milliseconds(30_500), &ops);
    assert_eq!(r.missing, vec![Gate::Soak { remaining_seconds: 42 * 60 + 30, ends_at: t0() + minutes(60) }]);
    assert_eq!(r.message(), "soak ends in 42m30s");
    assert!(report(&state, 3, t0() + minutes(60), &ops).is_clear(), "the soak ends exactly on time");
    assert_eq!(report(&state, 3, t0() + minutes(59), &[]).message(), "missing sign-off: ops_oncall; soak ends in 1m");
}

#[test]
fn a_stage_without_an_entry_time_owes_its_whole_soak() {
    let state = RolloutState { stage_entered_at: None, ..at(RolloutStatus::Active, Some(2)) };
    let r = report(&state, 3, t0(), &[signed(3, 7, OpsOncall, 2, Approved)]);
    assert_eq!(r.message(), "soak ends in 1h");
}

#[test]
fn there_is_no_soak_before_the_start() {
    let planned = at(RolloutStatus::Planned, None);
    assert!(report(&planned, 0, t0(), &[]).is_clear());
}

#[test]
fn unfinished_flags_of_the_previous_phase_block_a_stage_that_serves_anybody() {
    let unfinished = ["flag_b".to_owned(), "flag_a".to_owned(), "flag_b".to_owned()];
    let gate = |state: &RolloutState, target| {
        check_gates(GateInput {
            state,
            target_stage: target,
            now: t0(),
            signoffs: &[],
            requester: None,
            unfinished_prerequisites: &unfinished,
            guardrail_blockers: &[],
        })
    };
    let r = gate(&at(RolloutStatus::Active, Some(0)), 1);
    assert_eq!(r.message(), "previous phase not fully rolled out: flag_a, flag_b");
    assert!(gate(&at(RolloutStatus::Planned, None), 0).is_clear(), "stage 0 serves 0%: nobody is exposed");
}

#[test]
fn everything_missing_is_listed_in_one_message() {
    let state = at(RolloutStatus::Active, Some(2));
    let r = check_gates(GateInput {
        state: &state,
        target_stage: 3,
        now: t0() + minutes(48),
        signoffs: &[],
        requester: Some(REQUESTER),
        unfinished_prerequisites: &["flag_a".to_owned()],
        guardrail_blockers: &[],
    });
    assert_eq!(
        r.message(),
        "missing sign-off: ops_oncall; soak ends in 12m; previous phase not fully rolled out: flag_a"
    );
}

#[test]
fn a_target_outside_the_plan_is_reported_and_cannot_be_overridden() {
    let r = report(&at_general(), 9, t0(), &[]);
    assert_eq!(r.message(), "stage 9 does not exist");
    let admin = Override { actor_role: crate::domain::Role::Admin, reason: "because".to_owned() };
    assert!(matches!(r.pass(Some(&admin)), Err(GateRefusal::Blocked(_))));
}

#[test]
fn durations_show_their_two_largest_units() {
    let s = |seconds: i64| format_duration_short(TimeDelta::seconds(seconds));
    assert_eq!(s(3 * 3600 + 12 * 60 + 59), "3h12m");
    assert_eq!(s(45 * 60), "45m");
    assert_eq!(s(2 * 86_400 + 4 * 3600 + 59 * 60), "2d4h");
    assert_eq!(s(30), "30s");
    assert_eq!(s(90), "1m30s");
    assert_eq!(s(3600), "1h");
    assert_eq!(s(86_400 + 30), "1d");
    assert_eq!(s(0), "0s");
    assert_eq!(s(-5), "0s");
}

#[test]
fn a_breached_guardrail_is_a_gate_that_only_an_admin_with_a_reason_passes() {
    let blockers = ["guardrail error rate: error rate 10% above 1% (600 requests in 5 min)".to_owned()];
    let r = check_gates(GateInput {
        state: &at_general(),
        target_stage: 4,
        now: t0(),
        signoffs: &all_three(),
        requester: Some(REQUESTER),
        unfinished_prerequisites: &[],
        guardrail_blockers: &blockers,
    });
    assert_eq!(r.message(), "guardrail error rate: error rate 10% above 1% (600 requests in 5 min)");
    assert!(r.unsigned_roles().is_empty(), "a guardrail asks nobody for a sign-off");
    let editor = Override { actor_role: crate::domain::Role::Editor, reason: "ship it".to_owned() };
    assert!(matches!(r.clone().pass(Some(&editor)), Err(GateRefusal::OverrideNotAllowed(_))));
    let admin = Override { actor_role: crate::domain::Role::Admin, reason: "known flaky probe".to_owned() };
    assert_eq!(r.pass(Some(&admin)).unwrap(), vec![Gate::Guardrail { what: blockers[0].clone() }]);
}
