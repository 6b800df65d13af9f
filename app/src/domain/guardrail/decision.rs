//! The guardrail worker's decision: a pure function of the guardrail and the figures over its window.
//!
//! - Fewer samples than the guardrail's minimum, or no baseline to compare with: **insufficient data**, no
//!   action. A rollout is never rolled back on a handful of requests, nor advanced on them.
//! - A source that cannot be read (Prometheus down): **source down**. The rollout freezes: it is not
//!   rolled back on figures nobody has seen, and it does not advance, by itself or by a person, until the
//!   source answers again.
//! - Otherwise the observed figure above the threshold is a **breach**, and the guardrail's action runs.

use super::histogram::CohortStats;
use super::spec::{format_number, GuardrailAction, GuardrailKind, GuardrailSpec};
use crate::domain::{text_enum, thousands};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// What the worker read for one guardrail over its window.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once per guardrail and pass, never stored in bulk
pub enum Observation {
    /// From the ingest API: the treatment, and the baseline for increase and regression guardrails.
    Cohorts { treatment: CohortStats, baseline: Option<CohortStats> },
    /// A named gauge: how many values were reported in the window, and their mean.
    Gauge { points: u64, mean: Option<f64> },
    /// A Prometheus query's value; None when the query answered an empty result.
    Query(Option<f64>),
    /// The source could not be read; the error says why.
    SourceDown(String),
}

text_enum!(
    /// The outcome, as stored in `guardrail_evaluations.status`.
    GuardrailStatus, "status", {
        Healthy => "healthy",
        Breached => "breached",
        InsufficientData => "insufficient_data",
        SourceDown => "source_down",
    }
);

impl GuardrailStatus {
    /// As shown on the rollout page.
    pub fn label(self) -> &'static str {
        match self {
            GuardrailStatus::Healthy => "healthy",
            GuardrailStatus::Breached => "breached",
            GuardrailStatus::InsufficientData => "insufficient data",
            GuardrailStatus::SourceDown => "source down",
        }
    }
}

/// One guardrail's decision and the figures behind it; stored as `guardrail_evaluations.observed` and, on
/// a breach, in the rollout event's details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub status: GuardrailStatus,
    /// The figure compared with the threshold, in the guardrail's unit.
    pub observed: Option<f64>,
    pub threshold: f64,
    /// The baseline's own figure (its error rate or p95), for increase and regression guardrails.
    pub baseline: Option<f64>,
    /// Treatment requests (gauge: points) in the window.
    pub samples: u64,
    pub baseline_samples: Option<u64>,
    /// The decision in words, e.g. "error rate 10.4% above 1% (1,210 requests in 5 min)".
    pub message: String,
}

