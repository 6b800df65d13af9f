//! The evaluation hot path, pure: one flag for one context, and all 1,000 flags of an environment for one
//! context. No I/O; this is what every API request spends per flag. `cargo bench -p app --bench evaluate`.
//!
//! Unleash's own engine, Yggdrasil, evaluates the same flags for the same context in the same run (its
//! cheapest call, `is_enabled`, which answers a bare boolean), so the ratio holds from day to day even when
//! this shared machine's absolute figures move. Before timing anything the two engines must agree on every
//! flag for a thousand users: the same murmur3 buckets, the same answers.
#![allow(clippy::unwrap_used)]

use app::domain::evaluation::RolloutStatus;
use app::domain::targeting::{
    compile_rules, CompiledSegment, Constraint, ContextField, FlagShape, Operator, Segments, Serve, TargetingRule,
};
use app::domain::{
    evaluate, EnvConfig, EvalContext, FlagConfig, FlagKey, KeyMap, NoFlags, Percent, RolloutConfig, Stickiness,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use std::sync::Arc;
use unleash_yggdrasil::{ClientFeatures, Context, EngineState, UpdateMessage};

/// 1,000 boolean flags: a third plain on, a third off, a third in an active rollout at 25% by customer,
/// every tenth with an organization override. Held in the map the server's snapshot looks flags up in.
fn environment() -> (KeyMap<(FlagConfig, EnvConfig)>, Vec<String>) {
    let mut flags = KeyMap::default();
    let mut keys = Vec::new();
    for i in 0..1000 {
        let key = format!("flag_{i:04}");
        let flag = FlagConfig::boolean(FlagKey::parse(&key).unwrap(), 42);
        let mut env = EnvConfig::new(i % 3 != 1, json!(true));
        if i % 3 == 2 {
            env.rollout = Some(RolloutConfig {
                status: RolloutStatus::Active,
                percent: Percent::parse("25").unwrap(),
                stickiness: Stickiness::CustomerId,
                allow_customers: Default::default(),
                allow_organizations: Default::default(),
                audience: None,
            });
        }
        if i % 10 == 0 {
            env.organization_overrides.insert("org-7".into(), json!(false));
        }
        keys.push(key.clone());
        flags.insert(key, (flag, env));
    }
    (flags, keys)
}

/// The same 1,000 flags for Yggdrasil: on with no strategy, off, or a 25% `flexibleRollout` by user id
/// grouped by the flag's key (as Rollgate buckets). Rollgate's organization overrides (every tenth flag, for
/// an organization the context is not in) have no counterpart: they change no answer here, and only cost
/// Rollgate a lookup.
fn unleash_engine(keys: &[String]) -> EngineState {
    let features: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| match i % 3 {
            0 => json!({"name": key, "enabled": true, "strategies": []}),
            1 => json!({"name": key, "enabled": false, "strategies": []}),
            _ => json!({"name": key, "enabled": true, "strategies": [{
                "name": "flexibleRollout",
                "parameters": {"rollout": "25", "stickiness": "userId", "groupId": key}
            }]}),
        })
        .collect();
    let features: ClientFeatures = serde_json::from_value(json!({"version": 2, "features": features})).unwrap();
    let engine = EngineState::default();
    let warnings = engine.take_state(UpdateMessage::FullResponse(features));
    assert!(warnings.unwrap_or_default().is_empty(), "Yggdrasil refused part of the configuration");
    engine
}

fn unleash_context(user_id: &str) -> Context {
    Context {
        user_id: Some(user_id.into()),
        session_id: None,
        environment: None,
        app_name: None,
        current_time: None,
        remote_address: None,
        properties: None,
    }
}

