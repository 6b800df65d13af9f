//! Data that crosses between server functions and pages. Plain serializable structs, no behaviour.

pub mod charts;
pub mod environments;
pub mod people;
pub mod priority;
pub mod schedule;
pub mod targeting;
pub mod targets;
pub mod webhooks;

use crate::domain::rollout::RolloutStatus;
use crate::domain::{FlagKind, Role, SignoffRole};
use chrono::{DateTime, Utc};
pub use people::UserRow;
use serde::{Deserialize, Serialize};

crate::domain::text_enum!(
    /// Where an import (priority URLs or customers) stands, as its batch row spells it.
    ImportStatus, "import status", {
        Running => "running",
        Completed => "completed",
        Failed => "failed",
        /// A priority-URL import undone by its rollback.
        RolledBack => "rolled_back",
    }
);

impl ImportStatus {
    /// As people read it: `rolled_back` is "rolled back".
    pub fn label(self) -> &'static str {
        match self {
            ImportStatus::RolledBack => "rolled back",
            other => other.as_str(),
        }
    }
}

/// The signed-in user, as pages see them.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub signoff_roles: Vec<SignoffRole>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentView {
    pub key: String,
    pub name: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseView {
    pub key: String,
    pub name: String,
    pub position: i32,
}

/// A flag's state in one environment.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagState {
    pub environment: String,
    pub enabled: bool,
    /// The version an edit of this state must be based on.
    pub version: i32,
    /// The live rollout here, if any (the flag list's compact rollout form).
    #[serde(default)]
    pub rollout: Option<RolloutChip>,
}

/// A live rollout as the flag list shows it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutChip {
    pub id: i64,
    pub status: RolloutStatus,
    pub version: i32,
    /// The percentage served now (`0%` while planned).
    pub percent: String,
    /// The next stage's percentage, if there is one.
    pub next_percent: Option<String>,
}

/// One row of the flag list.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagRow {
    pub key: String,
    pub name: String,
    pub description: String,
    pub kind: FlagKind,
    pub phase_key: Option<String>,
    pub phase_name: Option<String>,
    /// In environment order; only the filtered environment when one is chosen.
    pub states: Vec<FlagState>,
    /// Why the flag is stale, if it is (`domain::staleness`).
    #[serde(default)]
    pub stale: Option<String>,
    /// Evaluated for frontend tokens (browser pages and apps).
    #[serde(default)]
    pub visible_to_frontends: bool,
}

/// Which states the flag list shows.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateFilter {
    On,
    Off,
}

/// The flag list's filters, as they appear in the page's query string.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlagListQuery {
    pub q: Option<String>,
    pub phase: Option<String>,
    pub env: Option<String>,
    #[cfg_attr(feature = "ssr", param(inline))]
    pub state: Option<StateFilter>,
    /// Only the stale flags (`stale=true`).
    #[serde(default)]
    pub stale: Option<bool>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

impl FlagListQuery {
    pub const DEFAULT_PER_PAGE: u32 = 100;
    pub const MAX_PER_PAGE: u32 = 1000;

    /// The 1-based page, at least 1.
    pub fn page(&self) -> u32 {
        self.page.unwrap_or(1).max(1)
    }

    /// Rows per page, between 1 and `MAX_PER_PAGE`.
    pub fn per_page(&self) -> u32 {
        self.per_page.unwrap_or(Self::DEFAULT_PER_PAGE).clamp(1, Self::MAX_PER_PAGE)
    }
}

/// What the flag list page shows.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagListPage {
    pub environments: Vec<EnvironmentView>,
    pub phases: Vec<PhaseView>,
    pub flags: Vec<FlagRow>,
    /// Flags matching the filters, over all pages.
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    pub can_edit: bool,
}

/// One audit event.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEventView {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub entity_kind: String,
    pub entity_key: String,
    pub flag_key: Option<String>,
    pub environment_key: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub reason: Option<String>,
}

/// The audit page's filters and cursor.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub flag: Option<String>,
    pub action: Option<String>,
    /// Show events older than this id (keyset pagination, newest first).
    pub before: Option<i64>,
    /// Only events at or after this time (`rollgate audit --since`).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    /// The cursor for the next (older) page, if there is one.
    pub next_before: Option<i64>,
    pub actions: Vec<String>,
}

/// A flag's state in one environment, with who changed it last.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagEnvironmentDetail {
    pub environment: String,
    pub environment_name: String,
    pub enabled: bool,
    pub version: i32,
    pub default_value: serde_json::Value,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

/// Everything the flag page shows.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagDetail {
    pub key: String,
    pub name: String,
    pub description: String,
    /// Evaluated for frontend tokens (browser pages and apps); not found for them otherwise.
    #[serde(default)]
    pub visible_to_frontends: bool,
    pub kind: FlagKind,
    pub value_type: String,
    pub phase_name: Option<String>,
    /// The phase's key, for moving the flag to another one.
    #[serde(default)]
    pub phase_key: Option<String>,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub archived: bool,
    pub version: i32,
    pub environments: Vec<FlagEnvironmentDetail>,
    pub history: Vec<AuditEventView>,
    pub can_edit: bool,
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub name: String,
    /// `rgt_XXXXXXXX`: not secret; how a token is recognized and revoked.
    pub prefix: String,
    pub scope: String,
    pub environment: Option<String>,
    /// The user an admin token acts as.
    pub user: Option<String>,
    /// The web origins whose pages may use a frontend token (`*`: any).
    pub origins: Vec<String>,
    /// A frontend token's requests per second, per server process.
    pub rate_limit: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token just created, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedTokenView {
    pub prefix: String,
    pub scope: String,
    pub secret: String,
}

