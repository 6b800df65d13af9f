//! Golden vectors: bucketing and variants checked, row by row, against values computed outside Rollgate.
//!
//! `testdata/bucketing_golden.json` was produced once by `testdata/gen_golden.py` with Python's `mmh3`
//! package (5.3.1, C bindings to Austin Appleby's MurmurHash3_x86_32), not by this crate's murmur3; its
//! header says exactly how. Regenerate it only if the bucketing rule itself is meant to change, which
//! would move customers between buckets in every running rollout.

use super::*;
use crate::domain::evaluation::{
    evaluate, EnvConfig, EvalContext, FlagConfig, NoFlags, OnValue, RolloutConfig, RolloutStatus, Stickiness,
};
use crate::domain::variant::{Variant, Variants};
use crate::domain::FlagKey;
use serde::Deserialize;
use serde_json::json;

const GOLDEN: &str = include_str!("../testdata/bucketing_golden.json");

/// flag_key, id, basis_points, hash (seed 0), bucket, in, variant: the file's `columns`.
type Row = (String, String, u16, u32, u16, bool, String);

#[derive(Deserialize)]
struct Golden {
    bucket_seed: u32,
    variant_seed: u32,
    variants: Vec<(String, u32)>,
    rows: Vec<Row>,
}

fn golden() -> Golden {
    serde_json::from_str(GOLDEN).expect("the golden file is valid JSON of the expected shape")
}

#[test]
fn the_golden_file_covers_every_kind_of_case() {
    let golden = golden();
    assert_eq!((golden.bucket_seed, golden.variant_seed), (BUCKET_SEED, VARIANT_SEED));
    let rows = &golden.rows;
    assert!(rows.len() >= 1_000, "{} rows", rows.len());
    let count = |keep: &dyn Fn(&Row) -> bool| rows.iter().filter(|r| keep(r)).count();
    assert!(count(&|r| r.2 == 0) > 0 && count(&|r| r.2 == 10_000) > 0);
    assert!(count(&|r| r.2 % 100 == 0 && r.2 != 0 && r.2 != 10_000) > 100, "whole percentages");
    assert!(count(&|r| r.2 % 100 != 0) > 100, "0.01% steps");
    assert!(count(&|r| r.1.is_empty()) > 0, "an empty id");
    assert!(count(&|r| !r.1.is_ascii()) > 100, "non-ASCII ids");
    assert!(count(&|r| r.5) > 100 && count(&|r| !r.5) > 100, "both answers");
}

#[test]
fn every_golden_row_has_the_same_hash_bucket_and_answer() {
    for (flag_key, id, basis_points, hash, expected_bucket, expected_in, _) in golden().rows {
        let row = format!("{flag_key:?} {id:?} at {basis_points} bp");
        assert_eq!(murmur3_x86_32(format!("{flag_key}:{id}").as_bytes(), BUCKET_SEED), hash, "{row}");
        assert_eq!(unit_hash(&flag_key, &id, BUCKET_SEED), hash, "{row}");
        assert_eq!(bucket(&flag_key, &id), expected_bucket, "{row}");
        let percent = Percent::from_basis_points(basis_points).unwrap();
        assert_eq!(is_in(&flag_key, &id, percent), expected_in, "{row}");
    }
}

#[test]
fn every_golden_row_evaluates_to_its_answer_and_variant() {
    let golden = golden();
    let list =
        golden.variants.iter().map(|(key, weight)| Variant { key: key.clone(), value: json!(key), weight: *weight });
    let variants = Variants::parse(list.collect()).unwrap();
    for (flag_key, id, basis_points, _, _, expected_in, expected_variant) in golden.rows {
        let row = format!("{flag_key:?} {id:?} at {basis_points} bp");
        assert_eq!(variants.pick(&flag_key, Some(&id)).key, expected_variant, "{row}");

        let flag = FlagConfig {
            on: OnValue::Variants(variants.clone()),
            off_value: json!("off"),
            ..FlagConfig::boolean(FlagKey::parse(&flag_key).unwrap(), 1)
        };
        let env = EnvConfig {
            rollout: Some(RolloutConfig {
                status: RolloutStatus::Active,
                percent: Percent::from_basis_points(basis_points).unwrap(),
                stickiness: Stickiness::CustomerId,
                allow_customers: Default::default(),
                allow_organizations: Default::default(),
                audience: None,
            }),
            ..EnvConfig::new(true, json!("default"))
        };
        let ctx = EvalContext { customer_id: Some(id.clone()), ..EvalContext::default() };
        let answer = evaluate(Some((&flag, &env)), &ctx, &NoFlags).unwrap();
        // An empty id is no id: evaluation lets it in only at 100% (see `evaluate`), with the first variant.
        let (expected_in, expected_variant) = if id.is_empty() {
            (basis_points == 10_000, golden.variants[0].0.as_str())
        } else {
            (expected_in, expected_variant.as_str())
        };
        let expected = expected_in.then_some(expected_variant);
        assert_eq!(answer.variant, expected, "{row}");
    }
}