fn side_by_side(c: &mut Criterion) {
    let (flags, keys) = environment();
    let unleash = unleash_engine(&keys);
    for user in 0..1000 {
        let id = format!("cust-{user:04}");
        let ctx =
            EvalContext { customer_id: Some(id.clone()), organization_id: Some("org-3".into()), ..Default::default() };
        let theirs = unleash_context(&id);
        for key in &keys {
            let ours =
                evaluate(flags.get(key.as_str()).map(|(f, e)| (f, e)), &ctx, &NoFlags).unwrap().value == &json!(true);
            assert_eq!(ours, unleash.is_enabled(key, &theirs, &None), "{key} for {id}");
        }
    }
    let ctx = EvalContext {
        customer_id: Some("cust-0042".into()),
        organization_id: Some("org-3".into()),
        ..Default::default()
    };
    let theirs = unleash_context("cust-0042");
    let rollout_flag = "flag_0002";

    let mut one = c.benchmark_group("one flag (active rollout) for one context");
    one.bench_function("Rollgate", |b| {
        b.iter(|| {
            let found = flags.get(black_box(rollout_flag)).map(|(f, e)| (f, e));
            evaluate(found, black_box(&ctx), &NoFlags).map(|a| a.reason)
        })
    });
    one.bench_function("Unleash Yggdrasil", |b| {
        b.iter(|| unleash.is_enabled(black_box(rollout_flag), black_box(&theirs), &None))
    });
    one.finish();

    let mut all = c.benchmark_group("all 1,000 flags for one context");
    all.bench_function("Rollgate", |b| {
        b.iter(|| {
            let mut on = 0usize;
            for key in &keys {
                let found = flags.get(key.as_str()).map(|(f, e)| (f, e));
                if let Ok(answer) = evaluate(found, black_box(&ctx), &NoFlags) {
                    on += usize::from(answer.value == &json!(true));
                }
            }
            on
        })
    });
    all.bench_function("Unleash Yggdrasil", |b| {
        b.iter(|| keys.iter().filter(|key| unleash.is_enabled(key, black_box(&theirs), &None)).count())
    });
    all.finish();
}

/// The three constraints of a typical rule: a plan, a minimum app version and a region. `n` of them.
fn constraints(n: usize) -> Vec<Constraint> {
    let all = [
        ("plan", Operator::In, vec!["enterprise", "business"]),
        ("app_version", Operator::SemverGte, vec!["2.3.0"]),
        ("region", Operator::In, vec!["eu-west", "eu-central"]),
    ];
    all.into_iter()
        .take(n)
        .map(|(field, op, values)| {
            Constraint::new(ContextField::parse(field).unwrap(), op, values.into_iter().map(str::to_owned).collect())
        })
        .collect()
}

/// A boolean flag, off by default, with `rules` rules of `n` constraints each serving on (the last one
/// is the one that holds for the context below), and the same as an Unleash feature with one strategy per
/// rule.
fn flag_with_rules(key: &str, rules: usize, n: usize, segments: &Segments) -> ((FlagConfig, EnvConfig), Value) {
    let flag = FlagConfig::boolean(FlagKey::parse(key).unwrap(), 1);
    let list: Vec<TargetingRule> = (0..rules)
        .map(|i| {
            let mut constraints = constraints(n);
            if i + 1 < rules {
                // Earlier rules fail on their last constraint, so every constraint of every rule runs.
                if let Some(last) = constraints.last_mut() {
                    last.values = vec!["nowhere".into()];
                }
            }
            TargetingRule {
                name: format!("rule {i}"),
                constraints,
                segments: Vec::new(),
                serve: Serve::On,
                percent: None,
                stickiness: Stickiness::CustomerId,
            }
        })
        .collect();
    let mut env = EnvConfig::new(true, json!(false));
    env.rules = compile_rules(&list, FlagShape { value_type: flag.value_type, variants: None }, segments).unwrap();
    let strategies: Vec<Value> = list
        .iter()
        .map(|rule| {
            let constraints: Vec<Value> = rule
                .constraints
                .iter()
                .map(|c| {
                    // Unleash takes one `value` for the operators that compare with one, a list otherwise.
                    let mut constraint = json!({"contextName": c.field.as_str(), "operator": c.operator.as_str()});
                    if c.operator.takes_one_value() {
                        constraint["value"] = json!(c.values[0]);
                    } else {
                        constraint["values"] = json!(c.values);
                    }
                    constraint
                })
                .collect();
            json!({"name": "default", "parameters": {}, "constraints": constraints})
        })
        .collect();
    ((flag, env), json!({"name": key, "enabled": true, "strategies": strategies}))
}

