//! What a chart plots, as plain data: per-bucket figures of each cohort, the thresholds and the markers,
//! and the pure steps from aggregates to lines (percentiles per bucket, lines broken where data is missing).

use crate::domain::guardrail::CohortStats;
use crate::model::charts::ChartRange;
use chrono::{DateTime, TimeDelta, Utc};

/// The two cohorts the charts compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cohort {
    /// Customers with the flag on.
    Treatment,
    /// Customers with the flag off.
    Control,
}

impl Cohort {
    /// The cohort of a `metric_minutes.cohort` value; variants are not charted.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "treatment" => Some(Cohort::Treatment),
            "control" => Some(Cohort::Control),
            _ => None,
        }
    }
}

/// One cohort's figures over one time bucket, as summed by the database.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub stats: CohortStats,
}

/// One plotted bucket: the figures read from its histogram (None where it had no requests).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub requests: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub error_rate_pct: Option<f64>,
}

impl Point {
    pub fn of(bucket: &Bucket) -> Self {
        let stats = &bucket.stats;
        Point {
            at: bucket.start,
            requests: stats.requests,
            p50_ms: stats.percentile_ms(0.50),
            p95_ms: stats.percentile_ms(0.95),
            p99_ms: stats.percentile_ms(0.99),
            error_rate_pct: stats.error_rate_pct(),
        }
    }
}

/// What a threshold line limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdMetric {
    LatencyP95,
    LatencyP99,
    ErrorRate,
}

impl ThresholdMetric {
    /// The metric of a `guardrails.kind` that is drawn as a line; the relative kinds (increase over a
    /// baseline) and gauges have no fixed level on these axes.
    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "latency_p95" => Some(ThresholdMetric::LatencyP95),
            "latency_p99" => Some(ThresholdMetric::LatencyP99),
            "error_rate" => Some(ThresholdMetric::ErrorRate),
            _ => None,
        }
    }
}

/// A guardrail's threshold, in the chart's unit (ms or %).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric: ThresholdMetric,
    pub value: f64,
    /// The stage it watches, by name, or None for every stage.
    pub stage: Option<String>,
}

impl Threshold {
    /// The line's label, e.g. `p99 limit 500 ms (stage early adopters)`.
    pub fn label(&self) -> String {
        let value = crate::domain::guardrail::format_number(self.value);
        let text = match self.metric {
            ThresholdMetric::LatencyP95 => format!("p95 limit {value} ms"),
            ThresholdMetric::LatencyP99 => format!("p99 limit {value} ms"),
            ThresholdMetric::ErrorRate => format!("limit {value}%"),
        };
        match &self.stage {
            Some(stage) => format!("{text} ({stage})"),
            None => text,
        }
    }
}

/// What a vertical marker shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    /// Started, advanced or completed: the percentage served went up.
    Stage,
    Rollback,
}

/// A moment on the timeline, e.g. `→ 50%` or `rolled back`.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at: DateTime<Utc>,
    pub kind: MarkerKind,
    pub label: String,
}

impl Marker {
    /// The marker for a `rollout_events` row, or None for kinds not marked (sign-offs, edits, pauses...).
    pub fn of_event(at: DateTime<Utc>, kind: &str, to_basis_points: Option<i32>) -> Option<Self> {
        let percent = to_basis_points
            .and_then(|bp| u16::try_from(bp).ok())
            .and_then(|bp| crate::domain::Percent::from_basis_points(bp).ok());
        let (kind, label) = match (kind, percent) {
            ("started" | "advanced", Some(p)) => (MarkerKind::Stage, format!("→ {p}")),
            ("completed", _) => (MarkerKind::Stage, "→ 100%".to_owned()),
            ("rolled_back", Some(p)) if p.basis_points() > 0 => (MarkerKind::Rollback, format!("rolled back to {p}")),
            ("rolled_back", _) => (MarkerKind::Rollback, "rolled back".to_owned()),
            _ => return None,
        };
        Some(Marker { at, kind, label })
    }
}

