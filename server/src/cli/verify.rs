//! `rollgate verify`: checks a running Rollgate over HTTP (never SQL) and reports one line per check,
//! OK, WARN or FAIL. [`verify`] returns the report; [`run`] prints it and sets the exit code, so tests call
//! the former against a real server.

use super::client::{ApiClient, ClientError, Secret};
use crate::api::admin::HealthReport;
use crate::config::VerifyArgs;
use anyhow::Context;
use reqwest::Method;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Self::Ok => "\x1b[32m",
            Self::Warn => "\x1b[33m",
            Self::Fail => "\x1b[1;31m",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// The figures behind the line, for `--json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl Check {
    fn new(check: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self { check: check.into(), status, detail: detail.into(), data: None }
    }

    fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// Everything `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    pub url: String,
    pub checks: Vec<Check>,
}

impl VerifyReport {
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    pub fn failed(&self) -> bool {
        self.count(Status::Fail) > 0
    }

    /// The first check of that name.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.check == name)
    }

    /// One line per check, then a summary; ANSI colours when `colour`.
    pub fn render(&self, colour: bool) -> String {
        let width = self.checks.iter().map(|c| c.check.chars().count()).max().unwrap_or(0);
        let mut out = format!("Verifying {}\n", self.url);
        for c in &self.checks {
            let label = format!("{:<4}", c.status.label());
            let label = if colour { format!("{}{label}\x1b[0m", c.status.colour()) } else { label };
            out.push_str(&format!("{label}  {:<width$}  {}\n", c.check, c.detail));
        }
        out.push_str(&format!(
            "{} FAIL, {} WARN, {} OK\n",
            self.count(Status::Fail),
            self.count(Status::Warn),
            self.count(Status::Ok)
        ));
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "ok": !self.failed(),
            "fail": self.count(Status::Fail),
            "warn": self.count(Status::Warn),
            "checks": self.checks,
        })
    }
}

/// The states an operator expects: environment -> flag -> on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpectedStates(pub BTreeMap<String, BTreeMap<String, bool>>);

impl ExpectedStates {
    /// Parses `{environment: {flag_key: on|off}}`. `on`/`off` and `true`/`false` are accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        type Raw = BTreeMap<String, Option<BTreeMap<String, serde_norway::Value>>>;
        if text.trim().is_empty() {
            return Err("the file is empty; expected `environment: {flag_key: on|off}`".to_owned());
        }
        let raw: Raw = serde_norway::from_str(text)
            .map_err(|e| format!("{e}; expected a map of environments to maps of flag keys to on|off"))?;
        let mut out = BTreeMap::new();
        for (env, flags) in raw {
            let mut states = BTreeMap::new();
            for (flag, value) in flags.unwrap_or_default() {
                let on = match &value {
                    serde_norway::Value::Bool(b) => *b,
                    serde_norway::Value::String(s) => match s.to_ascii_lowercase().as_str() {
                        "on" | "true" => true,
                        "off" | "false" => false,
                        _ => return Err(format!("{env}.{flag}: expected on or off, got {s:?}")),
                    },
                    other => return Err(format!("{env}.{flag}: expected on or off, got {other:?}")),
                };
                states.insert(flag, on);
            }
            out.insert(env, states);
        }
        Ok(Self(out))
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}

/// What to check, and against which limits.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub url: String,
    pub token: Secret,
    pub eval_token: Option<Secret>,
    pub expected: Option<ExpectedStates>,
    pub requests: u32,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub timeout: Duration,
}

