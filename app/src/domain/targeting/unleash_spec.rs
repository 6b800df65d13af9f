//! Unleash's client specification, run through Rollgate's evaluator: every case of the constraint,
//! segment, dependent-feature, regular-expression and address-range files (vendored in
//! `testdata/unleash-client-specification`, Apache-2.0).
//!
//! Each Unleash feature is translated into what a team would write in Rollgate: a strategy becomes a
//! targeting rule (its constraints, its segments, `userWithId` as `customer_id IN [...]`, what it serves),
//! a disabled feature is the kill switch, a feature without strategies is on by default, a dependency is a
//! prerequisite. Unleash's `userId` is the customer id, `currentTime` the evaluation's time, every other
//! field an attribute. The translation goes through the same checks as the write path
//! ([`compile_rules`], [`check_prerequisites`], [`find_cycle`]), so a configuration Rollgate would refuse
//! is refused here too.
//!
//! Every case must agree, or be in [`DEVIATIONS`] with the reason; an entry there that no case needs fails
//! the test too, so the list stays exact. The README's "Targeting" section repeats it.

use super::super::evaluation::{evaluate, EnvConfig, EvalContext, FlagConfig, OnValue};
use super::super::variant::{Variant, Variants};
use super::super::{FlagKey, Stickiness, ValueType};
use super::{
    check_prerequisites, compile_rules, find_cycle, CompiledSegment, Constraint, ContextField, FlagShape, Prerequisite,
    Segments, Serve, TargetingRule,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// The files the test runs, all from the specification's `specifications/` folder.
const FILES: [(&str, &str); 8] = [
    ("09-strategy-constraints", include_str!("../testdata/unleash-client-specification/09-strategy-constraints.json")),
    (
        "11-strategy-constraints-edge-cases",
        include_str!("../testdata/unleash-client-specification/11-strategy-constraints-edge-cases.json"),
    ),
    ("13-constraint-operators", include_str!("../testdata/unleash-client-specification/13-constraint-operators.json")),
    (
        "14-constraint-semver-operators",
        include_str!("../testdata/unleash-client-specification/14-constraint-semver-operators.json"),
    ),
    ("15-global-constraints", include_str!("../testdata/unleash-client-specification/15-global-constraints.json")),
    ("17-dependent-features", include_str!("../testdata/unleash-client-specification/17-dependent-features.json")),
    (
        "21-regex-constraint-operators",
        include_str!("../testdata/unleash-client-specification/21-regex-constraint-operators.json"),
    ),
    (
        "22-cidr-constraint-operators",
        include_str!("../testdata/unleash-client-specification/22-cidr-constraint-operators.json"),
    ),
];

/// Where Rollgate answers differently, by feature, and why. "Refused" means Rollgate will not store the
/// configuration (the write path answers 422 naming the rule and field) where Unleash stores it and
/// evaluates the bad part as never matching (or, for lists, skips it). "Differs" is a deliberate
/// difference in what a stored configuration means.
pub const DEVIATIONS: [(&str, &str); 16] = [
    ("F7.invalid-operator", "refused: NOT_A_VALID_OPERATOR is not an operator; Unleash answers off"),
    ("invalid-regex-defaults-to-false", "refused: \"(regex\" does not compile; Unleash answers off"),
    ("R90.reject_lookahead", "refused: look-around is not supported (matching stays linear); Unleash answers off"),
    ("R91.reject_backreference", "refused: backreferences are not supported (matching stays linear); Unleash answers off"),
    ("CIDR.mixed.values", "refused: \"127.invalid\" is not an address range; Unleash skips it and matches the rest"),
    ("CIDR.invalid.only", "refused: \"127.invalid\" is not an address range; Unleash answers off"),
    ("CIDR.ipv6.mixed.values", "refused: \"bad::cidr\" is not an address range; Unleash skips it and matches the rest"),
    ("F8.invalidSemverWithLeadingV", "refused: \"v2.0.0\" is not a semantic version; Unleash answers off"),
    ("F9.withMissingSegment", "refused: the rule names a segment that does not exist; Unleash answers off"),
    ("parents.not.exist.child.enabled", "refused: the prerequisite names a flag that does not exist; Unleash answers off"),
    ("child.with.cycle", "refused: the prerequisites form a cycle (child.with.cycle -> parent.with.cycle -> child.with.cycle); Unleash answers off"),
    (
        "parent.default.variant.child.enabled",
        "refused: the prerequisite asks for variant \"disabled\" of a boolean flag, which has no variants; Unleash calls a flag without variants \"disabled\"",
    ),
    ("parent.disabled.child.expects.disabled.variant", "refused: as above, variant \"disabled\" of a boolean flag; Unleash answers off"),
    (
        "parent.multiple.variants.child.enabled",
        "refused: the prerequisite names a variant the flag does not have (nonmatching.variant); Unleash ignores it and answers on",
    ),
    (
        "parent.non.matching.variant.child.enabled",
        "refused: the prerequisite names a variant the flag does not have (nonmatching.variant); Unleash answers off",
    ),
    (
        "child.with.transitive.dependency",
        "differs: Rollgate follows chains of prerequisites (up to 16 deep), so the child is on; Unleash allows one level and answers off",
    ),
];

#[derive(Deserialize)]
struct Spec {
    state: State,
    tests: Vec<Case>,
    #[serde(rename = "variantTests", default)]
    variant_tests: Vec<VariantCase>,
}

#[derive(Deserialize)]
struct State {
    features: Vec<Feature>,
    #[serde(default)]
    segments: Vec<SpecSegment>,
}

#[derive(Deserialize)]
struct SpecSegment {
    id: i64,
    constraints: Vec<SpecConstraint>,
}

#[derive(Deserialize)]
struct Feature {
    name: String,
    enabled: bool,
    #[serde(default)]
    strategies: Vec<Strategy>,
    #[serde(default)]
    dependencies: Option<Vec<Dependency>>,
    #[serde(default)]
    variants: Option<Vec<SpecVariant>>,
}

#[derive(Deserialize)]
struct Strategy {
    name: String,
    #[serde(default)]
    parameters: Option<HashMap<String, Value>>,
    #[serde(default)]
    constraints: Option<Vec<SpecConstraint>>,
    #[serde(default)]
    segments: Option<Vec<i64>>,
    #[serde(default)]
    variants: Option<Vec<SpecVariant>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecConstraint {
    context_name: String,
    operator: String,
    #[serde(default)]
    values: Option<Vec<String>>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    inverted: bool,
    #[serde(default)]
    case_insensitive: bool,
}

#[derive(Deserialize)]
struct SpecVariant {
    name: String,
    weight: u32,
    #[serde(default)]
    stickiness: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
}

#[derive(Deserialize)]
struct Dependency {
    feature: String,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    variants: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    description: String,
    context: Value,
    toggle_name: String,
    expected_result: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantCase {
    description: String,
    context: Value,
    toggle_name: String,
    expected_result: ExpectedVariant,
}

#[derive(Deserialize)]
struct ExpectedVariant {
    name: String,
    feature_enabled: bool,
}

fn field(name: &str) -> ContextField {
    match name {
        "userId" => ContextField::CustomerId,
        "currentTime" => ContextField::CurrentTime,
        other => ContextField::parse(other).expect("the specification's field names are attribute names"),
    }
}

fn stickiness(name: Option<&str>) -> Stickiness {
    match name {
        None | Some("default") | Some("userId") => Stickiness::CustomerId,
        Some(other) => Stickiness::Attribute(other.to_owned()),
    }
}

fn context(raw: &Value) -> EvalContext {
    let mut ctx = EvalContext::default();
    let Some(object) = raw.as_object() else { return ctx };
    for (key, value) in object {
        match (key.as_str(), value) {
            ("userId", Value::String(id)) => ctx.customer_id = Some(id.clone()),
            ("currentTime", Value::String(at)) => {
                ctx.current_time =
                    Some(chrono::DateTime::parse_from_rfc3339(at).expect("a time in the specification").into())
            }
            ("properties", Value::Object(properties)) => {
                for (name, value) in properties {
                    if let Value::String(value) = value {
                        ctx.attributes.insert(name.clone(), value.clone());
                    }
                }
            }
            (name, Value::String(value)) => {
                ctx.attributes.insert(name.to_owned(), value.clone());
            }
            _ => {}
        }
    }
    ctx
}

/// Why a feature could not be stored in Rollgate: the message the write path would answer with.
type Refused = String;

fn constraint(raw: &SpecConstraint) -> Result<Constraint, Refused> {
    let operator = raw.operator.parse().map_err(|e: super::super::InvalidValue| e.message)?;
    let values = match (&raw.values, &raw.value) {
        (Some(values), _) => values.clone(),
        (None, Some(value)) => vec![value.clone()],
        (None, None) => Vec::new(),
    };
    Ok(Constraint {
        field: field(&raw.context_name),
        operator,
        values,
        inverted: raw.inverted,
        case_insensitive: raw.case_insensitive,
    })
}

fn segment_key(id: i64) -> String {
    format!("segment-{id}")
}

/// One environment's flags, as a team would have set them up in Rollgate; `Err` for a feature it would
/// have refused.
struct Translated {
    flags: HashMap<String, (FlagConfig, EnvConfig)>,
    refused: HashMap<String, Refused>,
}

fn translate(state: &State) -> Translated {
    let mut segments = Segments::new();
    for segment in &state.segments {
        let constraints: Vec<Constraint> =
            segment.constraints.iter().map(constraint).collect::<Result<_, _>>().expect("valid segments");
        let key = segment_key(segment.id);
        segments.insert(key.clone(), Arc::new(CompiledSegment::compile(&key, &constraints).expect("valid segments")));
    }
    let known: HashSet<&str> = state.features.iter().map(|f| f.name.as_str()).collect();
    // Prerequisites of every feature, for the cycle check the write path makes.
    let graph: BTreeMap<String, Vec<String>> = state
        .features
        .iter()
        .map(|f| (f.name.clone(), f.dependencies.iter().flatten().map(|d| d.feature.clone()).collect()))
        .collect();
    let mut flags = HashMap::new();
    let mut refused = HashMap::new();
    for feature in &state.features {
        match translate_feature(feature, &segments, &known, &graph, state) {
            Ok(flag) => {
                flags.insert(feature.name.clone(), flag);
            }
            Err(why) => {
                refused.insert(feature.name.clone(), why);
            }
        }
    }
    Translated { flags, refused }
}

fn translate_feature(
    feature: &Feature,
    segments: &Segments,
    known: &HashSet<&str>,
    graph: &BTreeMap<String, Vec<String>>,
    state: &State,
) -> Result<(FlagConfig, EnvConfig), Refused> {
    let key = FlagKey::parse(&feature.name).map_err(|e| e.message)?;
    // Every variant the feature or one of its strategies serves becomes one of the flag's variants.
    let mut variants: Vec<Variant> = Vec::new();
    let mut variant_stickiness = None;
    for v in
        feature.variants.iter().flatten().chain(feature.strategies.iter().flat_map(|s| s.variants.iter().flatten()))
    {
        if variants.iter().all(|known| known.key != v.name) {
            let value = v.payload.as_ref().and_then(|p| p.get("value")).cloned().unwrap_or(json!(v.name));
            variants.push(Variant { key: v.name.clone(), value, weight: v.weight.max(1) });
        }
        variant_stickiness = variant_stickiness.or(v.stickiness.clone());
    }
    let mut flag = FlagConfig::boolean(key, 1);
    let variants = if variants.is_empty() {
        None
    } else {
        let parsed = Variants::parse(variants).map_err(|e| e.message)?;
        flag.value_type = ValueType::String;
        flag.on = OnValue::Variants(parsed.clone());
        flag.off_value = Value::Null;
        Some(parsed)
    };

    let mut rules = Vec::new();
    for (i, strategy) in feature.strategies.iter().enumerate() {
        let mut constraints: Vec<Constraint> =
            strategy.constraints.iter().flatten().map(constraint).collect::<Result<_, _>>()?;
        let segments = strategy.segments.iter().flatten().map(|id| segment_key(*id)).collect();
        let parameters = strategy.parameters.clone().unwrap_or_default();
        let text = |name: &str| parameters.get(name).and_then(Value::as_str).map(str::to_owned);
        match strategy.name.as_str() {
            "default" => {}
            "userWithId" => {
                let ids = text("userIds").unwrap_or_default();
                let ids = ids.split(',').map(|id| id.trim().to_owned()).filter(|id| !id.is_empty()).collect();
                constraints.push(Constraint::new(ContextField::CustomerId, super::Operator::In, ids));
            }
            "flexibleRollout" => {
                // Only whole rollouts occur in these files: a share below 100% with a group id other than
                // the flag's key would bucket differently (Rollgate hashes the flag key).
                assert_eq!(text("rollout").as_deref(), Some("100"), "{}: a partial rollout", feature.name);
            }
            other => panic!("{}: the strategy {other} does not occur in the constraint files", feature.name),
        }
        let serve = match strategy.variants.as_deref() {
            Some([only]) => Serve::Variant { key: only.name.clone() },
            Some([]) | None => Serve::On,
            Some(_) => panic!("{}: several strategy variants do not occur in these files", feature.name),
        };
        rules.push(TargetingRule {
            name: format!("strategy {}", i + 1),
            constraints,
            segments,
            serve,
            percent: None,
            stickiness: stickiness(variant_stickiness.as_deref()),
        });
    }
    let shape = FlagShape { value_type: flag.value_type, variants: variants.as_ref() };
    let compiled = compile_rules(&rules, shape, segments).map_err(|e| e.message)?;

    let prerequisites: Vec<Prerequisite> = feature
        .dependencies
        .iter()
        .flatten()
        .map(|d| Prerequisite {
            flag: d.feature.clone(),
            on: d.enabled.unwrap_or(true),
            variants: d.variants.clone().unwrap_or_default(),
        })
        .collect();
    check_prerequisites(&feature.name, &prerequisites).map_err(|e| e.message)?;
    for p in &prerequisites {
        // What the write path checks against the stored flags: the flag exists, and has the variants.
        if !known.contains(p.flag.as_str()) {
            return Err(format!("there is no flag {:?}", p.flag));
        }
        let parent = state.features.iter().find(|f| f.name == p.flag).expect("known");
        let parent_variants: HashSet<&str> = parent
            .variants
            .iter()
            .flatten()
            .chain(parent.strategies.iter().flat_map(|s| s.variants.iter().flatten()))
            .map(|v| v.name.as_str())
            .collect();
        if let Some(missing) = p.variants.iter().find(|v| !parent_variants.contains(v.as_str())) {
            return Err(format!("{} has no variant {missing:?}", p.flag));
        }
    }
    let requires: Vec<String> = prerequisites.iter().map(|p| p.flag.clone()).collect();
    if let Some(cycle) = find_cycle(&feature.name, &requires, graph) {
        return Err(format!("the prerequisites form a cycle: {}", cycle.join(" -> ")));
    }
    // A feature without strategies is on for everybody; with strategies, on only where one matches.
    let default = if feature.strategies.is_empty() { json!(true) } else { flag.off_value.clone() };
    let mut env = EnvConfig::new(feature.enabled, default);
    env.rules = compiled;
    env.prerequisites = prerequisites;
    Ok((flag, env))
}

enum Outcome {
    Agrees,
    Refused(Refused),
    Differs(String),
}

#[test]
fn every_case_of_unleash_s_client_specification_agrees_or_is_a_listed_deviation() {
    let deviations: HashMap<&str, &str> = DEVIATIONS.into_iter().collect();
    let mut used: HashSet<String> = HashSet::new();
    let mut failures = Vec::new();
    let (mut agreed, mut total) = (0, 0);
    for (file, text) in FILES {
        let spec: Spec = serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let translated = translate(&spec.state);
        let cases =
            spec.tests.iter().map(|c| (&c.description, &c.context, &c.toggle_name, c.expected_result, None)).chain(
                spec.variant_tests.iter().map(|c| {
                    let expected = &c.expected_result;
                    (&c.description, &c.context, &c.toggle_name, expected.feature_enabled, Some(expected.name.as_str()))
                }),
            );
        for (description, raw_context, toggle, expected_on, expected_variant) in cases {
            total += 1;
            let ctx = context(raw_context);
            let outcome = match translated.refused.get(toggle.as_str()) {
                Some(why) => Outcome::Refused(format!("refused ({why}); Unleash answers on={expected_on}")),
                None => {
                    let found = translated.flags.get(toggle.as_str()).map(|(f, e)| (f, e));
                    let (on, variant) = match evaluate(found, &ctx, &translated.flags) {
                        Ok(answer) => {
                            let (flag, _) = found.expect("evaluated");
                            (answer.is_on(&flag.off_value), answer.variant.map(str::to_owned))
                        }
                        // Unleash answers off for a feature it does not have.
                        Err(_) => (false, None),
                    };
                    let variant_agrees = match expected_variant {
                        None => true,
                        Some("disabled") => variant.is_none(),
                        Some(name) => variant.as_deref() == Some(name),
                    };
                    if on == expected_on && variant_agrees {
                        Outcome::Agrees
                    } else {
                        Outcome::Differs(format!(
                            "Rollgate answers on={on} variant={variant:?}, Unleash on={expected_on} variant={expected_variant:?}"
                        ))
                    }
                }
            };
            match outcome {
                Outcome::Agrees => agreed += 1,
                Outcome::Refused(why) | Outcome::Differs(why) => match deviations.get(toggle.as_str()) {
                    Some(_) => {
                        used.insert(toggle.clone());
                    }
                    None => failures.push(format!("{file}: {toggle}: {description}: {why}")),
                },
            }
        }
    }
    let unused: Vec<&str> = DEVIATIONS.iter().map(|(k, _)| *k).filter(|k| !used.contains(*k)).collect();
    assert!(failures.is_empty(), "cases that disagree with Unleash:\n{}", failures.join("\n"));
    assert!(unused.is_empty(), "deviations no case needs any more (remove them): {unused:?}");
    // The figures the README quotes.
    println!("{agreed} of {total} cases agree; the rest are the {} listed deviations", DEVIATIONS.len());
    assert!(agreed >= 150, "only {agreed} of {total} cases ran and agreed");
}
