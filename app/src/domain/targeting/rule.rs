//! Segments, targeting rules and rollout audiences: lists of constraints that must all hold, as written
//! (serde, stored as JSON) and as compiled for evaluation.

use super::super::bucketing::is_in;
use super::super::percent::Percent;
use super::super::variant::Variants;
use super::super::{InvalidValue, Stickiness, ValueType};
use super::constraint::{Constraint, Matcher};
use super::{limits, EvalContext};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// A segment's key: how rules, audiences and files name it. Same characters as a flag key.
pub fn parse_segment_key(raw: &str) -> Result<String, InvalidValue> {
    let key = super::super::FlagKey::parse(raw)
        .map_err(|e| InvalidValue::new("key", e.message.replace("the key", "the segment key")))?;
    Ok(key.as_str().to_owned())
}

/// A named, reusable AND of constraints, compiled: shared by every rule and audience that uses it, so
/// one edit changes all of them in the next snapshot.
#[derive(Debug)]
pub struct CompiledSegment {
    pub key: String,
    constraints: Vec<Matcher>,
}

impl CompiledSegment {
    /// Compiles a segment's constraints; `key` is checked by the caller.
    pub fn compile(key: &str, constraints: &[Constraint]) -> Result<Self, InvalidValue> {
        let constraints = compile_all(constraints, &format!("segment {key}"))?;
        Ok(Self { key: key.to_owned(), constraints })
    }

    /// Every constraint holds (an empty segment holds for everybody).
    pub fn holds(&self, ctx: &EvalContext) -> bool {
        self.constraints.iter().all(|c| c.holds(ctx))
    }
}

/// The segments of the configuration, compiled, by key.
pub type Segments = HashMap<String, Arc<CompiledSegment>>;

fn compile_all(constraints: &[Constraint], at: &str) -> Result<Vec<Matcher>, InvalidValue> {
    if constraints.len() > limits::CONSTRAINTS {
        return Err(InvalidValue::new(
            "constraints",
            format!("{at}: {} constraints; the limit is {}", constraints.len(), limits::CONSTRAINTS),
        ));
    }
    constraints.iter().enumerate().map(|(i, c)| c.compile(&format!("{at}, constraint {}", i + 1))).collect()
}

fn resolve_segments(keys: &[String], segments: &Segments, at: &str) -> Result<Vec<Arc<CompiledSegment>>, InvalidValue> {
    if keys.len() > limits::SEGMENTS_PER_RULE {
        return Err(InvalidValue::new(
            "segments",
            format!("{at}: {} segments; the limit is {}", keys.len(), limits::SEGMENTS_PER_RULE),
        ));
    }
    keys.iter()
        .map(|key| {
            segments
                .get(key)
                .cloned()
                .ok_or_else(|| InvalidValue::new("segments", format!("{at}: there is no segment {key:?}")))
        })
        .collect()
}

/// Who a rule or an audience applies to: every constraint and every segment must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Constraints written for this rule alone.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// Keys of segments, each of which must hold too.
    #[serde(default)]
    pub segments: Vec<String>,
}

impl Condition {
    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty() && self.segments.is_empty()
    }

    /// Checks and compiles, resolving segment keys against `segments`.
    pub fn compile(&self, segments: &Segments, at: &str) -> Result<CompiledCondition, InvalidValue> {
        compile_condition(&self.constraints, &self.segments, segments, at)
    }
}

fn compile_condition(
    constraints: &[Constraint],
    keys: &[String],
    segments: &Segments,
    at: &str,
) -> Result<CompiledCondition, InvalidValue> {
    Ok(CompiledCondition {
        constraints: compile_all(constraints, at)?,
        segments: resolve_segments(keys, segments, at)?,
        segment_keys: keys.to_vec(),
    })
}

/// A [`Condition`] compiled.
#[derive(Debug, Clone)]
pub struct CompiledCondition {
    constraints: Vec<Matcher>,
    segments: Vec<Arc<CompiledSegment>>,
    /// The segments' keys, reported with an answer a rule decided.
    pub segment_keys: Vec<String>,
}

impl CompiledCondition {
    /// Every constraint and every segment holds. The rule's own constraints are tried first: they are
    /// usually the cheaper and more selective part.
    pub fn holds(&self, ctx: &EvalContext) -> bool {
        self.constraints.iter().all(|c| c.holds(ctx)) && self.segments.iter().all(|s| s.holds(ctx))
    }
}

/// What a rule serves to the units it matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Serve {
    /// What the flag serves when on: `true`, or a variant picked by weight.
    On,
    /// The flag's off value: "not for these customers".
    Off,
    /// One variant of the flag, by key.
    Variant { key: String },
    /// One value, of the flag's type.
    Value { value: Value },
}

