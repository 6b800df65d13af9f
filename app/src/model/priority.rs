//! What the priority-URL pages, the upload endpoint and the CLI exchange.

use crate::domain::priority::{Classification, PageType, Tier};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One account (organization) on `/admin/priority-urls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRow {
    pub key: String,
    /// `None` while nobody has registered a name for the key.
    pub name: Option<String>,
    pub url_count: i64,
    pub last_import_at: Option<DateTime<Utc>>,
    /// Environments where the account's override turns the flag on.
    pub on_in: Vec<String>,
}

/// The account page's filters and cursor, as they appear in its query string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UrlQuery {
    pub tier: Option<String>,
    pub page_type: Option<String>,
    pub q: Option<String>,
    /// Keyset cursor: the last URL of the previous page.
    pub after: Option<String>,
    /// The batch whose result to show at the top (after an upload).
    pub batch: Option<i64>,
}

/// One URL with its badges with the flag on (imported) and off (heuristic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlRow {
    pub url: String,
    pub imported: Classification,
    pub heuristic: Classification,
}

/// The flag for this account in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountFlagState {
    pub environment: String,
    pub environment_name: String,
    /// The flag's kill switch in this environment.
    pub flag_enabled: bool,
    pub default_value: serde_json::Value,
    /// The account's override, if it has one.
    pub override_value: Option<serde_json::Value>,
}

impl AccountFlagState {
    /// What the account gets, unless a rollout decides otherwise: off when the kill switch is off, else
    /// the override, else the environment's default.
    pub fn serves_on(&self) -> bool {
        self.flag_enabled && self.override_value.as_ref().unwrap_or(&self.default_value) == &serde_json::json!(true)
    }
}

/// Counts per tier and per page type, in display order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub by_tier: Vec<(Tier, i64)>,
    pub by_page_type: Vec<(PageType, i64)>,
}

/// How the account's badges change when the flag goes on: imported tier against heuristic tier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub compared: i64,
    /// URLs whose tier differs between on and off.
    pub tier_changes: i64,
    /// Of those, URLs whose imported tier is more urgent than the heuristic's.
    pub raised: i64,
    pub lowered: i64,
    pub page_type_changes: i64,
}

/// One import batch, as the history shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchView {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub actor: String,
    pub file_name: String,
    pub format: String,
    pub dry_run: bool,
    pub status: crate::model::ImportStatus,
    pub rows_read: i32,
    pub inserted: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub rejected: i32,
    pub duplicates: i32,
    pub overflow: i32,
    pub duration_ms: Option<i32>,
    pub error: Option<String>,
    pub rolled_back_at: Option<DateTime<Utc>>,
}

impl BatchView {
    /// Rows in the downloadable report (rejected, duplicate and overflow).
    pub fn report_rows(&self) -> i32 {
        self.rejected + self.duplicates + self.overflow
    }

    /// Whether a rollback may be asked for (the server still refuses it while a newer batch holds its URLs).
    pub fn can_roll_back(&self) -> bool {
        self.status == crate::model::ImportStatus::Completed && !self.dry_run
    }
}

/// Everything the account page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountPage {
    pub key: String,
    /// `None` while nobody has registered a name for the key.
    pub name: Option<String>,
    pub can_edit: bool,
    /// The per-account cap on stored URLs.
    pub cap: i64,
    pub url_count: i64,
    pub flag: Vec<AccountFlagState>,
    /// The page of URLs matching the filters, in URL order.
    pub rows: Vec<UrlRow>,
    pub matching: i64,
    pub next_after: Option<String>,
    pub distribution: Distribution,
    pub comparison: Comparison,
    pub batches: Vec<BatchView>,
    /// The batch named in the query string, when it is one of this account's.
    pub shown_batch: Option<BatchView>,
}

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub batch_id: i64,
    pub account: String,
    pub dry_run: bool,
    pub format: String,
    pub rows_read: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub duplicates: i64,
    pub overflow: i64,
    /// From the file received to the transaction committed.
    pub duration_ms: i64,
    /// E.g. the extra columns that were ignored.
    pub warnings: Vec<String>,
}
