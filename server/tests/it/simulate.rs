//! `rollgate simulate` against a real server: the router on a real socket over the test's database, with
//! the snapshot worker, driven through `simulate::simulate` (what the command runs). The figures must
//! arrive in `metric_minutes` per cohort, as the guardrail worker will read them.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::domain::rollout::{Action, StagePlan};
use app::domain::{EnvKey, FlagKey, Percent, Stickiness};
use app::server::rollouts::{self, NewRollout, PlanSource, TransitionRequest};
use server::cli::client::Secret;
use server::cli::simulate::{self, Rates, RunLength, SimulateOptions, Summary};
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::watch;

async fn serve(pool: &PgPool) -> Served {
    serve_with_snapshot(pool).await
}

async fn evaluate_token(pool: &PgPool, env: &str) -> Secret {
    Secret::new(evaluate_token_for(pool, env).await)
}

/// `flag` on in staging with an active rollout serving `percent`.
async fn rolling_out(pool: &PgPool, flag: &str, percent: &str) {
    seed_flag(pool, flag).await;
    toggle(pool, flag, "staging", true).await;
    let new = NewRollout {
        flag: FlagKey::parse(flag).unwrap(),
        environment: EnvKey::parse("staging").unwrap(),
        plan: PlanSource::Custom(vec![
            StagePlan::new("canary", Percent::parse(percent).unwrap()),
            StagePlan::new("all", Percent::HUNDRED),
        ]),
        stickiness: Stickiness::CustomerId,
        allow_customers: Vec::new(),
        allow_organizations: Vec::new(),
        audience: None,
    };
    let id = rollouts::create(pool, &editor(), &new).await.unwrap();
    let start = TransitionRequest {
        action: Action::Start,
        expected_version: None,
        reason: None,
        override_gates: false,
        details: None,
    };
    rollouts::transition(pool, &editor(), id, &start).await.unwrap();
}

fn options(url: &str, token: Secret, flag: &str, rps: f64, seconds: u64) -> SimulateOptions {
    SimulateOptions {
        url: url.to_owned(),
        token,
        timeout: Duration::from_secs(10),
        flag: flag.to_owned(),
        environment: "staging".to_owned(),
        rates: Rates {
            rps,
            error_rate_on: 0.3,
            error_rate_off: 0.0,
            latency_on_ms: 300.0,
            latency_off_ms: 20.0,
            jitter: 0.2,
        },
        run_length: RunLength::For(Duration::from_secs(seconds)),
        customers: 10_000,
        workers: 16,
        flush: Duration::from_millis(500),
        control: None,
        per_variant: false,
        print: false,
    }
}

/// `(cohort, requests, errors, timed requests)` summed over the minutes, per cohort.
async fn stored(pool: &PgPool, flag: &str) -> Vec<(String, i64, i64, i64)> {
    sqlx::query_as(
        "select m.cohort, sum(m.request_count)::bigint, sum(m.error_count)::bigint,
                sum((select sum(b) from unnest(m.latency_buckets) b))::bigint
         from metric_minutes m join flags f on f.id = m.flag_id join environments e on e.id = m.environment_id
         where f.key = $1 and e.key = 'staging' group by m.cohort order by m.cohort",
    )
    .bind(flag)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn cohort<'a>(rows: &'a [(String, i64, i64, i64)], name: &str) -> &'a (String, i64, i64, i64) {
    rows.iter().find(|r| r.0 == name).unwrap_or_else(|| panic!("no {name} rows in {rows:?}"))
}

#[sqlx::test(migrations = "../migrations")]
async fn simulated_traffic_reaches_the_minutes_per_cohort_with_its_error_rates(pool: PgPool) {
    rolling_out(&pool, "checkout", "30").await;
    let token = evaluate_token(&pool, "staging").await;
    let running = serve(&pool).await;
    let (_stop, stop) = watch::channel(false);

    let summary: Summary = simulate::simulate(options(&running.url, token, "checkout", 100.0, 4), stop).await.unwrap();

    // Every batch was stored once, and the database holds exactly what the simulator counted.
    assert_eq!((summary.batches_refused, summary.batches_undelivered), (0, 0), "{}", summary.render());
    assert_eq!(summary.failed_evaluations, 0, "{}", summary.render());
    let rows = stored(&pool, "checkout").await;
    let (_, t_requests, t_errors, t_timed) = *cohort(&rows, "treatment");
    let (_, c_requests, c_errors, c_timed) = *cohort(&rows, "control");
    assert_eq!(t_requests as u64, summary.cohorts["treatment"].requests, "{rows:?}");
    assert_eq!(c_requests as u64, summary.cohorts["control"].requests, "{rows:?}");
    assert_eq!((t_timed, c_timed), (t_requests, c_requests), "every simulated request is timed");
    // About rps x duration requests (a debug build on a busy machine may fall a little short).
    let all = t_requests + c_requests;
    assert!((250..=420).contains(&all), "{all} requests for 100 req/s over 4 s");
    // About 30% of the customers are in the rollout.
    let share = t_requests as f64 / all as f64;
    assert!((0.18..=0.42).contains(&share), "{share} in treatment at 30%");
    // 30% errors in treatment, none in control.
    let rate = t_errors as f64 / t_requests as f64;
    assert!((0.15..=0.45).contains(&rate), "treatment error rate {rate}");
    assert_eq!(c_errors, 0);
    // The latencies landed in their cohorts' buckets: control (mean 20 ms) mostly at or under 50 ms,
    // treatment (mean 300 ms) mostly over 100 ms.
    let control_p95 = summary.cohorts["control"].percentile_ms(0.95).unwrap();
    let treatment_p50 = summary.cohorts["treatment"].percentile_ms(0.5).unwrap();
    assert!(control_p95 <= 50.0 && treatment_p50 > 100.0, "control p95 {control_p95}, treatment p50 {treatment_p50}");
}

#[sqlx::test(migrations = "../migrations")]
async fn stopping_early_still_sends_what_was_counted(pool: PgPool) {
    rolling_out(&pool, "search", "50").await;
    let token = evaluate_token(&pool, "staging").await;
    let running = serve(&pool).await;
    let (stop_tx, stop) = watch::channel(false);
    let mut forever = options(&running.url, token, "search", 50.0, 1);
    forever.run_length = RunLength::Forever;
    forever.flush = Duration::from_secs(60);

    let run = tokio::spawn(simulate::simulate(forever, stop));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop_tx.send(true).unwrap();
    let summary = run.await.unwrap().unwrap();

    // No flush interval came round: the one batch is the final one, sent on the way out.
    assert_eq!(summary.batches_accepted, 1, "{}", summary.render());
    let rows = stored(&pool, "search").await;
    let total: i64 = rows.iter().map(|r| r.1).sum();
    assert_eq!(total as u64, summary.requests());
    assert!(total > 20, "{total} requests in 1.5 s at 50 req/s");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_token_for_another_environment_is_refused_before_any_traffic(pool: PgPool) {
    rolling_out(&pool, "checkout", "30").await;
    let production = evaluate_token(&pool, "production").await;
    let running = serve(&pool).await;
    let (_stop, stop) = watch::channel(false);

    let err = simulate::simulate(options(&running.url, production, "checkout", 10.0, 1), stop).await.unwrap_err();

    assert!(format!("{err:#}").contains("evaluates in \"production\", not in \"staging\""), "{err:#}");
    assert_eq!(stored(&pool, "checkout").await, vec![]);
}
