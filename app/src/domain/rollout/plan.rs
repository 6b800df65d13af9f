//! A rollout's plan: its stages, each with a percentage, the sign-offs that let the rollout enter it, the
//! soak it needs before the next one, and a checklist.

use crate::domain::{text_enum, Percent, SignoffRole};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

text_enum!(
    /// What a checklist line is for.
    ChecklistKind, "checklist kind", {
        /// A step to check that the stage works, e.g. "error rate below 1% on the dashboard".
        Verify => "verify",
        /// The command to run when it does not, shown ready to copy.
        Backout => "backout",
    }
);

/// One line of a stage's checklist, stored as `{"kind": "verify" | "backout", "text": "..."}` in
/// `rollout_stages.checklist`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub kind: ChecklistKind,
    pub text: String,
}

impl ChecklistItem {
    /// A verification step.
    pub fn verify(text: impl Into<String>) -> Self {
        Self { kind: ChecklistKind::Verify, text: text.into() }
    }

    /// A backout command.
    pub fn backout(text: impl Into<String>) -> Self {
        Self { kind: ChecklistKind::Backout, text: text.into() }
    }
}

/// One stage of a rollout, as a `rollout_stages` row holds it (its position is its index in the plan).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePlan {
    /// Shown on the timeline and in messages, e.g. `early adopters`.
    pub name: String,
    /// The share of units served while this is the current stage: a number (`12.5`) or a string
    /// (`"12.5"`, `"12.5%"`), from 0 to 100 in steps of 0.01.
    #[cfg_attr(feature = "ssr", schema(value_type = f64, minimum = 0.0, maximum = 100.0))]
    pub percent: Percent,
    /// Each of these roles must be approved by a distinct user before the rollout enters this stage.
    #[serde(default)]
    pub required_roles: Vec<SignoffRole>,
    /// How long the rollout must stay in this stage before it may enter the next one.
    #[serde(default)]
    pub min_soak_seconds: u32,
    /// Verification steps and backout commands, in display order.
    #[serde(default)]
    pub checklist: Vec<ChecklistItem>,
}

impl StagePlan {
    /// A stage with no sign-off, no soak and no checklist.
    pub fn new(name: impl Into<String>, percent: Percent) -> Self {
        Self { name: name.into(), percent, required_roles: Vec::new(), min_soak_seconds: 0, checklist: Vec::new() }
    }

    /// The minimum soak as a duration.
    pub fn min_soak(&self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.min_soak_seconds))
    }
}

/// `stage 3 ("general")`: how every message names a stage. Stages are named by position, counted from 0,
/// because that is the number the API takes (`to_stage`) and the timeline shows.
pub(crate) fn stage_label(position: u32, name: &str) -> String {
    format!("stage {position} ({:?})", name.trim())
}

/// A plan that failed validation: which stage (if the problem is one stage's), which field, and a message
/// that names both, fit to show next to the form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StageError {
    /// The stage's position, or `None` when the problem is the plan as a whole (e.g. too many stages).
    pub position: Option<u32>,
    /// `stages`, `name`, `percentage`, `required_roles`, `min_soak` or `checklist`.
    pub field: &'static str,
    pub message: String,
}

impl StageError {
    fn plan(message: impl Into<String>) -> Self {
        Self { position: None, field: "stages", message: message.into() }
    }

    fn stage(position: u32, name: &str, field: &'static str, problem: impl std::fmt::Display) -> Self {
        Self { position: Some(position), field, message: format!("{}: {problem}", stage_label(position, name)) }
    }
}

/// The most stages a plan may have; twenty is far more than any of our users' documents use.
pub const MAX_STAGES: usize = 20;
/// The longest stage name, as `rollout_stages.name` allows.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest soak: thirty days. Longer is a parked rollout, not a soak.
pub const MAX_SOAK_SECONDS: u32 = 30 * 24 * 3600;
/// The most checklist lines per stage.
pub const MAX_CHECKLIST_ITEMS: usize = 20;
/// The longest checklist line (a backout command with its arguments fits easily).
pub const MAX_CHECKLIST_CHARS: usize = 1000;