/// Runs every check. Fails only on a malformed URL; everything the server does is in the report.
pub async fn verify(options: &VerifyOptions) -> anyhow::Result<VerifyReport> {
    let admin = ApiClient::new(&options.url, Some(options.token.clone()), options.timeout)?;
    let anonymous = admin.with_token(None);
    let mut checks = Vec::new();

    match anonymous.send_raw(Method::GET, "/healthz", None).await {
        Ok((status, _)) if status.is_success() => checks.push(Check::new("liveness", Status::Ok, "/healthz answers")),
        Ok((status, _)) => checks.push(Check::new("liveness", Status::Fail, format!("/healthz answered {status}"))),
        Err(err) => {
            checks.push(Check::new("liveness", Status::Fail, format!("{err}")));
            checks.push(Check::new("other checks", Status::Fail, "not run: the server cannot be reached"));
            return Ok(VerifyReport { url: admin.base_url().to_owned(), checks });
        }
    }
    let readiness = readiness(&anonymous).await;
    let ready_snapshot = readiness.data.clone();
    checks.push(readiness);

    let health: Result<HealthReport, ClientError> = admin.get("/api/admin/health").await;
    checks.push(database_check(&health));
    checks.push(snapshot_check(&health, ready_snapshot.as_ref()));
    let database_down = match &health {
        Ok(h) => !h.database.ok,
        Err(err) => err.code() == Some("DATABASE_UNAVAILABLE"),
    };
    if database_down {
        checks.push(Check::new("flag states", Status::Warn, "skipped: the database is unreachable"));
    } else {
        checks.extend(flag_checks(&admin, options.expected.as_ref()).await);
    }
    checks.push(latency_check(&admin, options).await);
    checks.push(guardrail_check(&health));
    checks.extend(stuck_checks(&health));
    Ok(VerifyReport { url: admin.base_url().to_owned(), checks })
}

async fn readiness(client: &ApiClient) -> Check {
    let (status, text) = match client.send_raw(Method::GET, "/readyz", None).await {
        Ok(answer) => answer,
        Err(err) => return Check::new("readiness", Status::Fail, err.to_string()),
    };
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let state = body["status"].as_str().unwrap_or("unknown");
    let version = body["snapshot_version"].as_i64();
    let age = body["snapshot_age_ms"].as_i64();
    let described = match (version, age) {
        (Some(v), Some(a)) => format!("snapshot version {v}, confirmed {} ago", seconds(a)),
        _ => String::new(),
    };
    match (status.as_u16(), state) {
        (200, "ready") => Check::new("readiness", Status::Ok, format!("ready ({described})")),
        (200, "stale") => Check::new(
            "readiness",
            Status::Warn,
            format!("stale: still serving, but PostgreSQL has not confirmed the configuration ({described})"),
        ),
        (_, "no_snapshot") => Check::new(
            "readiness",
            Status::Fail,
            "no_snapshot: no configuration loaded, evaluation answers 503".to_owned(),
        ),
        _ => Check::new("readiness", Status::Fail, format!("/readyz answered {status}: {}", truncate(&text, 120))),
    }
    .with_data(body)
}

fn database_check(health: &Result<HealthReport, ClientError>) -> Check {
    match health {
        Ok(h) if h.database.ok => Check::new(
            "database",
            Status::Ok,
            format!(
                "reachable ({:.1} ms, configuration version {})",
                h.database.latency_ms,
                version(h.database.config_version)
            ),
        ),
        Ok(h) => Check::new(
            "database",
            Status::Fail,
            format!(
                "database unreachable: {} (waited {:.0} ms)",
                h.database.error.as_deref().unwrap_or("no reason given"),
                h.database.latency_ms
            ),
        ),
        Err(err) if err.code() == Some("DATABASE_UNAVAILABLE") => {
            Check::new("database", Status::Fail, format!("database unreachable ({})", err.short()))
        }
        Err(err) => Check::new("database", Status::Fail, format!("unknown: the health check failed: {err}")),
    }
    .with_data(health.as_ref().map_or(serde_json::Value::Null, |h| serde_json::json!(h.database)))
}

