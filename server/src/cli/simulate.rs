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

mod args;
mod outbox;
mod report;
mod traffic;

pub use args::{RunLength, SimulateArgs, SimulateOptions};
pub use outbox::batch_of;
use outbox::Outbox;
pub use report::Summary;
use report::{cohort_line, treatment_share};
pub use traffic::{cohort_of, FlagAnswer, Rates, CONTROL};
use traffic::{locked, Tally};

use super::client::{segment, ApiClient, ClientError};
use anyhow::Context;
use app::domain::thousands;
use rand::Rng;
use reqwest::StatusCode;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

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
    use super::args::{parse_duration, parse_flush, parse_latency, parse_rate, parse_run_length};
    use super::outbox::error_text;
    use super::report::pct;
    use super::*;
    use app::domain::guardrail::CohortStats;
    use rand::SeedableRng;
    use std::collections::BTreeMap;

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
