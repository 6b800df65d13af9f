//! Staged rollouts in the browser: the "Rollouts" section of a flag's page ([`panel`]), one rollout's page
//! at `/admin/rollouts/{id}` ([`page`]), the sign-off queue at `/admin/approvals` ([`approvals`]), and the
//! server functions behind their buttons ([`actions`]).
//!
//! Every button is a plain form posting to a server function, so it works without JavaScript (server_fn
//! sends the browser back to the page, with the error in the query string when there is one); once the
//! page is hydrated the same form is sent by `ActionForm` and the page refetches. The gates are the
//! server's: these pages only show what the service layer computed.

pub mod actions;
pub mod approvals;
pub(crate) mod buttons;
pub mod charts;
pub mod guardrails;
pub mod page;
pub mod panel;
pub mod stage_text;
mod widgets;

use crate::domain::rollout::RolloutStatus;
use crate::model::RolloutView;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// What the signed-in user may do on these pages. The server checks again on every call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Viewer {
    /// Editors and admins press the buttons.
    pub can_edit: bool,
    /// Admins may also override unmet gates, with a reason.
    pub is_admin: bool,
    /// The sign-off roles the user holds, e.g. `product_owner`.
    pub signoff_roles: Vec<String>,
}

#[cfg(feature = "ssr")]
impl Viewer {
    pub(crate) fn of(user: &crate::server::auth::CurrentUser) -> Self {
        Viewer {
            can_edit: user.role.can_edit_flags(),
            is_admin: user.role.can_manage_users(),
            signoff_roles: user.signoff_roles.iter().map(|r| r.as_str().to_owned()).collect(),
        }
    }
}

/// The stage served, e.g. `early adopters (stage 3 of 5)`, or what stands in for one.
pub fn stage_label(rollout: &RolloutView) -> String {
    match (rollout.status, rollout.current_stage) {
        (RolloutStatus::Planned, _) => "not started".to_owned(),
        (RolloutStatus::Completed, _) => "completed: everybody is in".to_owned(),
        (RolloutStatus::RolledBack, _) => "rolled back: nobody is in".to_owned(),
        (_, Some(stage)) => match rollout.stages.get(stage as usize) {
            Some(s) => format!("{} (stage {} of {})", s.name, stage + 1, rollout.stages.len()),
            None => format!("stage {}", stage + 1),
        },
        (_, None) => "no stage".to_owned(),
    }
}

/// How long the current stage has been served, e.g. `3h12m`.
pub fn time_in_stage(rollout: &RolloutView, now: DateTime<Utc>) -> Option<String> {
    let entered = rollout.stage_entered_at.filter(|_| rollout.status.is_live())?;
    Some(crate::domain::rollout::format_duration_short(now - entered))
}

/// A soak in words: `30m`, `24h`, or `none`.
pub fn soak_label(seconds: u32) -> String {
    if seconds == 0 {
        "none".to_owned()
    } else {
        crate::domain::rollout::format_duration_short(TimeDelta::seconds(i64::from(seconds)))
    }
}

/// The roles a stage needs, or `none`.
pub fn roles_label(roles: &[String]) -> String {
    if roles.is_empty() {
        "none".to_owned()
    } else {
        roles.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StageView;

    fn rollout(status: &str, current_stage: Option<u32>) -> RolloutView {
        let stage = |position: u32, name: &str, percent: &str| StageView {
            position,
            name: name.into(),
            percent: percent.into(),
            basis_points: 0,
            required_roles: vec![],
            min_soak_seconds: 0,
            checklist: vec![],
        };
        RolloutView {
            id: 1,
            flag: "f".into(),
            environment: "production".into(),
            status: status.parse().unwrap_or(RolloutStatus::Planned),
            current_stage,
            current_percent: "1%".into(),
            stage_entered_at: current_stage.map(|_| DateTime::<Utc>::UNIX_EPOCH),
            version: 3,
            stickiness: crate::domain::Stickiness::CustomerId,
            template: Some("five_tier".into()),
            stages: vec![stage(0, "disabled", "0%"), stage(1, "internal", "1%")],
            allow_customers: vec![],
            allow_organizations: vec![],
            audience: None,
            next_gate: None,
            signoffs: vec![],
            timeline: vec![],
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            started_at: None,
            completed_at: None,
        }
    }

    #[test]
    fn the_stage_is_named_with_its_place_in_the_plan() {
        assert_eq!(stage_label(&rollout("active", Some(1))), "internal (stage 2 of 2)");
        assert_eq!(stage_label(&rollout("planned", None)), "not started");
        assert_eq!(stage_label(&rollout("rolled_back", None)), "rolled back: nobody is in");
    }

    #[test]
    fn time_in_stage_counts_only_while_the_rollout_is_live() {
        let now = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(3 * 3600 + 12 * 60 + 5);
        assert_eq!(time_in_stage(&rollout("active", Some(1)), now).as_deref(), Some("3h12m"));
        let mut finished = rollout("completed", Some(1));
        finished.status = RolloutStatus::Completed;
        assert_eq!(time_in_stage(&finished, now), None);
    }

    #[test]
    fn soaks_and_roles_have_words_for_nothing() {
        assert_eq!(soak_label(0), "none");
        assert_eq!(soak_label(1800), "30m");
        assert_eq!(soak_label(86_400), "1d");
        assert_eq!(roles_label(&[]), "none");
        assert_eq!(roles_label(&["ops_oncall".into(), "product_owner".into()]), "ops_oncall, product_owner");
        assert_eq!(RolloutStatus::RolledBack.label(), "rolled back");
        assert!(RolloutStatus::Paused.is_live() && !RolloutStatus::Completed.is_live());
    }
}
