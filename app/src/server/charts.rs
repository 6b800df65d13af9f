//! The rollout charts, drawn on the server as SVG so they show without JavaScript: latency (p50, p95, p99)
//! and error rate over time, treatment against control, with the guardrails' thresholds and markers for
//! stage changes and rollbacks; and a sparkline of the treatment's error rate for the flag list.
//!
//! [`series`] turns the per-bucket aggregates into plotted points (pure), [`render`] draws them with
//! plotters (pure), [`load`] reads `metric_minutes`, `guardrails` and `rollout_events`, bucketing in SQL so
//! that a week of per-minute rows arrives as a few hundred points.

pub mod load;
pub mod render;
pub mod series;

pub use load::{rollout_charts, sparklines, ChartSvgs};
pub use series::{Bucket, ChartData, Cohort, Marker, MarkerKind, Point, Threshold, ThresholdMetric};
