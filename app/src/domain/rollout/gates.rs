//! The gates on entering a stage: sign-offs, the soak of the stage being left, and the phase prerequisite.
//! [`check_gates`] lists everything missing at once, so that a refused advance says exactly what to do.

use super::transition::RolloutState;
use crate::domain::{text_enum, Role, SignoffRole};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

#[cfg(test)]
mod tests;

text_enum!(
    /// A signer's answer, as `signoffs.decision` spells it.
    SignoffDecision, "decision", {
        Approved => "approved",
        /// Blocks the role for this stage until the rollout is edited (a new version) and signed again.
        Rejected => "rejected",
    }
);

/// One row of `signoffs`, with whether its signer holds the role today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignoffRecord {
    /// The stage the sign-off lets the rollout enter.
    pub stage: u32,
    /// The rollout version it was given for; any other version's sign-offs are void.
    pub version: i32,
    pub role: SignoffRole,
    pub user_id: i64,
    pub decision: SignoffDecision,
    /// Whether the signer holds `role` now: a user who has since lost the role no longer counts, either way.
    pub signer_holds_role: bool,
}

/// What [`check_gates`] needs, all fetched by the caller in the transaction that will write the change.
#[derive(Debug, Clone, Copy)]
pub struct GateInput<'a> {
    pub state: &'a RolloutState,
    /// The stage to enter: [`RolloutState::next_stage`].
    pub target_stage: u32,
    pub now: DateTime<Utc>,
    /// The rollout's sign-offs; those for other stages or versions are ignored here, so passing them all is safe.
    pub signoffs: &'a [SignoffRecord],
    /// Who asks for the change: their own approvals do not count. `None` for the system (auto-advance).
    pub requester: Option<i64>,
    /// Keys of the flags of the previous phase that are not fully rolled out in this environment, when the
    /// flag's phase requires the previous one; empty otherwise.
    pub unfinished_prerequisites: &'a [String],
    /// What the guardrails watching the current stage say against moving on (breached, or their source
    /// down), one line each; empty when they are healthy or there are none.
    pub guardrail_blockers: &'a [String],
}

/// One thing standing between the rollout and the stage it would enter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Gate {
    /// The target is not a stage of the plan: a caller's mistake, which no override can mend.
    NoSuchStage { stage: u32 },
    /// No distinct user holding the role, other than the requester, has approved.
    MissingSignoff { role: SignoffRole },
    /// A holder of the role rejected the stage at this version.
    RejectedSignoff { role: SignoffRole },
    /// The current stage's minimum soak has not passed.
    Soak { remaining_seconds: i64, ends_at: DateTime<Utc> },
    /// Flags of the previous phase are not fully rolled out here yet.
    PhasePrerequisite { flags: Vec<String> },
    /// A guardrail on the current stage is breached or cannot read its source.
    Guardrail { what: String },
}

impl Gate {
    /// The words this gate is listed after in [`GateReport::message`]; gates with the same heading share one.
    fn heading(&self) -> &'static str {
        match self {
            Gate::NoSuchStage { .. } => "",
            Gate::MissingSignoff { .. } => "missing sign-off: ",
            Gate::RejectedSignoff { .. } => "rejected sign-off: ",
            Gate::Soak { .. } => "soak ends in ",
            Gate::PhasePrerequisite { .. } => "previous phase not fully rolled out: ",
            Gate::Guardrail { .. } => "",
        }
    }

    fn items(&self) -> Vec<String> {
        match self {
            Gate::NoSuchStage { stage } => vec![format!("stage {stage} does not exist")],
            Gate::MissingSignoff { role } | Gate::RejectedSignoff { role } => vec![role.to_string()],
            Gate::Soak { remaining_seconds, .. } => {
                vec![format_duration_short(TimeDelta::seconds(*remaining_seconds))]
            }
            Gate::PhasePrerequisite { flags } => flags.clone(),
            Gate::Guardrail { what } => vec![what.clone()],
        }
    }
}

/// What stands between a rollout and one stage at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateReport {
    pub stage: u32,
    pub version: i32,
    /// Everything missing, in the order of [`GateReport::message`]: sign-offs by role, soak, phase, guardrails.
    pub missing: Vec<Gate>,
}

impl GateReport {
    /// Whether nothing is missing.
    pub fn is_clear(&self) -> bool {
        self.missing.is_empty()
    }