/// Decides one guardrail.
pub fn decide(spec: &GuardrailSpec, observation: &Observation) -> Decision {
    let mut decision = Decision {
        status: GuardrailStatus::InsufficientData,
        observed: None,
        threshold: spec.threshold,
        baseline: None,
        samples: 0,
        baseline_samples: None,
        message: String::new(),
    };
    let window = spec.window_minutes;
    let insufficient = |mut decision: Decision, why: String| {
        decision.status = GuardrailStatus::InsufficientData;
        decision.message = format!("insufficient data: {why}");
        decision
    };
    let observed = match observation {
        Observation::SourceDown(error) => {
            decision.status = GuardrailStatus::SourceDown;
            decision.message = format!("metrics source down: {error}");
            return decision;
        }
        Observation::Query(None) => {
            return insufficient(decision, "the Prometheus query returned no value".to_owned());
        }
        Observation::Query(Some(value)) => {
            if !value.is_finite() {
                return insufficient(decision, format!("the Prometheus query returned {value}"));
            }
            *value
        }
        Observation::Gauge { points, mean } => {
            decision.samples = *points;
            match mean {
                Some(mean) if *points >= spec.min_samples.max(1) => *mean,
                _ => {
                    return insufficient(
                        decision,
                        format!("{points} of {} gauge points in {window} min", spec.min_samples.max(1)),
                    );
                }
            }
        }
        Observation::Cohorts { treatment, baseline } => {
            decision.samples = treatment.requests;
            let needed = spec.min_samples.max(1);
            if treatment.requests < needed {
                return insufficient(
                    decision,
                    format!("{} of {needed} treatment requests in {window} min", thousands(treatment.requests)),
                );
            }
            let figure = |stats: &CohortStats| match spec.kind {
                GuardrailKind::ErrorRate | GuardrailKind::ErrorRateIncrease => stats.error_rate_pct(),
                GuardrailKind::LatencyP95 | GuardrailKind::LatencyRegression => stats.percentile_ms(0.95),
                GuardrailKind::LatencyP99 => stats.percentile_ms(0.99),
                GuardrailKind::Gauge => None,
            };
            let Some(treatment_figure) = figure(treatment) else {
                return insufficient(decision, format!("no timed treatment requests in {window} min"));
            };
            if spec.kind.needs_baseline() {
                let Some(baseline) = baseline else {
                    return insufficient(decision, "no baseline figures".to_owned());
                };
                decision.baseline_samples = Some(baseline.requests);
                if baseline.requests < needed {
                    return insufficient(
                        decision,
                        format!("{} of {needed} baseline requests", thousands(baseline.requests)),
                    );
                }
                let Some(base) = figure(baseline) else {
                    return insufficient(decision, "no timed baseline requests".to_owned());
                };
                decision.baseline = Some(base);
                if spec.kind == GuardrailKind::LatencyRegression {
                    if base <= 0.0 {
                        return insufficient(decision, "the baseline's p95 is 0 ms".to_owned());
                    }
                    (treatment_figure - base) * 100.0 / base
                } else {
                    treatment_figure - base
                }
            } else {
                treatment_figure
            }
        }
    };
    decision.observed = Some(observed);
    let breached = observed > spec.threshold;
    decision.status = if breached { GuardrailStatus::Breached } else { GuardrailStatus::Healthy };
    let subject = match (&spec.gauge_name, spec.kind) {
        (Some(name), GuardrailKind::Gauge) => format!("gauge {name}"),
        _ => spec.kind.label().to_owned(),
    };
    let unit = spec.kind.unit();
    let comparison = if breached { "above" } else { "within" };
    let basis = match (observation, decision.baseline) {
        (Observation::Cohorts { .. }, Some(base)) => format!(
            " (baseline {}{}; {} requests in {window} min)",
            format_number(base),
            if spec.kind == GuardrailKind::LatencyRegression { " ms p95" } else { "%" },
            thousands(decision.samples)
        ),
        (Observation::Cohorts { .. }, None) => format!(" ({} requests in {window} min)", thousands(decision.samples)),
        (Observation::Gauge { .. }, _) => format!(" (mean of {} points in {window} min)", decision.samples),
        _ => " (Prometheus)".to_owned(),
    };
    decision.message = format!(
        "{subject} {}{unit} {comparison} {}{unit}{basis}",
        format_number(observed),
        format_number(spec.threshold)
    );
    decision
}

/// What the worker does to a rollout after deciding each of its guardrails.
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutVerdict {
    /// Nothing breached and every source answered.
    Continue,
    /// Breach: take this action because of the guardrail at this index. A rollback wins over a pause.
    Act { action: GuardrailAction, guardrail: usize },
    /// A source is down (the indexes): hold the rollout where it is and alert.
    Freeze { down: Vec<usize> },
}

/// Combines the decisions of a rollout's guardrails. A breach acts even while another source is down:
/// what was seen is enough to act on.
pub fn rollout_verdict(specs: &[GuardrailSpec], decisions: &[Decision]) -> RolloutVerdict {
    let breached = |action| {
        specs
            .iter()
            .zip(decisions)
            .position(|(spec, decision)| decision.status == GuardrailStatus::Breached && spec.action == action)
    };
    if let Some(guardrail) = breached(GuardrailAction::Rollback) {
        return RolloutVerdict::Act { action: GuardrailAction::Rollback, guardrail };
    }
    if let Some(guardrail) = breached(GuardrailAction::Pause) {
        return RolloutVerdict::Act { action: GuardrailAction::Pause, guardrail };
    }
    let down: Vec<usize> = decisions
        .iter()
        .enumerate()
        .filter(|(_, decision)| decision.status == GuardrailStatus::SourceDown)
        .map(|(i, _)| i)
        .collect();
    if down.is_empty() {
        RolloutVerdict::Continue
    } else {
        RolloutVerdict::Freeze { down }
    }
}

/// A guardrail's current status and the start of its healthy streak, as the worker last stored them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardrailHealth {
    pub status: GuardrailStatus,
    pub healthy_since: Option<DateTime<Utc>>,
}

