//! Whether a user may record a sign-off. The gates only count what may count; this refuses, with a reason
//! the signer can act on, what never would.

use super::gates::SignoffRecord;
use super::transition::RolloutState;
use crate::domain::SignoffRole;

#[cfg(test)]
mod tests;

/// A sign-off someone wants to record, with what the caller knows about them.
#[derive(Debug, Clone, Copy)]
pub struct SignoffRequest<'a> {
    /// The rollout as it stands; the sign-off is recorded for its current version.
    pub state: &'a RolloutState,
    /// The stage the sign-off would let the rollout enter.
    pub stage: u32,
    pub role: SignoffRole,
    pub signer: i64,
    /// The sign-off roles the signer holds.
    pub signer_roles: &'a [SignoffRole],
    /// Who asked for the stage to be signed (the service decides: the user who requested the sign-off, or
    /// who asked for the advance). `None` when nobody did, e.g. for a rollout driven by the system.
    pub requester: Option<i64>,
    /// The rollout's sign-offs so far; other stages' and versions' are ignored here.
    pub existing: &'a [SignoffRecord],
}

/// Why a sign-off cannot be recorded. Messages speak to the signer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignoffError {
    #[error("the rollout is finished; there is nothing left to sign")]
    Finished,
    #[error("the rollout is at its last stage; there is no next stage to sign")]
    NoNextStage,
    #[error("sign-offs are for the next stage, {next}; stage {stage} is not it")]
    NotNextStage { stage: u32, next: String },
    #[error("{stage} does not require a {role} sign-off; it requires {}", list_or_none(.required))]
    RoleNotRequired { stage: String, role: SignoffRole, required: Vec<SignoffRole> },
    #[error("you do not hold the {0} role")]
    RoleNotHeld(SignoffRole),
    #[error("you asked for this stage, so someone else must sign it off")]
    OwnRequest,
    #[error("you have already signed this stage as {0} for this version of the rollout")]
    AlreadySigned(SignoffRole),
    #[error("you have already signed this stage as {0}; one person fills one role, so another must sign as {1}")]
    OtherRoleSigned(SignoffRole, SignoffRole),
}

fn list_or_none(roles: &[SignoffRole]) -> String {
    if roles.is_empty() {
        "none".to_owned()
    } else {
        roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// Checks, in this order, that the signer holds `role` (first: someone who may not sign learns nothing of
/// the rollout's state), that the rollout is live, that `stage` is the next one it would enter, that the
/// stage requires `role`, that the signer is not the requester, and that the signer has not already
/// signed this stage at this version, in this role or another. A rejection is checked the same way: it
/// blocks the stage, so it must come from someone entitled to approve it.
pub fn validate_signoff(request: SignoffRequest<'_>) -> Result<(), SignoffError> {
    let SignoffRequest { state, stage, role, signer, signer_roles, requester, existing } = request;
    if !signer_roles.contains(&role) {
        return Err(SignoffError::RoleNotHeld(role));
    }
    if !state.is_live() {
        return Err(SignoffError::Finished);
    }
    let Some(next) = state.next_stage() else {
        return Err(SignoffError::NoNextStage);
    };
    if stage != next {
        return Err(SignoffError::NotNextStage { stage, next: state.stages.label(next) });
    }
    let required = state.stages.stage(next).map(|s| s.required_roles.clone()).unwrap_or_default();
    if !required.contains(&role) {
        return Err(SignoffError::RoleNotRequired { stage: state.stages.label(next), role, required });
    }
    if requester == Some(signer) {
        return Err(SignoffError::OwnRequest);
    }
    let mine: Vec<&SignoffRecord> =
        existing.iter().filter(|s| s.stage == stage && s.version == state.version && s.user_id == signer).collect();
    if mine.iter().any(|s| s.role == role) {
        return Err(SignoffError::AlreadySigned(role));
    }
    match mine.first() {
        Some(earlier) => Err(SignoffError::OtherRoleSigned(earlier.role, role)),
        None => Ok(()),
    }
}
