//! Evaluation: what one flag answers, in one environment, for one context. Plain data in, answer out.
//!
//! The rules apply in this order, the first that applies answers (DESIGN.md, "Evaluation, in order"):
//!
//! 1. unknown or archived flag: [`EvalError::FlagNotFound`];
//! 2. flag off in the environment (the kill switch): the off value, [`Reason::Disabled`];
//! 3. prerequisites: each flag it requires must be on (or off, or on one of some variants) for this context
//!    in this environment; if one is not, the off value, [`Reason::PrerequisiteFailed`], naming that flag;
//! 4. an override for the customer, then 5. for the organization: the forced value, [`Reason::TargetingMatch`];
//! 6. the rollout's allow-list (customer or organization): the on value, [`Reason::TargetingMatch`];
//! 7. the targeting rules, in order, the first whose constraints and segments all hold (and, with a
//!    percentage, whose share the unit's bucket is in; units outside it go on to the next rule): what the
//!    rule serves, [`Reason::TargetingMatch`], or [`Reason::Split`] for a rule with a percentage;
//! 8. the rollout, for units in its audience (all units if it has none): the on value if the unit's bucket
//!    is below the percentage served, else the off value, both [`Reason::Split`];
//! 9. the environment's default value, [`Reason::Static`] or [`Reason::Default`] (see [`EnvConfig::is_static`]).
//!
//! Every answer says what decided it ([`DecidedBy`]): the prerequisite, the override, the rule and its
//! segments, the rollout or the default, so "Evaluate for..." and the APIs can show why.
//!
//! The answer borrows its value and variant key from the configuration rather than cloning them: this runs
//! for every flag of every request (about 100 ns a flag is the budget) and a `serde_json::Value` clone may
//! allocate. Callers that outlive the configuration clone what they keep.

use super::bucketing::is_in;
use super::percent::Percent;
use super::targeting::{limits, CompiledCondition, CompiledRule, Prerequisite, Served};
use super::variant::Variants;
use super::{text_enum, FlagKey, InvalidValue, ValueType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

/// A map by flag key, as evaluation looks flags up: once per flag of every request, so the hash matters.
/// foldhash hashes a short key in a few nanoseconds where the standard library's SipHash takes about
/// twenty. Its weaker resistance to chosen collisions does not matter here: the keys in the map are the
/// team's own flags, and a request can only look keys up, never add one.
pub type KeyMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// Who is asking: the targets an application sends with a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalContext {
    /// The application's customer id (OFREP's `targetingKey`); the default stickiness value.
    pub customer_id: Option<String>,
    /// The customer's organization (account).
    pub organization_id: Option<String>,
    /// Any other attributes, usable as stickiness with `attribute:<name>` and in constraints by name.
    pub attributes: BTreeMap<String, String>,
    /// The time constraints on `current_time` compare with; the time of evaluation when absent. Not read
    /// from requests: applications cannot move the clock.
    #[serde(skip)]
    pub current_time: Option<chrono::DateTime<chrono::Utc>>,
}

impl EvalContext {
    /// The value this context is bucketed by, if it has one. An empty string counts as missing: an empty
    /// id names nobody, and treating it as an id would put every anonymous caller in one shared bucket.
    pub fn stickiness_value(&self, stickiness: &Stickiness) -> Option<&str> {
        let value = match stickiness {
            Stickiness::CustomerId => self.customer_id.as_deref(),
            Stickiness::OrganizationId => self.organization_id.as_deref(),
            Stickiness::Attribute(name) => self.attributes.get(name).map(String::as_str),
        };
        value.filter(|v| !v.is_empty())
    }
}

/// What a rollout buckets units by. Stored as `customer_id`, `organization_id` or `attribute:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Stickiness {
    /// The customer id: each customer is in or out on their own. The default.
    #[default]
    CustomerId,
    /// The organization id: a whole organization is in or out together.
    OrganizationId,
    /// A named context attribute, e.g. `attribute:tenant_region`.
    Attribute(String),
}