fn engine_of(features: Vec<Value>) -> EngineState {
    let features: ClientFeatures = serde_json::from_value(json!({"version": 2, "features": features})).unwrap();
    let engine = EngineState::default();
    let warnings = engine.take_state(UpdateMessage::FullResponse(features)).unwrap_or_default();
    assert!(warnings.is_empty(), "Yggdrasil refused part of the configuration: {warnings:?}");
    engine
}

fn rules(c: &mut Criterion) {
    let none = Segments::new();
    let mut ctx = EvalContext { customer_id: Some("cust-0042".into()), ..Default::default() };
    for (k, v) in [("plan", "enterprise"), ("app_version", "2.4.1"), ("region", "eu-west")] {
        ctx.attributes.insert(k.into(), v.into());
    }
    let mut theirs = unleash_context("cust-0042");
    theirs.properties = Some(ctx.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect());

    for n in [1, 3] {
        let ((flag, env), feature) = flag_with_rules("checkout", 1, n, &none);
        let unleash = engine_of(vec![feature]);
        assert_eq!(evaluate(Some((&flag, &env)), &ctx, &NoFlags).unwrap().value, &json!(true));
        assert!(unleash.is_enabled("checkout", &theirs, &None));
        let mut group = c.benchmark_group(format!("one flag, one rule of {n} constraint(s)"));
        group.bench_function("Rollgate", |b| {
            b.iter(|| evaluate(Some((black_box(&flag), &env)), black_box(&ctx), &NoFlags).map(|a| a.reason))
        });
        group.bench_function("Unleash Yggdrasil", |b| {
            b.iter(|| unleash.is_enabled(black_box("checkout"), black_box(&theirs), &None))
        });
        group.finish();
    }

    let mut flags: KeyMap<(FlagConfig, EnvConfig)> = KeyMap::default();
    let mut features = Vec::new();
    for i in 0..1000 {
        let key = format!("flag_{i:04}");
        let (entry, feature) = flag_with_rules(&key, 2, 3, &none);
        flags.insert(key, entry);
        features.push(feature);
    }
    let unleash = engine_of(features);
    let keys: Vec<String> = flags.keys().cloned().collect();
    let mut all = c.benchmark_group("1,000 flags of two 3-constraint rules, one context");
    all.bench_function("Rollgate", |b| {
        b.iter(|| {
            keys.iter()
                .filter(|key| {
                    let found = flags.get(key.as_str()).map(|(f, e)| (f, e));
                    evaluate(found, black_box(&ctx), &NoFlags).is_ok_and(|a| a.value == &json!(true))
                })
                .count()
        })
    });
    all.bench_function("Unleash Yggdrasil", |b| {
        b.iter(|| keys.iter().filter(|key| unleash.is_enabled(key, black_box(&theirs), &None)).count())
    });
    all.finish();

    // A segment of many customer keys is one set lookup: the time stays flat from 10 to 10,000 keys.
    let mut segment = c.benchmark_group("a rule with a segment of N customer keys");
    for size in [10, 1_000, 10_000] {
        let keys: Vec<String> = (0..size).map(|i| format!("cust-{i:05}")).collect();
        let constraint = Constraint::new(ContextField::CustomerId, Operator::In, keys);
        let segments: Segments =
            [("vip".to_owned(), Arc::new(CompiledSegment::compile("vip", &[constraint]).unwrap()))]
                .into_iter()
                .collect();
        let flag = FlagConfig::boolean(FlagKey::parse("vip-only").unwrap(), 1);
        let rule = TargetingRule {
            name: "vip".into(),
            constraints: Vec::new(),
            segments: vec!["vip".into()],
            serve: Serve::On,
            percent: None,
            stickiness: Stickiness::CustomerId,
        };
        let mut env = EnvConfig::new(true, json!(false));
        env.rules =
            compile_rules(&[rule], FlagShape { value_type: flag.value_type, variants: None }, &segments).unwrap();
        let member = EvalContext { customer_id: Some("cust-00007".into()), ..Default::default() };
        assert_eq!(evaluate(Some((&flag, &env)), &member, &NoFlags).unwrap().value, &json!(true));
        segment.bench_function(format!("{size} keys"), |b| {
            b.iter(|| evaluate(Some((black_box(&flag), &env)), black_box(&member), &NoFlags).map(|a| a.reason))
        });
    }
    segment.finish();
}

criterion_group!(benches, side_by_side, rules);
criterion_main!(benches);
