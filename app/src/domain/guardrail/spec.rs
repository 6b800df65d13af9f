//! What a guardrail watches, and its validation.

use crate::domain::{text_enum, InvalidValue};
use serde::{Deserialize, Serialize};

text_enum!(
    /// The figure a guardrail watches; stored in `guardrails.kind`.
    GuardrailKind, "kind", {
        /// Errors as a % of the treatment's requests.
        ErrorRate => "error_rate",
        /// The treatment's p95 latency, in ms.
        LatencyP95 => "latency_p95",
        /// The treatment's p99 latency, in ms.
        LatencyP99 => "latency_p99",
        /// The treatment's error rate minus the baseline's, in percentage points.
        ErrorRateIncrease => "error_rate_increase",
        /// How much the treatment's p95 is above the baseline's, in % of the baseline's.
        LatencyRegression => "latency_regression",
        /// A named gauge's mean over the window, in its own unit.
        Gauge => "gauge",
    }
);

text_enum!(
    /// What a breach does to the rollout.
    GuardrailAction, "action", {
        Rollback => "rollback",
        Pause => "pause",
    }
);

text_enum!(
    /// What an increase or a regression is measured against.
    Baseline, "baseline", {
        /// The control cohort (flag off) over the same window.
        Control => "control",
        /// Every cohort over the same length of time just before the rollout started.
        PreRollout => "pre_rollout",
    }
);

text_enum!(
    /// Where the figures come from.
    MetricSource, "source", {
        /// What applications send to `POST /api/v1/metrics`.
        Ingest => "ingest",
        /// A PromQL query against a Prometheus server; its value is compared with the threshold as is.
        Prometheus => "prometheus",
    }
);

impl GuardrailKind {
    /// The threshold's unit, as shown after a number.
    pub fn unit(self) -> &'static str {
        match self {
            GuardrailKind::ErrorRate => "%",
            GuardrailKind::LatencyP95 | GuardrailKind::LatencyP99 => " ms",
            GuardrailKind::ErrorRateIncrease => " points",
            GuardrailKind::LatencyRegression => "%",
            GuardrailKind::Gauge => "",
        }
    }

    /// What is measured, in words.
    pub fn label(self) -> &'static str {
        match self {
            GuardrailKind::ErrorRate => "error rate",
            GuardrailKind::LatencyP95 => "p95 latency",
            GuardrailKind::LatencyP99 => "p99 latency",
            GuardrailKind::ErrorRateIncrease => "error-rate increase",
            GuardrailKind::LatencyRegression => "p95 latency regression",
            GuardrailKind::Gauge => "gauge",
        }
    }

    /// Whether the kind compares the treatment with a baseline.
    pub fn needs_baseline(self) -> bool {
        matches!(self, GuardrailKind::ErrorRateIncrease | GuardrailKind::LatencyRegression)
    }
}

/// A PromQL query answering one number in the guardrail's unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrometheusQuery {
    /// The server's base URL, e.g. `http://prometheus:9090`.
    pub url: String,
    pub promql: String,
}

/// One guardrail as configured: what it watches, the limit, over what, and what a breach does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailSpec {
    /// The stage it watches (its position), or None for every stage.
    pub stage: Option<u32>,
    pub kind: GuardrailKind,
    /// For `gauge` only: the gauge's name.
    pub gauge_name: Option<String>,
    /// A value above this is a breach, in the kind's unit.
    pub threshold: f64,
    /// The window, in whole minutes (the aggregates are per minute).
    pub window_minutes: u32,
    /// Fewer treatment requests than this (gauge: reported points) in the window is "insufficient data".
    pub min_samples: u64,
    pub action: GuardrailAction,
    /// For `error_rate_increase` and `latency_regression` only.
    pub baseline: Option<Baseline>,
    /// None for the ingest API.
    pub prometheus: Option<PrometheusQuery>,
}