impl Stickiness {
    /// Parses the stored spelling; attribute names follow the `rollouts_stickiness_format` constraint.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw.trim() {
            "customer_id" => Ok(Self::CustomerId),
            "organization_id" => Ok(Self::OrganizationId),
            other => {
                let Some(name) = other.strip_prefix("attribute:") else {
                    return Err(InvalidValue::new(
                        "stickiness",
                        format!(
                            "unknown stickiness {other:?}: expected customer_id, organization_id or attribute:<name>"
                        ),
                    ));
                };
                let valid = (1..=100).contains(&name.len())
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
                if !valid {
                    return Err(InvalidValue::new(
                        "stickiness",
                        format!("{name:?} is not an attribute name (letters, digits, '_', '.' and '-', up to 100)"),
                    ));
                }
                Ok(Self::Attribute(name.to_owned()))
            }
        }
    }
}

impl std::fmt::Display for Stickiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CustomerId => f.write_str("customer_id"),
            Self::OrganizationId => f.write_str("organization_id"),
            Self::Attribute(name) => write!(f, "attribute:{name}"),
        }
    }
}

impl std::str::FromStr for Stickiness {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Stickiness {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Stickiness> for String {
    fn from(stickiness: Stickiness) -> Self {
        stickiness.to_string()
    }
}

/// Stored as its spelling in `rollouts.stickiness`; a query reads it with `r.stickiness as "stickiness: Stickiness"`.
#[cfg(feature = "ssr")]
impl sqlx::Type<sqlx::Postgres> for Stickiness {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <str as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

#[cfg(feature = "ssr")]
impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Stickiness {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self::parse(<&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?)?)
    }
}

text_enum!(
    /// Where a rollout stands, and so what it serves:
    ///
    /// | status        | allow-list | percentage served         |
    /// |---------------|------------|---------------------------|
    /// | `planned`     | no         | none: the default applies |
    /// | `active`      | yes        | the current stage's       |
    /// | `paused`      | yes        | the current stage's       |
    /// | `completed`   | (all in)   | 100%                      |
    /// | `rolled_back` | no         | 0%                        |
    RolloutStatus, "rollout status", {
        /// Drawn up, not started: serves nothing yet, so creating a plan changes no answer.
        Planned => "planned",
        /// Serving the current stage.
        Active => "active",
        /// Held at the current stage: a pause stops progress (soak, auto-advance), not traffic, so the
        /// customers already in stay in.
        Paused => "paused",
        /// Finished with everybody in.
        Completed => "completed",
        /// Finished with everybody out, allow-list included: a rollback means the change is bad.
        RolledBack => "rolled_back",
    }
);

impl RolloutStatus {
    /// Whether a rollout in this status can still change: planned, active or paused.
    pub fn is_live(self) -> bool {
        matches!(self, RolloutStatus::Planned | RolloutStatus::Active | RolloutStatus::Paused)
    }

    /// As people read it: `rolled_back` is "rolled back".
    pub fn label(self) -> &'static str {
        match self {
            RolloutStatus::RolledBack => "rolled back",
            other => other.as_str(),
        }
    }
}

/// A flag's rollout in one environment, as evaluation needs it. The snapshot holds the live rollout
/// (planned, active or paused) if there is one, else the latest finished one, else none.
#[derive(Debug, Clone)]
pub struct RolloutConfig {
    /// Decides how `percent` and the allow-lists are used; see [`RolloutStatus`].
    pub status: RolloutStatus,
    /// The current stage's percentage; 0% when no stage is current. Read only while active or paused.
    pub percent: Percent,
    /// What units are bucketed by.
    pub stickiness: Stickiness,
    /// Customer ids that are always in while the rollout is active or paused.
    pub allow_customers: HashSet<String>,
    /// Organization ids that are always in while the rollout is active or paused.
    pub allow_organizations: HashSet<String>,
    /// Only units this holds for take part in the percentage; the others get the default. `None`: all.
    pub audience: Option<CompiledCondition>,
}

impl RolloutConfig {
    /// The percentage this rollout serves, or `None` if it serves nothing yet.
    pub fn serving_percent(&self) -> Option<Percent> {
        match self.status {
            RolloutStatus::Planned => None,
            RolloutStatus::Active | RolloutStatus::Paused => Some(self.percent),
            RolloutStatus::Completed => Some(Percent::HUNDRED),
            RolloutStatus::RolledBack => Some(Percent::ZERO),
        }
    }

