//! Scheduled changes as pages and the admin API see them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

crate::domain::text_enum!(
    /// What a scheduled change does when it runs, as `scheduled_changes.action` spells it.
    ScheduledAction, "action", {
        /// Start a planned rollout, or enter the stage after the current one.
        Advance => "advance",
        ToggleOn => "toggle_on",
        ToggleOff => "toggle_off",
        /// Roll the live rollout back to an earlier stage, or to 0%.
        Rollback => "rollback",
    }
);

crate::domain::text_enum!(
    /// Where a scheduled change stands, as `scheduled_changes.status` spells it.
    ScheduleStatus, "status", {
        Pending => "pending",
        Done => "done",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl ScheduledAction {
    /// Whether the change may name a stage (`to_stage`).
    pub fn takes_stage(self) -> bool {
        matches!(self, ScheduledAction::Advance | ScheduledAction::Rollback)
    }

    /// As shown in lists and messages.
    pub fn label(self) -> &'static str {
        match self {
            ScheduledAction::Advance => "advance",
            ScheduledAction::ToggleOn => "turn on",
            ScheduledAction::ToggleOff => "turn off",
            ScheduledAction::Rollback => "roll back",
        }
    }
}

/// One scheduled change: pending, or finished (`done`, `failed`, `cancelled`) with its result.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledChangeView {
    pub id: i64,
    pub flag: String,
    pub environment: String,
    pub action: ScheduledAction,
    pub to_stage: Option<i32>,
    pub run_at: DateTime<Utc>,
    pub status: ScheduleStatus,
    pub reason: String,
    /// What happened when it ran, or why it was refused.
    pub result: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The email of whoever scheduled it.
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Which scheduled changes to list: every pending one, and those finished in the last `recent_days`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleFilter {
    /// Only this flag's changes.
    pub flag: Option<String>,
    /// Finished changes younger than this many days are listed too (7 when unset).
    pub recent_days: Option<i32>,
}

/// What `/admin/schedule` shows: the changes, and what the form offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulePageData {
    pub changes: Vec<ScheduledChangeView>,
    pub flags: Vec<String>,
    pub environments: Vec<crate::model::EnvironmentView>,
    /// Whether the viewer may schedule and cancel (editors and admins).
    pub can_edit: bool,
}
