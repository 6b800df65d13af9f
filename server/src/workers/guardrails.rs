//! The guardrail worker of a server process: a pass every `--guardrail-interval-seconds` (10 by default),
//! of which only one replica at a time does the work (see `app::server::guardrails::worker`), and the
//! Prometheus source its guardrails may read.

use app::server::guardrails::worker::{self, Pulse, QuerySource};
use clap::Args;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// Settings of the guardrail worker (`rollgate serve`).
#[derive(Debug, Clone, Args)]
pub struct GuardrailArgs {
    /// Seconds between guardrail passes. A breach is acted on at most this long after its figures arrive.
    #[arg(long, env = "ROLLGATE_GUARDRAIL_INTERVAL_SECONDS", default_value_t = 10)]
    pub guardrail_interval_seconds: u64,
    /// Seconds a Prometheus server has to answer a guardrail's query before the source counts as down.
    #[arg(long, env = "ROLLGATE_PROMETHEUS_TIMEOUT_SECONDS", default_value_t = 5)]
    pub prometheus_timeout_seconds: u64,
}

/// Reads PromQL instant queries over the HTTP API (`GET /api/v1/query`).
pub struct Prometheus {
    client: reqwest::Client,
}

impl Prometheus {
    /// A client with the query timeout. One that cannot be built stops start-up rather than falling back
    /// to a client without the timeout, which would let one hung source stall every guardrail pass.
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        use anyhow::Context;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .context("building the Prometheus HTTP client (TLS roots, timeout)")?;
        Ok(Self { client })
    }
}

/// The one number of an instant query's answer: a scalar, or a vector of exactly one sample.
pub fn parse_prometheus_answer(body: &serde_json::Value) -> Result<Option<f64>, String> {
    if body["status"] != "success" {
        let error = body["error"].as_str().unwrap_or("no reason given");
        return Err(format!("Prometheus refused the query: {error}"));
    }
    let number = |pair: &serde_json::Value| -> Result<f64, String> {
        let text = pair[1].as_str().ok_or("a sample without a value")?;
        text.parse::<f64>().map_err(|_| format!("{text:?} is not a number"))
    };
    let data = &body["data"];
    match data["resultType"].as_str() {
        Some("scalar") => number(&data["result"]).map(Some),
        Some("vector") => {
            let result = data["result"].as_array().ok_or("no result")?;
            match result.as_slice() {
                [] => Ok(None),
                [one] => number(&one["value"]).map(Some),
                many => Err(format!("the query answered {} series; it must answer one number", many.len())),
            }
        }
        other => Err(format!("the query answered a {}; it must answer one number", other.unwrap_or("nothing"))),
    }
}

impl QuerySource for Prometheus {
    async fn query(&self, base_url: &str, promql: &str) -> Result<Option<f64>, String> {
        let url = format!("{}/api/v1/query", base_url.trim_end_matches('/'));
        let response = self
            .client
            .get(&url)
            .query(&[("query", promql)])
            .send()
            .await
            .map_err(|e| format!("{base_url} did not answer: {}", e.without_url()))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("{base_url} answered {status} without a Prometheus JSON body: {}", e.without_url()))?;
        parse_prometheus_answer(&body)
    }
}

/// Runs passes until the task is aborted, beating `pulse` after each.
pub async fn run(pool: PgPool, args: GuardrailArgs, source: Prometheus, pulse: Arc<Pulse>) {
    let interval = Duration::from_secs(args.guardrail_interval_seconds.max(1));
    pulse.started(interval);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match worker::run_pass(&pool, &source, chrono::Utc::now()).await {
            Ok(report) => {
                pulse.beat(chrono::Utc::now());
                for action in &report.actions {
                    tracing::info!(%action, "guardrail worker acted");
                }
            }
            Err(err) => tracing::error!(error = %err, "guardrail pass failed; retrying next interval"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_one_number_or_says_why_not() {
        let vector = |result| json!({ "status": "success", "data": { "resultType": "vector", "result": result } });
        assert_eq!(parse_prometheus_answer(&vector(json!([{ "metric": {}, "value": [1.0, "2.5"] }]))), Ok(Some(2.5)));
        assert_eq!(parse_prometheus_answer(&vector(json!([]))), Ok(None));
        assert!(parse_prometheus_answer(&vector(json!([{ "value": [1, "1"] }, { "value": [1, "2"] }])))
            .unwrap_err()
            .contains("2 series"));
        let scalar = json!({ "status": "success", "data": { "resultType": "scalar", "result": [1.0, "0.75"] } });
        assert_eq!(parse_prometheus_answer(&scalar), Ok(Some(0.75)));
        let error = json!({ "status": "error", "errorType": "bad_data", "error": "parse error at char 3" });
        assert_eq!(parse_prometheus_answer(&error), Err("Prometheus refused the query: parse error at char 3".into()));
    }
}
