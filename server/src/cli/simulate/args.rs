//! The command line of `rollgate simulate` and the options it turns into: run length, rates, flush interval.

use super::traffic::Rates;
use crate::cli::client::Secret;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

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

pub(super) fn parse_run_length(text: &str) -> Result<RunLength, String> {
    if text.trim().eq_ignore_ascii_case("forever") {
        return Ok(RunLength::Forever);
    }
    match parse_duration(text)? {
        d if d.is_zero() => Err("the duration must be more than 0 (or `forever`)".to_owned()),
        d => Ok(RunLength::For(d)),
    }
}

pub(super) fn parse_flush(text: &str) -> Result<Duration, String> {
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

pub(super) fn parse_latency(text: &str) -> Result<f64, String> {
    match text.trim().trim_end_matches("ms").parse::<f64>() {
        Ok(ms) if ms.is_finite() && ms > 0.0 && ms <= 600_000.0 => Ok(ms),
        _ => Err(format!("{text:?}: expected milliseconds above 0, e.g. 120")),
    }
}

pub(super) fn parse_jitter(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(sigma) if (0.0..=3.0).contains(&sigma) => Ok(sigma),
        _ => Err(format!("{text:?}: expected a spread between 0 and 3, e.g. 0.3")),
    }
}

pub(super) fn parse_rps(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rps) if rps > 0.0 && rps <= 100_000.0 => Ok(rps),
        _ => Err(format!("{text:?}: expected requests per second above 0 and at most 100000")),
    }
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
