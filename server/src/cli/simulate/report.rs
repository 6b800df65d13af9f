//! The summary printed at the end: requests, cohorts with their error rates and latencies, what was sent.

use super::traffic::CONTROL;
use app::domain::guardrail::CohortStats;
use app::domain::thousands;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub elapsed: Duration,
    /// Per cohort, every request evaluated and folded.
    pub cohorts: BTreeMap<String, CohortStats>,
    /// Evaluations that got no answer (or an error answer).
    pub failed_evaluations: u64,
    /// Evaluations not sent because every worker was busy (the server answered too slowly for the rate).
    pub skipped: u64,
    pub batches_accepted: u64,
    pub batches_duplicate: u64,
    /// Batches the server refused (4xx): not sent again.
    pub batches_refused: u64,
    /// Batches still unacknowledged at the end.
    pub batches_undelivered: u64,
    /// Items the server said it accepted.
    pub samples_accepted: u64,
}

impl Summary {
    pub fn requests(&self) -> u64 {
        self.cohorts.values().map(|s| s.requests).sum()
    }

    pub fn render(&self) -> String {
        let seconds = self.elapsed.as_secs_f64().max(0.001);
        let requests = self.requests();
        let mut out = format!(
            "Summary after {seconds:.1} s: {} evaluations ({:.1}/s), {} failed, {} skipped (workers busy)\n",
            thousands(requests),
            requests as f64 / seconds,
            thousands(self.failed_evaluations),
            thousands(self.skipped)
        );
        for (cohort, stats) in &self.cohorts {
            out.push_str(&format!("  {}\n", cohort_line(cohort, stats)));
        }
        out.push_str(&format!("  {}\n", treatment_share(&self.cohorts)));
        out.push_str(&format!(
            "  metrics: {} batches accepted ({} samples), {} duplicates, {} refused, {} undelivered\n",
            thousands(self.batches_accepted),
            thousands(self.samples_accepted),
            thousands(self.batches_duplicate),
            thousands(self.batches_refused),
            thousands(self.batches_undelivered)
        ));
        out
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub(super) fn pct(value: f64) -> String {
    if value != 0.0 && value.abs() < 1.0 {
        format!("{value:.2}%")
    } else {
        format!("{value:.1}%")
    }
}

pub(super) fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms"))
}

pub(super) fn cohort_line(cohort: &str, stats: &CohortStats) -> String {
    format!(
        "{cohort:<10} {:>7} req  errors {:>6}  p50 {:>8}  p95 {:>8}  p99 {:>8}",
        thousands(stats.requests),
        stats.error_rate_pct().map_or_else(|| "-".to_owned(), pct),
        ms(stats.percentile_ms(0.50)),
        ms(stats.percentile_ms(0.95)),
        ms(stats.percentile_ms(0.99)),
    )
}

pub(super) fn treatment_share(cohorts: &BTreeMap<String, CohortStats>) -> String {
    let all: u64 = cohorts.values().map(|s| s.requests).sum();
    let on: u64 = cohorts.iter().filter(|(c, _)| c.as_str() != CONTROL).map(|(_, s)| s.requests).sum();
    if all == 0 {
        return "no requests".to_owned();
    }
    format!("{} in treatment", pct(on as f64 * 100.0 / all as f64))
}