impl Serve {
    /// As people read it: "on", "off", "variant blue", "the value 5".
    pub fn describe(&self) -> String {
        match self {
            Serve::On => "on".to_owned(),
            Serve::Off => "off".to_owned(),
            Serve::Variant { key } => format!("variant {key}"),
            Serve::Value { value } => format!("the value {value}"),
        }
    }
}

/// A targeting rule of one flag in one environment, as written and stored. Unknown fields are refused, so a
/// misspelt `segments` cannot silently widen a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TargetingRule {
    /// A short name, unique among the flag's rules in the environment ("enterprise", "beta testers"),
    /// reported with every answer the rule decides.
    pub name: String,
    /// Constraints written for this rule alone; all must hold.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// Keys of segments, each of which must hold too.
    #[serde(default)]
    pub segments: Vec<String>,
    pub serve: Serve,
    /// Serve only this share of the matching units, bucketed as rollouts are; the others go on to the next
    /// rule. Absent: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<f64>, example = 10.0))]
    pub percent: Option<Percent>,
    /// What units are bucketed by for `percent` and weighted variants; the customer id by default.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = String, example = "customer_id"))]
    pub stickiness: Stickiness,
}

impl TargetingRule {
    /// The longest rule name accepted.
    pub const MAX_NAME_LEN: usize = 100;
}

/// What a flag needs to know about itself to check a rule's `serve`.
#[derive(Debug, Clone, Copy)]
pub struct FlagShape<'a> {
    pub value_type: ValueType,
    pub variants: Option<&'a Variants>,
}

/// Checks a flag's rules in one environment: names, limits, what they serve against the flag's type
/// and variants, and every constraint and segment. Returns them compiled, in order.
pub fn compile_rules(
    rules: &[TargetingRule],
    flag: FlagShape<'_>,
    segments: &Segments,
) -> Result<Vec<CompiledRule>, InvalidValue> {
    if rules.len() > limits::RULES {
        return Err(InvalidValue::new(
            "rules",
            format!("{} rules; a flag takes at most {} in one environment", rules.len(), limits::RULES),
        ));
    }
    let mut compiled = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let name = rule.name.trim();
        let at = format!("rule {} ({name})", i + 1);
        let bad = |field: &'static str, message: String| InvalidValue::new(field, format!("{at}: {message}"));
        if name.is_empty() {
            return Err(InvalidValue::new("rules", format!("rule {} has no name", i + 1)));
        }
        if name.chars().count() > TargetingRule::MAX_NAME_LEN {
            return Err(bad("name", format!("the name is longer than {} characters", TargetingRule::MAX_NAME_LEN)));
        }
        if rules[..i].iter().any(|earlier| earlier.name.trim() == name) {
            return Err(bad("name", "another rule has this name; names tell rules apart in every answer".to_owned()));
        }
        let served = match &rule.serve {
            Serve::On => Served::On,
            Serve::Off => Served::Off,
            Serve::Variant { key } => {
                let variant = flag
                    .variants
                    .and_then(|v| v.as_slice().iter().find(|v| &v.key == key))
                    .ok_or_else(|| bad("serve", format!("the flag has no variant {key:?}")))?;
                Served::Fixed(variant.value.clone(), Some(variant.key.clone()))
            }
            Serve::Value { value } => {
                if !flag.value_type.accepts(value) {
                    return Err(bad("serve", format!("{value} is not a {} value", flag.value_type)));
                }
                Served::Fixed(value.clone(), None)
            }
        };
        compiled.push(CompiledRule {
            name: name.to_owned(),
            position: i + 1,
            when: compile_condition(&rule.constraints, &rule.segments, segments, &at)?,
            served,
            percent: rule.percent.filter(|p| *p != Percent::HUNDRED),
            stickiness: rule.stickiness.clone(),
        });
    }
    Ok(compiled)
}

/// A rule compiled for evaluation.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub name: String,
    /// 1-based, as the flag page numbers rules.
    pub position: usize,
    pub when: CompiledCondition,
    pub served: Served,
    /// Below 100%, if set.
    pub percent: Option<Percent>,
    pub stickiness: Stickiness,
}

/// What a compiled rule serves.
#[derive(Debug, Clone)]
pub enum Served {
    On,
    Off,
    /// A value, and the variant's key when it is one of the flag's variants.
    Fixed(Value, Option<String>),
}

impl CompiledRule {
    /// Whether this rule takes the unit: the condition holds and, with a percentage, the unit's bucket is
    /// below it. A unit with no stickiness value is outside any share below 100%, as in rollouts.
    pub fn takes(&self, flag_key: &str, ctx: &EvalContext) -> bool {
        if !self.when.holds(ctx) {
            return false;
        }
        match self.percent {
            None => true,
            Some(percent) => ctx.stickiness_value(&self.stickiness).is_some_and(|unit| is_in(flag_key, unit, percent)),
        }
    }
}

/// A rollout's audience as written: only units it holds for take part; the others get the default.
pub type Audience = Condition;
