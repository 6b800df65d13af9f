//! Property tests of the guardrail decision, the histogram and the ingest folding.

use super::*;
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

fn histogram() -> impl Strategy<Value = CohortStats> {
    (prop::array::uniform12(0u64..500), 0u64..100).prop_map(|(buckets, untimed)| {
        let timed: u64 = buckets.iter().sum();
        let requests = timed + untimed;
        CohortStats { requests, errors: requests / 7, buckets, latency_sum_ms: timed as f64 * 42.0 }
    })
}

fn cohort_kind() -> impl Strategy<Value = GuardrailKind> {
    prop::sample::select(vec![
        GuardrailKind::ErrorRate,
        GuardrailKind::LatencyP95,
        GuardrailKind::LatencyP99,
        GuardrailKind::ErrorRateIncrease,
        GuardrailKind::LatencyRegression,
    ])
}

fn spec(kind: GuardrailKind, threshold: f64, min_samples: u64) -> GuardrailSpec {
    GuardrailSpec::new(kind, threshold, 5, min_samples)
}

proptest! {
    /// Too few treatment requests is never a breach, whatever the figures say.
    #[test]
    fn fewer_requests_than_the_minimum_never_act(
        kind in cohort_kind(), treatment in histogram(), baseline in histogram(), extra in 1u64..1000,
    ) {
        let spec = spec(kind, 0.0001, treatment.requests + extra);
        let decision = decide(&spec, &Observation::Cohorts { treatment, baseline: Some(baseline) });
        prop_assert_eq!(decision.status, GuardrailStatus::InsufficientData);
        prop_assert_eq!(rollout_verdict(&[spec], &[decision]), RolloutVerdict::Continue);
    }

    /// A breach means enough samples and a figure strictly above the threshold; healthy means at or below.
    #[test]
    fn breach_exactly_when_above_the_threshold(
        kind in cohort_kind(), treatment in histogram(), baseline in histogram(),
        threshold in 0.01f64..100.0, min_samples in 0u64..200,
    ) {
        let spec = spec(kind, threshold, min_samples);
        let decision = decide(&spec, &Observation::Cohorts { treatment, baseline: Some(baseline) });
        match decision.status {
            GuardrailStatus::Breached => {
                prop_assert!(decision.samples >= min_samples);
                prop_assert!(decision.observed.unwrap() > threshold);
            }
            GuardrailStatus::Healthy => prop_assert!(decision.observed.unwrap() <= threshold),
            GuardrailStatus::InsufficientData => prop_assert!(decision.observed.is_none()),
            GuardrailStatus::SourceDown => prop_assert!(false, "no source was down"),
        }
    }

    /// More errors never turn a breach of the error rate back into health.
    #[test]
    fn error_rate_decisions_are_monotonic_in_errors(
        requests in 1u64..5000, errors in 0u64..5000, more in 0u64..5000, threshold in 0.0f64..100.0,
    ) {
        let errors = errors.min(requests);
        let more_errors = (errors + more).min(requests);
        let stats = |errors| CohortStats { requests, errors, ..CohortStats::default() };
        let spec = spec(GuardrailKind::ErrorRate, threshold, 1);
        let before = decide(&spec, &Observation::Cohorts { treatment: stats(errors), baseline: None });
        let after = decide(&spec, &Observation::Cohorts { treatment: stats(more_errors), baseline: None });
        if before.status == GuardrailStatus::Breached {
            prop_assert_eq!(after.status, GuardrailStatus::Breached);
        }
    }

    /// A source that is down freezes the rollout and never acts on its own.
    #[test]
    fn a_source_down_alone_only_freezes(count in 1usize..6, down in 0usize..6) {
        let down = down % count;
        let specs: Vec<GuardrailSpec> = (0..count).map(|_| spec(GuardrailKind::ErrorRate, 1.0, 10)).collect();
        let decisions: Vec<Decision> = specs.iter().enumerate().map(|(i, spec)| {
            let observation = if i == down {
                Observation::SourceDown("refused".into())
            } else {
                Observation::Query(Some(0.5))
            };
            decide(spec, &observation)
        }).collect();
        prop_assert_eq!(rollout_verdict(&specs, &decisions), RolloutVerdict::Freeze { down: vec![down] });
    }

    /// Percentiles rise with q and stay within the histogram's range.
    #[test]
    fn percentiles_are_monotonic_and_bounded(stats in histogram(), a in 0.0f64..=1.0, b in 0.0f64..=1.0) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        match (stats.percentile_ms(low), stats.percentile_ms(high)) {
            (Some(p_low), Some(p_high)) => {
                prop_assert!(p_low <= p_high + 1e-9, "p{low} = {p_low} > p{high} = {p_high}");
                prop_assert!((0.0..=10000.0).contains(&p_low) && (0.0..=10000.0).contains(&p_high));
            }
            (None, None) => prop_assert_eq!(stats.timed(), 0),
            other => prop_assert!(false, "{other:?}"),
        }
    }

    /// The p-quantile of two periods together lies between the periods' own (the CDFs average).
    #[test]
    fn combined_percentiles_lie_between_the_parts(a in histogram(), b in histogram(), q in 0.01f64..=1.0) {
        prop_assume!(a.timed() > 0 && b.timed() > 0);
        let mut both = a;
        both.add(&b);
        let (pa, pb, p) = (a.percentile_ms(q).unwrap(), b.percentile_ms(q).unwrap(), both.percentile_ms(q).unwrap());
        prop_assert!(pa.min(pb) - 1e-6 <= p && p <= pa.max(pb) + 1e-6, "{pa} {pb} -> {p}");
    }

    /// Folding a batch per minute keeps every request and error.
    #[test]
    fn folding_keeps_the_totals(
        parts in prop::collection::vec((0u8..3, 0u8..2, 0i64..600, 0u64..1000, 0u64..1000), 1..40),
    ) {
        let now: DateTime<Utc> = "2026-11-21T22:10:30Z".parse().unwrap();
        let samples: Vec<MetricSample> = parts.iter().map(|&(flag, cohort, seconds_ago, requests, errors)| {
            MetricSample {
                flag: format!("flag-{flag}"),
                environment: None,
                cohort: if cohort == 0 { "treatment".into() } else { "control".into() },
                at: Some(now - TimeDelta::seconds(seconds_ago)),
                requests,
                errors: errors.min(requests),
                latency_buckets: None,
                latency_sum_ms: 0.0,
            }
        }).collect();
        let env = crate::domain::EnvKey::parse("production").unwrap();
        let batch = MetricBatch { batch_id: "p".into(), samples: samples.clone(), gauges: vec![] };
        let valid = validate_batch(&batch, Some(&env), now).unwrap().fold(&Cuts::default());
        let requests: u64 = valid.minutes.iter().map(|row| row.stats.requests).sum();
        let errors: u64 = valid.minutes.iter().map(|row| row.stats.errors).sum();
        prop_assert_eq!(requests, samples.iter().map(|s| s.requests).sum::<u64>());
        prop_assert_eq!(errors, samples.iter().map(|s| s.errors).sum::<u64>());
        prop_assert!(valid.minutes.len() <= 3 * 2 * 11);
        for row in &valid.minutes {
            prop_assert_eq!(row.minute.timestamp() % 60, 0);
        }
    }
}
