//! The evaluation hot path, pure: one flag for one context, and all 1,000 flags of an environment for one
//! context. No I/O; this is what every API request spends per flag. `cargo bench -p app --bench evaluate`.
//!
//! Unleash's own engine, Yggdrasil, evaluates the same flags for the same context in the same run (its
//! cheapest call, `is_enabled`, which answers a bare boolean), so the ratio holds from day to day even when
//! this shared machine's absolute figures move. Before timing anything the two engines must agree on every
//! flag for a thousand users: the same murmur3 buckets, the same answers.
#![allow(clippy::unwrap_used)]

use app::domain::evaluation::RolloutStatus;
use app::domain::{evaluate, EnvConfig, EvalContext, FlagConfig, FlagKey, KeyMap, Percent, RolloutConfig, Stickiness};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;
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
            let ours = evaluate(flags.get(key.as_str()).map(|(f, e)| (f, e)), &ctx).unwrap().value == &json!(true);
            assert_eq!(ours, unleash.is_enabled(key, &theirs, &None), "{key} for {id}");
        }
    }
    let ctx = EvalContext {
        customer_id: Some("cust-0042".into()),
        organization_id: Some("org-3".into()),
        attributes: Default::default(),
    };
    let theirs = unleash_context("cust-0042");
    let rollout_flag = "flag_0002";

    let mut one = c.benchmark_group("one flag (active rollout) for one context");
    one.bench_function("Rollgate", |b| {
        b.iter(|| {
            let found = flags.get(black_box(rollout_flag)).map(|(f, e)| (f, e));
            evaluate(found, black_box(&ctx)).map(|a| a.reason)
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
                if let Ok(answer) = evaluate(found, black_box(&ctx)) {
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

criterion_group!(benches, side_by_side);
criterion_main!(benches);
