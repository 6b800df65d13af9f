//! The rollout's state machine: what each button does to a rollout, as a pure function from the state read
//! (under a row lock) to the change to write.
//!
//! | from \ action | start       | advance   | pause  | resume            | roll back to k < current | to 0%       | complete          |
//! |---------------|-------------|-----------|--------|-------------------|--------------------------|-------------|-------------------|
//! | `planned`     | active at 0 | -         | -      | -                 | -                        | rolled_back | -                 |
//! | `active`      | -           | i -> i+1  | paused | -                 | active at k              | rolled_back | at the last stage |
//! | `paused`      | -           | -         | -      | active, soak anew | paused at k              | rolled_back | -                 |
//! | finished      | -           | -         | -      | -                 | -                        | -           | -                 |
//!
//! Start and advance raise what is served, so they are the gated ones (see [`super::check_gates`]); every
//! other action keeps or lowers it, and a rollback in particular must never wait for anything.

use super::gates::{Gate, GateRefusal, GateReport, Override};
use super::plan::RolloutPlan;
use crate::domain::evaluation::RolloutStatus;
use crate::domain::{text_enum, Percent};
use chrono::{DateTime, Utc};
use serde_json::json;

#[cfg(test)]
mod tests;

/// A rollout as the transitions need it: the columns of its `rollouts` row and its stages.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutState {
    pub status: RolloutStatus,
    /// The stage served; `None` before the start and after a full rollback (0%).
    pub current_stage: Option<u32>,
    /// When the current stage was entered: the soak counts from here.
    pub stage_entered_at: Option<DateTime<Utc>>,
    /// Bumped by every edit and transition; sign-offs count only for the version they name.
    pub version: i32,
    pub stages: RolloutPlan,
}

impl RolloutState {
    /// A new rollout: planned, no stage, version 1, as the table's defaults have it.
    pub fn planned(stages: RolloutPlan) -> Self {
        Self { status: RolloutStatus::Planned, current_stage: None, stage_entered_at: None, version: 1, stages }
    }

    /// What the rollout serves, as the timeline shows it: nothing before the start counts as 0%.
    pub fn served_percent(&self) -> Percent {
        served(self.status, self.current_stage, &self.stages)
    }

    /// Whether the rollout can still change (planned, active or paused).
    pub fn is_live(&self) -> bool {
        self.status.is_live()
    }

    /// The stage that the next start or advance would enter, which is also the stage sign-offs are for:
    /// stage 0 while planned, the one after the current one while active or paused, none at the last stage
    /// or once finished.
    pub fn next_stage(&self) -> Option<u32> {
        let next = match (self.status, self.current_stage) {
            (RolloutStatus::Planned, _) => 0,
            (RolloutStatus::Active | RolloutStatus::Paused, Some(current)) => current + 1,
            _ => return None,
        };
        (next < self.stages.len()).then_some(next)
    }

    /// Checks the invariants the `rollouts` table holds (`rollouts_status_state`, `rollouts_stage_entered`,
    /// the foreign key to the stages, `version > 0`). [`apply`] refuses to work from a state that fails them.
    pub fn check(&self) -> Result<(), String> {
        if self.version < 1 {
            return Err(format!("version {} is not positive", self.version));
        }
        if self.current_stage.is_some() != self.stage_entered_at.is_some() {
            return Err("a current stage and the time it was entered go together".to_owned());
        }
        if let Some(stage) = self.current_stage.filter(|&s| s >= self.stages.len()) {
            return Err(format!("current stage {stage} does not exist; there are {} stages", self.stages.len()));
        }
        let fits = match self.status {
            RolloutStatus::Planned | RolloutStatus::RolledBack => self.current_stage.is_none(),
            RolloutStatus::Active | RolloutStatus::Paused => self.current_stage.is_some(),
            // `apply` completes at the last stage, but the table allows any; a completed rollout serves 100%
            // whatever its stage says.
            RolloutStatus::Completed => true,
        };
        if fits {
            Ok(())
        } else {
            Err(format!("status {} cannot have current stage {:?}", self.status, self.current_stage))
        }
    }
}

fn served(status: RolloutStatus, stage: Option<u32>, stages: &RolloutPlan) -> Percent {
    match status {
        RolloutStatus::Planned | RolloutStatus::RolledBack => Percent::ZERO,
        RolloutStatus::Completed => Percent::HUNDRED,
        RolloutStatus::Active | RolloutStatus::Paused => {
            stage.and_then(|s| stages.stage(s)).map_or(Percent::ZERO, |s| s.percent)
        }
    }
}

