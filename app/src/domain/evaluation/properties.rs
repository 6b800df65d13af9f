//! Property tests: the invariants DESIGN.md promises, over generated flags, ids and percentages.

use super::tests::{customer, flag, member, rollout};
use super::*;
use crate::domain::bucketing::{bucket, is_in};
use crate::domain::variant::Variant;
use proptest::prelude::*;
use serde_json::json;

fn flag_key() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,40}"
}

/// Ids of any printable text, including none at all and non-ASCII.
fn id() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn percent() -> impl Strategy<Value = Percent> {
    (0..=Percent::MAX_BASIS_POINTS).prop_map(|bp| Percent::from_basis_points(bp).unwrap())
}

fn status() -> impl Strategy<Value = RolloutStatus> {
    prop::sample::select(RolloutStatus::ALL)
}

fn three_variants() -> Variants {
    let variant = |key: &str, weight| Variant { key: key.to_owned(), value: json!(key), weight };
    Variants::parse(vec![variant("control", 50), variant("blue", 30), variant("green", 20)]).unwrap()
}

/// Any state of a flag in an environment, over a small pool of ids so that overrides and allow-lists hit.
fn env_config() -> impl Strategy<Value = EnvConfig> {
    let ids = || prop::collection::hash_set(prop::sample::select(vec!["c1", "c2", "o1", "o2"]), 0..3);
    (any::<bool>(), status(), percent(), ids(), ids(), ids(), ids(), prop::bool::ANY).prop_map(
        |(enabled, status, percent, cust_over, org_over, allow_c, allow_o, by_org)| EnvConfig {
            enabled,
            prerequisites: Vec::new(),
            rules: Vec::new(),
            default_value: json!("default"),
            customer_overrides: cust_over
                .into_iter()
                .map(|id| (id.to_owned(), json!(format!("forced {id}"))))
                .collect(),
            organization_overrides: org_over
                .into_iter()
                .map(|id| (id.to_owned(), json!(format!("forced {id}"))))
                .collect(),
            rollout: Some(RolloutConfig {
                status,
                percent,
                stickiness: if by_org { Stickiness::OrganizationId } else { Stickiness::CustomerId },
                allow_customers: allow_c.into_iter().map(str::to_owned).collect(),
                allow_organizations: allow_o.into_iter().map(str::to_owned).collect(),
                audience: None,
            }),
        },
    )
}

fn is_on(flag: &FlagConfig, env: &EnvConfig, ctx: &EvalContext) -> bool {
    evaluate(Some((flag, env)), ctx, &NoFlags).unwrap().value == &json!(true)
}