/// Everything one rollout's charts show over one range.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    /// E.g. `checkout_v2 in production`, for titles and descriptions.
    pub subject: String,
    pub range: ChartRange,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub treatment: Vec<Point>,
    pub control: Vec<Point>,
    pub thresholds: Vec<Threshold>,
    pub markers: Vec<Marker>,
}

impl ChartData {
    /// Whether there is nothing to plot.
    pub fn is_empty(&self) -> bool {
        self.treatment.iter().chain(&self.control).all(|p| p.requests == 0)
    }

    /// The bucket width.
    pub fn bucket(&self) -> TimeDelta {
        TimeDelta::seconds(self.range.bucket_seconds())
    }

    pub fn points(&self, cohort: Cohort) -> &[Point] {
        match cohort {
            Cohort::Treatment => &self.treatment,
            Cohort::Control => &self.control,
        }
    }
}

/// The window a range shows, ending with the bucket that holds `now`, so every bucket is whole except the
/// last and the buckets line up with the database's (`date_bin` from the Unix epoch).
pub fn window(range: ChartRange, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let bucket = range.bucket_seconds();
    let end = (now.timestamp().div_euclid(bucket) + 1) * bucket;
    let to = DateTime::<Utc>::from_timestamp(end, 0).unwrap_or(now);
    (to - TimeDelta::seconds(range.seconds()), to)
}

/// The points of one cohort, in time order, from its buckets.
pub fn points(buckets: &[Bucket]) -> Vec<Point> {
    let mut points: Vec<Point> = buckets.iter().map(Point::of).collect();
    points.sort_by_key(|p| p.at);
    points
}

/// The lines to draw for one figure: runs of consecutive buckets that have a value, as (x, y) with x in
/// seconds since the Unix epoch. A missing bucket breaks the line rather than drawing a slope across the
/// gap, which would suggest figures nobody reported.
pub fn segments(points: &[Point], bucket: TimeDelta, value: impl Fn(&Point) -> Option<f64>) -> Vec<Vec<(f64, f64)>> {
    let mut lines: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut previous: Option<DateTime<Utc>> = None;
    for point in points {
        let Some(y) = value(point) else {
            previous = None;
            continue;
        };
        let xy = (point.at.timestamp() as f64, y);
        match (previous, lines.last_mut()) {
            (Some(at), Some(line)) if point.at - at <= bucket => line.push(xy),
            _ => lines.push(vec![xy]),
        }
        previous = Some(point.at);
    }
    lines
}