/// A button on the rollout page, or the same call from the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Enter stage 0.
    Start,
    /// Enter the stage after the current one.
    Advance,
    /// Hold at the current stage: traffic stays, progress (soak, auto-advance) stops.
    Pause,
    /// Carry on from a pause; the current stage's soak starts again.
    Resume,
    /// `Some(k)`: serve the earlier stage k and stay live. `None`: serve 0% and finish (`rolled_back`).
    RollbackTo(Option<u32>),
    /// Finish at the last stage, serving everybody.
    Complete,
}

impl Action {
    /// The verb used in messages.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Advance => "advance",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::RollbackTo(_) => "roll back",
            Action::Complete => "complete",
        }
    }
}

text_enum!(
    /// What happened, as `rollout_events.kind` spells it.
    TransitionKind, "transition kind", {
        /// Also sets `rollouts.started_at`.
        Started => "started",
        Advanced => "advanced",
        Paused => "paused",
        Resumed => "resumed",
        /// To an earlier stage or to 0%; `to_stage` tells which.
        RolledBack => "rolled_back",
        /// Also sets `rollouts.completed_at`.
        Completed => "completed",
    }
);

/// The change an action makes: the new columns of the `rollouts` row and the `rollout_events` row to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub kind: TransitionKind,
    pub from_status: RolloutStatus,
    pub to_status: RolloutStatus,
    pub from_stage: Option<u32>,
    pub to_stage: Option<u32>,
    pub from_percent: Percent,
    pub to_percent: Percent,
    /// The new `stage_entered_at`.
    pub stage_entered_at: Option<DateTime<Utc>>,
    /// The version the change was computed from: the `where version = $n` of the update.
    pub from_version: i32,
    /// The new version.
    pub version: i32,
    /// The stage whose gates must pass before this is written (start and advance); see [`Transition::pass_gates`].
    pub gated_stage: Option<u32>,
    /// Set when an admin forced the transition past gates that were not met.
    pub gate_overridden: bool,
    /// The gates that were overridden, for the event's details.
    pub overridden_gates: Vec<Gate>,
    gates_checked: bool,
}

impl Transition {
    /// Whether gates still have to pass before this may be written. The service refuses to write a
    /// transition for which this is true.
    pub fn needs_gates(&self) -> bool {
        self.gated_stage.is_some() && !self.gates_checked
    }

    /// Lets a gated transition through if `report` (from [`super::check_gates`] for this transition's stage
    /// and version) has nothing missing, or if an admin overrides what is missing with a written reason; in
    /// that case the transition is marked `gate_overridden` and lists the gates. An override when nothing is
    /// missing overrides nothing and is not marked.
    pub fn pass_gates(mut self, report: GateReport, by: Option<&Override>) -> Result<Transition, GateRefusal> {
        let Some(stage) = self.gated_stage else {
            return Ok(self);
        };
        if (report.stage, report.version) != (stage, self.from_version) {
            return Err(GateRefusal::WrongReport {
                checked_stage: report.stage,
                checked_version: report.version,
                stage,
                version: self.from_version,
            });
        }
        self.overridden_gates = report.pass(by)?;
        self.gate_overridden = !self.overridden_gates.is_empty();
        self.gates_checked = true;
        Ok(self)
    }

    /// The `details` of the event: the overridden gates, if any.
    pub fn details(&self) -> serde_json::Value {
        if self.gate_overridden {
            json!({ "overridden_gates": self.overridden_gates })
        } else {
            json!({})
        }
    }

    /// The state after this transition, given the state it was computed from.
    pub fn next_state(&self, before: &RolloutState) -> RolloutState {
        RolloutState {
            status: self.to_status,
            current_stage: self.to_stage,
            stage_entered_at: self.stage_entered_at,
            version: self.version,
            stages: before.stages.clone(),
        }
    }
}