    /// The roles still to be signed (missing or rejected).
    pub fn unsigned_roles(&self) -> Vec<SignoffRole> {
        self.missing
            .iter()
            .filter_map(|gate| match gate {
                Gate::MissingSignoff { role } | Gate::RejectedSignoff { role } => Some(*role),
                _ => None,
            })
            .collect()
    }

    /// What is missing in one line, e.g. `missing sign-off: dev_lead, ops_oncall; soak ends in 3h12m`;
    /// empty when nothing is.
    pub fn message(&self) -> String {
        let mut parts: Vec<(&str, Vec<String>)> = Vec::new();
        for gate in &self.missing {
            match parts.last_mut() {
                Some((heading, items)) if *heading == gate.heading() => items.extend(gate.items()),
                _ => parts.push((gate.heading(), gate.items())),
            }
        }
        parts.iter().map(|(heading, items)| format!("{heading}{}", items.join(", "))).collect::<Vec<_>>().join("; ")
    }

    /// The gates an override would set aside, or why it cannot: only an admin overrides, only with a written
    /// reason, and never a stage that does not exist.
    pub(super) fn pass(self, by: Option<&Override>) -> Result<Vec<Gate>, GateRefusal> {
        if self.is_clear() {
            return Ok(Vec::new());
        }
        let Some(by) = by else { return Err(GateRefusal::Blocked(self)) };
        if self.missing.iter().any(|gate| matches!(gate, Gate::NoSuchStage { .. })) {
            return Err(GateRefusal::Blocked(self));
        }
        if by.actor_role != Role::Admin {
            return Err(GateRefusal::OverrideNotAllowed(self));
        }
        let reason = by.reason.trim();
        if reason.is_empty() {
            return Err(GateRefusal::OverrideReasonRequired(self));
        }
        let chars = reason.chars().count();
        if chars > MAX_REASON_CHARS {
            return Err(GateRefusal::OverrideReasonTooLong(chars));
        }
        Ok(self.missing)
    }
}

/// The longest reason `rollout_events.reason` holds.
pub const MAX_REASON_CHARS: usize = 2000;

/// A request to go past unmet gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The role of whoever asks; only [`Role::Admin`] may override.
    pub actor_role: Role,
    /// Why, in writing; it becomes the event's reason.
    pub reason: String,
}

/// Why a gated transition may not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateRefusal {
    /// Something is missing; the message says exactly what.
    #[error("{}", .0.message())]
    Blocked(GateReport),
    #[error("{} (only an admin can override a gate)", .0.message())]
    OverrideNotAllowed(GateReport),
    #[error("{} (an override needs a written reason)", .0.message())]
    OverrideReasonRequired(GateReport),
    #[error("the reason is {0} characters long; the limit is {MAX_REASON_CHARS}")]
    OverrideReasonTooLong(usize),
    /// A caller's mistake: the gates were checked for another stage or version than the transition's.
    #[error(
        "the gates were checked for stage {checked_stage} at version {checked_version}, \
         not stage {stage} at version {version}"
    )]
    WrongReport { checked_stage: u32, checked_version: i32, stage: u32, version: i32 },
}

