//! Data that crosses between server functions and pages. Plain serializable structs, no behaviour.

pub mod priority;

use crate::domain::{FlagKind, Role, SignoffRole};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The signed-in user, as pages see them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub signoff_roles: Vec<SignoffRole>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentView {
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseView {
    pub key: String,
    pub name: String,
    pub position: i32,
}

/// A flag's state in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagState {
    pub environment: String,
    pub enabled: bool,
    /// The version an edit of this state must be based on.
    pub version: i32,
}

/// One row of the flag list.
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
}

/// Which states the flag list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateFilter {
    On,
    Off,
}

/// The flag list's filters, as they appear in the page's query string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlagListQuery {
    pub q: Option<String>,
    pub phase: Option<String>,
    pub env: Option<String>,
    pub state: Option<StateFilter>,
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub flag: Option<String>,
    pub action: Option<String>,
    /// Show events older than this id (keyset pagination, newest first).
    pub before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    /// The cursor for the next (older) page, if there is one.
    pub next_before: Option<i64>,
    pub actions: Vec<String>,
}

/// A flag's state in one environment, with who changed it last.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagDetail {
    pub key: String,
    pub name: String,
    pub description: String,
    pub kind: FlagKind,
    pub value_type: String,
    pub phase_name: Option<String>,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub archived: bool,
    pub version: i32,
    pub environments: Vec<FlagEnvironmentDetail>,
    pub history: Vec<AuditEventView>,
    pub can_edit: bool,
}

/// A user as listed on the users page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub signoff_roles: Vec<SignoffRole>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}