/// Checks a plan against every rule a rollout's stages follow:
///
/// - 1 to [`MAX_STAGES`] stages;
/// - names of 1 to [`MAX_NAME_CHARS`] characters (surrounding spaces not counted), unique ignoring case;
/// - percentages that never decrease, so whoever is in at one stage is in at every later one;
/// - a last stage of 100% with no soak. Completing a rollout serves everybody, so a plan that ended lower
///   would let "complete" jump past every gate; and a soak there would wait for a stage that never comes;
/// - required roles listed once each;
/// - soaks up to [`MAX_SOAK_SECONDS`];
/// - up to [`MAX_CHECKLIST_ITEMS`] checklist lines per stage, none blank or longer than
///   [`MAX_CHECKLIST_CHARS`] characters.
///
/// The first problem found is returned.
pub fn validate_stages(stages: &[StagePlan]) -> Result<(), StageError> {
    if stages.is_empty() {
        return Err(StageError::plan("a rollout needs at least one stage"));
    }
    if stages.len() > MAX_STAGES {
        return Err(StageError::plan(format!(
            "a rollout has at most {MAX_STAGES} stages; this one has {}",
            stages.len()
        )));
    }
    let last = stages.len() - 1;
    for (index, stage) in stages.iter().enumerate() {
        // At most MAX_STAGES, so the position fits.
        let position = index as u32;
        let name = stage.name.trim();
        let error = |field, problem: String| StageError::stage(position, name, field, problem);
        if name.is_empty() {
            return Err(StageError {
                position: Some(position),
                field: "name",
                message: format!("stage {position}: the name is required"),
            });
        }
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(error("name", format!("the name is {chars} characters long; the limit is {MAX_NAME_CHARS}")));
        }
        if let Some(earlier) = stages[..index].iter().position(|s| s.name.trim().to_lowercase() == name.to_lowercase())
        {
            return Err(error("name", format!("the name is already used by stage {earlier}")));
        }
        if let Some(previous) = index.checked_sub(1).map(|i| stages[i].percent) {
            if stage.percent < previous {
                return Err(error(
                    "percentage",
                    format!("percentage {} is below the previous stage's {previous}", stage.percent),
                ));
            }
        }
        if index == last && stage.percent != Percent::HUNDRED {
            return Err(error(
                "percentage",
                format!(
                    "the last stage must be 100%, not {}, because completing a rollout serves everybody",
                    stage.percent
                ),
            ));
        }
        for (i, role) in stage.required_roles.iter().enumerate() {
            if stage.required_roles[..i].contains(role) {
                return Err(error("required_roles", format!("the sign-off role {role} is listed twice")));
            }
        }
        if stage.min_soak_seconds > MAX_SOAK_SECONDS {
            return Err(error(
                "min_soak",
                format!(
                    "the soak is longer than the limit of {}",
                    super::format_duration_short(TimeDelta::seconds(i64::from(MAX_SOAK_SECONDS)))
                ),
            ));
        }
        if index == last && stage.min_soak_seconds > 0 {
            return Err(error(
                "min_soak",
                "the last stage has no next stage to wait for, so its soak must be 0".to_owned(),
            ));
        }
        if stage.checklist.len() > MAX_CHECKLIST_ITEMS {
            return Err(error(
                "checklist",
                format!("the checklist has {} items; the limit is {MAX_CHECKLIST_ITEMS}", stage.checklist.len()),
            ));
        }
        for (i, item) in stage.checklist.iter().enumerate() {
            // Checklist lines are counted from 1: they are only ever read by people, never addressed.
            let number = i + 1;
            let chars = item.text.trim().chars().count();
            if chars == 0 {
                return Err(error("checklist", format!("checklist item {number} is empty")));
            }
            if chars > MAX_CHECKLIST_CHARS {
                return Err(error(
                    "checklist",
                    format!("checklist item {number} is {chars} characters long; the limit is {MAX_CHECKLIST_CHARS}"),
                ));
            }
        }
    }
    Ok(())
}

/// A validated list of stages: built only through [`RolloutPlan::new`], so holding one means every rule of
/// [`validate_stages`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RolloutPlan(Vec<StagePlan>);

impl RolloutPlan {
    /// Tidies the stages (trims names and checklist lines, puts required roles in their display order) and
    /// validates them.
    pub fn new(mut stages: Vec<StagePlan>) -> Result<Self, StageError> {
        for stage in &mut stages {
            stage.name = stage.name.trim().to_owned();
            for item in &mut stage.checklist {
                item.text = item.text.trim().to_owned();
            }
        }
        validate_stages(&stages)?;
        for stage in &mut stages {
            stage.required_roles.sort();
        }
        Ok(Self(stages))
    }

    /// The stages, in order.
    pub fn stages(&self) -> &[StagePlan] {
        &self.0
    }

    /// The stage at `position`, if there is one.
    pub fn stage(&self, position: u32) -> Option<&StagePlan> {
        self.0.get(position as usize)
    }

    /// How many stages there are (at least 1).
    pub fn len(&self) -> u32 {
        // At most MAX_STAGES.
        self.0.len() as u32
    }

    /// Always `false`: a plan has at least one stage. Here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The position of the last stage.
    pub fn last_position(&self) -> u32 {
        self.len().saturating_sub(1)
    }

    /// `stage 3 ("general")`, or `stage 3` for a position past the end.
    pub fn label(&self, position: u32) -> String {
        match self.stage(position) {
            Some(stage) => stage_label(position, &stage.name),
            None => format!("stage {position}"),
        }
    }
}

impl<'de> Deserialize<'de> for RolloutPlan {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RolloutPlan::new(Vec::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}
