//! The latency histogram applications report, and the figures read from it.
//!
//! Twelve buckets with fixed upper bounds in milliseconds, `5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
//! 10000, +Inf`. Counts are NOT cumulative: bucket `i` counts the requests whose latency is in
//! `(bound[i-1], bound[i]]`, so two histograms add element by element (a minute's rows add into the next).
//! The thresholds our users quote (p99 < 500 ms, 1 s) sit exactly on a bound.

use serde::{Deserialize, Serialize};

/// Number of buckets, the last one open (`+Inf`).
pub const BUCKETS: usize = 12;

/// The upper bounds of the first eleven buckets, in milliseconds; the twelfth is `+Inf`.
pub const BUCKET_BOUNDS_MS: [f64; BUCKETS - 1] =
    [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];

/// The bucket a latency falls in.
pub fn bucket_for(latency_ms: f64) -> usize {
    BUCKET_BOUNDS_MS.iter().position(|&bound| latency_ms <= bound).unwrap_or(BUCKETS - 1)
}

/// What one cohort did over some minutes: requests, errors and the latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CohortStats {
    pub requests: u64,
    pub errors: u64,
    pub buckets: [u64; BUCKETS],
    /// The sum of the latencies counted in `buckets`, for the mean.
    pub latency_sum_ms: f64,
}

impl CohortStats {
    /// Adds another period's figures into these.
    pub fn add(&mut self, other: &CohortStats) {
        self.requests += other.requests;
        self.errors += other.errors;
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
        self.latency_sum_ms += other.latency_sum_ms;
    }

    /// Records one request, for simulators and tests.
    pub fn record(&mut self, latency_ms: f64, error: bool) {
        self.requests += 1;
        self.errors += u64::from(error);
        self.buckets[bucket_for(latency_ms)] += 1;
        self.latency_sum_ms += latency_ms.max(0.0);
    }

    /// Requests with a latency in the histogram (an application may time only some).
    pub fn timed(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Errors as a percentage of requests (1.0 = 1%), or None with no requests.
    pub fn error_rate_pct(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 * 100.0 / self.requests as f64)
    }

    /// The mean latency, or None with no timed requests.
    pub fn mean_ms(&self) -> Option<f64> {
        let timed = self.timed();
        (timed > 0).then(|| self.latency_sum_ms / timed as f64)
    }

    /// The `q` quantile of latency (0.99 for p99), in milliseconds, or None with no timed requests.
    ///
    /// Linear interpolation inside the bucket holding the rank, as Prometheus' `histogram_quantile` does:
    /// the answer is exact at every bound and off by at most one bucket's width in between. A rank in the
    /// open last bucket answers its lower bound, 10,000 ms, which is above every latency threshold.
    pub fn percentile_ms(&self, q: f64) -> Option<f64> {
        let timed = self.timed();
        if timed == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * timed as f64;
        let mut below = 0u64;
        for (i, &count) in self.buckets.iter().enumerate() {
            if count > 0 && (below + count) as f64 >= rank {
                let lower = if i == 0 { 0.0 } else { BUCKET_BOUNDS_MS[i - 1] };
                let Some(&upper) = BUCKET_BOUNDS_MS.get(i) else { return Some(lower) };
                let within = ((rank - below as f64) / count as f64).clamp(0.0, 1.0);
                return Some(lower + (upper - lower) * within);
            }
            below += count;
        }
        Some(BUCKET_BOUNDS_MS[BUCKETS - 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(latencies: &[(f64, u64)]) -> CohortStats {
        let mut stats = CohortStats::default();
        for &(latency, n) in latencies {
            for _ in 0..n {
                stats.record(latency, false);
            }
        }
        stats
    }

    #[test]
    fn latencies_land_in_the_documented_buckets() {
        assert_eq!(bucket_for(0.0), 0);
        assert_eq!(bucket_for(5.0), 0);
        assert_eq!(bucket_for(5.01), 1);
        assert_eq!(bucket_for(500.0), 6);
        assert_eq!(bucket_for(500.5), 7);
        assert_eq!(bucket_for(10000.0), 10);
        assert_eq!(bucket_for(10000.1), 11);
        assert_eq!(bucket_for(f64::INFINITY), 11);
    }

    #[test]
    fn percentiles_interpolate_within_a_bucket_and_are_exact_on_bounds() {
        // 100 requests, all in (250, 500]: p50 is half way, p99 just under the bound, p100 on it.
        let stats = with(&[(300.0, 100)]);
        assert_eq!(stats.percentile_ms(0.5), Some(375.0));
        assert_eq!(stats.percentile_ms(1.0), Some(500.0));
        // 99 fast, one slow: p99 stays in the fast bucket, p100 is in the slow one.
        let stats = with(&[(3.0, 99), (800.0, 1)]);
        assert!(stats.percentile_ms(0.99).unwrap() <= 5.0);
        assert!(stats.percentile_ms(1.0).unwrap() > 500.0);
        // Beyond the last bound answers the bound.
        assert_eq!(with(&[(20000.0, 10)]).percentile_ms(0.99), Some(10000.0));
        assert_eq!(CohortStats::default().percentile_ms(0.99), None);
    }

    #[test]
    fn error_rate_and_mean() {
        let mut stats = with(&[(10.0, 3), (20.0, 1)]);
        stats.record(30.0, true);
        assert_eq!(stats.error_rate_pct(), Some(20.0));
        assert_eq!(stats.mean_ms(), Some(16.0));
        assert_eq!(CohortStats::default().error_rate_pct(), None);
    }

    #[test]
    fn adding_is_element_wise() {
        let mut a = with(&[(3.0, 2), (300.0, 1)]);
        let b = with(&[(3.0, 1), (2000.0, 4)]);
        a.add(&b);
        assert_eq!(a.requests, 8);
        assert_eq!(a.buckets[0], 3);
        assert_eq!(a.buckets[6], 1);
        assert_eq!(a.buckets[8], 4);
    }
}