/// Why an action does not apply to the rollout as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot {action} a rollout that has not started; start it first")]
    NotStarted { action: &'static str },
    #[error("the rollout has already started")]
    AlreadyStarted,
    #[error("cannot {action}: the rollout is {}, and a finished rollout takes no more actions; going again is a new rollout", finished_words(*status))]
    Finished { action: &'static str, status: RolloutStatus },
    #[error("cannot {action} a paused rollout; resume it first")]
    Paused { action: &'static str },
    #[error("the rollout is already paused")]
    AlreadyPaused,
    #[error("the rollout is not paused")]
    NotPaused,
    #[error("already at the last stage; complete it instead")]
    AtLastStage,
    #[error("cannot complete at {current}; advance to the last stage, {last}, first")]
    NotAtLastStage { current: String, last: String },
    #[error("stage {to} is not earlier than the current stage {current}")]
    NotEarlier { to: u32, current: u32 },
    #[error("stage {stage} does not exist; {}", stage_range(*count))]
    NoSuchStage { stage: u32, count: u32 },
    #[error("the rollout has not started, so there is no earlier stage to roll back to; roll back to 0% to cancel it")]
    NoEarlierStage,
    #[error("the rollout's version cannot go past {0}")]
    VersionExhausted(i32),
    #[error("the rollout's stored state is inconsistent: {0}")]
    Inconsistent(String),
}

/// A finished status in words: `completed`, `rolled back`.
pub(super) fn finished_words(status: RolloutStatus) -> &'static str {
    match status {
        RolloutStatus::RolledBack => "rolled back",
        _ => "completed",
    }
}

fn stage_range(count: u32) -> String {
    match count {
        0 => "the rollout has no stages".to_owned(),
        1 => "the rollout's only stage is 0".to_owned(),
        n => format!("the rollout's stages are 0 to {}", n - 1),
    }
}

/// What `action` does to the rollout in `state` at `now`, or why it cannot. Gates are not checked here:
/// a start or advance comes back with [`Transition::gated_stage`] set, to go through
/// [`Transition::pass_gates`]. Every transition bumps the version, which voids the sign-offs given so far.
pub fn apply(state: &RolloutState, action: Action, now: DateTime<Utc>) -> Result<Transition, TransitionError> {
    use RolloutStatus::{Active, Completed, Paused, Planned, RolledBack};
    state.check().map_err(TransitionError::Inconsistent)?;
    let version = state.version.checked_add(1).ok_or(TransitionError::VersionExhausted(state.version))?;
    let verb = action.verb();
    let last = state.stages.last_position();
    let (kind, status, stage, entered_at) = match (state.status, state.current_stage, action) {
        (status @ (Completed | RolledBack), _, _) => return Err(TransitionError::Finished { action: verb, status }),
        (Planned, _, Action::Start) => (TransitionKind::Started, Active, Some(0), Some(now)),
        (Planned, _, Action::RollbackTo(None)) => (TransitionKind::RolledBack, RolledBack, None, None),
        (Planned, _, Action::RollbackTo(Some(_))) => return Err(TransitionError::NoEarlierStage),
        (Planned, _, _) => return Err(TransitionError::NotStarted { action: verb }),
        (_, _, Action::Start) => return Err(TransitionError::AlreadyStarted),
        // check() has ruled this out (a live, started rollout has a stage); the arm is for the compiler.
        (_, None, _) => return Err(TransitionError::Inconsistent("a live rollout without a current stage".into())),
        (Paused, Some(_), Action::Advance | Action::Complete) => return Err(TransitionError::Paused { action: verb }),
        (Active, Some(current), Action::Advance) if current >= last => return Err(TransitionError::AtLastStage),
        (Active, Some(current), Action::Advance) => (TransitionKind::Advanced, Active, Some(current + 1), Some(now)),
        (Active, Some(current), Action::Pause) => {
            (TransitionKind::Paused, Paused, Some(current), state.stage_entered_at)
        }
        (Paused, Some(_), Action::Pause) => return Err(TransitionError::AlreadyPaused),
        (Paused, Some(current), Action::Resume) => (TransitionKind::Resumed, Active, Some(current), Some(now)),
        (Active, Some(_), Action::Resume) => return Err(TransitionError::NotPaused),
        (_, Some(_), Action::RollbackTo(None)) => (TransitionKind::RolledBack, RolledBack, None, None),
        (_, Some(_), Action::RollbackTo(Some(to))) if to >= state.stages.len() => {
            return Err(TransitionError::NoSuchStage { stage: to, count: state.stages.len() })
        }
        (_, Some(current), Action::RollbackTo(Some(to))) if to >= current => {
            return Err(TransitionError::NotEarlier { to, current })
        }
        (status, Some(_), Action::RollbackTo(Some(to))) => (TransitionKind::RolledBack, status, Some(to), Some(now)),
        (Active, Some(current), Action::Complete) if current < last => {
            return Err(TransitionError::NotAtLastStage {
                current: state.stages.label(current),
                last: state.stages.label(last),
            })
        }
        (Active, Some(current), Action::Complete) => {
            (TransitionKind::Completed, Completed, Some(current), state.stage_entered_at)
        }
    };
    let gated_stage = matches!(kind, TransitionKind::Started | TransitionKind::Advanced).then_some(stage).flatten();
    Ok(Transition {
        kind,
        from_status: state.status,
        to_status: status,
        from_stage: state.current_stage,
        to_stage: stage,
        from_percent: state.served_percent(),
        to_percent: served(status, stage, &state.stages),
        stage_entered_at: entered_at,
        from_version: state.version,
        version,
        gated_stage,
        gate_overridden: false,
        overridden_gates: Vec::new(),
        gates_checked: false,
    })
}