fn snapshot_check(health: &Result<HealthReport, ClientError>, readyz: Option<&serde_json::Value>) -> Check {
    let Ok(h) = health else {
        // Without the health report, /readyz still tells the snapshot's version and age.
        let age = readyz.and_then(|r| r["snapshot_age_ms"].as_i64());
        let stale = age.is_none_or(|a| a > crate::api::admin::SNAPSHOT_STALE_AFTER_MS);
        return Check::new(
            "snapshot",
            if stale { Status::Fail } else { Status::Warn },
            match age {
                Some(a) => format!("confirmed {} ago (from /readyz; the health check failed)", seconds(a)),
                None => "unknown: no snapshot reported".to_owned(),
            },
        );
    };
    let s = &h.snapshot;
    let data = serde_json::json!(s);
    let (Some(v), Some(age)) = (s.version, s.age_ms) else {
        return Check::new("snapshot", Status::Fail, "no snapshot loaded: evaluation answers 503").with_data(data);
    };
    if age > s.stale_after_ms {
        return Check::new(
            "snapshot",
            Status::Fail,
            format!("stale: version {v} not confirmed by PostgreSQL for {}", seconds(age)),
        )
        .with_data(data);
    }
    match h.database.config_version {
        Some(db) if db > v => Check::new(
            "snapshot",
            Status::Warn,
            format!("serving version {v} but the database is at {db} (a reload may be under way)"),
        ),
        _ => Check::new("snapshot", Status::Ok, format!("fresh: version {v}, confirmed {} ago", seconds(age))),
    }
    .with_data(data)
}