    /// Whether the allow-lists let units in.
    pub fn allow_list_applies(&self) -> bool {
        matches!(self.status, RolloutStatus::Active | RolloutStatus::Paused)
    }

    fn allows(&self, ctx: &EvalContext) -> bool {
        self.allow_list_applies()
            && (ctx.customer_id.as_deref().is_some_and(|id| self.allow_customers.contains(id))
                || ctx.organization_id.as_deref().is_some_and(|id| self.allow_organizations.contains(id)))
    }
}

/// What a flag serves to the units that get it (allow-listed, or in the rollout).
#[derive(Debug, Clone, PartialEq)]
pub enum OnValue {
    /// One value for everybody, e.g. `true` for a boolean flag.
    Fixed(Value),
    /// Weighted variants, each unit getting one deterministically (see [`Variants::pick`]).
    Variants(Variants),
}

/// A flag as evaluation needs it; the same in every environment.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagConfig {
    /// The flag's key, part of every bucket's hash.
    pub key: FlagKey,
    /// An archived flag answers as unknown.
    pub archived: bool,
    /// The configuration version reported with every answer, so a client can tell which configuration
    /// produced it (the snapshot decides which counter this is).
    pub version: i64,
    /// The type of the values served.
    pub value_type: ValueType,
    /// Served to units that get the flag.
    pub on: OnValue,
    /// Served when the flag is off in the environment and to units outside the rollout.
    pub off_value: Value,
}

impl FlagConfig {
    /// A boolean flag: on is `true`, off is `false`.
    pub fn boolean(key: FlagKey, version: i64) -> Self {
        Self {
            key,
            archived: false,
            version,
            value_type: ValueType::Boolean,
            on: OnValue::Fixed(Value::Bool(true)),
            off_value: Value::Bool(false),
        }
    }
}

/// A flag's state in one environment.
#[derive(Debug, Clone)]
pub struct EnvConfig {
    /// `false` is the kill switch: the off value for everybody, before any override.
    pub enabled: bool,
    /// Served when nothing else applies.
    pub default_value: Value,
    /// Values forced for customers, by customer id.
    pub customer_overrides: HashMap<String, Value>,
    /// Values forced for organizations, by organization id.
    pub organization_overrides: HashMap<String, Value>,
    /// Flags that must be on (or off) for this one to be served, checked in order.
    pub prerequisites: Vec<Prerequisite>,
    /// The targeting rules, in order; the first that takes a unit answers.
    pub rules: Vec<CompiledRule>,
    /// The rollout, if the flag has one in this environment.
    pub rollout: Option<RolloutConfig>,
}

impl EnvConfig {
    /// A state with no override and no rollout.
    pub fn new(enabled: bool, default_value: Value) -> Self {
        Self {
            enabled,
            default_value,
            customer_overrides: HashMap::new(),
            organization_overrides: HashMap::new(),
            prerequisites: Vec::new(),
            rules: Vec::new(),
            rollout: None,
        }
    }

    /// Whether the default value is the answer for every context, which decides its reason: `STATIC`
    /// ("the value is static, no dynamic evaluation", OpenFeature) when there is no override and no rollout
    /// that serves anything; `DEFAULT` ("fell back to the default") when some other context could have
    /// been targeted or bucketed but this one was not.
    pub fn is_static(&self) -> bool {
        self.customer_overrides.is_empty()
            && self.organization_overrides.is_empty()
            && self.prerequisites.is_empty()
            && self.rules.is_empty()
            && self.rollout.as_ref().is_none_or(|r| r.serving_percent().is_none() && !r.allow_list_applies())
    }
}

/// Why a flag answered as it did, spelt as OpenFeature's reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// The environment's default, and nothing could have answered otherwise for any context.
    Static,
    /// The environment's default, after overrides and the rollout did not apply to this context.
    Default,
    /// An override or the allow-list picked this context.
    TargetingMatch,
    /// The rollout's bucketing decided, in or out.
    Split,
    /// The flag is off in this environment.
    Disabled,
    /// A flag this one requires is not as required, so this one serves its off value.
    PrerequisiteFailed,
}

impl Reason {
    /// Every reason, in declaration order (the discriminant is the index).
    pub const ALL: [Reason; 6] =
        [Self::Static, Self::Default, Self::TargetingMatch, Self::Split, Self::Disabled, Self::PrerequisiteFailed];

