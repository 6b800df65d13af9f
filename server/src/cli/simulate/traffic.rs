//! The traffic model: the rates per cohort, the cohort an answer puts a request in, and the tally of what
//! was sent.

use super::args::{parse_jitter, parse_latency, parse_rate, parse_rps};
use super::report::pct;
use app::domain::guardrail::CohortStats;
use rand::Rng;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// The figures the simulator draws from. The command line sets them; `--control` may replace any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub rps: f64,
    pub error_rate_on: f64,
    pub error_rate_off: f64,
    pub latency_on_ms: f64,
    pub latency_off_ms: f64,
    pub jitter: f64,
}

impl Rates {
    /// These rates with the fields of a control file replacing theirs. Numbers or strings (`"10%"`);
    /// an unknown field is an error, so a typo does not pass for a change.
    pub fn with_control(self, text: &str) -> Result<Rates, String> {
        let fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
        let mut rates = self;
        for (name, value) in &fields {
            let text = match value {
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => return Err(format!("{name}: expected a number, got {other}")),
            };
            let parsed = |parse: fn(&str) -> Result<f64, String>| parse(&text).map_err(|e| format!("{name}: {e}"));
            match name.as_str() {
                "rps" => rates.rps = parsed(parse_rps)?,
                "error_rate_on" => rates.error_rate_on = parsed(parse_rate)?,
                "error_rate_off" => rates.error_rate_off = parsed(parse_rate)?,
                "latency_on_ms" => rates.latency_on_ms = parsed(parse_latency)?,
                "latency_off_ms" => rates.latency_off_ms = parsed(parse_latency)?,
                "jitter" => rates.jitter = parsed(parse_jitter)?,
                other => {
                    return Err(format!(
                        "unknown field {other:?}; expected rps, error_rate_on, error_rate_off, latency_on_ms, \
                         latency_off_ms, jitter"
                    ))
                }
            }
        }
        Ok(rates)
    }

    /// One synthetic request's latency (ms) and whether it failed, for a cohort on (treatment, variants) or
    /// off (control). The latency is log-normal with the cohort's mean: `exp(mu + sigma * z)` with
    /// `mu = ln(mean) - sigma^2 / 2`.
    pub fn draw(&self, on: bool, rng: &mut impl Rng) -> (f64, bool) {
        let (mean, error_rate) =
            if on { (self.latency_on_ms, self.error_rate_on) } else { (self.latency_off_ms, self.error_rate_off) };
        let sigma = self.jitter;
        // Box-Muller: one standard normal from two uniforms (1 - u keeps the logarithm finite).
        let (u1, u2): (f64, f64) = (rng.gen(), rng.gen());
        let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let latency = (mean.ln() - sigma * sigma / 2.0 + sigma * z).exp();
        (latency, rng.gen_bool(error_rate))
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "treatment: errors {}, latency {} ms; control: errors {}, latency {} ms; jitter {}; {} req/s",
            pct(self.error_rate_on * 100.0),
            self.latency_on_ms,
            pct(self.error_rate_off * 100.0),
            self.latency_off_ms,
            self.jitter,
            self.rps
        )
    }
}

/// What `GET /api/v1/flags/{key}` answers (the fields the simulator reads).
#[derive(Debug, Clone, Deserialize)]
pub struct FlagAnswer {
    pub environment: String,
    pub value: serde_json::Value,
    #[serde(default)]
    pub variant: Option<String>,
    pub reason: String,
}

pub const TREATMENT: &str = "treatment";
pub const CONTROL: &str = "control";

/// The cohort of one answer. A boolean flag is in treatment when true. A multi-variant flag is in treatment
/// when a variant was picked (`variant:<key>` with `per_variant`). Any other value counts as control when it
/// is "off-like" (`false`, `null`, `""`, `0`, `"off"`) and as treatment otherwise.
pub fn cohort_of(answer: &FlagAnswer, per_variant: bool) -> String {
    use serde_json::Value;
    if let Some(variant) = &answer.variant {
        return if per_variant { format!("variant:{variant}") } else { TREATMENT.to_owned() };
    }
    let off = match &answer.value {
        Value::Bool(on) => !on,
        Value::Null => true,
        Value::String(s) => s.is_empty() || s.eq_ignore_ascii_case("off"),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(_) | Value::Object(_) => false,
    };
    if off { CONTROL } else { TREATMENT }.to_owned()
}

/// What the workers found since the last flush, and since the start.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) interval: BTreeMap<String, CohortStats>,
    pub(super) total: BTreeMap<String, CohortStats>,
    pub(super) failed: u64,
    pub(super) failed_total: u64,
    pub(super) last_failure: Option<String>,
}

impl Tally {
    pub(super) fn take_interval(&mut self) -> (BTreeMap<String, CohortStats>, u64, Option<String>) {
        for (cohort, stats) in &self.interval {
            self.total.entry(cohort.clone()).or_default().add(stats);
        }
        (std::mem::take(&mut self.interval), std::mem::take(&mut self.failed), self.last_failure.take())
    }
}

pub(super) fn locked(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}
