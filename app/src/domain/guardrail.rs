//! Guardrails, as plain data and pure functions: what applications report (the ingest batch and its
//! validation), the latency histogram and the figures read from it, what a guardrail watches, and the
//! worker's decision. The worker (`server/src/workers/guardrails.rs`) loads the figures, calls [`decide`]
//! and [`rollout_verdict`], stores what they return, and acts through the rollouts service.

mod decision;
mod histogram;
mod ingest;
mod spec;

#[cfg(test)]
mod properties;

pub use decision::{
    decide, healthy_for_soak, rollout_verdict, Decision, GuardrailHealth, GuardrailStatus, Observation, RolloutVerdict,
};
pub use histogram::{bucket_for, CohortStats, BUCKETS, BUCKET_BOUNDS_MS};
pub use ingest::{
    validate_batch, BatchError, Cohort, Cuts, FoldedBatch, GaugeRow, GaugeSample, MetricBatch, MetricSample, MinuteRow,
    TimedGauge, TimedSample, ValidBatch, MAX_BATCH_ITEMS, MAX_SAMPLE_AGE, MAX_SAMPLE_SKEW,
};
pub use spec::{
    format_number, watches_stage, Baseline, GuardrailAction, GuardrailKind, GuardrailSpec, MetricSource,
    PrometheusQuery, MAX_WINDOW_MINUTES,
};

use crate::domain::rollout::Template;

/// The guardrails each template ships with, from our users' canary rules: error rate under 1%, p99 under
/// 500 ms, an error-rate rise under 5 points over baseline, a latency regression under 15%. They watch every
/// stage; each can be edited or removed, and stages can get stricter ones.
///
/// - **Five tiers** and **Canary**: all four against the control cohort, rolling back. Windows of 5 minutes
///   (10 for the comparisons, which need both cohorts), at least 100 (200) requests.
/// - **Two steps**: the same absolute limits over 15 minutes, and the regression over the hour before the
///   start, pausing rather than rolling back: in a 24-hour soak a slow drift is a question for a person.
pub fn template_guardrails(template: Template) -> Vec<GuardrailSpec> {
    use GuardrailKind::*;
    let with = |kind, threshold, window, samples, baseline: Option<Baseline>, action| GuardrailSpec {
        baseline,
        action,
        ..GuardrailSpec::new(kind, threshold, window, samples)
    };
    let control = Some(Baseline::Control);
    let rollback = GuardrailAction::Rollback;
    match template {
        Template::FiveTier | Template::Canary => vec![
            with(ErrorRate, 1.0, 5, 100, None, rollback),
            with(LatencyP99, 500.0, 5, 100, None, rollback),
            with(ErrorRateIncrease, 5.0, 10, 200, control, rollback),
            with(LatencyRegression, 15.0, 10, 200, control, rollback),
        ],
        Template::TwoStep => vec![
            with(ErrorRate, 1.0, 15, 200, None, rollback),
            with(LatencyP99, 500.0, 15, 200, None, rollback),
            with(ErrorRateIncrease, 5.0, 15, 200, control, rollback),
            with(LatencyRegression, 15.0, 60, 500, Some(Baseline::PreRollout), GuardrailAction::Pause),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_ships_valid_guardrails_on_all_four_figures() {
        for &template in Template::ALL {
            let specs = template_guardrails(template);
            assert_eq!(specs.len(), 4, "{template}");
            for spec in &specs {
                assert_eq!(spec.validate(), Ok(()), "{template}: {}", spec.describe());
            }
            let error_rate = specs.iter().find(|s| s.kind == GuardrailKind::ErrorRate).unwrap();
            assert_eq!(error_rate.threshold, 1.0);
            let p99 = specs.iter().find(|s| s.kind == GuardrailKind::LatencyP99).unwrap();
            assert_eq!(p99.threshold, 500.0);
        }
    }
}
