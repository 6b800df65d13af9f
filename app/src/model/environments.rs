//! What the environments and phases pages show.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An environment as `/admin/settings/environments` and `GET /api/admin/environments` list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentRow {
    pub key: String,
    pub name: String,
    /// Set once archived: no longer served or shown, its key reserved for good.
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Live flags that are on here.
    pub flags_on: i64,
    /// Evaluate tokens that serve this environment and still work.
    pub evaluate_tokens: i64,
    /// Planned, active or paused rollouts here.
    pub live_rollouts: i64,
}

/// What the environments page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentsPageData {
    pub environments: Vec<EnvironmentRow>,
    /// Only admins manage environments; everyone else sees the list.
    pub can_manage: bool,
}

/// A phase as the phases page and `GET /api/admin/phases` list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRow {
    pub key: String,
    pub name: String,
    pub description: String,
    /// Whether its flags wait for every flag of the phase before it to be fully rolled out.
    pub requires_previous: bool,
    pub position: i32,
    /// The version an edit must be based on.
    pub version: i32,
    /// Live (not archived) flags in the phase.
    pub flags: i64,
}

/// What the phases page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhasesPageData {
    pub phases: Vec<PhaseRow>,
    /// Editors and admins manage phases.
    pub can_edit: bool,
}
