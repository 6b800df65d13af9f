//! `/metrics` for Prometheus: flag evaluations by environment, flag and reason; the snapshot's version and
//! age; HTTP request latency by route. Served in the OpenMetrics text format, which Prometheus reads.
//!
//! Evaluation counts are kept by the snapshot itself (one relaxed atomic add per answer, see
//! `app::server::snapshot::EvalCounters`) and read here at scrape time, so the hot path never takes a lock.

use app::server::snapshot::SnapshotHolder;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;
use std::time::Instant;

/// Latency buckets in seconds: evaluation answers in well under a millisecond, admin pages in tens.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    /// The route pattern (`/api/v1/flags/{key}`), never the raw path, so the label set stays small.
    route: String,
    status: u16,
}

type HttpFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    http: HttpFamily,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(snapshot: Arc<SnapshotHolder>) -> Self {
        let mut registry = Registry::default();
        let http: HttpFamily = Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        registry.register_with_unit(
            "rollgate_http_request_duration",
            "HTTP request latency by method, route and status",
            Unit::Seconds,
            http.clone(),
        );
        registry.register_collector(Box::new(SnapshotCollector(snapshot)));
        Self { registry, http }
    }

    /// Records one answered request, `started` when its handler was called.
    pub fn observe(
        &self,
        method: &axum::http::Method,
        route: Option<&MatchedPath>,
        status: axum::http::StatusCode,
        started: Instant,
    ) {
        let labels = HttpLabels {
            method: method.as_str().to_owned(),
            route: route.map_or("unmatched", MatchedPath::as_str).to_owned(),
            status: status.as_u16(),
        };
        self.http.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    }

    /// The exposition text.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Middleware timing every routed request (mounted with `route_layer`, so the matched route is known).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    metrics.observe(&method, route.as_ref(), response.status(), started);
    response
}

/// Prometheus metrics of this process (OpenMetrics text): evaluations, snapshot, HTTP requests by route.
/// Public, like `/healthz`: it names no flag values (put it behind your network's scrape rules).
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The metrics", body = String,
               content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")),
    security(()),
)]
pub async fn serve(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.render() {
        Ok(body) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
            .into_response(),
        Err(_) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "could not encode the metrics").into_response(),
    }
}

/// Reads the snapshot's counters at scrape time.
#[derive(Debug)]
struct SnapshotCollector(Arc<SnapshotHolder>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let holder = &self.0;
        let (flags, not_found) = holder.evaluation_counts();

        let counter_type = ConstCounter::new(0u64).metric_type();
        let mut family = encoder.encode_descriptor(
            "rollgate_evaluations",
            "Flag evaluations answered, by environment, flag and reason",
            None,
            counter_type,
        )?;
        for entry in &flags {
            for (reason, count) in entry.counters.counts().filter(|(_, count)| *count > 0) {
                let labels = [
                    ("environment", entry.environment.as_str()),
                    ("flag", entry.flag.as_str()),
                    ("reason", reason.as_str()),
                ];
                ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "rollgate_evaluation_flag_not_found",
            "Evaluations of a flag key the environment does not have",
            None,
            counter_type,
        )?;
        for (environment, count) in &not_found {
            ConstCounter::new(*count).encode(family.encode_family(&[("environment", environment.as_str())])?)?;
        }

        let gauge_type = ConstGauge::new(0i64).metric_type();
        let loaded = holder.version().is_some();
        ConstGauge::new(i64::from(loaded)).encode(encoder.encode_descriptor(
            "rollgate_snapshot_loaded",
            "1 once this process holds a configuration snapshot, else 0 (evaluation answers 503)",
            None,
            gauge_type,
        )?)?;
        if let Some(version) = holder.version() {
            ConstGauge::new(version).encode(encoder.encode_descriptor(
                "rollgate_snapshot_version",
                "The configuration version of the snapshot being served",
                None,
                gauge_type,
            )?)?;
        }
        if let Some(age_ms) = holder.age_ms() {
            #[allow(clippy::cast_precision_loss)] // milliseconds fit an f64 exactly for 285,000 years
            ConstGauge::new(age_ms as f64 / 1000.0).encode(encoder.encode_descriptor(
                "rollgate_snapshot_age",
                "Seconds since PostgreSQL last confirmed the snapshot is current; grows while it is unreachable",
                Some(&Unit::Seconds),
                gauge_type,
            )?)?;
        }
        Ok(())
    }
}