/// The top of a value axis: above the highest value and threshold with some headroom, and never zero.
pub fn axis_top(values: impl IntoIterator<Item = f64>, minimum: f64) -> f64 {
    let highest = values.into_iter().filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    (highest * 1.15).max(minimum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(minute)
    }

    fn bucket(minute: i64, latencies: &[(f64, u64)], errors: u64) -> Bucket {
        let mut stats = CohortStats::default();
        for &(latency, n) in latencies {
            for _ in 0..n {
                stats.record(latency, false);
            }
        }
        stats.errors = errors;
        Bucket { start: at(minute), stats }
    }

    #[test]
    fn every_range_has_at_most_400_buckets_and_at_least_60() {
        for range in ChartRange::ALL {
            let buckets = range.seconds() / range.bucket_seconds();
            assert!((60..=400).contains(&buckets), "{range:?}: {buckets}");
            assert_eq!(range.seconds() % range.bucket_seconds(), 0, "{range:?}");
        }
    }

    #[test]
    fn the_window_ends_with_the_bucket_holding_now_and_spans_the_range() {
        let now = at(10 * 24 * 60) + TimeDelta::seconds(17 * 60 + 5);
        let (from, to) = window(ChartRange::Day, now);
        assert_eq!(to, at(10 * 24 * 60 + 20), "the 5-minute bucket after 00:17:05 ends at 00:20");
        assert_eq!(to - from, TimeDelta::hours(24));
        assert!(from < now && now < to);
        let (from, to) = window(ChartRange::Week, now);
        assert_eq!(to, at(10 * 24 * 60 + 30));
        assert_eq!(to - from, TimeDelta::days(7));
    }

    #[test]
    fn points_read_percentiles_and_error_rate_from_each_bucket() {
        // 100 requests in (250, 500] with 3 errors: p50 half way through the bucket, p99 near its top.
        let points = points(&[bucket(1, &[(300.0, 100)], 3), bucket(0, &[(3.0, 10)], 0)]);
        assert_eq!(points[0].at, at(0), "sorted by time");
        assert_eq!(points[1].p50_ms, Some(375.0));
        assert!(points[1].p99_ms.is_some_and(|p| p > 495.0 && p <= 500.0));
        assert_eq!(points[1].error_rate_pct, Some(3.0));
        assert_eq!(points[0].error_rate_pct, Some(0.0));
        assert!(points[0].p95_ms.is_some_and(|p| p <= 5.0));
    }

    #[test]
    fn a_bucket_with_no_requests_has_no_figures() {
        let point = Point::of(&bucket(0, &[], 0));
        assert_eq!((point.p99_ms, point.error_rate_pct), (None, None));
    }

    #[test]
    fn lines_break_at_missing_buckets_and_at_missing_values() {
        let minute = TimeDelta::minutes(1);
        let pts = points(&[
            bucket(0, &[(3.0, 1)], 0),
            bucket(1, &[(3.0, 1)], 0),
            bucket(2, &[], 0),
            bucket(3, &[(3.0, 1)], 0),
            bucket(6, &[(3.0, 1)], 0),
            bucket(7, &[(3.0, 1)], 0),
        ]);
        let lines = segments(&pts, minute, |p| p.p50_ms);
        let lengths: Vec<usize> = lines.iter().map(Vec::len).collect();
        assert_eq!(lengths, vec![2, 1, 2]);
        assert_eq!(lines[2][0].0, at(6).timestamp() as f64);
        assert!(segments(&[], minute, |p| p.p50_ms).is_empty());
    }

    #[test]
    fn the_axis_leaves_room_above_values_and_thresholds() {
        assert!((axis_top([100.0, 400.0], 1.0) - 460.0).abs() < 1e-9);
        assert_eq!(axis_top([0.0], 1.0), 1.0);
        assert!((axis_top([f64::NAN, 2.0], 1.0) - 2.3).abs() < 1e-9);
    }

    #[test]
    fn markers_name_the_percentage_entered_or_the_rollback() {
        let marker = |kind, bp| Marker::of_event(at(0), kind, bp).map(|m| (m.kind, m.label));
        assert_eq!(marker("advanced", Some(5000)), Some((MarkerKind::Stage, "→ 50%".into())));
        assert_eq!(marker("started", Some(1)), Some((MarkerKind::Stage, "→ 0.01%".into())));
        assert_eq!(marker("rolled_back", Some(0)), Some((MarkerKind::Rollback, "rolled back".into())));
        assert_eq!(marker("rolled_back", Some(1000)), Some((MarkerKind::Rollback, "rolled back to 10%".into())));
        assert_eq!(marker("signoff", None), None);
    }

    #[test]
    fn thresholds_are_labelled_in_their_unit() {
        let t = |metric, value, stage: Option<&str>| Threshold { metric, value, stage: stage.map(Into::into) }.label();
        assert_eq!(t(ThresholdMetric::LatencyP99, 500.0, None), "p99 limit 500 ms");
        assert_eq!(t(ThresholdMetric::ErrorRate, 1.5, Some("canary")), "limit 1.5% (canary)");
        assert_eq!(ThresholdMetric::parse("error_rate_increase"), None);
    }
}
