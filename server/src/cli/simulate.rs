//! `rollgate simulate`: a traffic generator that shows guardrails at work and tests them end to end.
//!
//! It evaluates one flag for synthetic customers (`sim-0` ... `sim-<customers - 1>`) through the real
//! evaluation API (`GET /api/v1/flags/{key}?customer_id=...`), at a paced rate with a bounded number of
//! requests in flight. Each answer puts that request in a cohort: `treatment` when the flag is on for the
//! customer, `control` when it is off (`variant:<key>` with `--per-variant`). The simulator then invents
//! what the application would have seen: a latency drawn from a log-normal law around the cohort's mean, and
//! an error with the cohort's probability. It folds both per cohort with the same [`CohortStats`] the server
//! aggregates, and every flush interval sends them to `POST /api/v1/metrics` as one batch with a fresh id; a
//! batch the server did not acknowledge is sent again under the same id, so it counts once.
//!
//! [`simulate`] does the work and returns a [`Summary`]; [`run`] wires it to the command line, Ctrl-C and
//! SIGTERM (both stop the traffic, send what is left and print the summary).

use super::client::{segment, ApiClient, ClientError, Secret};
use anyhow::Context;
use app::domain::guardrail::{CohortStats, MetricBatch, MetricSample};
use app::domain::thousands;
use clap::Args;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

// `rollgate simulate`. No doc comment: clap would take it over the subcommand's own about line.
#[derive(Debug, Clone, Args)]
#[command(after_help = EXAMPLES)]
pub struct SimulateArgs {
    /// Base URL of the running Rollgate.
    #[arg(long, env = "ROLLGATE_URL", default_value = "http://localhost:3000", help_heading = "Rollgate server")]
    pub url: String,
    /// An evaluate token for ENV (`rollgate token create --name sim --scope evaluate --env ENV`): it
    /// evaluates the flag and reports the metrics. Prefer the environment variable.
    #[arg(long, env = "ROLLGATE_TOKEN", hide_env_values = true, help_heading = "Rollgate server")]
    pub token: Secret,
    /// Seconds to wait for each HTTP request before giving up on it.
    #[arg(long, env = "ROLLGATE_HTTP_TIMEOUT_SECONDS", default_value_t = 10, help_heading = "Rollgate server",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout_seconds: u64,

    /// The flag to evaluate (its key).
    #[arg(long, value_name = "KEY")]
    pub flag: String,
    /// The environment: the evaluate token's own.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// Evaluations per second, over all workers.
    #[arg(long, value_name = "N", value_parser = parse_rps)]
    pub rps: f64,
    /// How long to run: 90s, 5m, 1h30m, 500ms, or `forever` (until Ctrl-C or SIGTERM).
    #[arg(long, default_value = "60s", value_parser = parse_run_length)]
    pub duration: RunLength,
    /// How many synthetic customers to draw from (sim-0, sim-1, ...).
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub customers: u32,
    /// Evaluations in flight at once at most. When all are busy, the rate falls short (and says so).
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: u16,
    /// How often to send the metrics and print a report.
    #[arg(long, default_value = "2s", value_parser = parse_flush)]
    pub flush: Duration,

    /// Probability of an error in the treatment (flag on): 0.1 or 10%.
    #[arg(long, value_name = "RATE", default_value = "0.001", value_parser = parse_rate, help_heading = "Traffic")]
    pub error_rate_on: f64,
    /// Probability of an error in the control (flag off): 0.001 or 0.1%.
    #[arg(long, value_name = "RATE", default_value = "0.001", value_parser = parse_rate, help_heading = "Traffic")]
    pub error_rate_off: f64,
    /// Mean latency of the treatment, in milliseconds.
    #[arg(long, value_name = "MS", default_value = "100", value_parser = parse_latency, help_heading = "Traffic")]
    pub latency_on_ms: f64,
    /// Mean latency of the control, in milliseconds.
    #[arg(long, value_name = "MS", default_value = "100", value_parser = parse_latency, help_heading = "Traffic")]
    pub latency_off_ms: f64,
    /// Spread of the latencies: the sigma of the log-normal law (0 = every request takes the mean; 0.3 puts
    /// p99 near twice the mean).
    #[arg(long, value_name = "SIGMA", default_value = "0.3", value_parser = parse_jitter, help_heading = "Traffic")]
    pub jitter: f64,
    /// A JSON file re-read every second while running; the fields it holds replace the command line's:
    /// {"error_rate_on": 0.1, "error_rate_off": 0.001, "latency_on_ms": 300, "latency_off_ms": 100,
    /// "jitter": 0.3, "rps": 50}. A missing file means the command line's figures.
    #[arg(long, value_name = "FILE", help_heading = "Traffic")]
    pub control: Option<PathBuf>,
    /// Report each variant of a multi-variant flag as its own cohort (`variant:<key>`) instead of `treatment`.
    #[arg(long, help_heading = "Traffic")]
    pub per_variant: bool,
}

