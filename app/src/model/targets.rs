//! Targets as pages and the admin API see them: a flag's overrides, and the registry of organizations and
//! customers (names for the keys applications send).

use crate::domain::{Target, TargetKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One override: the value forced for one customer or organization key in one environment.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideView {
    pub target: Target,
    /// The name registered for the key, if any; pages show the key otherwise.
    pub target_name: Option<String>,
    pub value: serde_json::Value,
    pub reason: String,
    /// The version a change or removal must be based on.
    pub version: i32,
    pub updated_at: DateTime<Utc>,
    /// Who made the last change, when it was a person.
    pub updated_by: Option<String>,
}

impl OverrideView {
    /// The name where one is registered, else the key.
    pub fn label(&self) -> &str {
        self.target_name.as_deref().unwrap_or(&self.target.key)
    }
}

/// A flag's overrides in one environment, customers first, then organizations, each by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentOverrides {
    pub environment: String,
    pub environment_name: String,
    pub overrides: Vec<OverrideView>,
}

/// Everything the overrides card of a flag's page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagOverrides {
    pub flag: String,
    /// `boolean`, `string`, `number` or `json`: what the value field takes.
    pub value_type: String,
    pub archived: bool,
    pub can_edit: bool,
    pub environments: Vec<EnvironmentOverrides>,
}

/// An organization key on the registry page: registered (with a name) or only in use.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationRow {
    pub key: String,
    /// `None`: nobody has named this key yet.
    pub name: Option<String>,
    /// Registered customers that belong to it.
    pub customers: i64,
    /// Overrides and allow-list entries naming it.
    pub overrides: i64,
    /// Priority URLs stored for it.
    pub urls: i64,
}

/// A registered customer.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRow {
    pub key: String,
    pub name: String,
    pub organization: String,
    /// The organization's registered name, if any.
    pub organization_name: Option<String>,
}

/// The registry page's search, as it appears in the query string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegistryQuery {
    /// Text the key or name contains.
    pub q: Option<String>,
    /// The customer import whose result to show (after an upload).
    pub import: Option<i64>,
}

/// What the registry page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryPage {
    pub q: String,
    pub organizations: Vec<OrganizationRow>,
    /// More organizations match than are shown.
    pub more_organizations: bool,
    pub customers: Vec<CustomerRow>,
    pub customers_total: i64,
    /// Set when the search text is itself a valid key of either kind with no row of its own, so the
    /// page can offer to name it or open it.
    pub unregistered: Vec<Target>,
    pub can_edit: bool,
    pub import: Option<CustomerImportView>,
    pub imports: Vec<CustomerImportView>,
}

/// One customer import: its counts (which partition the rows read) and whether it has a report.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerImportView {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub actor: String,
    pub file_name: String,
    pub status: crate::model::ImportStatus,
    pub rows_read: i32,
    pub inserted: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub rejected: i32,
    pub duplicates: i32,
    pub duration_ms: Option<i32>,
    pub error: Option<String>,
}

impl CustomerImportView {
    /// Rows in the downloadable report (rejected and duplicate).
    pub fn report_rows(&self) -> i32 {
        self.rejected + self.duplicates
    }
}

/// A row of an import's report: a line of the file that was not applied, and why.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportLine {
    pub line: u32,
    /// `rejected` or `duplicate`.
    pub kind: String,
    /// The key as written in the file.
    pub key: String,
    pub reason: String,
}

/// What the admin API answers for a customer import: the counts and the report itself.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerImportReport {
    #[serde(flatten)]
    pub batch: CustomerImportView,
    pub report: Vec<ReportLine>,
    pub warnings: Vec<String>,
}

/// The names registered for some customer and organization keys, for a page that lists keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetNames {
    pub customers: std::collections::BTreeMap<String, String>,
    pub organizations: std::collections::BTreeMap<String, String>,
}

impl TargetNames {
    /// `Acme Corporation (acme)` where a name is registered, else the key.
    pub fn label(&self, kind: TargetKind, key: &str) -> String {
        let names = match kind {
            TargetKind::Customer => &self.customers,
            TargetKind::Organization => &self.organizations,
        };
        names.get(key).map_or_else(|| key.to_owned(), |name| format!("{name} ({key})"))
    }

    /// The keys, each labelled, separated by commas; `none` for no keys.
    pub fn list(&self, kind: TargetKind, keys: &[String]) -> String {
        if keys.is_empty() {
            return "none".to_owned();
        }
        keys.iter().map(|k| self.label(kind, k)).collect::<Vec<_>>().join(", ")
    }
}

/// The kinds in the order pages list them.
pub const TARGET_KINDS: [TargetKind; 2] = [TargetKind::Customer, TargetKind::Organization];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_labelled_with_its_registered_name_or_shown_as_it_is() {
        let mut names = TargetNames::default();
        names.organizations.insert("acme".into(), "Acme Corporation".into());
        let keys = vec!["acme".to_owned(), "pilot-co".to_owned()];
        assert_eq!(names.list(TargetKind::Organization, &keys), "Acme Corporation (acme), pilot-co");
        assert_eq!(names.list(TargetKind::Customer, &keys), "acme, pilot-co", "names are per kind");
        assert_eq!(names.list(TargetKind::Customer, &[]), "none");
    }
}