    /// The OpenFeature spelling, e.g. `TARGETING_MATCH`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "STATIC",
            Self::Default => "DEFAULT",
            Self::TargetingMatch => "TARGETING_MATCH",
            Self::Split => "SPLIT",
            Self::Disabled => "DISABLED",
            Self::PrerequisiteFailed => "PREREQUISITE_FAILED",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One flag's answer for one context, borrowing from the configuration it came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evaluation<'a> {
    /// The value to use.
    pub value: &'a Value,
    /// The variant's key when the value came from weighted variants.
    pub variant: Option<&'a str>,
    /// Why this value.
    pub reason: Reason,
    /// The flag's configuration version.
    pub version: i64,
    /// What decided the answer.
    pub decided_by: DecidedBy<'a>,
}

/// What decided an answer, for "Evaluate for..." and the APIs' metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecidedBy<'a> {
    /// The kill switch.
    Disabled,
    /// This required flag was not as required.
    Prerequisite { flag: &'a str },
    /// An override for the customer.
    CustomerOverride,
    /// An override for the organization.
    OrganizationOverride,
    /// The rollout's allow-list.
    AllowList,
    /// A targeting rule: its 1-based position, its name and the segments it uses.
    Rule { position: usize, name: &'a str, segments: &'a [String] },
    /// The rollout's bucketing, in or out.
    Rollout,
    /// Nothing else applied: the environment's default.
    Default,
}

impl DecidedBy<'_> {
    /// The kind as spelt in answers: `rule`, `customer_override`, `default`...
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Prerequisite { .. } => "prerequisite",
            Self::CustomerOverride => "customer_override",
            Self::OrganizationOverride => "organization_override",
            Self::AllowList => "allow_list",
            Self::Rule { .. } => "rule",
            Self::Rollout => "rollout",
            Self::Default => "default",
        }
    }
}

/// The flags of one environment, as prerequisites look them up.
pub trait FlagLookup {
    /// The flag under `key` and its state in the environment, if the environment has it.
    fn find(&self, key: &str) -> Option<(&FlagConfig, &EnvConfig)>;
}

/// No other flags: every prerequisite fails. For evaluating a flag on its own, in tests and benches.
pub struct NoFlags;

impl FlagLookup for NoFlags {
    fn find(&self, _key: &str) -> Option<(&FlagConfig, &EnvConfig)> {
        None
    }
}

impl<S: std::hash::BuildHasher> FlagLookup for HashMap<String, (FlagConfig, EnvConfig), S> {
    fn find(&self, key: &str) -> Option<(&FlagConfig, &EnvConfig)> {
        self.get(key).map(|(f, e)| (f, e))
    }
}

/// Why a flag could not be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// No flag has this key in this environment, or it is archived.
    #[error("flag not found")]
    FlagNotFound,
}

impl EvalError {
    /// The OpenFeature error code, e.g. `FLAG_NOT_FOUND`.
    pub fn code(self) -> &'static str {
        match self {
            Self::FlagNotFound => "FLAG_NOT_FOUND",
        }
    }
}

/// Evaluates one flag for one context. `found` is what the snapshot holds under the requested key for the
/// requested environment, `None` if nothing; `flags` finds the flags its prerequisites name.
pub fn evaluate<'a>(
    found: Option<(&'a FlagConfig, &'a EnvConfig)>,
    ctx: &EvalContext,
    flags: &dyn FlagLookup,
) -> Result<Evaluation<'a>, EvalError> {
    evaluate_at(found, ctx, flags, 0)
}