const EXAMPLES: &str = "\
Each flush prints one line per cohort for that interval (requests, error rate, p50/p95/p99 from the same
histogram the server stores), the share of requests in treatment, and what the server said to the batch.
Ctrl-C or SIGTERM stops the traffic, sends what is left and prints the summary.

Examples:
  export ROLLGATE_URL=http://localhost:3000 ROLLGATE_TOKEN=rgt_...   # an evaluate token for production
  rollgate simulate --flag checkout_v2 --env production --rps 50
  rollgate simulate --flag checkout_v2 --env production --rps 50 --duration forever \\
      --error-rate-on 10% --latency-on-ms 300
  # Change the figures while it runs (re-read every second):
  rollgate simulate --flag checkout_v2 --env production --rps 50 --duration forever --control sim.json &
  echo '{\"error_rate_on\": 0.1}' > sim.json";

/// How long to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunLength {
    For(Duration),
    Forever,
}

/// `90s`, `5m`, `1h30m`, `500ms`, `2` (seconds): the product's one duration reading.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    app::domain::duration::parse("duration", text)
}

fn parse_run_length(text: &str) -> Result<RunLength, String> {
    if text.trim().eq_ignore_ascii_case("forever") {
        return Ok(RunLength::Forever);
    }
    match parse_duration(text)? {
        d if d.is_zero() => Err("the duration must be more than 0 (or `forever`)".to_owned()),
        d => Ok(RunLength::For(d)),
    }
}

fn parse_flush(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_millis(100) || d > Duration::from_secs(60) {
        return Err("the flush interval must be between 100ms and 60s".to_owned());
    }
    Ok(d)
}

/// A probability: `0.1` or `10%`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let rate = match text.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.parse::<f64>(),
    }
    .map_err(|_| format!("{text:?}: expected a rate such as 0.1 or 10%"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("{text:?}: a rate is between 0 and 1 (0% and 100%)"));
    }
    Ok(rate)
}

fn parse_latency(text: &str) -> Result<f64, String> {
    match text.trim().trim_end_matches("ms").parse::<f64>() {
        Ok(ms) if ms.is_finite() && ms > 0.0 && ms <= 600_000.0 => Ok(ms),
        _ => Err(format!("{text:?}: expected milliseconds above 0, e.g. 120")),
    }
}

fn parse_jitter(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(sigma) if (0.0..=3.0).contains(&sigma) => Ok(sigma),
        _ => Err(format!("{text:?}: expected a spread between 0 and 3, e.g. 0.3")),
    }
}

