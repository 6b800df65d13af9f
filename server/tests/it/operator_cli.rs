//! `rollgate verify` and `rollgate rollback` against a real server: the router served on a real socket
//! over the test's database, with the snapshot worker running, driven by the same library functions the
//! commands call (`verify::verify`, `rollback::plan` / `execute`, or the whole `run` for `--dry-run`).
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::domain::rollout::{Action, StagePlan};
use app::domain::{Email, EnvKey, FlagKey, Percent, SignoffRole, Stickiness};
use app::server::audit::Actor;
use app::server::rollouts::{self, NewRollout, PlanSource, TransitionRequest};
use app::server::tokens::{self, NewToken, TokenScope};
use app::server::AppState;
use clap::Parser;
use server::cli::client::{ApiClient, Secret};
use server::cli::rollback::{self, Selection, Step};
use server::cli::verify::{self, ExpectedStates, Status, VerifyOptions, VerifyReport};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const OPERATOR: &str = "ops@example.com";
const REASON: &str = "INC-42: error rate 4%";

/// A Rollgate serving on 127.0.0.1 with its snapshot worker; both stop when this is dropped.
struct Running {
    url: String,
    state: AppState,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Serves the whole application over `pool` on a free port, as `rollgate serve` does, once the first
/// snapshot is loaded (or after 5 s without one).
async fn serve(pool: &PgPool) -> Running {
    let running = start(pool).await;
    for _ in 0..250 {
        if running.state.snapshot.version().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running
}

/// Serves at once, whether or not a snapshot can be loaded.
async fn start(pool: &PgPool) -> Running {
    let state = state(pool);
    let worker =
        tokio::spawn(server::workers::snapshot::run(pool.clone(), state.snapshot.clone(), Duration::from_secs(1)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = server::app(state.clone(), server::csrf::TrustedOrigins::default());
    let http = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    let guardrails = tokio::spawn(server::workers::guardrails::run(
        pool.clone(),
        server::workers::guardrails::GuardrailArgs { guardrail_interval_seconds: 1, prometheus_timeout_seconds: 1 },
        server::workers::guardrails::Prometheus::new(std::time::Duration::from_secs(1)).unwrap(),
        state.guardrail_worker.clone(),
    ));
    Running { url, state, tasks: vec![worker, http, guardrails] }
}

/// An editor with an admin token: the operator running the commands.
async fn operator_token(pool: &PgPool) -> Secret {
    seed_user(pool, OPERATOR, "editor").await;
    let new = NewToken {
        name: "operator".into(),
        scope: TokenScope::Admin,
        environment: None,
        user: Some(Email::parse(OPERATOR).unwrap()),
        origins: vec![],
        rate_limit: None,
    };
    Secret::new(tokens::create(pool, &Actor::system("test"), &new).await.unwrap().secret)
}

async fn evaluate_token(pool: &PgPool, env: &str) -> Secret {
    Secret::new(evaluate_token_for(pool, env).await)
}

/// A flag in `phase` (created if missing), off everywhere. The environments come from `seed_flag`.
async fn flag_in_phase(pool: &PgPool, key: &str, phase: &str) {
    sqlx::query(
        "insert into phases (key, name, position) select $1, $1, coalesce(max(position), 0) + 1 from phases
         on conflict do nothing",
    )
    .bind(phase)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("insert into flags (key, name, phase_id) select $1, $1, id from phases where key = $2")
        .bind(key)
        .bind(phase)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into flag_environments (flag_id, environment_id, enabled)
         select f.id, e.id, false from flags f, environments e where f.key = $1",
    )
    .bind(key)
    .execute(pool)
    .await
    .unwrap();
}

/// Creates and starts a rollout of `flag` in staging: stage 0 at 10% with `soak_seconds`, then 50% needing
/// a product owner's sign-off, then 100%. Returns its id.
async fn active_rollout(pool: &PgPool, flag: &str, soak_seconds: u32) -> i64 {
    let mut first = StagePlan::new("ten", Percent::parse("10").unwrap());
    first.min_soak_seconds = soak_seconds;
    let mut second = StagePlan::new("half", Percent::parse("50").unwrap());
    second.required_roles = vec![SignoffRole::ProductOwner];
    let new = NewRollout {
        flag: FlagKey::parse(flag).unwrap(),
        environment: EnvKey::parse("staging").unwrap(),
        plan: PlanSource::Custom(vec![first, second, StagePlan::new("all", Percent::HUNDRED)]),
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
    id
}

async fn rollout_status(pool: &PgPool, id: i64) -> String {
    sqlx::query_scalar("select status from rollouts where id = $1").bind(id).fetch_one(pool).await.unwrap()
}

/// `(actor_kind, actor_label, reason)` of every audit event on `flag` with `action`.
async fn audit_of(pool: &PgPool, flag: &str, action: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "select actor_kind, actor_label, reason from audit_events where flag_key = $1 and action = $2 order by id",
    )
    .bind(flag)
    .bind(action)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn options(url: &str, token: &Secret) -> VerifyOptions {
    VerifyOptions {
        url: url.to_owned(),
        token: token.clone(),
        eval_token: None,
        expected: None,
        requests: 20,
        // Loose limits: a debug build on a shared machine. The thresholds' logic has its own unit tests.
        p50_ms: 1_000.0,
        p99_ms: 5_000.0,
        timeout: Duration::from_secs(10),
    }
}

fn status_of(report: &VerifyReport, check: &str) -> Status {
    report.check(check).unwrap_or_else(|| panic!("no {check:?} check in\n{}", report.render(false))).status
}

fn client(url: &str, token: &Secret) -> ApiClient {
    ApiClient::new(url, Some(token.clone()), Duration::from_secs(10)).unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn verify_passes_against_a_healthy_server(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    flag_in_phase(&pool, "search", "phase-1").await;
    toggle(&pool, "checkout", "staging", true).await;
    let token = operator_token(&pool).await;
    let eval = evaluate_token(&pool, "staging").await;
    let running = serve(&pool).await;
    let expected =
        ExpectedStates::parse("staging:\n  checkout: on\n  search: off\nproduction:\n  checkout: off\n").unwrap();

    let report = verify::verify(&VerifyOptions {
        eval_token: Some(eval.clone()),
        expected: Some(expected),
        ..options(&running.url, &token)
    })
    .await
    .unwrap();

    let text = report.render(false);
    println!("{text}");
    assert!(!report.failed(), "{text}");
    for check in ["liveness", "readiness", "database", "snapshot", "flags in production", "evaluation latency"] {
        assert_eq!(status_of(&report, check), Status::Ok, "{check}: {text}");
    }
    assert!(report.check("flags in staging").unwrap().detail.contains("2 flags: 1 on, 1 off; all 2 as expected"));
    assert!(report.check("flags in development").unwrap().detail.contains("2 flags: 0 on, 2 off"));
    let latency = report.check("evaluation latency").unwrap().data.clone().unwrap();
    assert_eq!(latency["requests"], 20);
    assert!(latency["p50_ms"].as_f64().unwrap() > 0.0);
    let guardrail = report.check("guardrail worker").unwrap();
    assert_eq!(guardrail.status, Status::Ok, "{text}");
    assert!(guardrail.detail.contains("last pass") && guardrail.detail.contains("every 1s"), "{text}");
    assert_eq!(status_of(&report, "stuck rollouts"), Status::Ok);
    let json = report.to_json().to_string();
    assert_eq!(report.to_json()["ok"], true);
    for secret in [token.expose(), eval.expose()] {
        assert!(!text.contains(secret) && !json.contains(secret), "a token leaked into the report");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn verify_fails_on_an_expected_state_mismatch_naming_flag_and_environment(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    flag_in_phase(&pool, "search", "phase-1").await;
    toggle(&pool, "checkout", "staging", true).await;
    let token = operator_token(&pool).await;
    let running = serve(&pool).await;
    let expected = ExpectedStates::parse(
        "staging:\n  checkout: off\n  search: off\n  ghost: on\nproduction:\n  search: off\nqa:\n  checkout: on\n",
    )
    .unwrap();

    let report =
        verify::verify(&VerifyOptions { expected: Some(expected), ..options(&running.url, &token) }).await.unwrap();

    let text = report.render(false);
    println!("{text}");
    assert!(report.failed(), "{text}");
    let staging = report.check("flags in staging").unwrap();
    assert_eq!(staging.status, Status::Fail, "{text}");
    assert!(staging.detail.contains("checkout is on, expected off"), "{}", staging.detail);
    assert!(staging.detail.contains("ghost does not exist (expected on)"), "{}", staging.detail);
    assert!(!staging.detail.contains("search"), "search is as expected: {}", staging.detail);
    assert_eq!(status_of(&report, "flags in production"), Status::Ok, "{text}");
    assert_eq!(status_of(&report, "flags in qa"), Status::Fail, "an unknown environment fails: {text}");
    assert_eq!(status_of(&report, "database"), Status::Ok, "{text}");
}

/// A TCP relay between a pool and PostgreSQL that the test can cut. Cutting it is what stopping the
/// database looks like from the server: its open connections break mid-stream and new ones are refused,
/// while the test keeps its own direct pool for setting up. (Closing the server's pool instead would only
/// show how sqlx reports a closed pool, and dropping the test database would take the fixtures with it.)
struct Relay {
    port: u16,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Relay {
    async fn start(target: (String, u16)) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut accept_stop = stopped.clone();
            loop {
                let (mut inbound, _) = tokio::select! {
                    accepted = listener.accept() => accepted.unwrap(),
                    _ = accept_stop.changed() => return, // drops the listener: new connections are refused
                };
                let target = target.clone();
                let mut conn_stop = stopped.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect((target.0.as_str(), target.1)).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = conn_stop.changed() => {} // drops both ends mid-stream
                    }
                });
            }
        });
        Relay { port, stop }
    }

    fn cut(&self) {
        self.stop.send_replace(true);
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn verify_fails_when_the_database_is_stopped_and_evaluation_goes_on(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    let token = operator_token(&pool).await;
    let eval = evaluate_token(&pool, "staging").await;
    let direct: PgConnectOptions = pool.connect_options().as_ref().clone();
    let relay = Relay::start((direct.get_host().to_owned(), direct.get_port())).await;
    let through_relay = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(direct.host("127.0.0.1").port(relay.port))
        .await
        .unwrap();
    let running = serve(&through_relay).await;
    assert!(running.state.snapshot.version().is_some(), "the snapshot loaded through the relay");
    let healthy = verify::verify(&options(&running.url, &token)).await.unwrap();
    assert_eq!(status_of(&healthy, "database"), Status::Ok, "{}", healthy.render(false));

    relay.cut();
    let report =
        verify::verify(&VerifyOptions { eval_token: Some(eval), ..options(&running.url, &token) }).await.unwrap();

    let text = report.render(false);
    println!("{text}");
    assert!(report.failed(), "{text}");
    let database = report.check("database").unwrap();
    assert_eq!(database.status, Status::Fail, "{text}");
    assert!(database.detail.starts_with("database unreachable"), "{}", database.detail);
    assert_eq!(status_of(&report, "liveness"), Status::Ok, "{text}");
    assert_eq!(status_of(&report, "evaluation latency"), Status::Ok, "the snapshot goes on serving: {text}");
    assert_eq!(status_of(&report, "flag states"), Status::Warn, "skipped, not hung: {text}");
    assert_eq!(status_of(&report, "stuck rollouts"), Status::Warn, "{text}");
    drop(running);
    through_relay.close().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn verify_says_database_unreachable_when_the_server_cannot_even_check_the_token(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    let token = operator_token(&pool).await;
    // A server whose database was never there: no snapshot, so the token cannot be checked at all.
    let nowhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_port = nowhere.local_addr().unwrap().port();
    drop(nowhere);
    let dead = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy_with(pool.connect_options().as_ref().clone().host("127.0.0.1").port(dead_port));
    let running = start(&dead).await;

    let report = verify::verify(&options(&running.url, &token)).await.unwrap();

    let text = report.render(false);
    println!("{text}");
    let database = report.check("database").unwrap();
    assert_eq!(database.status, Status::Fail, "{text}");
    assert!(database.detail.starts_with("database unreachable"), "{}", database.detail);
    assert!(database.detail.contains("DATABASE_UNAVAILABLE"), "{}", database.detail);
    assert_eq!(status_of(&report, "readiness"), Status::Fail, "no snapshot: {text}");
}

#[sqlx::test(migrations = "../migrations")]
async fn verify_warns_about_an_active_rollout_waiting_for_a_sign_off_past_its_soak(pool: PgPool) {
    seed_flag(&pool, "waiting").await;
    flag_in_phase(&pool, "soaking", "phase-1").await;
    for flag in ["waiting", "soaking"] {
        toggle(&pool, flag, "staging", true).await;
    }
    active_rollout(&pool, "waiting", 0).await;
    active_rollout(&pool, "soaking", 3600).await;
    let token = operator_token(&pool).await;
    let running = serve(&pool).await;

    let report = verify::verify(&options(&running.url, &token)).await.unwrap();

    let text = report.render(false);
    println!("{text}");
    let stuck = report.check("stuck rollout waiting/staging").unwrap_or_else(|| panic!("no stuck line: {text}"));
    assert_eq!(stuck.status, Status::Warn);
    assert!(stuck.detail.contains("product_owner"), "{}", stuck.detail);
    assert!(stuck.detail.contains("stage 1 (half)"), "{}", stuck.detail);
    assert!(report.check("stuck rollout soaking/staging").is_none(), "still in its soak: {text}");
    assert!(report.check("stuck rollouts").is_none(), "{text}");
    assert!(!report.failed(), "a stuck rollout is a WARN: {text}");
}

/// Flags `a`, `b`, `c` on in staging (and `a` in production too); `a` has an active rollout.
async fn three_flags_on(pool: &PgPool) -> i64 {
    seed_flag(pool, "a").await;
    flag_in_phase(pool, "b", "phase-1").await;
    flag_in_phase(pool, "c", "phase-1").await;
    for flag in ["a", "b", "c"] {
        toggle(pool, flag, "staging", true).await;
    }
    toggle(pool, "a", "production", true).await;
    active_rollout(pool, "a", 0).await
}

#[sqlx::test(migrations = "../migrations")]
async fn rollback_partial_changes_exactly_the_named_flags_audited_under_the_tokens_user(pool: PgPool) {
    let rollout = three_flags_on(&pool).await;
    let token = operator_token(&pool).await;
    let running = serve(&pool).await;
    let api = client(&running.url, &token);

    let plan =
        rollback::plan(&api, &Selection::Flags(vec!["a".into(), "b".into(), "a".into()]), "staging").await.unwrap();
    println!("{}", plan.render(REASON));
    assert_eq!(plan.flags.iter().map(|f| f.flag.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(plan.flags[0].steps().len(), 2, "a: kill switch and rollout");
    assert!(matches!(plan.flags[0].steps()[1], Step::RollBackRollout { rollout: r, .. } if r == rollout));
    assert_eq!(plan.flags[1].steps().len(), 1, "b: kill switch only");
    let outcome = rollback::execute(&api, &plan, REASON, 8).await;
    println!("{}", outcome.render());

    assert_eq!(outcome.failed(), 0, "{}", outcome.render());
    assert!(!flag_enabled(&pool, "a", "staging").await);
    assert!(!flag_enabled(&pool, "b", "staging").await);
    assert!(flag_enabled(&pool, "c", "staging").await, "c was not named");
    assert!(flag_enabled(&pool, "a", "production").await, "another environment");
    assert_eq!(rollout_status(&pool, rollout).await, "rolled_back");
    let by_operator = ("token".to_owned(), OPERATOR.to_owned(), Some(REASON.to_owned()));
    for flag in ["a", "b"] {
        let toggled = audit_of(&pool, flag, "flag.toggled").await;
        assert_eq!(toggled.last(), Some(&by_operator), "{flag}: {toggled:?}");
    }
    assert_eq!(audit_of(&pool, "a", "rollout.rolled_back").await, [by_operator]);
    assert_eq!(audit_of(&pool, "c", "flag.toggled").await.len(), 1, "only the fixture's toggle");
}

#[sqlx::test(migrations = "../migrations")]
async fn rollback_refuses_unknown_flags_phases_and_environments_before_changing_anything(pool: PgPool) {
    three_flags_on(&pool).await;
    let token = operator_token(&pool).await;
    let running = serve(&pool).await;
    let api = client(&running.url, &token);
    let before = audit_count(&pool, "flag.toggled").await;

    let unknown_flag = rollback::plan(&api, &Selection::Flags(vec!["a".into(), "nope".into()]), "staging").await;
    let unknown_phase = rollback::plan(&api, &Selection::Phase("phase-9".into()), "staging").await;
    let unknown_env = rollback::plan(&api, &Selection::Full, "prod").await;

    let unknown_flag = unknown_flag.unwrap_err().to_string();
    assert!(unknown_flag.contains("nope") && !unknown_flag.contains("a,"), "{unknown_flag}");
    assert!(unknown_phase.unwrap_err().to_string().contains("no phase \"phase-9\" (phases: phase-1)"));
    assert!(unknown_env.unwrap_err().to_string().contains("no environment \"prod\""));
    assert!(flag_enabled(&pool, "a", "staging").await);
    assert_eq!(audit_count(&pool, "flag.toggled").await, before);
}

#[sqlx::test(migrations = "../migrations")]
async fn rollback_phase_changes_exactly_the_flags_of_that_phase(pool: PgPool) {
    three_flags_on(&pool).await; // a, b, c in phase-1
    flag_in_phase(&pool, "api_v2", "phase-2").await;
    flag_in_phase(&pool, "api_cache", "phase-2").await;
    flag_in_phase(&pool, "api_off", "phase-2").await;
    toggle(&pool, "api_v2", "staging", true).await;
    toggle(&pool, "api_cache", "staging", true).await;
    let cache_rollout = active_rollout(&pool, "api_cache", 3600).await;
    let token = operator_token(&pool).await;
    let running = serve(&pool).await;
    let api = client(&running.url, &token);

    let plan = rollback::plan(&api, &Selection::Phase("phase-2".into()), "staging").await.unwrap();
    println!("{}", plan.render(REASON));
    let mut listed: Vec<&str> = plan.flags.iter().map(|f| f.flag.as_str()).collect();
    listed.sort_unstable();
    assert_eq!(listed, ["api_cache", "api_off", "api_v2"]);
    assert_eq!(plan.to_change(), 2, "api_off is already off with no rollout");
    let outcome = rollback::execute(&api, &plan, REASON, 8).await;

    assert_eq!(outcome.failed(), 0, "{}", outcome.render());
    assert_eq!(outcome.flags.len(), 2);
    for flag in ["api_v2", "api_cache", "api_off"] {
        assert!(!flag_enabled(&pool, flag, "staging").await, "{flag}");
    }
    assert_eq!(rollout_status(&pool, cache_rollout).await, "rolled_back");
    for flag in ["a", "b", "c"] {
        assert!(flag_enabled(&pool, flag, "staging").await, "{flag} is in phase-1");
    }
    assert_eq!(audit_of(&pool, "api_off", "flag.toggled").await, [], "nothing to do means nothing done");
    assert_eq!(
        audit_of(&pool, "api_v2", "flag.toggled").await.last().map(|(_, who, why)| (who.as_str(), why.as_deref())),
        Some((OPERATOR, Some(REASON)))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_dry_run_prints_the_plan_and_changes_nothing(pool: PgPool) {
    let rollout = three_flags_on(&pool).await;
    let token = operator_token(&pool).await;
    let running = serve(&pool).await;
    let audit_before: i64 = sqlx::query_scalar("select count(*) from audit_events").fetch_one(&pool).await.unwrap();
    let cli = server::config::Cli::try_parse_from([
        "rollgate",
        "rollback",
        "--full",
        "--env",
        "staging",
        "--reason",
        REASON,
        "--dry-run",
        "--url",
        &running.url,
        "--token",
        token.expose(),
    ])
    .unwrap();
    let server::config::Command::Rollback(args) = cli.command else { panic!("parsed as another command") };

    server::cli::rollback::run(args).await.unwrap();

    for flag in ["a", "b", "c"] {
        assert!(flag_enabled(&pool, flag, "staging").await, "{flag}");
    }
    assert_eq!(rollout_status(&pool, rollout).await, "active");
    let audit_after: i64 = sqlx::query_scalar("select count(*) from audit_events").fetch_one(&pool).await.unwrap();
    assert_eq!(audit_after, audit_before);
}

#[sqlx::test(migrations = "../migrations")]
async fn without_yes_and_without_a_terminal_rollback_refuses(pool: PgPool) {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        // It would wait for an answer; CI and `cargo test` from a script have no terminal on stdin.
        eprintln!("skipped: standard input is a terminal");
        return;
    }
    three_flags_on(&pool).await;
    let token = operator_token(&pool).await;
    let running = serve(&pool).await;
    let cli = server::config::Cli::try_parse_from([
        "rollgate",
        "rollback",
        "--partial",
        "b",
        "--env",
        "staging",
        "--reason",
        REASON,
        "--url",
        &running.url,
        "--token",
        token.expose(),
    ])
    .unwrap();
    let server::config::Command::Rollback(args) = cli.command else { panic!("parsed as another command") };

    let refused = server::cli::rollback::run(args).await.unwrap_err().to_string();

    assert!(refused.contains("--yes") && refused.contains("nothing was changed"), "{refused}");
    assert!(flag_enabled(&pool, "b", "staging").await);
}

#[sqlx::test(migrations = "../migrations")]
async fn rolling_back_a_hundred_flags_with_live_rollouts(pool: PgPool) {
    seed_flag(&pool, "unrelated").await;
    toggle(&pool, "unrelated", "staging", true).await;
    let keys: Vec<String> = (0..100).map(|i| format!("bulk_{i:03}")).collect();
    for key in &keys {
        flag_in_phase(&pool, key, "bulk").await;
        toggle(&pool, key, "staging", true).await;
        active_rollout(&pool, key, 0).await;
    }
    let token = operator_token(&pool).await;
    let running = serve(&pool).await;
    let api = client(&running.url, &token);

    let started = Instant::now();
    let plan = rollback::plan(&api, &Selection::Phase("bulk".into()), "staging").await.unwrap();
    let planned = started.elapsed();
    let outcome = rollback::execute(&api, &plan, REASON, 8).await;
    let total = started.elapsed();

    // Measured, not asserted: the figure goes into the README.
    println!(
        "rollback of 100 flags (each: kill switch + live rollout, 200 writes), 8 in flight: plan {:.0} ms, \
         changes {:.0} ms, total {:.0} ms",
        planned.as_secs_f64() * 1000.0,
        outcome.elapsed.as_secs_f64() * 1000.0,
        total.as_secs_f64() * 1000.0
    );
    assert_eq!(plan.to_change(), 100);
    assert_eq!(outcome.failed(), 0, "{}", outcome.render());
    let still_on: i64 = sqlx::query_scalar(
        "select count(*) from flag_environments fe join flags f on f.id = fe.flag_id
         join environments e on e.id = fe.environment_id
         where e.key = 'staging' and fe.enabled and f.key like 'bulk_%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let rolled_back: i64 = sqlx::query_scalar("select count(*) from rollouts where status = 'rolled_back'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((still_on, rolled_back), (0, 100));
    assert!(flag_enabled(&pool, "unrelated", "staging").await);
}