/// Lists everything that stands between the rollout and `target_stage`:
///
/// - **sign-offs** for the target stage at the rollout's current version, from users who hold the role now:
///   every role the stage requires needs an approval; one user fills one role, so the roles are matched to
///   distinct approvers (a user who approved two roles fills only one); the requester's approvals do not
///   count; a rejection blocks its role whatever else was given, until a new version;
/// - **soak**: the current stage's minimum soak, counted from when it was entered (none before the start);
/// - **phase prerequisite**: the caller's list of unfinished flags of the previous phase, when the target
///   serves more than 0% (a flag may sit at 0% before its phase's turn; it may not serve anybody);
/// - **guardrails**: the caller's lines for the current stage's breached or unreadable guardrails.
pub fn check_gates(input: GateInput<'_>) -> GateReport {
    let GateInput { state, target_stage, now, signoffs, requester, unfinished_prerequisites, guardrail_blockers } =
        input;
    let report = |missing| GateReport { stage: target_stage, version: state.version, missing };
    let Some(target) = state.stages.stage(target_stage) else {
        return report(vec![Gate::NoSuchStage { stage: target_stage }]);
    };
    let counted: Vec<&SignoffRecord> = signoffs
        .iter()
        .filter(|s| s.stage == target_stage && s.version == state.version && s.signer_holds_role)
        .collect();
    let rejected: Vec<SignoffRole> = target
        .required_roles
        .iter()
        .copied()
        .filter(|role| counted.iter().any(|s| s.role == *role && s.decision == SignoffDecision::Rejected))
        .collect();
    let open: Vec<SignoffRole> = target.required_roles.iter().copied().filter(|r| !rejected.contains(r)).collect();
    let approvers: Vec<Vec<i64>> = open
        .iter()
        .map(|role| {
            let mut users: Vec<i64> = counted
                .iter()
                .filter(|s| s.role == *role && s.decision == SignoffDecision::Approved)
                .map(|s| s.user_id)
                .filter(|&user| Some(user) != requester)
                .collect();
            users.sort_unstable();
            users.dedup();
            users
        })
        .collect();
    let filled = match_roles(&approvers);
    let mut missing: Vec<Gate> = open
        .iter()
        .zip(&filled)
        .filter(|(_, user)| user.is_none())
        .map(|(role, _)| Gate::MissingSignoff { role: *role })
        .collect();
    missing.extend(rejected.into_iter().map(|role| Gate::RejectedSignoff { role }));

    if let Some(current) = state.current_stage.and_then(|c| state.stages.stage(c)) {
        let soak = current.min_soak();
        // A stage without an entry time has not started soaking: count the whole soak, never none.
        let ends_at = state.stage_entered_at.unwrap_or(now) + soak;
        if soak > TimeDelta::zero() && ends_at > now {
            let remaining = ends_at - now;
            // Rounded up, so that "ends in 0s" never shows while time remains.
            let remaining_seconds = remaining.num_seconds() + i64::from(remaining.subsec_nanos() > 0);
            missing.push(Gate::Soak { remaining_seconds, ends_at });
        }
    }

    if target.percent > crate::domain::Percent::ZERO && !unfinished_prerequisites.is_empty() {
        let mut flags = unfinished_prerequisites.to_vec();
        flags.sort();
        flags.dedup();
        missing.push(Gate::PhasePrerequisite { flags });
    }
    missing.extend(guardrail_blockers.iter().map(|what| Gate::Guardrail { what: what.clone() }));
    report(missing)
}

/// Gives each role (by index) a distinct user among its approvers, filling as many roles as possible: a
/// maximum bipartite matching by augmenting paths (Kuhn's algorithm), which at four roles costs nothing.
/// Greedy would not do: if A approved dev_lead and qa and B only dev_lead, A must take qa.
fn match_roles(approvers: &[Vec<i64>]) -> Vec<Option<i64>> {
    fn place(role: usize, approvers: &[Vec<i64>], taken: &mut HashMap<i64, usize>, seen: &mut HashSet<i64>) -> bool {
        for &user in &approvers[role] {
            if !seen.insert(user) {
                continue;
            }
            let free = match taken.get(&user).copied() {
                None => true,
                Some(other) => place(other, approvers, taken, seen),
            };
            if free {
                taken.insert(user, role);
                return true;
            }
        }
        false
    }
    let mut taken: HashMap<i64, usize> = HashMap::new();
    for role in 0..approvers.len() {
        place(role, approvers, &mut taken, &mut HashSet::new());
    }
    let mut filled = vec![None; approvers.len()];
    for (user, role) in taken {
        filled[role] = Some(user);
    }
    filled
}

/// A duration the way a countdown shows it, in its two largest units, cut down (never rounded up) to the
/// smaller one and without a zero smaller unit: `2d4h`, `3h12m`, `3h`, `45m`, `1m30s`, `30s`. Negative
/// durations show as `0s`.
pub fn format_duration_short(duration: TimeDelta) -> String {
    let total = duration.num_seconds().max(0);
    let units = [(86_400, 'd'), (3600, 'h'), (60, 'm'), (1, 's')];
    let Some(big) = units.iter().position(|&(size, _)| total >= size) else {
        return "0s".to_owned();
    };
    let (size, unit) = units[big];
    let mut text = format!("{}{unit}", total / size);
    if let Some(&(small_size, small_unit)) = units.get(big + 1) {
        let small = total % size / small_size;
        if small > 0 {
            text.push_str(&format!("{small}{small_unit}"));
        }
    }
    text
}