fn evaluate_at<'a>(
    found: Option<(&'a FlagConfig, &'a EnvConfig)>,
    ctx: &EvalContext,
    flags: &dyn FlagLookup,
    depth: usize,
) -> Result<Evaluation<'a>, EvalError> {
    let Some((flag, env)) = found else {
        return Err(EvalError::FlagNotFound);
    };
    if flag.archived {
        return Err(EvalError::FlagNotFound);
    }
    let answer =
        |value, variant, reason, decided_by| Evaluation { value, variant, reason, version: flag.version, decided_by };
    if !env.enabled {
        return Ok(answer(&flag.off_value, None, Reason::Disabled, DecidedBy::Disabled));
    }
    if let Some(failed) = env.prerequisites.iter().find(|p| !prerequisite_holds(p, ctx, flags, depth)) {
        let by = DecidedBy::Prerequisite { flag: failed.flag.as_str() };
        return Ok(answer(&flag.off_value, None, Reason::PrerequisiteFailed, by));
    }
    if let Some(value) = ctx.customer_id.as_deref().and_then(|id| env.customer_overrides.get(id)) {
        return Ok(answer(value, None, Reason::TargetingMatch, DecidedBy::CustomerOverride));
    }
    if let Some(value) = ctx.organization_id.as_deref().and_then(|id| env.organization_overrides.get(id)) {
        return Ok(answer(value, None, Reason::TargetingMatch, DecidedBy::OrganizationOverride));
    }
    let rollout = env.rollout.as_ref();
    let rollout_unit = rollout.and_then(|r| ctx.stickiness_value(&r.stickiness));
    if rollout.is_some_and(|r| r.allows(ctx)) {
        let (value, variant) = on_value(flag, rollout_unit);
        return Ok(answer(value, variant, Reason::TargetingMatch, DecidedBy::AllowList));
    }
    if let Some(rule) = env.rules.iter().find(|rule| rule.takes(flag.key.as_str(), ctx)) {
        let (value, variant) = match &rule.served {
            Served::On => on_value(flag, ctx.stickiness_value(&rule.stickiness)),
            Served::Off => (&flag.off_value, None),
            Served::Fixed(value, variant) => (value, variant.as_deref()),
        };
        let reason = if rule.percent.is_some() { Reason::Split } else { Reason::TargetingMatch };
        let by = DecidedBy::Rule { position: rule.position, name: &rule.name, segments: &rule.when.segment_keys };
        return Ok(answer(value, variant, reason, by));
    }
    if let Some(rollout) = rollout.filter(|r| r.audience.as_ref().is_none_or(|a| a.holds(ctx))) {
        if let Some(percent) = rollout.serving_percent() {
            // A unit without a stickiness value has no bucket of its own. It is taken to sit in the last
            // bucket, so it is out below 100% and in at 100%: a completed rollout serves everybody, and
            // the rule stays monotonic.
            let is_in = match rollout_unit {
                Some(value) => is_in(flag.key.as_str(), value, percent),
                None => percent == Percent::HUNDRED,
            };
            let (value, variant) = if is_in { on_value(flag, rollout_unit) } else { (&flag.off_value, None) };
            return Ok(answer(value, variant, Reason::Split, DecidedBy::Rollout));
        }
    }
    let reason = if env.is_static() { Reason::Static } else { Reason::Default };
    Ok(answer(&env.default_value, None, reason, DecidedBy::Default))
}

/// Whether a required flag is as required for this context. A flag that is missing, archived or too deep
/// in a chain (cycles are refused when written; this bounds the work if one slipped through) fails.
fn prerequisite_holds(p: &Prerequisite, ctx: &EvalContext, flags: &dyn FlagLookup, depth: usize) -> bool {
    if depth >= limits::PREREQUISITE_DEPTH {
        return false;
    }
    let Some(found @ (required, _)) = flags.find(&p.flag) else {
        return false;
    };
    match evaluate_at(Some(found), ctx, flags, depth + 1) {
        Ok(answer) => p.satisfied_by(answer.is_on(&required.off_value), answer.variant),
        Err(_) => false,
    }
}

impl Evaluation<'_> {
    /// Whether the flag is on for the context, as prerequisites mean it: served (not disabled, its own
    /// prerequisites held) and serving something other than its off value.
    pub fn is_on(&self, off_value: &Value) -> bool {
        !matches!(self.reason, Reason::Disabled | Reason::PrerequisiteFailed) && self.value != off_value
    }
}

fn on_value<'a>(flag: &'a FlagConfig, unit: Option<&str>) -> (&'a Value, Option<&'a str>) {
    match &flag.on {
        OnValue::Fixed(value) => (value, None),
        OnValue::Variants(variants) => {
            let variant = variants.pick(flag.key.as_str(), unit);
            (&variant.value, Some(variant.key.as_str()))
        }
    }
}