/// Whether the guardrails allow an automatic advance: there is at least one, and every one has been
/// healthy, without a break, for at least the stage's soak (and has been seen healthy at least once). The
/// soak and the sign-offs themselves are the rollout's gates, checked by the transition like a person's.
/// Err says what is missing.
pub fn healthy_for_soak(health: &[GuardrailHealth], soak: TimeDelta, now: DateTime<Utc>) -> Result<(), String> {
    if health.is_empty() {
        return Err("no guardrails watch this stage, so it does not advance by itself".to_owned());
    }
    for item in health {
        match (item.status, item.healthy_since) {
            (GuardrailStatus::Healthy, Some(since)) if now - since >= soak => {}
            (GuardrailStatus::Healthy, Some(since)) => {
                let short = crate::domain::rollout::format_duration_short;
                return Err(format!(
                    "guardrails healthy for {} of the {} soak ({} to go)",
                    short(now - since),
                    short(soak),
                    short(soak - (now - since))
                ));
            }
            (status, _) => return Err(format!("a guardrail is {}", status.label())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::guardrail::spec::Baseline;

    fn cohort(requests: u64, errors: u64, latency_ms: f64) -> CohortStats {
        let mut stats = CohortStats::default();
        for i in 0..requests {
            stats.record(latency_ms, i < errors);
        }
        stats
    }

    fn cohorts(treatment: CohortStats, baseline: Option<CohortStats>) -> Observation {
        Observation::Cohorts { treatment, baseline }
    }

    #[test]
    fn an_error_rate_above_the_threshold_is_a_breach() {
        let spec = GuardrailSpec::new(GuardrailKind::ErrorRate, 1.0, 5, 100);
        let decision = decide(&spec, &cohorts(cohort(1000, 104, 20.0), None));
        assert_eq!(decision.status, GuardrailStatus::Breached);
        assert_eq!(decision.observed, Some(10.4));
        assert_eq!(decision.message, "error rate 10.4% above 1% (1,000 requests in 5 min)");
        let decision = decide(&spec, &cohorts(cohort(1000, 10, 20.0), None));
        assert_eq!(decision.status, GuardrailStatus::Healthy, "exactly at the threshold is within it");
    }

    #[test]
    fn too_few_requests_is_insufficient_data_whatever_the_figures() {
        let spec = GuardrailSpec::new(GuardrailKind::ErrorRate, 1.0, 5, 100);
        let decision = decide(&spec, &cohorts(cohort(99, 99, 20.0), None));
        assert_eq!(decision.status, GuardrailStatus::InsufficientData);
        assert_eq!(decision.message, "insufficient data: 99 of 100 treatment requests in 5 min");
        // A minimum of 0 still needs one request.
        let spec = GuardrailSpec::new(GuardrailKind::ErrorRate, 1.0, 5, 0);
        assert_eq!(decide(&spec, &cohorts(cohort(0, 0, 20.0), None)).status, GuardrailStatus::InsufficientData);
    }

    #[test]
    fn latency_guardrails_read_the_histogram() {
        let spec = GuardrailSpec::new(GuardrailKind::LatencyP99, 500.0, 5, 100);
        assert_eq!(decide(&spec, &cohorts(cohort(200, 0, 450.0), None)).status, GuardrailStatus::Healthy);
        let decision = decide(&spec, &cohorts(cohort(200, 0, 700.0), None));
        assert_eq!(decision.status, GuardrailStatus::Breached);
        assert!(decision.observed.unwrap() > 500.0);
    }

    #[test]
    fn increases_compare_with_the_baseline_and_need_one() {
        let spec = GuardrailSpec::new(GuardrailKind::ErrorRateIncrease, 5.0, 5, 100);
        let decision = decide(&spec, &cohorts(cohort(1000, 80, 20.0), Some(cohort(1000, 20, 20.0))));
        assert_eq!(decision.status, GuardrailStatus::Breached);
        assert_eq!(decision.observed.map(|v| (v * 100.0).round() / 100.0), Some(6.0));
        assert_eq!(decision.baseline, Some(2.0));
        let decision = decide(&spec, &cohorts(cohort(1000, 60, 20.0), Some(cohort(1000, 20, 20.0))));
        assert_eq!(decision.status, GuardrailStatus::Healthy);
        let decision = decide(&spec, &cohorts(cohort(1000, 900, 20.0), None));
        assert_eq!(decision.status, GuardrailStatus::InsufficientData);
        let decision = decide(&spec, &cohorts(cohort(1000, 900, 20.0), Some(cohort(10, 0, 20.0))));
        assert_eq!(decision.status, GuardrailStatus::InsufficientData);
        assert_eq!(decision.message, "insufficient data: 10 of 100 baseline requests");
    }

    #[test]
    fn a_regression_is_a_percentage_of_the_baselines_p95() {
        let mut spec = GuardrailSpec::new(GuardrailKind::LatencyRegression, 15.0, 5, 100);
        spec.baseline = Some(Baseline::PreRollout);
        // Both in (50, 100]: 95% of the way, 97.5 ms; treatment in (100, 250]: 242.5 ms, +148.7%.
        let decision = decide(&spec, &cohorts(cohort(500, 0, 200.0), Some(cohort(500, 0, 80.0))));
        assert_eq!(decision.status, GuardrailStatus::Breached);
        assert_eq!(decision.baseline, Some(97.5));
        let decision = decide(&spec, &cohorts(cohort(500, 0, 90.0), Some(cohort(500, 0, 80.0))));
        assert_eq!(decision.status, GuardrailStatus::Healthy);
        assert_eq!(decision.observed, Some(0.0));
    }

    #[test]
    fn gauges_and_queries_compare_their_value() {
        let mut spec = GuardrailSpec::new(GuardrailKind::Gauge, 30.0, 5, 3);
        spec.gauge_name = Some("queue_lag_seconds".into());
        let breach = decide(&spec, &Observation::Gauge { points: 5, mean: Some(45.0) });
        assert_eq!(breach.status, GuardrailStatus::Breached);
        assert_eq!(breach.message, "gauge queue_lag_seconds 45 above 30 (mean of 5 points in 5 min)");
        let few = decide(&spec, &Observation::Gauge { points: 2, mean: Some(45.0) });
        assert_eq!(few.status, GuardrailStatus::InsufficientData);
        let spec = GuardrailSpec::new(GuardrailKind::ErrorRate, 1.0, 5, 100);
        assert_eq!(decide(&spec, &Observation::Query(Some(2.5))).status, GuardrailStatus::Breached);
        assert_eq!(decide(&spec, &Observation::Query(None)).status, GuardrailStatus::InsufficientData);
        let down = decide(&spec, &Observation::SourceDown("connection refused".into()));
        assert_eq!(down.status, GuardrailStatus::SourceDown);
        assert_eq!(down.message, "metrics source down: connection refused");
    }

    #[test]
    fn a_rollback_wins_over_a_pause_and_a_breach_over_a_source_down() {
        let mut pause = GuardrailSpec::new(GuardrailKind::LatencyP99, 500.0, 5, 100);
        pause.action = GuardrailAction::Pause;
        let rollback = GuardrailSpec::new(GuardrailKind::ErrorRate, 1.0, 5, 100);
        let specs = [pause.clone(), rollback.clone(), rollback.clone()];
        let status = |status| Decision { status, ..decide(&rollback, &Observation::Query(Some(0.0))) };
        use GuardrailStatus::*;
        let verdict = rollout_verdict(&specs, &[status(Breached), status(SourceDown), status(Breached)]);
        assert_eq!(verdict, RolloutVerdict::Act { action: GuardrailAction::Rollback, guardrail: 2 });
        let verdict = rollout_verdict(&specs, &[status(Breached), status(SourceDown), status(Healthy)]);
        assert_eq!(verdict, RolloutVerdict::Act { action: GuardrailAction::Pause, guardrail: 0 });
        let verdict = rollout_verdict(&specs, &[status(Healthy), status(SourceDown), status(InsufficientData)]);
        assert_eq!(verdict, RolloutVerdict::Freeze { down: vec![1] });
        let verdict = rollout_verdict(&specs, &[status(Healthy), status(InsufficientData), status(Healthy)]);
        assert_eq!(verdict, RolloutVerdict::Continue);
    }

    #[test]
    fn auto_advance_needs_every_guardrail_healthy_for_the_soak() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let soak = TimeDelta::minutes(30);
        let healthy = |minutes| GuardrailHealth {
            status: GuardrailStatus::Healthy,
            healthy_since: Some(now - TimeDelta::minutes(minutes)),
        };
        assert_eq!(healthy_for_soak(&[healthy(31), healthy(30)], soak, now), Ok(()));
        assert!(healthy_for_soak(&[healthy(31), healthy(10)], soak, now).unwrap_err().contains("20m to go"));
        let down = GuardrailHealth { status: GuardrailStatus::InsufficientData, healthy_since: None };
        assert_eq!(healthy_for_soak(&[healthy(40), down], soak, now), Err("a guardrail is insufficient data".into()));
        assert!(healthy_for_soak(&[], soak, now).is_err());
    }
}