/// Whether a guardrail on `stage` (None: every stage) watches a rollout at `current_stage`.
pub fn watches_stage(stage: Option<u32>, current_stage: Option<u32>) -> bool {
    stage.is_none() || stage == current_stage
}

/// Longest window: the aggregates are kept for a week.
pub const MAX_WINDOW_MINUTES: u32 = 24 * 60;

/// A gauge name as guardrails and the ingest API accept it (the schema's check): letters, digits and
/// `_ : . -`, up to 100, not starting with a digit.
pub(super) fn valid_gauge_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && name.len() <= 100
        && chars.all(|c| c.is_ascii_alphanumeric() || "_:.-".contains(c))
}

impl GuardrailSpec {
    /// A guardrail on the ingest API with the default action (roll back), for templates and tests.
    pub fn new(kind: GuardrailKind, threshold: f64, window_minutes: u32, min_samples: u64) -> Self {
        GuardrailSpec {
            stage: None,
            kind,
            gauge_name: None,
            threshold,
            window_minutes,
            min_samples,
            action: GuardrailAction::Rollback,
            baseline: kind.needs_baseline().then_some(Baseline::Control),
            prometheus: None,
        }
    }

    /// Whether it watches the stage a rollout is at (`None`: not started or rolled back to 0%).
    pub fn watches(&self, current_stage: Option<u32>) -> bool {
        watches_stage(self.stage, current_stage)
    }

    pub fn source(&self) -> MetricSource {
        if self.prometheus.is_some() {
            MetricSource::Prometheus
        } else {
            MetricSource::Ingest
        }
    }

    /// Checks the fields together, as the database's constraints will, with messages that name the field.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        if !self.threshold.is_finite() {
            return Err(InvalidValue::new("threshold", "the threshold must be a number"));
        }
        match self.kind {
            GuardrailKind::ErrorRate | GuardrailKind::ErrorRateIncrease if !(0.0..=100.0).contains(&self.threshold) => {
                return Err(InvalidValue::new(
                    "threshold",
                    format!(
                        "an {} threshold is a percentage between 0 and 100, not {}",
                        self.kind.label(),
                        self.threshold
                    ),
                ));
            }
            GuardrailKind::LatencyP95 | GuardrailKind::LatencyP99 | GuardrailKind::LatencyRegression
                if self.threshold <= 0.0 =>
            {
                return Err(InvalidValue::new(
                    "threshold",
                    format!("a {} threshold must be above 0, not {}", self.kind.label(), self.threshold),
                ));
            }
            _ => {}
        }
        if self.window_minutes == 0 || self.window_minutes > MAX_WINDOW_MINUTES {
            return Err(InvalidValue::new(
                "window_minutes",
                format!("the window must be 1 to {MAX_WINDOW_MINUTES} minutes, not {}", self.window_minutes),
            ));
        }
        match (&self.gauge_name, self.kind) {
            (None, GuardrailKind::Gauge) => {
                return Err(InvalidValue::new("gauge_name", "a gauge guardrail needs the gauge's name"));
            }
            (Some(name), GuardrailKind::Gauge) if !valid_gauge_name(name) => {
                return Err(InvalidValue::new(
                    "gauge_name",
                    format!("{name:?} is not a gauge name: letters, digits and _ : . - up to 100, not starting with a digit"),
                ));
            }
            (Some(_), kind) if kind != GuardrailKind::Gauge => {
                return Err(InvalidValue::new("gauge_name", "only a gauge guardrail names a gauge"));
            }
            _ => {}
        }
        if self.kind.needs_baseline() != self.baseline.is_some() {
            return Err(InvalidValue::new(
                "baseline",
                if self.kind.needs_baseline() {
                    format!("an {} guardrail needs a baseline: control or pre_rollout", self.kind.label())
                } else {
                    format!("only increase and regression guardrails have a baseline, not {}", self.kind.label())
                },
            ));
        }
        if let Some(query) = &self.prometheus {
            let url = query.url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
                return Err(InvalidValue::new(
                    "prometheus_url",
                    format!("{url:?} is not a Prometheus base URL (http:// or https://, up to 2,048 characters)"),
                ));
            }
            let promql = query.promql.trim();
            if promql.is_empty() || promql.len() > 4000 {
                return Err(InvalidValue::new("promql", "the PromQL query must be 1 to 4,000 characters"));
            }
        }
        Ok(())
    }

    /// The rule in words: "error rate above 1% over 5 min (at least 100 requests) rolls back".
    pub fn describe(&self) -> String {
        let what = match (&self.gauge_name, self.kind) {
            (Some(name), GuardrailKind::Gauge) => format!("gauge {name}"),
            _ => self.kind.label().to_owned(),
        };
        let baseline = match self.baseline {
            Some(Baseline::Control) => " over control",
            Some(Baseline::PreRollout) => " over the pre-rollout window",
            None => "",
        };
        let samples = match (self.source(), self.kind) {
            (MetricSource::Prometheus, _) => " from Prometheus".to_owned(),
            (_, GuardrailKind::Gauge) => format!(", at least {} points", self.min_samples),
            _ => format!(", at least {} requests", self.min_samples),
        };
        let action = match self.action {
            GuardrailAction::Rollback => "rolls back",
            GuardrailAction::Pause => "pauses",
        };
        format!(
            "{what}{baseline} above {}{} over {} min{samples}: {action}",
            format_number(self.threshold),
            self.kind.unit(),
            self.window_minutes
        )
    }
}

