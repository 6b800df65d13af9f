//! Targeting as pages and the admin API see it: segments with who uses them, and a flag's rules and
//! prerequisites in one environment.

use crate::domain::targeting::{Constraint, Prerequisite, TargetingRule};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A segment: a named, reusable AND of constraints.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentView {
    pub key: String,
    pub name: String,
    pub description: String,
    pub constraints: Vec<Constraint>,
    /// The version an edit or deletion must be based on.
    pub version: i32,
    pub updated_at: DateTime<Utc>,
    /// The rules and rollout audiences that use it, in flags and environments that are not archived, by
    /// flag and environment.
    pub used_by: Vec<SegmentUse>,
}

/// One rule, or one rollout's audience, that uses a segment.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SegmentUse {
    pub flag: String,
    pub environment: String,
    /// The rule's name; for a rollout's audience, `rollout audience`.
    pub rule: String,
    /// The rollout whose audience uses the segment: the live rollout of the flag in the environment, or its
    /// latest finished one while no rollout is live, as that one still decides answers. Absent for a rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<i64>,
}

impl SegmentUse {
    /// What `rule` says of a rollout's audience.
    pub const ROLLOUT_AUDIENCE: &'static str = "rollout audience";
}

impl std::fmt::Display for SegmentUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rollout {
            Some(_) => write!(f, "the rollout of {} in {} (its audience)", self.flag, self.environment),
            None => write!(f, "{} in {} (rule {})", self.flag, self.environment, self.rule),
        }
    }
}

/// What a segment is made of, as a form or the API sends it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
}

/// A flag's targeting in one environment.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetingView {
    pub flag: String,
    pub environment: String,
    /// In order: the first rule that takes a unit answers.
    pub rules: Vec<TargetingRule>,
    pub prerequisites: Vec<Prerequisite>,
    /// The version an edit must be based on.
    pub version: i32,
}

/// One environment of a flag's targeting card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentTargeting {
    pub environment: String,
    pub environment_name: String,
    pub rules: Vec<TargetingRule>,
    pub prerequisites: Vec<Prerequisite>,
    /// The version an edit must be based on.
    pub version: i32,
    /// What units no rule takes get, when no rollout applies.
    pub default_value: serde_json::Value,
}

/// Everything the targeting card of a flag's page shows and its forms offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagTargeting {
    pub flag: String,
    pub value_type: crate::domain::ValueType,
    /// The flag's variant keys, for "serve variant".
    pub variants: Vec<String>,
    pub archived: bool,
    pub can_edit: bool,
    /// Every segment, `(key, name)`, for picking.
    pub segments: Vec<(String, String)>,
    /// The other flags that are not archived, `(key, variant keys)`, for prerequisites.
    pub other_flags: Vec<(String, Vec<String>)>,
    pub environments: Vec<EnvironmentTargeting>,
}
