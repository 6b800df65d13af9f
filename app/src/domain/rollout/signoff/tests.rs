//! Each refusal of [`validate_signoff`], in the order it checks.

use super::super::test_support::*;
use super::*;
use crate::domain::rollout::{RolloutPlan, RolloutStatus, SignoffDecision};
use SignoffRole::{DevLead, OpsOncall, ProductOwner, Qa};

const SIGNER: i64 = 5;
const REQUESTER: i64 = 1;

/// Active at stage 3 ("general"), version 7; stage 4 needs dev_lead, ops_oncall and product_owner.
fn try_sign(state: &RolloutState, stage: u32, role: SignoffRole, existing: &[SignoffRecord]) -> Result<(), String> {
    validate_signoff(SignoffRequest {
        state,
        stage,
        role,
        signer: SIGNER,
        signer_roles: &[DevLead, OpsOncall, Qa],
        requester: Some(REQUESTER),
        existing,
    })
    .map_err(|e| e.to_string())
}

fn general() -> RolloutState {
    at(RolloutStatus::Active, Some(3))
}

#[test]
fn a_holder_who_did_not_ask_signs_the_next_stage() {
    assert_eq!(try_sign(&general(), 4, OpsOncall, &[]), Ok(()));
    assert_eq!(
        try_sign(&at(RolloutStatus::Paused, Some(3)), 4, DevLead, &[]),
        Ok(()),
        "a pause does not stop sign-offs"
    );
    assert_eq!(try_sign(&at(RolloutStatus::Active, Some(2)), 3, OpsOncall, &[]), Ok(()));
}

#[test]
fn a_planned_rollout_is_signed_for_its_first_stage() {
    let plan = RolloutPlan::new(vec![stage("canary", 1000, &[OpsOncall], 30), stage("full", 10_000, &[], 0)]).unwrap();
    let planned = RolloutState::planned(plan);
    assert_eq!(try_sign(&planned, 0, OpsOncall, &[]), Ok(()));
}

#[test]
fn a_finished_rollout_or_its_last_stage_has_nothing_to_sign() {
    assert_eq!(
        try_sign(&at(RolloutStatus::Completed, Some(4)), 4, DevLead, &[]),
        Err("the rollout is finished; there is nothing left to sign".to_owned())
    );
    assert!(try_sign(&at(RolloutStatus::RolledBack, None), 0, DevLead, &[]).is_err());
    assert_eq!(
        try_sign(&at(RolloutStatus::Active, Some(4)), 4, DevLead, &[]),
        Err("the rollout is at its last stage; there is no next stage to sign".to_owned())
    );
}

#[test]
fn a_signer_without_the_role_learns_nothing_of_the_rollouts_state() {
    assert_eq!(
        try_sign(&at(RolloutStatus::Completed, Some(4)), 4, ProductOwner, &[]),
        Err("you do not hold the product_owner role".to_owned())
    );
}

#[test]
fn only_the_next_stage_can_be_signed() {
    assert_eq!(
        try_sign(&at(RolloutStatus::Active, Some(1)), 4, DevLead, &[]),
        Err("sign-offs are for the next stage, stage 2 (\"early adopters\"); stage 4 is not it".to_owned())
    );
}

#[test]
fn only_a_role_the_stage_requires_can_be_signed() {
    assert_eq!(
        try_sign(&general(), 4, Qa, &[]),
        Err("stage 4 (\"full\") does not require a qa sign-off; it requires dev_lead, ops_oncall, product_owner"
            .to_owned())
    );
    assert_eq!(
        try_sign(&at(RolloutStatus::Active, Some(0)), 1, DevLead, &[]),
        Err("stage 1 (\"internal\") does not require a dev_lead sign-off; it requires none".to_owned())
    );
}

#[test]
fn the_signer_must_hold_the_role() {
    assert_eq!(try_sign(&general(), 4, ProductOwner, &[]), Err("you do not hold the product_owner role".to_owned()));
}

#[test]
fn the_requester_cannot_sign_their_own_request() {
    let result = validate_signoff(SignoffRequest {
        state: &general(),
        stage: 4,
        role: DevLead,
        signer: REQUESTER,
        signer_roles: &[DevLead],
        requester: Some(REQUESTER),
        existing: &[],
    });
    assert_eq!(result, Err(SignoffError::OwnRequest));
    assert_eq!(SignoffError::OwnRequest.to_string(), "you asked for this stage, so someone else must sign it off");
}

#[test]
fn a_signer_signs_a_stage_once_per_version_in_one_role() {
    let same = [signed(4, 7, OpsOncall, SIGNER, SignoffDecision::Rejected)];
    assert_eq!(
        try_sign(&general(), 4, OpsOncall, &same),
        Err("you have already signed this stage as ops_oncall for this version of the rollout".to_owned())
    );
    assert_eq!(
        try_sign(&general(), 4, DevLead, &same),
        Err("you have already signed this stage as ops_oncall; one person fills one role, so another must sign as dev_lead".to_owned())
    );
}

#[test]
fn earlier_versions_other_stages_and_other_signers_do_not_count_against_the_signer() {
    let existing = [
        signed(4, 6, OpsOncall, SIGNER, SignoffDecision::Approved),
        signed(3, 7, OpsOncall, SIGNER, SignoffDecision::Approved),
        signed(4, 7, OpsOncall, 9, SignoffDecision::Approved),
    ];
    assert_eq!(try_sign(&general(), 4, OpsOncall, &existing), Ok(()));
}