/// A figure for people: up to two decimals, no trailing zeros.
pub fn format_number(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_rule() {
        let spec = GuardrailSpec::new(GuardrailKind::ErrorRate, 1.0, 5, 100);
        assert_eq!(spec.describe(), "error rate above 1% over 5 min, at least 100 requests: rolls back");
        let mut spec = GuardrailSpec::new(GuardrailKind::LatencyRegression, 15.0, 10, 200);
        spec.action = GuardrailAction::Pause;
        assert_eq!(
            spec.describe(),
            "p95 latency regression over control above 15% over 10 min, at least 200 requests: pauses"
        );
    }

    #[test]
    fn validation_names_the_field() {
        let mut spec = GuardrailSpec::new(GuardrailKind::ErrorRate, 150.0, 5, 100);
        assert_eq!(spec.validate().unwrap_err().field, "threshold");
        spec.threshold = 1.0;
        spec.window_minutes = 0;
        assert_eq!(spec.validate().unwrap_err().field, "window_minutes");
        let mut spec = GuardrailSpec::new(GuardrailKind::Gauge, 30.0, 5, 3);
        assert_eq!(spec.validate().unwrap_err().field, "gauge_name");
        spec.gauge_name = Some("9lag".into());
        assert_eq!(spec.validate().unwrap_err().field, "gauge_name");
        spec.gauge_name = Some("queue_lag_seconds".into());
        assert_eq!(spec.validate(), Ok(()));
        let mut spec = GuardrailSpec::new(GuardrailKind::ErrorRateIncrease, 5.0, 5, 100);
        spec.baseline = None;
        assert_eq!(spec.validate().unwrap_err().field, "baseline");
        let mut spec = GuardrailSpec::new(GuardrailKind::LatencyP99, 500.0, 5, 100);
        spec.prometheus = Some(PrometheusQuery { url: "prometheus:9090".into(), promql: "up".into() });
        assert_eq!(spec.validate().unwrap_err().field, "prometheus_url");
    }

    #[test]
    fn numbers_print_without_noise() {
        assert_eq!(format_number(1.0), "1");
        assert_eq!(format_number(0.5), "0.5");
        assert_eq!(format_number(12.345), "12.35");
        assert_eq!(format_number(-0.001), "0");
    }
}