proptest! {
    #[test]
    fn a_unit_in_at_one_percentage_is_in_at_every_higher_one(key in flag_key(), id in id(), p in percent(), q in percent()) {
        let (low, high) = if p <= q { (p, q) } else { (q, p) };
        prop_assert!(!is_in(&key, &id, low) || is_in(&key, &id, high));
    }

    #[test]
    fn zero_percent_selects_nobody_and_100_percent_everybody(key in flag_key(), id in id()) {
        let flag = flag(&key);
        let at = |bp| EnvConfig { rollout: Some(rollout(RolloutStatus::Active, bp)), ..EnvConfig::new(true, json!(false)) };
        prop_assert!(!is_on(&flag, &at(0), &customer(&id)));
        prop_assert!(is_on(&flag, &at(10_000), &customer(&id)));
        prop_assert!(is_on(&flag, &at(10_000), &EvalContext::default()));
    }

    #[test]
    fn rolling_back_and_advancing_again_brings_back_the_same_customers(
        key in flag_key(),
        ids in prop::collection::vec(id(), 1..40),
        target in percent(),
        detour in prop::collection::vec((status(), percent()), 0..6),
    ) {
        let flag = flag(&key);
        let env_at = |status, p: Percent| EnvConfig {
            rollout: Some(rollout(status, p.basis_points())),
            ..EnvConfig::new(true, json!(false))
        };
        let before: Vec<bool> = ids.iter().map(|id| is_on(&flag, &env_at(RolloutStatus::Active, target), &customer(id))).collect();
        // Any walk through other states, a full rollback included, leaves nothing behind...
        let mut walk = detour.clone();
        walk.push((RolloutStatus::RolledBack, Percent::ZERO));
        for (status, p) in walk {
            for id in &ids {
                is_on(&flag, &env_at(status, p), &customer(id));
            }
        }
        // ...so coming back to the same percentage gives the same customers.
        let after: Vec<bool> = ids.iter().map(|id| is_on(&flag, &env_at(RolloutStatus::Active, target), &customer(id))).collect();
        prop_assert_eq!(before, after);
    }

    #[test]
    fn changing_one_flag_never_moves_another_flags_customers(
        a_before in env_config(),
        a_after in env_config(),
        b in env_config(),
        contexts in prop::collection::vec((prop::sample::select(vec!["c1", "c2", "c3"]), prop::sample::select(vec!["o1", "o2", "o3"])), 1..10),
    ) {
        // A tiny snapshot of two flags; only flag A's configuration changes between the two.
        let (flag_a, flag_b) = (flag("a"), FlagConfig { on: OnValue::Variants(three_variants()), ..flag("b") });
        let snapshot = |a: &EnvConfig| vec![(flag_a.clone(), a.clone()), (flag_b.clone(), b.clone())];
        let (before, after) = (snapshot(&a_before), snapshot(&a_after));
        let evaluate_b = |snapshot: &[(FlagConfig, EnvConfig)], ctx: &EvalContext| {
            let found = snapshot.iter().find(|(f, _)| f.key.as_str() == "b").map(|(f, e)| (f, e));
            evaluate(found, ctx, &NoFlags).map(|answer| (answer.value.clone(), answer.variant.map(str::to_owned), answer.reason))
        };
        for (c, o) in contexts {
            let ctx = member(c, o);
            prop_assert_eq!(evaluate_b(&before, &ctx), evaluate_b(&after, &ctx));
        }
    }

    #[test]
    fn overrides_and_the_allow_list_win_in_the_stated_order(env in env_config(), c in prop::sample::select(vec!["c1", "c2", "c3"]), o in prop::sample::select(vec!["o1", "o2", "o3"])) {
        let flag = flag("ordered");
        let ctx = member(c, o);
        let answer = evaluate(Some((&flag, &env)), &ctx, &NoFlags).unwrap();
        let rollout = env.rollout.as_ref().unwrap();
        let allowed = rollout.allow_list_applies() && (rollout.allow_customers.contains(c) || rollout.allow_organizations.contains(o));
        let unit = if rollout.stickiness == Stickiness::OrganizationId { o } else { c };
        let (value, reason) = if !env.enabled {
            (json!(false), Reason::Disabled)
        } else if env.customer_overrides.contains_key(c) {
            (json!(format!("forced {c}")), Reason::TargetingMatch)
        } else if env.organization_overrides.contains_key(o) {
            (json!(format!("forced {o}")), Reason::TargetingMatch)
        } else if allowed {
            (json!(true), Reason::TargetingMatch)
        } else if let Some(p) = rollout.serving_percent() {
            (json!(is_in("ordered", unit, p)), Reason::Split)
        } else if env.customer_overrides.is_empty() && env.organization_overrides.is_empty() {
            (json!("default"), Reason::Static)
        } else {
            (json!("default"), Reason::Default)
        };
        prop_assert_eq!((answer.value, answer.reason), (&value, reason));
    }

    #[test]
    fn changing_the_percentage_never_changes_a_customers_variant(key in flag_key(), id in id(), p in percent(), q in percent()) {
        let flag = FlagConfig { on: OnValue::Variants(three_variants()), value_type: ValueType::String, ..flag(&key) };
        let at = |p: Percent| EnvConfig {
            rollout: Some(rollout(RolloutStatus::Active, p.basis_points())),
            ..EnvConfig::new(true, json!("control"))
        };
        let (env_p, env_q) = (at(p), at(q));
        let ctx = customer(&id);
        let (at_p, at_q) = (evaluate(Some((&flag, &env_p)), &ctx, &NoFlags).unwrap(), evaluate(Some((&flag, &env_q)), &ctx, &NoFlags).unwrap());
        if let (Some(variant_p), Some(variant_q)) = (at_p.variant, at_q.variant) {
            prop_assert_eq!(variant_p, variant_q);
        }
        // Whoever is in gets a variant; an empty id has no bucket and is in only at 100%.
        let in_at_p = if id.is_empty() { p == Percent::HUNDRED } else { is_in(&key, &id, p) };
        prop_assert_eq!(at_p.variant.is_some(), in_at_p);
    }
}

/// A fixed, seeded generator (SplitMix64), so that the statistical tests below are the same on every run.
fn ids(count: usize, seed: u64) -> Vec<String> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            format!("{:016x}", z ^ (z >> 31))
        })
        .collect()
}

#[test]
fn ten_percent_lets_in_between_9_5_and_10_5_percent_of_100_000_ids() {
    let ids = ids(100_000, 2026);
    let ten = Percent::parse("10").unwrap();
    let inside = ids.iter().filter(|id| is_in("new-checkout", id, ten)).count();
    // Binomial(100000, 0.1) has a standard deviation of about 95, so the ±500 band is over five of them.
    assert!((9_500..=10_500).contains(&inside), "{inside} of 100000 ids are in at 10%");
}

#[test]
fn fine_percentages_cut_as_finely_as_whole_ones() {
    // 0.25% of 100,000 is 250 (σ ≈ 16): finer steps are real steps, not rounded to whole percentages.
    let ids = ids(100_000, 7);
    let inside = ids.iter().filter(|id| is_in("f", id, Percent::parse("0.25").unwrap())).count();
    assert!((170..=330).contains(&inside), "{inside} of 100000 ids are in at 0.25%");
}

#[test]
fn two_flags_at_50_percent_pick_unrelated_halves() {
    // If buckets ignored the flag key, the same customers would get every new feature first. With
    // independent buckets about a quarter of the ids are in both (σ ≈ 61 for 20,000 ids).
    let ids = ids(20_000, 11);
    let both = ids.iter().filter(|id| bucket("flag-a", id) < 5_000 && bucket("flag-b", id) < 5_000).count();
    assert!((4_600..=5_400).contains(&both), "{both} of 20000 ids are in both flags");
}