fn parse_rps(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rps) if rps > 0.0 && rps <= 100_000.0 => Ok(rps),
        _ => Err(format!("{text:?}: expected requests per second above 0 and at most 100000")),
    }
}

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

    fn describe(&self) -> String {
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
struct Tally {
    interval: BTreeMap<String, CohortStats>,
    total: BTreeMap<String, CohortStats>,
    failed: u64,
    failed_total: u64,
    last_failure: Option<String>,
}

impl Tally {
    fn take_interval(&mut self) -> (BTreeMap<String, CohortStats>, u64, Option<String>) {
        for (cohort, stats) in &self.interval {
            self.total.entry(cohort.clone()).or_default().add(stats);
        }
        (std::mem::take(&mut self.interval), std::mem::take(&mut self.failed), self.last_failure.take())
    }
}

fn locked(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub url: String,
    pub token: Secret,
    pub timeout: Duration,
    pub flag: String,
    pub environment: String,
    pub rates: Rates,
    pub run_length: RunLength,
    pub customers: u32,
    pub workers: u16,
    pub flush: Duration,
    pub control: Option<PathBuf>,
    pub per_variant: bool,
    /// Print the per-flush lines and the summary (tests turn this off).
    pub print: bool,
}

impl SimulateOptions {
    pub fn from_args(args: SimulateArgs) -> Self {
        Self {
            url: args.url,
            token: args.token,
            timeout: Duration::from_secs(args.timeout_seconds),
            flag: args.flag,
            environment: args.environment,
            rates: Rates {
                rps: args.rps,
                error_rate_on: args.error_rate_on,
                error_rate_off: args.error_rate_off,
                latency_on_ms: args.latency_on_ms,
                latency_off_ms: args.latency_off_ms,
                jitter: args.jitter,
            },
            run_length: args.duration,
            customers: args.customers,
            workers: args.workers,
            flush: args.flush,
            control: args.control,
            per_variant: args.per_variant,
            print: true,
        }
    }
}

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

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn pct(value: f64) -> String {
    if value != 0.0 && value.abs() < 1.0 {
        format!("{value:.2}%")
    } else {
        format!("{value:.1}%")
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms"))
}

fn cohort_line(cohort: &str, stats: &CohortStats) -> String {
    format!(
        "{cohort:<10} {:>7} req  errors {:>6}  p50 {:>8}  p95 {:>8}  p99 {:>8}",
        thousands(stats.requests),
        stats.error_rate_pct().map_or_else(|| "-".to_owned(), pct),
        ms(stats.percentile_ms(0.50)),
        ms(stats.percentile_ms(0.95)),
        ms(stats.percentile_ms(0.99)),
    )
}

fn treatment_share(cohorts: &BTreeMap<String, CohortStats>) -> String {
    let all: u64 = cohorts.values().map(|s| s.requests).sum();
    let on: u64 = cohorts.iter().filter(|(c, _)| c.as_str() != CONTROL).map(|(_, s)| s.requests).sum();
    if all == 0 {
        return "no requests".to_owned();
    }
    format!("{} in treatment", pct(on as f64 * 100.0 / all as f64))
}

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
fn error_text(status: StatusCode, body: &str) -> String {
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
struct Outbox {
    queue: VecDeque<MetricBatch>,
    summary: Summary,
}

/// At most this many unacknowledged batches are kept (an hour at the default flush); older ones are dropped.
const OUTBOX_LIMIT: usize = 1800;

impl Outbox {
    /// Sends the queued batches in order, stopping at the first that must be retried. Returns one line
    /// per batch sent (or the retry note).
    async fn send(&mut self, client: &ApiClient) -> Vec<String> {
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

    fn push(&mut self, batch: MetricBatch) -> Option<String> {
        self.queue.push_back(batch);
        if self.queue.len() > OUTBOX_LIMIT {
            let dropped = self.queue.pop_front()?;
            self.summary.batches_undelivered += 1;
            return Some(format!("WARN: dropped batch {}: {OUTBOX_LIMIT} batches waiting", dropped.batch_id));
        }
        None
    }
}

fn emit(print: bool, line: &str) {
    if !print {
        return;
    }
    let line = format!("{line}\n");
    if line.starts_with("ERROR") || line.contains("] ERROR") || line.contains("] WARN") {
        eprint!("{line}");
    } else {
        let _ = super::write_stdout(&line);
    }
}

/// Evaluates the flag once, to check the token, the environment and the flag before the traffic starts.
async fn probe(client: &ApiClient, options: &SimulateOptions) -> anyhow::Result<FlagAnswer> {
    let answer: FlagAnswer = client
        .get(&format!("/api/v1/flags/{}?customer_id=sim-0", segment(&options.flag)))
        .await
        .map_err(|err| match &err {
            ClientError::Api { status, .. }
                if *status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN =>
            {
                anyhow::anyhow!("{err}\n(--token must be an evaluate token for {})", options.environment)
            }
            _ => anyhow::anyhow!("{err}"),
        })
        .context("evaluating the flag once before starting")?;
    if answer.environment != options.environment {
        anyhow::bail!(
            "the token evaluates in {:?}, not in {:?}: use an evaluate token for {} or --env {}",
            answer.environment,
            options.environment,
            options.environment,
            answer.environment
        );
    }
    Ok(answer)
}

/// The current rates: the command line's, with the control file's fields over them.
fn read_control(base: Rates, path: &std::path::Path) -> Result<Rates, String> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(base),
        Ok(text) => base.with_control(&text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(base),
        Err(err) => Err(err.to_string()),
    }
}

/// Runs the traffic until the run length is over or `stop` turns true, then sends what is left.
pub async fn simulate(options: SimulateOptions, mut stop: watch::Receiver<bool>) -> anyhow::Result<Summary> {
    let client = ApiClient::new(&options.url, Some(options.token.clone()), options.timeout)?;
    probe(&client, &options).await?;
    let mut initial = options.rates;
    if let Some(path) = &options.control {
        initial =
            read_control(options.rates, path).map_err(|e| anyhow::anyhow!("--control {}: {e}", path.display()))?;
    }
    let (rates_tx, rates_rx) = watch::channel(initial);
    let run_id = format!("{:08x}", rand::thread_rng().gen::<u32>());
    let started = Instant::now();
    let deadline = match options.run_length {
        RunLength::For(d) => Some(tokio::time::Instant::now() + d),
        RunLength::Forever => None,
    };
    emit(
        options.print,
        &format!(
            "Simulating {} in {} against {}: {} customers, {} workers, a batch every {:.1} s (run {run_id})\n  {}",
            options.flag,
            options.environment,
            client.base_url(),
            thousands(u64::from(options.customers)),
            options.workers,
            options.flush.as_secs_f64(),
            initial.describe()
        ),
    );

    let tally = Arc::new(Mutex::new(Tally::default()));
    let permits = Arc::new(Semaphore::new(usize::from(options.workers)));
    let path = format!("/api/v1/flags/{}?customer_id=sim-", segment(&options.flag));
    let mut outbox = Outbox { queue: VecDeque::new(), summary: Summary::default() };
    let mut skipped = 0u64;
    let mut sequence = 0u64;

    // Pacing: at each tick, start as many evaluations as the rate says are due since the anchor (the start,
    // or the last rate change); more than a second behind, the backlog is skipped rather than burst.
    let mut anchor = Instant::now();
    let mut issued = 0u64;
    let mut rps = initial.rps;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut flush = tokio::time::interval_at(tokio::time::Instant::now() + options.flush, options.flush);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut control_check = tokio::time::interval(Duration::from_secs(1));
    let mut control_error: Option<String> = None;
    let sleep_until_deadline = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep_until_deadline);

    loop {
        tokio::select! {
            _ = &mut sleep_until_deadline => break,
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            _ = control_check.tick(), if options.control.is_some() => {
                let Some(file) = &options.control else { continue };
                match read_control(options.rates, file) {
                    Ok(rates) => {
                        control_error = None;
                        if rates != *rates_rx.borrow() {
                            emit(options.print, &format!("[{:>5}] control file: {}", since(started), rates.describe()));
                            rates_tx.send_replace(rates);
                        }
                    }
                    Err(err) if control_error.as_ref() != Some(&err) => {
                        emit(options.print, &format!("ERROR: --control {}: {err} (keeping the current figures)", file.display()));
                        control_error = Some(err);
                    }
                    Err(_) => {}
                }
            }
            _ = flush.tick() => {
                sequence += 1;
                let lines = flush_interval(&options, &client, &tally, &mut outbox, &run_id, sequence, started).await;
                for line in lines {
                    emit(options.print, &line);
                }
            }
            _ = tick.tick() => {
                let current = rates_rx.borrow().rps;
                if current != rps {
                    (anchor, issued, rps) = (Instant::now(), 0, current);
                }
                let due = (anchor.elapsed().as_secs_f64() * rps) as u64;
                let backlog_limit = (rps as u64).max(1);
                if due > issued + backlog_limit {
                    skipped += due - issued - backlog_limit;
                    issued = due - backlog_limit;
                }
                while issued < due {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else { break };
                    issued += 1;
                    let (client, tally, rates) = (client.clone(), Arc::clone(&tally), rates_rx.clone());
                    let customer = rand::thread_rng().gen_range(0..options.customers);
                    let path = format!("{path}{customer}");
                    let per_variant = options.per_variant;
                    tokio::spawn(async move {
                        let answer = client.get::<FlagAnswer>(&path).await;
                        let mut tally = locked(&tally);
                        match answer {
                            Ok(answer) => {
                                let cohort = cohort_of(&answer, per_variant);
                                let (latency, error) = rates.borrow().draw(cohort != CONTROL, &mut rand::thread_rng());
                                tally.interval.entry(cohort).or_default().record(latency, error);
                            }
                            Err(err) => {
                                tally.failed += 1;
                                tally.failed_total += 1;
                                tally.last_failure = Some(err.to_string());
                            }
                        }
                        drop(permit);
                    });
                }
            }
        }
    }

    // Let the evaluations in flight finish (each gives up after the HTTP timeout), then send the rest.
    let all = u32::from(options.workers);
    let _ = tokio::time::timeout(options.timeout + Duration::from_secs(1), permits.acquire_many(all)).await;
    sequence += 1;
    for line in flush_interval(&options, &client, &tally, &mut outbox, &run_id, sequence, started).await {
        emit(options.print, &line);
    }
    for _ in 0..3 {
        if outbox.queue.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        for line in outbox.send(&client).await {
            emit(options.print, &line);
        }
    }
    let mut summary = outbox.summary;
    summary.batches_undelivered += outbox.queue.len() as u64;
    summary.elapsed = started.elapsed();
    summary.skipped = skipped;
    let tally = locked(&tally);
    summary.cohorts = tally.total.clone();
    summary.failed_evaluations = tally.failed_total;
    Ok(summary)
}

fn since(started: Instant) -> String {
    format!("{}s", started.elapsed().as_secs())
}

/// Cuts the interval's figures into a batch, sends every waiting batch, and returns the report lines.
async fn flush_interval(
    options: &SimulateOptions,
    client: &ApiClient,
    tally: &Mutex<Tally>,
    outbox: &mut Outbox,
    run_id: &str,
    sequence: u64,
    started: Instant,
) -> Vec<String> {
    let (cohorts, failed, last_failure) = locked(tally).take_interval();
    let stamp = format!("[{:>5}]", since(started));
    let mut lines: Vec<String> = cohorts.iter().map(|(c, s)| format!("{stamp} {}", cohort_line(c, s))).collect();
    if cohorts.values().any(|s| s.requests > 0) {
        let batch = batch_of(
            format!("sim-{run_id}-{sequence:06}"),
            &options.flag,
            &options.environment,
            &cohorts,
            chrono::Utc::now(),
        );
        if let Some(line) = outbox.push(batch) {
            lines.push(format!("{stamp} {line}"));
        }
    }
    if failed > 0 {
        let why = last_failure.unwrap_or_default();
        lines.push(format!("{stamp} ERROR: {failed} evaluations failed in this interval; the last: {why}"));
    }
    let (problems, sent): (Vec<String>, Vec<String>) =
        outbox.send(client).await.into_iter().partition(|line| line.starts_with("ERROR") || line.starts_with("WARN"));
    let mut status = vec![treatment_share(&cohorts)];
    status.extend(sent);
    lines.push(format!("{stamp} {}", status.join("; ")));
    lines.extend(problems.into_iter().map(|line| format!("{stamp} {line}")));
    lines
}

/// `rollgate simulate`: runs until the duration is over, Ctrl-C or SIGTERM, and prints the summary.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let options = SimulateOptions::from_args(args);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
                let _ = stop_tx.send(true);
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("stopping: sending what is left");
        let _ = stop_tx.send(true);
    });
    let summary = simulate(options, stop_rx).await?;
    super::write_stdout(&summary.render())?;
    if summary.batches_undelivered > 0 || summary.batches_refused > 0 {
        anyhow::bail!(
            "{} batches refused and {} undelivered: the server did not store every figure",
            summary.batches_refused,
            summary.batches_undelivered
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rates() -> Rates {
        Rates {
            rps: 50.0,
            error_rate_on: 0.1,
            error_rate_off: 0.001,
            latency_on_ms: 120.0,
            latency_off_ms: 100.0,
            jitter: 0.3,
        }
    }

    #[test]
    fn durations_take_units_and_forever() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5x").is_err());
        assert_eq!(parse_run_length("forever"), Ok(RunLength::Forever));
        assert!(parse_run_length("0s").is_err());
        assert!(parse_flush("10ms").is_err());
    }

    #[test]
    fn rates_take_fractions_and_percentages() {
        assert_eq!(parse_rate("0.1"), Ok(0.1));
        assert_eq!(parse_rate("10%"), Ok(0.1));
        assert!(parse_rate("1.5").is_err());
        assert!(parse_rate("-1%").is_err());
        assert!(parse_latency("0").is_err());
        assert_eq!(parse_latency("120ms"), Ok(120.0));
    }

    #[test]
    fn a_control_file_replaces_only_the_fields_it_names() {
        let changed = rates().with_control(r#"{"error_rate_on": "20%", "latency_on_ms": 300}"#).unwrap();
        assert_eq!(changed, Rates { error_rate_on: 0.2, latency_on_ms: 300.0, ..rates() });
        let err = rates().with_control(r#"{"error_rate": 0.2}"#).unwrap_err();
        assert!(err.contains("unknown field \"error_rate\""), "{err}");
        assert!(rates().with_control(r#"{"error_rate_on": 2}"#).unwrap_err().starts_with("error_rate_on:"));
        assert!(rates().with_control("[1]").is_err());
    }

    #[test]
    fn drawn_latencies_and_errors_follow_the_cohort_figures() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (mut on, mut off) = (CohortStats::default(), CohortStats::default());
        for _ in 0..20_000 {
            let (latency, error) = rates().draw(true, &mut rng);
            on.record(latency, error);
            let (latency, error) = rates().draw(false, &mut rng);
            off.record(latency, error);
        }
        let on_mean = on.latency_sum_ms / on.requests as f64;
        let off_mean = off.latency_sum_ms / off.requests as f64;
        assert!((on_mean - 120.0).abs() < 3.0, "treatment mean {on_mean}");
        assert!((off_mean - 100.0).abs() < 3.0, "control mean {off_mean}");
        let on_errors = on.error_rate_pct().unwrap();
        assert!((9.0..11.0).contains(&on_errors), "treatment errors {on_errors}%");
        assert!(off.error_rate_pct().unwrap() < 0.3);
        // Without jitter every request takes the mean.
        let steady = Rates { jitter: 0.0, ..rates() };
        assert!((steady.draw(false, &mut rng).0 - 100.0).abs() < 1e-9);
    }

    fn answer(value: serde_json::Value, variant: Option<&str>) -> FlagAnswer {
        FlagAnswer {
            environment: "production".into(),
            value,
            variant: variant.map(str::to_owned),
            reason: "SPLIT".into(),
        }
    }

    #[test]
    fn answers_fall_in_treatment_or_control() {
        use serde_json::json;
        assert_eq!(cohort_of(&answer(json!(true), None), false), "treatment");
        assert_eq!(cohort_of(&answer(json!(false), None), false), "control");
        assert_eq!(cohort_of(&answer(json!("blue"), Some("blue")), false), "treatment");
        assert_eq!(cohort_of(&answer(json!("blue"), Some("blue")), true), "variant:blue");
        assert_eq!(cohort_of(&answer(json!("off"), None), false), "control");
        assert_eq!(cohort_of(&answer(json!({"limit": 3}), None), false), "treatment");
    }

    #[test]
    fn a_batch_carries_one_valid_sample_per_cohort() {
        let mut cohorts = BTreeMap::new();
        let mut treatment = CohortStats::default();
        treatment.record(120.0, true);
        treatment.record(80.0, false);
        cohorts.insert("treatment".to_owned(), treatment);
        cohorts.insert("control".to_owned(), CohortStats::default());
        let now = chrono::Utc::now();
        let batch = batch_of("sim-1-000001".into(), "checkout", "production", &cohorts, now);
        assert_eq!(batch.samples.len(), 1, "an empty cohort sends nothing");
        let sample = &batch.samples[0];
        assert_eq!((sample.requests, sample.errors), (2, 1));
        assert_eq!(sample.latency_buckets.as_ref().map(|b| b.iter().sum::<u64>()), Some(2));
        let production = app::domain::EnvKey::parse("production").unwrap();
        let valid = app::domain::guardrail::validate_batch(&batch, Some(&production), now).unwrap();
        assert_eq!(valid.samples.len(), 1);
    }

    #[test]
    fn server_errors_read_in_both_shapes() {
        let nested = r#"{"error": {"code": "INVALID_BATCH", "message": "samples[0].flag: unknown"}}"#;
        assert_eq!(error_text(StatusCode::UNPROCESSABLE_ENTITY, nested), "422 INVALID_BATCH: samples[0].flag: unknown");
        let flat = r#"{"error": "UNAUTHORIZED", "message": "the API token is unknown"}"#;
        assert_eq!(error_text(StatusCode::UNAUTHORIZED, flat), "401 UNAUTHORIZED: the API token is unknown");
        assert!(error_text(StatusCode::BAD_GATEWAY, "<html>").contains("not a Rollgate API answer"));
        assert!(error_text(StatusCode::NOT_FOUND, "<!DOCTYPE html>").contains("no POST /api/v1/metrics"));
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(pct(0.1), "0.10%");
        assert_eq!(pct(12.345), "12.3%");
    }
}
