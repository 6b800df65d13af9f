//! The configuration file of `rollgate export` / `rollgate apply`: plain serde types, written and read as
//! YAML by the server crate. Field order here is the order in the file; optional parts are left out when
//! empty so that a file stays short and two exports of the same configuration are byte-identical.

use crate::domain::rollout::StagePlan;
use crate::domain::targeting::{Condition, Constraint, Prerequisite, TargetingRule};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The version of this format, written as `rollgate: 1` at the top of every file.
pub const FORMAT_VERSION: u32 = 1;

/// A whole configuration: environments and phases in order, segments by key, then flags in phase order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigDocument {
    pub rollgate: u32,
    /// The environments in use, in order (archived ones are left out). A one-environment export leaves
    /// the list out, so that it can be applied to another environment's server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<EnvironmentDoc>,
    #[serde(default)]
    pub phases: Vec<PhaseDoc>,
    /// Before the flags, whose rules name them. Every segment is written, whatever environment an export
    /// is limited to: rules in any environment may use it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentDoc>,
    #[serde(default)]
    pub flags: Vec<FlagDoc>,
}

/// Apply creates a missing environment (at the end of the list) and renames one whose name differs; it
/// never archives one, and leaves an archived one as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentDoc {
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseDoc {
    pub key: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub requires_previous: bool,
}

/// A segment: a named, reusable AND of constraints. Apply creates a missing one and updates one that
/// differs; it never deletes one the file leaves out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentDoc {
    pub key: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagDoc {
    pub key: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// release, operational, kill_switch, experiment or permission.
    pub kind: String,
    /// boolean (the default), string, number or json.
    #[serde(default = "boolean", skip_serializing_if = "is_boolean")]
    pub value_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Evaluated for frontend tokens (browser pages and apps). Left out: not visible.
    #[serde(default, skip_serializing_if = "is_false")]
    pub visible_to_frontends: bool,
    /// Archived flags are exported for backups; apply archives a flag, and refuses to bring one back.
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
    /// The flag's state per environment key. An environment left out is left as it is by apply.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvStateDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvStateDoc {
    pub enabled: bool,
    #[serde(default = "json_true")]
    pub default_value: Value,
    /// The flags this one requires here. The targeting parts come in the order evaluation uses them:
    /// prerequisites, overrides, rules, then the rollout. Each list is the complete one: apply replaces
    /// what differs, and an empty or absent list clears it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prerequisites: Vec<Prerequisite>,
    /// The complete set of overrides in this environment: apply adds, changes and removes to match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<OverrideDoc>,
    /// The targeting rules, in order: the first that takes a unit answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<TargetingRule>,
    /// The live rollout's definition. Apply creates a planned rollout or edits the live one to match; it
    /// never starts, advances or rolls back (those stay behind their gates), and leaves a live rollout
    /// alone when the file has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutDoc>,
}

/// Exactly one of `organization` and `customer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    pub value: Value,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutDoc {
    #[serde(default = "customer_id")]
    pub stickiness: String,
    pub stages: Vec<StagePlan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_customers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_organizations: Vec<String>,
    /// Only units this holds for take part in the stages; the others get the default. Left out: everybody
    /// (apply takes an audience away from a live rollout whose entry has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Condition>,
    /// Exported for reference; apply does not change guardrails (they are managed with the rollout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<GuardrailDoc>,
}

/// A guardrail as stored, for reading only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardrailDoc {
    /// The stage it watches; absent for every stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<i32>,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gauge_name: Option<String>,
    /// As text: `numeric` is exact in PostgreSQL, and a float would not round-trip.
    pub threshold: String,
    pub window_seconds: i32,
    pub min_samples: i32,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promql: Option<String>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn boolean() -> String {
    "boolean".to_owned()
}

fn is_boolean(value: &String) -> bool {
    value == "boolean"
}

fn json_true() -> Value {
    Value::Bool(true)
}

fn customer_id() -> String {
    "customer_id".to_owned()
}