/// Everything the API tokens page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokensPageData {
    pub tokens: Vec<TokenRow>,
    pub environments: Vec<EnvironmentView>,
    /// Active users' emails, for admin tokens.
    pub users: Vec<String>,
    /// The signed-in admin, the default user of an admin token.
    pub me: String,
    /// A token created by a form posted without JavaScript, shown once on the page it came back to.
    pub just_created: Option<CreatedTokenView>,
}

/// One stage of a rollout, as shown.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageView {
    pub position: u32,
    pub name: String,
    /// E.g. `10%` or `0.5%`.
    pub percent: String,
    pub basis_points: u16,
    pub required_roles: Vec<String>,
    pub min_soak_seconds: u32,
    /// `(kind, text)`, kind being `verify` or `backout`.
    #[cfg_attr(feature = "ssr", schema(value_type = Vec<Vec<String>>))]
    pub checklist: Vec<(String, String)>,
}

/// One sign-off, as the rollout page's checklist shows it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignoffView {
    pub stage: u32,
    pub role: String,
    pub user: String,
    pub decision: crate::domain::rollout::SignoffDecision,
    pub comment: String,
    pub at: DateTime<Utc>,
    /// Given for the rollout's current version (and so still counting).
    pub current: bool,
}

/// One entry of a rollout's timeline.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutEventView {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub from_percent: Option<String>,
    pub to_percent: Option<String>,
    pub actor: String,
    pub reason: Option<String>,
    pub gate_overridden: bool,
    pub details: serde_json::Value,
}

/// What stands between the rollout and its next stage.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextGateView {
    pub stage: u32,
    pub stage_name: String,
    pub percent: String,
    /// Nothing missing: the advance would pass.
    pub clear: bool,
    /// E.g. "missing sign-off: ops_oncall; soak ends in 3h12m"; empty when clear.
    pub message: String,
    pub missing_roles: Vec<String>,
    pub soak_ends_at: Option<DateTime<Utc>>,
}

/// A rollout with everything its page shows.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutView {
    pub id: i64,
    pub flag: String,
    pub environment: String,
    pub status: RolloutStatus,
    pub current_stage: Option<u32>,
    pub current_percent: String,
    pub stage_entered_at: Option<DateTime<Utc>>,
    pub version: i32,
    #[cfg_attr(feature = "ssr", schema(value_type = String, example = "customer_id"))]
    pub stickiness: crate::domain::Stickiness,
    pub template: Option<String>,
    pub stages: Vec<StageView>,
    pub allow_customers: Vec<String>,
    pub allow_organizations: Vec<String>,
    /// Only units this holds for take part in the staged percentages; the others get the default.
    /// `null`: everybody.
    pub audience: Option<crate::domain::targeting::Condition>,
    pub next_gate: Option<NextGateView>,
    pub signoffs: Vec<SignoffView>,
    pub timeline: Vec<RolloutEventView>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// A sign-off waiting for someone holding `role`, as `/admin/approvals` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalItem {
    pub rollout_id: i64,
    pub version: i32,
    pub flag: String,
    pub environment: String,
    pub role: String,
    pub stage: u32,
    pub stage_name: String,
    pub target_percent: String,
    pub current_percent: String,
    pub status: RolloutStatus,
    /// Who asked for it (the user whose advance was refused for want of it), if anyone did yet.
    pub requester: Option<String>,
    pub requested_at: Option<DateTime<Utc>>,
    /// The viewer asked for it, so cannot sign it.
    pub requested_by_you: bool,
}

/// Who a rollout reaches among the known customers (the `customers` table), now and at the next stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopulationView {
    pub customers_known: u64,
    pub customers_in: u64,
    pub organizations_known: u64,
    /// Organizations with at least one customer in.
    pub organizations_in: u64,
    /// With an audience: how many known customers it holds for (the others are out, allow-list apart).
    #[serde(default)]
    pub customers_in_audience: Option<u64>,
    /// The next stage's percentage, if there is a next stage.
    pub next_percent: Option<String>,
    /// How many more customers the next stage would put in.
    pub next_adds: u64,
    /// The first of them (by key), as a preview.
    pub next_adds_preview: Vec<String>,
}

/// A stale flag, as `rollgate flags stale` and the flag list's filter show it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaleFlag {
    pub key: String,
    pub name: String,
    pub kind: crate::domain::FlagKind,
    pub phase: Option<String>,
    pub last_changed_at: DateTime<Utc>,
    pub reason: crate::domain::staleness::StaleReason,
}

/// A rollout waiting on people rather than on time.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StuckRollout {
    pub rollout: i64,
    pub flag: String,
    pub environment: String,
    /// The stage being served, and the percentage.
    pub stage: u32,
    pub stage_name: String,
    pub percent: String,
    /// The stage it cannot enter yet.
    pub next_stage: u32,
    pub next_stage_name: String,
    pub missing_roles: Vec<String>,
    /// When the current stage's soak ended (when it was entered, for a stage without a soak).
    pub soak_ended_at: Option<DateTime<Utc>>,
}
