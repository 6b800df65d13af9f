//! Sending the figures: one batch per cohort and flush, delivered to `POST /api/v1/metrics` and kept in a
//! bounded outbox until the server acknowledges it, so a batch sent again under its id counts once.

use super::report::{plural, Summary};
use crate::cli::client::ApiClient;
use app::domain::guardrail::{CohortStats, MetricBatch, MetricSample};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use std::collections::{BTreeMap, VecDeque};

/// One interval's figures as a batch: one sample per cohort, stamped with the time it was cut.
pub fn batch_of(
    batch_id: String,
    flag: &str,
    environment: &str,
    cohorts: &BTreeMap<String, CohortStats>,
    at: chrono::DateTime<chrono::Utc>,
) -> MetricBatch {
    let samples = cohorts
        .iter()
        .filter(|(_, stats)| stats.requests > 0)
        .map(|(cohort, stats)| MetricSample {
            flag: flag.to_owned(),
            environment: Some(environment.to_owned()),
            cohort: cohort.clone(),
            at: Some(at),
            requests: stats.requests,
            errors: stats.errors,
            latency_buckets: Some(stats.buckets.to_vec()),
            latency_sum_ms: stats.latency_sum_ms,
        })
        .collect();
    MetricBatch { batch_id, samples, gauges: Vec::new() }
}

/// How sending one batch went.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Accepted {
        items: u64,
        duplicate: bool,
    },
    /// The server refused the batch (4xx): sending it again would not help.
    Refused(String),
    /// No answer, or 408/429/5xx: send the same batch again later.
    Retry(String),
}

#[derive(Debug, Deserialize)]
struct IngestAnswer {
    accepted: u64,
    #[serde(default)]
    duplicate: bool,
}

/// The server's error message, from `{"error": {"code", "message"}}` or `{"error": "CODE", "message"}`.
pub(super) fn error_text(status: StatusCode, body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let (code, message) = match &value["error"] {
        serde_json::Value::Object(e) => (e.get("code").cloned(), e.get("message").cloned()),
        code => (Some(code.clone()), value.get("message").cloned()),
    };
    match (code.as_ref().and_then(|c| c.as_str()), message.as_ref().and_then(|m| m.as_str())) {
        (Some(code), Some(message)) => format!("{} {code}: {message}", status.as_u16()),
        _ if status == StatusCode::NOT_FOUND => {
            "404: no POST /api/v1/metrics at this address (is --url a Rollgate that takes metrics?)".to_owned()
        }
        _ if body.trim_start().starts_with('<') => format!("{status} (an HTML page, not a Rollgate API answer)"),
        _ => format!("{} {}", status.as_u16(), body.chars().take(200).collect::<String>()),
    }
}

pub async fn deliver(client: &ApiClient, batch: &MetricBatch) -> Delivery {
    let body = match serde_json::to_value(batch) {
        Ok(body) => body,
        Err(err) => return Delivery::Refused(format!("cannot encode the batch: {err}")),
    };
    match client.send_raw(Method::POST, "/api/v1/metrics", Some(&body)).await {
        Err(err) => Delivery::Retry(err.to_string()),
        Ok((status, text)) if status.is_success() => match serde_json::from_str::<IngestAnswer>(&text) {
            Ok(answer) => Delivery::Accepted { items: answer.accepted, duplicate: answer.duplicate },
            Err(err) => Delivery::Retry(format!("{status} with an unexpected body ({err})")),
        },
        Ok((status, text))
            if status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT =>
        {
            Delivery::Retry(error_text(status, &text))
        }
        Ok((status, text)) => Delivery::Refused(error_text(status, &text)),
    }
}

/// Batches not yet acknowledged, oldest first, and what became of the others.
pub(super) struct Outbox {
    pub(super) queue: VecDeque<MetricBatch>,
    pub(super) summary: Summary,
}

/// At most this many unacknowledged batches are kept (an hour at the default flush); older ones are dropped.
const OUTBOX_LIMIT: usize = 1800;

impl Outbox {
    /// Sends the queued batches in order, stopping at the first that must be retried. Returns one line
    /// per batch sent (or the retry note).
    pub(super) async fn send(&mut self, client: &ApiClient) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(batch) = self.queue.front() {
            let samples = batch.samples.len();
            match deliver(client, batch).await {
                Delivery::Accepted { items, duplicate } => {
                    self.summary.samples_accepted += items;
                    if duplicate {
                        self.summary.batches_duplicate += 1;
                        lines.push(format!("batch {} already counted (a retry)", batch.batch_id));
                    } else {
                        self.summary.batches_accepted += 1;
                        lines.push(format!("batch {}: {samples} sample{} accepted", batch.batch_id, plural(samples)));
                    }
                }
                Delivery::Refused(why) => {
                    self.summary.batches_refused += 1;
                    lines.push(format!("ERROR: the server refused batch {} (not sent again): {why}", batch.batch_id));
                }
                Delivery::Retry(why) => {
                    lines.push(format!(
                        "WARN: batch {} not delivered, will retry with the same id ({} waiting): {why}",
                        batch.batch_id,
                        self.queue.len()
                    ));
                    return lines;
                }
            }
            self.queue.pop_front();
        }
        lines
    }

    pub(super) fn push(&mut self, batch: MetricBatch) -> Option<String> {
        self.queue.push_back(batch);
        if self.queue.len() > OUTBOX_LIMIT {
            let dropped = self.queue.pop_front()?;
            self.summary.batches_undelivered += 1;
            return Some(format!("WARN: dropped batch {}: {OUTBOX_LIMIT} batches waiting", dropped.batch_id));
        }
        None
    }
}
