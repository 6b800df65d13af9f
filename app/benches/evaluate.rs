//! The evaluation hot path, pure: one flag for one context, and all 1,000 flags of an environment for one
//! context. No I/O; this is what every API request spends per flag. `cargo bench -p app --bench evaluate`.
#![allow(clippy::unwrap_used)]

use app::domain::evaluation::RolloutStatus;
use app::domain::{evaluate, EnvConfig, EvalContext, FlagConfig, FlagKey, Percent, RolloutConfig, Stickiness};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;
use std::collections::HashMap;

/// 1,000 boolean flags: a third plain on, a third off, a third in an active rollout at 25% by customer,
/// every tenth with an organization override.
fn environment() -> (HashMap<String, (FlagConfig, EnvConfig)>, Vec<String>) {
    let mut flags = HashMap::new();
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

fn bench(c: &mut Criterion) {
    let (flags, keys) = environment();
    let ctx = EvalContext {
        customer_id: Some("cust-0042".into()),
        organization_id: Some("org-3".into()),
        attributes: Default::default(),
    };
    let rollout_flag = "flag_0002";

    c.bench_function("one flag (active rollout) for one context", |b| {
        b.iter(|| {
            let found = flags.get(black_box(rollout_flag)).map(|(f, e)| (f, e));
            evaluate(found, black_box(&ctx)).map(|a| a.reason)
        })
    });
    c.bench_function("all 1,000 flags for one context", |b| {
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
