//! Staged rollouts, as plain data and pure functions: the plan and its validation, the templates, the state
//! machine behind the buttons, the gates on entering a stage, and who may sign off. Nothing here reads or
//! writes; the service layer locks the rollout row, loads what these functions take, calls them, and
//! writes what they return (the `rollouts` columns and the `rollout_events` row) in one transaction.
//!
//! An advance, end to end:
//!
//! ```text
//! let mut transition = apply(&state, Action::Advance, now)?;            // may this move happen at all?
//! if let Some(stage) = transition.gated_stage {
//!     let report = check_gates(GateInput { state: &state, target_stage: stage, now, .. });
//!     transition = transition.pass_gates(report, admin_override)?;      // "missing sign-off: ops_oncall; ..."
//! }
//! // update rollouts set status, current_stage, stage_entered_at, version = transition.version
//! //   where id = $id and version = transition.from_version;
//! // insert the rollout_events row (kind, from/to stage and percent, gate_overridden, details()).
//! ```

mod edit;
mod gates;
mod plan;
mod signoff;
mod template;
mod transition;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod test_support;

pub use crate::domain::evaluation::RolloutStatus;

pub use edit::validate_edit;
pub use gates::{
    check_gates, format_duration_short, Gate, GateInput, GateRefusal, GateReport, Override, SignoffDecision,
    SignoffRecord, MAX_REASON_CHARS,
};
pub use plan::{
    validate_stages, ChecklistItem, ChecklistKind, RolloutPlan, StageError, StagePlan, MAX_CHECKLIST_CHARS,
    MAX_CHECKLIST_ITEMS, MAX_NAME_CHARS, MAX_SOAK_SECONDS, MAX_STAGES,
};
pub use signoff::{validate_signoff, SignoffError, SignoffRequest};
pub use template::Template;
pub use transition::{apply, Action, RolloutState, Transition, TransitionError, TransitionKind};