async fn flag_checks(admin: &ApiClient, expected: Option<&ExpectedStates>) -> Vec<Check> {
    let listing = match admin.all_flags(None).await {
        Ok(l) => l,
        Err(err) => return vec![Check::new("flag states", Status::Fail, format!("cannot list the flags: {err}"))],
    };
    let mut checks = Vec::new();
    for env in &listing.environments {
        let states: Vec<(&str, bool)> = listing
            .flags
            .iter()
            .filter_map(|f| f.states.iter().find(|s| s.environment == env.key).map(|s| (f.key.as_str(), s.enabled)))
            .collect();
        let on = states.iter().filter(|(_, enabled)| *enabled).count();
        let summary = format!("{} flags: {on} on, {} off", states.len(), states.len() - on);
        let by_flag: BTreeMap<&str, &str> = states.iter().map(|(k, e)| (*k, on_off(*e))).collect();
        let data = serde_json::json!({ "flags": by_flag });
        let name = format!("flags in {}", env.key);
        let Some(wanted) = expected.and_then(|e| e.0.get(&env.key)) else {
            checks.push(Check::new(name, Status::Ok, summary).with_data(data));
            continue;
        };
        let mut problems = Vec::new();
        for (flag, want_on) in wanted {
            match states.iter().find(|(k, _)| k == flag) {
                None => problems.push(format!("{flag} does not exist (expected {})", on_off(*want_on))),
                Some((_, is_on)) if is_on != want_on => {
                    problems.push(format!("{flag} is {}, expected {}", on_off(*is_on), on_off(*want_on)))
                }
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            checks.push(
                Check::new(name, Status::Ok, format!("{summary}; all {} as expected", wanted.len())).with_data(data),
            );
        } else {
            checks.push(
                Check::new(
                    name,
                    Status::Fail,
                    format!("{} of {} not as expected: {}", problems.len(), wanted.len(), problems.join("; ")),
                )
                .with_data(data),
            );
        }
    }
    if let Some(expected) = expected {
        for (env, flags) in &expected.0 {
            if !listing.environments.iter().any(|e| &e.key == env) {
                checks.push(Check::new(
                    format!("flags in {env}"),
                    Status::Fail,
                    format!(
                        "no environment {env:?} on the server (the expect file lists {} flag(s) for it)",
                        flags.len()
                    ),
                ));
            }
        }
    }
    if checks.is_empty() {
        checks.push(Check::new("flag states", Status::Warn, "the server has no environments"));
    }
    checks
}

/// The `q`-th percentile (0-100) of sorted values, by the nearest-rank method.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

async fn latency_check(admin: &ApiClient, options: &VerifyOptions) -> Check {
    const NAME: &str = "evaluation latency";
    let Some(token) = &options.eval_token else {
        return Check::new(NAME, Status::Warn, "skipped: no evaluate token (--eval-token or ROLLGATE_EVAL_TOKEN)");
    };
    let client = admin.with_token(Some(token.clone()));
    // One request first, so the connection set-up is not counted.
    let warm_up = serde_json::json!({ "context": { "customer_id": "rollgate-verify" } });
    if let Err(err) = client.send::<serde_json::Value>(Method::POST, "/api/v1/evaluate", Some(&warm_up)).await {
        return Check::new(NAME, Status::Fail, format!("the first request failed: {err}"));
    }
    let mut times = Vec::with_capacity(options.requests as usize);
    let mut failures = 0u32;
    let mut first_failure = None;
    for i in 0..options.requests {
        let body = serde_json::json!({ "context": { "customer_id": format!("rollgate-verify-{i}") } });
        let started = Instant::now();
        match client.send_raw(Method::POST, "/api/v1/evaluate", Some(&body)).await {
            Ok((status, _)) if status.is_success() => times.push(started.elapsed().as_secs_f64() * 1000.0),
            Ok((status, text)) => {
                failures += 1;
                first_failure.get_or_insert_with(|| format!("{status}: {}", truncate(&text, 120)));
            }
            Err(err) => {
                failures += 1;
                first_failure.get_or_insert_with(|| err.short());
            }
        }
    }
    times.sort_by(f64::total_cmp);
    judge_latency(&times, failures, first_failure.as_deref(), options.p50_ms, options.p99_ms)
}

/// The latency line from the measured round trips (sorted, in ms) and the failures.
pub fn judge_latency(sorted: &[f64], failures: u32, first_failure: Option<&str>, p50_max: f64, p99_max: f64) -> Check {
    const NAME: &str = "evaluation latency";
    let total = sorted.len() + failures as usize;
    if failures > 0 {
        return Check::new(
            NAME,
            Status::Fail,
            format!("{failures} of {total} requests failed; first: {}", first_failure.unwrap_or("unknown")),
        );
    }
    let (Some(p50), Some(p99)) = (percentile(sorted, 50.0), percentile(sorted, 99.0)) else {
        return Check::new(NAME, Status::Fail, "no request was measured");
    };
    let detail = format!("p50 {p50:.1} ms, p99 {p99:.1} ms over {total} requests (limits {p50_max} / {p99_max} ms)");
    let status = if p50 > p50_max || p99 > p99_max { Status::Fail } else { Status::Ok };
    Check::new(NAME, status, detail).with_data(serde_json::json!({
        "requests": total, "p50_ms": p50, "p99_ms": p99, "max_ms": sorted.last(),
        "p50_limit_ms": p50_max, "p99_limit_ms": p99_max,
    }))
}

fn guardrail_check(health: &Result<HealthReport, ClientError>) -> Check {
    match health {
        Ok(h) if h.guardrail_worker.running => Check::new(
            "guardrail worker",
            Status::Ok,
            h.guardrail_worker.reason.clone().unwrap_or_else(|| "running".to_owned()),
        ),
        Ok(h) => Check::new(
            "guardrail worker",
            Status::Fail,
            h.guardrail_worker.reason.clone().unwrap_or_else(|| "not running".to_owned()),
        ),
        Err(_) => Check::new("guardrail worker", Status::Warn, "unknown: the health check failed (see database)"),
    }
}

fn stuck_checks(health: &Result<HealthReport, ClientError>) -> Vec<Check> {
    const NAME: &str = "stuck rollouts";
    let stuck = match health {
        Ok(HealthReport { stuck_rollouts: Some(stuck), .. }) => stuck,
        Ok(_) => return vec![Check::new(NAME, Status::Warn, "unknown: the database could not be asked")],
        Err(_) => return vec![Check::new(NAME, Status::Warn, "unknown: the health check failed (see database)")],
    };
    if stuck.is_empty() {
        return vec![Check::new(NAME, Status::Ok, "none waiting for a sign-off past their soak")];
    }
    stuck
        .iter()
        .map(|s| {
            let since = s
                .soak_ended_at
                .map(|at| format!(", soak over for {}", seconds((chrono::Utc::now() - at).num_milliseconds())))
                .unwrap_or_default();
            Check::new(
                format!("stuck rollout {}/{}", s.flag, s.environment),
                Status::Warn,
                format!(
                    "at stage {} ({}, {}){since}; stage {} ({}) waits for sign-off: {}",
                    s.stage,
                    s.stage_name,
                    s.percent,
                    s.next_stage,
                    s.next_stage_name,
                    s.missing_roles.join(", ")
                ),
            )
            .with_data(serde_json::json!(s))
        })
        .collect()
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn version(v: Option<i64>) -> String {
    v.map_or_else(|| "unknown".to_owned(), |v| v.to_string())
}

/// `850 ms`, `4.2 s`, `3 min 5 s`, `2 h 10 min`.
fn seconds(ms: i64) -> String {
    match ms {
        ..=999 => format!("{} ms", ms.max(0)),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
        _ => format!("{} h {} min", ms / 3_600_000, (ms % 3_600_000) / 60_000),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

/// `rollgate verify`: prints the report (JSON with `--json`) and fails when any check FAILs.
pub async fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let expected = args.expect.as_deref().map(ExpectedStates::load).transpose()?;
    let options = VerifyOptions {
        url: args.remote.url,
        token: args.remote.token,
        eval_token: args.eval_token,
        expected,
        requests: args.requests,
        p50_ms: args.p50_ms,
        p99_ms: args.p99_ms,
        timeout: Duration::from_secs(args.remote.timeout_seconds),
    };
    let report = verify(&options).await?;
    if args.json {
        super::write_stdout(&format!("{}\n", serde_json::to_string_pretty(&report.to_json())?))?;
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        super::write_stdout(&report.render(colour))?;
    }
    if report.failed() {
        anyhow::bail!("{} of {} checks failed", report.count(Status::Fail), report.checks.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expected_state_file_takes_on_off_and_booleans() {
        let parsed = ExpectedStates::parse("production:\n  checkout: on\n  search: off\nstaging:\n  checkout: true\n")
            .expect("a valid file");
        let expected = |env: &str, flag: &str| parsed.0.get(env).and_then(|flags| flags.get(flag)).copied();
        assert_eq!(expected("production", "checkout"), Some(true));
        assert_eq!(expected("production", "search"), Some(false));
        assert_eq!(expected("staging", "checkout"), Some(true));
    }

    #[test]
    fn a_bad_expected_state_says_where() {
        let err = ExpectedStates::parse("production:\n  checkout: maybe\n").expect_err("maybe is not a state");
        assert!(err.contains("production.checkout"), "{err}");
        assert!(ExpectedStates::parse("").is_err());
        assert!(ExpectedStates::parse("- a list\n").is_err());
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(100.0));
        assert_eq!(percentile(&values, 99.0), Some(198.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn latency_above_a_limit_or_any_failed_request_fails() {
        let fast: Vec<f64> = vec![1.0; 100];
        assert_eq!(judge_latency(&fast, 0, None, 20.0, 100.0).status, Status::Ok);
        let mut slow_tail = vec![1.0; 98];
        slow_tail.extend([150.0, 150.0]);
        assert_eq!(judge_latency(&slow_tail, 0, None, 20.0, 100.0).status, Status::Fail);
        let failed = judge_latency(&fast, 3, Some("401 UNAUTHORIZED: no"), 20.0, 100.0);
        assert_eq!(failed.status, Status::Fail);
        assert!(failed.detail.contains("3 of 103"), "{}", failed.detail);
    }

    #[test]
    fn the_report_is_coloured_only_when_asked() {
        let report = VerifyReport {
            url: "http://x".into(),
            checks: vec![Check::new("database", Status::Fail, "database unreachable: no answer within 2 s")],
        };
        assert!(!report.render(false).contains('\x1b'));
        assert!(report.render(true).contains("\x1b[1;31mFAIL"));
        assert!(report.failed());
    }
}
