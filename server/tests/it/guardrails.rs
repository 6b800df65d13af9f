//! Guardrails end to end on a real database: metric batches in through `POST /api/v1/metrics` (counted
//! once, refused whole when one sample is wrong), and the worker's pass acting through the rollouts
//! service: a breach rolls back with the figures on record, too little data does nothing, two passes at
//! once roll back once, and a source that is down freezes the rollout.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::domain::guardrail::{GuardrailKind, GuardrailSpec, PrometheusQuery};
use app::domain::rollout::{Action, Template};
use app::domain::{EnvKey, FlagKey, Role, Stickiness};
use app::server::audit::Actor;
use app::server::guardrails::worker::{run_pass, QuerySource};
use app::server::rollouts::{self, NewRollout, PlanSource, TransitionRequest};
use app::server::ServiceError;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use serde_json::{json, Value};
use sqlx::PgPool;

const FLAG: &str = "new-checkout";

/// A router over the test database with its snapshot loaded, and an evaluate token for production.
async fn setup(pool: &PgPool) -> (Router, String) {
    seed_flag(pool, FLAG).await;
    let secret = evaluate_token_for(pool, "production").await;
    let state = state(pool);
    server::workers::snapshot::refresh(pool, &state.snapshot).await.unwrap();
    (server::app(state, server::csrf::TrustedOrigins::default()), secret)
}

async fn post_batch(router: &Router, token: &str, batch: &Value) -> (StatusCode, Value) {
    let request = Request::post("/api/v1/metrics")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(batch.to_string()))
        .unwrap();
    let response = send(router, request).await;
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })))
}

/// One sample: `requests` requests of which `errors` failed, all at `latency_ms`.
fn sample(cohort: &str, requests: u64, errors: u64, latency_ms: f64) -> Value {
    let mut buckets = [0u64; 12];
    buckets[app::domain::guardrail::bucket_for(latency_ms)] = requests;
    json!({ "flag": FLAG, "cohort": cohort, "requests": requests, "errors": errors,
            "latency_buckets": buckets, "latency_sum_ms": latency_ms * requests as f64 })
}

async fn totals(pool: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "select coalesce(sum(request_count), 0)::int8, coalesce(sum(error_count), 0)::int8,
                (select count(*) from metric_batches)
         from metric_minutes",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_batch_is_stored_per_minute_and_counts_once_when_sent_twice(pool: PgPool) {
    let (router, token) = setup(&pool).await;
    let batch = json!({ "batch_id": "app-1-0001", "samples": [
        sample("treatment", 100, 3, 40.0), sample("treatment", 50, 2, 300.0), sample("control", 80, 1, 40.0)
    ], "gauges": [{ "name": "queue_lag_seconds", "value": 4.0 }, { "name": "queue_lag_seconds", "value": 6.0 }] });
    let (status, body) = post_batch(&router, &token, &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "accepted": 5, "duplicate": false }));
    assert_eq!(totals(&pool).await, (230, 6, 1));
    let buckets: Vec<i64> = sqlx::query_scalar("select latency_buckets from metric_minutes where cohort = 'treatment'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((buckets[3], buckets[6]), (100, 50), "40 ms in (25, 50], 300 ms in (250, 500]");
    let gauge: (i64, f64, f64) =
        sqlx::query_as("select value_count, value_sum, value_max from gauge_minutes").fetch_one(&pool).await.unwrap();
    assert_eq!(gauge, (2, 10.0, 6.0));

    // A retry of the same batch adds nothing; a new batch in the same minute adds into the same rows.
    let (status, body) = post_batch(&router, &token, &batch).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "accepted": 5, "duplicate": true })));
    assert_eq!(totals(&pool).await, (230, 6, 1));
    let next = json!({ "batch_id": "app-1-0002", "samples": [sample("treatment", 10, 1, 40.0)] });
    assert_eq!(post_batch(&router, &token, &next).await.0, StatusCode::OK);
    assert_eq!(totals(&pool).await, (240, 7, 2));
    let buckets: Vec<i64> = sqlx::query_scalar("select latency_buckets from metric_minutes where cohort = 'treatment'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(buckets[3], 110, "the buckets add element by element");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_bad_sample_refuses_the_whole_batch_and_says_which(pool: PgPool) {
    let (router, token) = setup(&pool).await;
    let mut bad = sample("treatment", 10, 11, 40.0);
    let batch = json!({ "batch_id": "b-1", "samples": [sample("control", 5, 0, 40.0), bad.clone()] });
    let (status, body) = post_batch(&router, &token, &batch).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["details"]["path"], "samples[1].errors");
    assert_eq!(body["message"], "samples[1].errors: 11 errors but only 10 requests");

    bad["errors"] = json!(1);
    bad["flag"] = json!("no-such-flag");
    let batch = json!({ "batch_id": "b-2", "samples": [sample("control", 5, 0, 40.0), bad] });
    let (status, body) = post_batch(&router, &token, &batch).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["details"]["path"], "samples[1].flag");

    let other_env = json!({ "batch_id": "b-3", "samples": [
        { "flag": FLAG, "environment": "staging", "cohort": "treatment", "requests": 1, "errors": 0 }] });
    let (status, body) = post_batch(&router, &token, &other_env).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().contains("production only"), "{body}");

    let (status, body) =
        post_batch(&router, &token, &json!({ "batch_id": "b-4", "samples": [{ "flag": FLAG }] })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().contains("missing field"), "{body}");

    let (status, _) = post_batch(&router, "rg_nope_nope", &json!({ "batch_id": "b-5" })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Nothing of any refused batch was stored, not even the batch id.
    assert_eq!(totals(&pool).await, (0, 0, 0));
}

/// Never asked: every guardrail in these tests reads the ingest API, except where a source is given.
struct NoPrometheus;
impl QuerySource for NoPrometheus {
    async fn query(&self, _: &str, _: &str) -> Result<Option<f64>, String> {
        Err("no Prometheus in this test".into())
    }
}

/// A canary rollout of FLAG in production, started (10%), with the template's guardrails.
async fn canary(pool: &PgPool) -> i64 {
    let new = NewRollout {
        flag: FlagKey::parse(FLAG).unwrap(),
        environment: EnvKey::parse("production").unwrap(),
        plan: PlanSource::Template(Template::Canary),
        stickiness: Stickiness::CustomerId,
        allow_customers: Vec::new(),
        allow_organizations: Vec::new(),
        audience: None,
    };
    let id = rollouts::create(pool, &editor(), &new).await.unwrap();
    // The canary's start needs the ops on-call's sign-off; the test forces it as an admin.
    let admin = Actor { role: Role::Admin, ..editor() };
    let start = TransitionRequest {
        action: Action::Start,
        expected_version: None,
        reason: Some("test start".into()),
        override_gates: true,
        details: None,
    };
    rollouts::transition(pool, &admin, id, &start).await.unwrap();
    id
}

async fn status_of(pool: &PgPool, id: i64) -> String {
    sqlx::query_scalar("select status from rollouts where id = $1").bind(id).fetch_one(pool).await.unwrap()
}

async fn events(pool: &PgPool, id: i64, kind: &str) -> Vec<(String, Option<String>, Value)> {
    sqlx::query_as(
        "select actor_label, reason, details from rollout_events where rollout_id = $1 and kind = $2 order by id",
    )
    .bind(id)
    .bind(kind)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn templates_ship_guardrails_and_a_breach_rolls_back_with_the_figures_on_record(pool: PgPool) {
    let (router, token) = setup(&pool).await;
    let id = canary(&pool).await;
    let kinds: Vec<String> = sqlx::query_scalar("select kind from guardrails where rollout_id = $1 order by id")
        .bind(id)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(kinds, ["error_rate", "latency_p99", "error_rate_increase", "latency_regression"]);

    // Healthy traffic: nothing happens.
    let healthy =
        json!({ "batch_id": "h-1", "samples": [sample("treatment", 300, 1, 40.0), sample("control", 2700, 5, 40.0)] });
    assert_eq!(post_batch(&router, &token, &healthy).await.0, StatusCode::OK);
    let report = run_pass(&pool, &NoPrometheus, Utc::now()).await.unwrap();
    assert!(report.ran && report.actions.is_empty(), "{report:?}");
    assert_eq!(status_of(&pool, id).await, "active");
    let statuses: Vec<String> = sqlx::query_scalar(
        "select e.status from guardrail_evaluations e join guardrails g on g.id = e.guardrail_id where g.rollout_id = $1",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(statuses, ["healthy"; 4]);

    // 10% errors in treatment.
    let broken = json!({ "batch_id": "h-2", "samples": [sample("treatment", 300, 60, 40.0)] });
    assert_eq!(post_batch(&router, &token, &broken).await.0, StatusCode::OK);
    let report = run_pass(&pool, &NoPrometheus, Utc::now()).await.unwrap();
    assert_eq!(report.actions.len(), 1, "{report:?}");
    assert_eq!(status_of(&pool, id).await, "rolled_back");

    let rolled = events(&pool, id, "rolled_back").await;
    assert_eq!(rolled.len(), 1);
    let (actor, reason, details) = &rolled[0];
    assert_eq!(actor, "system:guardrail");
    assert_eq!(
        reason.as_deref(),
        Some("guardrail error rate breached: error rate 10.17% above 1% (600 requests in 5 min)")
    );
    assert_eq!(details["guardrail"]["kind"], "error_rate");
    assert_eq!(details["decision"]["samples"], 600);
    assert_eq!(details["decision"]["threshold"], 1.0);
    let audit: (String, Option<String>, Value) =
        sqlx::query_as("select actor_label, reason, after from audit_events where action = 'rollout.rolled_back'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audit.0, "system:guardrail");
    assert_eq!(audit.1.as_deref(), reason.as_deref());
    assert_eq!(audit.2["details"]["guardrail"]["kind"], "error_rate");
}

#[sqlx::test(migrations = "../migrations")]
async fn too_few_requests_is_insufficient_data_and_no_action(pool: PgPool) {
    let (router, token) = setup(&pool).await;
    let id = canary(&pool).await;
    let few = json!({ "batch_id": "f-1", "samples": [sample("treatment", 20, 20, 2000.0)] });
    assert_eq!(post_batch(&router, &token, &few).await.0, StatusCode::OK);
    let report = run_pass(&pool, &NoPrometheus, Utc::now()).await.unwrap();
    assert!(report.actions.is_empty(), "{report:?}");
    assert_eq!(status_of(&pool, id).await, "active");
    let observed: Vec<(String, Value)> = sqlx::query_as(
        "select e.status, e.observed from guardrail_evaluations e join guardrails g on g.id = e.guardrail_id
         where g.rollout_id = $1 and g.kind = 'error_rate'",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(observed[0].0, "insufficient_data");
    assert_eq!(observed[0].1["message"], "insufficient data: 20 of 100 treatment requests in 5 min");
}

#[sqlx::test(migrations = "../migrations")]
async fn two_passes_at_once_roll_back_exactly_once(pool: PgPool) {
    let (router, token) = setup(&pool).await;
    let id = canary(&pool).await;
    sqlx::query("insert into webhooks (name, url, secret, events) values ('ops', 'http://127.0.0.1:9/hook', 'sixteen-char-secret', array['guardrail.breached'])")
        .execute(&pool)
        .await
        .unwrap();
    let broken = json!({ "batch_id": "t-1", "samples": [sample("treatment", 500, 100, 40.0)] });
    assert_eq!(post_batch(&router, &token, &broken).await.0, StatusCode::OK);
    let now = Utc::now();
    let (a, b) = tokio::join!(run_pass(&pool, &NoPrometheus, now), run_pass(&pool, &NoPrometheus, now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.actions.len() + b.actions.len(), 1, "{a:?} {b:?}");
    assert_eq!(events(&pool, id, "rolled_back").await.len(), 1);
    // The notification was queued with the rollback, in its transaction: one, naming the guardrail.
    let notices: Vec<serde_json::Value> =
        sqlx::query_scalar("select payload from webhook_deliveries where event = 'guardrail.breached'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0]["data"]["details"]["guardrail"]["kind"], "error_rate", "{}", notices[0]);
    // Later passes find nothing live to act on.
    let again = run_pass(&pool, &NoPrometheus, Utc::now()).await.unwrap();
    assert!(again.actions.is_empty());
    assert_eq!(events(&pool, id, "rolled_back").await.len(), 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_source_that_is_down_freezes_the_rollout_and_alerts_once(pool: PgPool) {
    let (_router, _token) = setup(&pool).await;
    let id = canary(&pool).await;
    let mut spec = GuardrailSpec::new(GuardrailKind::ErrorRate, 1.0, 5, 0);
    spec.prometheus =
        Some(PrometheusQuery { url: "http://127.0.0.1:9".into(), promql: "sum(rate(errors[5m]))".into() });
    app::server::guardrails::store::add(&pool, &editor(), id, &spec).await.unwrap();

    for _ in 0..2 {
        let report = run_pass(&pool, &NoPrometheus, Utc::now()).await.unwrap();
        assert!(report.ran);
    }
    assert_eq!(status_of(&pool, id).await, "active", "a source down never rolls back by itself");
    let down = events(&pool, id, "guardrail_source_down").await;
    assert_eq!(down.len(), 1, "recorded when it goes down, not on every pass");
    assert_eq!(down[0].0, "system:guardrail");
    assert!(down[0].1.as_deref().unwrap().contains("no Prometheus in this test"));

    // Nor does it advance, whoever asks.
    let advance = TransitionRequest {
        action: Action::Advance,
        expected_version: None,
        reason: None,
        override_gates: false,
        details: None,
    };
    let err = rollouts::transition(&pool, &editor(), id, &advance).await.unwrap_err();
    match err {
        ServiceError::Refused { code, message } => {
            assert_eq!(code, "GATE_BLOCKED");
            assert!(message.contains("metrics source down: no Prometheus in this test"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // An admin may go past it with a written reason, like any gate, and the override is on record.
    let admin = Actor { role: Role::Admin, ..editor() };
    let forced = TransitionRequest { reason: Some("probe is known broken".into()), override_gates: true, ..advance };
    rollouts::transition(&pool, &admin, id, &forced).await.unwrap();
    let (overridden, details): (bool, Value) = sqlx::query_as(
        "select gate_overridden, details from rollout_events where rollout_id = $1 and kind = 'advanced'",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(overridden, "the advance past the guardrail is marked as an override");
    let gates = details["overridden_gates"].to_string();
    assert!(gates.contains("metrics source down"), "the guardrail is among the gates set aside: {details}");
}

/// A real Prometheus server (Debian's `prometheus`, which scripts/test installs) on a free port, with an
/// empty configuration: PromQL such as `vector(2.5)` answers a number without anything scraped.
struct RealPrometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl RealPrometheus {
    async fn start() -> Self {
        let bin = std::path::Path::new("/usr/bin/prometheus");
        assert!(
            bin.exists(),
            "this test needs Debian's prometheus package: apt-get install prometheus (scripts/test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // Waited for in `stop`, which Drop calls.
        #[allow(clippy::zombie_processes)]
        let child = std::process::Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{url}/-/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
                return Self { child, url, _dir: dir };
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("prometheus did not become ready on {url}");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RealPrometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn prometheus_guardrail(pool: &PgPool, rollout: i64, url: &str, promql: &str) {
    let mut spec = GuardrailSpec::new(GuardrailKind::ErrorRate, 1.0, 5, 0);
    spec.prometheus = Some(PrometheusQuery { url: url.to_owned(), promql: promql.to_owned() });
    app::server::guardrails::store::add(pool, &editor(), rollout, &spec).await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_real_prometheus_answer_above_the_limit_rolls_back(pool: PgPool) {
    let _ = setup(&pool).await;
    let id = canary(&pool).await;
    let prometheus = RealPrometheus::start().await;
    prometheus_guardrail(&pool, id, &prometheus.url, "vector(2.5)").await;
    let source = server::workers::guardrails::Prometheus::new(std::time::Duration::from_secs(5)).unwrap();
    let report = run_pass(&pool, &source, Utc::now()).await.unwrap();
    assert_eq!(report.actions.len(), 1, "{report:?}");
    assert_eq!(status_of(&pool, id).await, "rolled_back");
    let (_, reason, _) = &events(&pool, id, "rolled_back").await[0];
    assert_eq!(reason.as_deref(), Some("guardrail error rate breached: error rate 2.5% above 1% (Prometheus)"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_real_prometheus_that_stops_answering_freezes_the_rollout(pool: PgPool) {
    let _ = setup(&pool).await;
    let id = canary(&pool).await;
    let mut prometheus = RealPrometheus::start().await;
    prometheus_guardrail(&pool, id, &prometheus.url, "vector(0.5)").await;
    let source = server::workers::guardrails::Prometheus::new(std::time::Duration::from_secs(2)).unwrap();
    run_pass(&pool, &source, Utc::now()).await.unwrap();
    let status: String = sqlx::query_scalar(
        "select e.status from guardrail_evaluations e join guardrails g on g.id = e.guardrail_id
         where g.rollout_id = $1 and g.source = 'prometheus'",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "healthy", "0.5% is within 1%");

    prometheus.stop();
    run_pass(&pool, &source, Utc::now()).await.unwrap();
    assert_eq!(status_of(&pool, id).await, "active");
    let down = events(&pool, id, "guardrail_source_down").await;
    assert_eq!(down.len(), 1);
    assert!(down[0].1.as_deref().unwrap().contains("did not answer"), "{:?}", down[0].1);
}

#[sqlx::test(migrations = "../migrations")]
async fn auto_advance_is_off_by_default_and_when_on_advances_once_every_guardrail_is_healthy(pool: PgPool) {
    use app::domain::rollout::StagePlan;
    use app::domain::Percent;
    let (router, token) = setup(&pool).await;
    let new = NewRollout {
        flag: FlagKey::parse(FLAG).unwrap(),
        environment: EnvKey::parse("production").unwrap(),
        plan: PlanSource::Custom(vec![
            StagePlan::new("ten", Percent::parse("10").unwrap()),
            StagePlan::new("all", Percent::HUNDRED),
        ]),
        stickiness: Stickiness::CustomerId,
        allow_customers: Vec::new(),
        allow_organizations: Vec::new(),
        audience: None,
    };
    let id = rollouts::create(&pool, &editor(), &new).await.unwrap();
    let start = TransitionRequest {
        action: Action::Start,
        expected_version: None,
        reason: None,
        override_gates: false,
        details: None,
    };
    rollouts::transition(&pool, &editor(), id, &start).await.unwrap();
    let stage = |pool: PgPool| async move {
        sqlx::query_scalar::<_, Option<i32>>("select current_stage from rollouts where id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    // Custom stages ship no guardrails: nothing to be healthy, so no advance even with auto-advance on.
    app::server::guardrails::store::set_auto_advance(&pool, &editor(), id, true).await.unwrap();
    run_pass(&pool, &NoPrometheus, Utc::now()).await.unwrap();
    assert_eq!(stage(pool.clone()).await, Some(0));

    app::server::guardrails::store::add(
        &pool,
        &editor(),
        id,
        &GuardrailSpec::new(GuardrailKind::ErrorRate, 1.0, 5, 50),
    )
    .await
    .unwrap();
    let healthy = json!({ "batch_id": "a-1", "samples": [sample("treatment", 100, 0, 40.0)] });
    assert_eq!(post_batch(&router, &token, &healthy).await.0, StatusCode::OK);

    // Off: healthy guardrails, soak over, no sign-offs needed, and still a person must press Advance.
    app::server::guardrails::store::set_auto_advance(&pool, &editor(), id, false).await.unwrap();
    run_pass(&pool, &NoPrometheus, Utc::now()).await.unwrap();
    assert_eq!(stage(pool.clone()).await, Some(0));

    // On: the next pass advances, as system:guardrail, and says why.
    app::server::guardrails::store::set_auto_advance(&pool, &editor(), id, true).await.unwrap();
    let report = run_pass(&pool, &NoPrometheus, Utc::now()).await.unwrap();
    assert_eq!(report.actions.len(), 1, "{report:?}");
    assert_eq!(stage(pool.clone()).await, Some(1));
    let advanced = events(&pool, id, "advanced").await;
    assert_eq!(advanced.len(), 1);
    assert_eq!(advanced[0].0, "system:guardrail");
    assert_eq!(advanced[0].2["auto_advance"], true);
    assert_eq!(audit_count(&pool, "rollout.auto_advance").await, 3);
}

/// Waits, if need be, until at least `seconds` remain in the current minute, so that what a test does
/// next happens within one minute.
async fn room_in_this_minute(seconds: u32) {
    use chrono::Timelike;
    let second = Utc::now().second();
    if second + seconds >= 60 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(61 - second))).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rollout_started_in_the_minute_another_was_rolled_back_is_not_judged_on_its_figures(pool: PgPool) {
    let (router, token) = setup(&pool).await;
    room_in_this_minute(20).await;
    let first = canary(&pool).await;
    let broken = json!({ "batch_id": "s-1", "samples": [sample("treatment", 199, 49, 40.0)] });
    assert_eq!(post_batch(&router, &token, &broken).await.0, StatusCode::OK);
    run_pass(&pool, &NoPrometheus, Utc::now()).await.unwrap();
    assert_eq!(status_of(&pool, first).await, "rolled_back");

    // A new rollout of the flag, in the same minute, with no traffic of its own yet.
    let second = canary(&pool).await;
    let report = run_pass(&pool, &NoPrometheus, Utc::now()).await.unwrap();

    assert!(report.actions.is_empty(), "{report:?}");
    assert_eq!(status_of(&pool, second).await, "active");
    let (status, observed): (String, Value) = sqlx::query_as(
        "select e.status, e.observed from guardrail_evaluations e join guardrails g on g.id = e.guardrail_id
         where g.rollout_id = $1 and g.kind = 'error_rate'",
    )
    .bind(second)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "insufficient_data");
    assert_eq!(observed["message"], "insufficient data: 0 of 100 treatment requests in 5 min");
}

#[sqlx::test(migrations = "../migrations")]
async fn healthy_traffic_from_before_the_start_does_not_dilute_a_bad_start(pool: PgPool) {
    let (router, token) = setup(&pool).await;
    room_in_this_minute(20).await;
    let before = json!({ "batch_id": "d-1", "samples": [sample("treatment", 5000, 0, 40.0)] });
    assert_eq!(post_batch(&router, &token, &before).await.0, StatusCode::OK);
    let id = canary(&pool).await;

    let bad_start = json!({ "batch_id": "d-2", "samples": [sample("treatment", 150, 10, 40.0)] });
    assert_eq!(post_batch(&router, &token, &bad_start).await.0, StatusCode::OK);
    let report = run_pass(&pool, &NoPrometheus, Utc::now()).await.unwrap();

    assert_eq!(status_of(&pool, id).await, "rolled_back", "{report:?}");
    let rolled = events(&pool, id, "rolled_back").await;
    assert_eq!(
        rolled[0].1.as_deref(),
        Some("guardrail error rate breached: error rate 6.67% above 1% (150 requests in 5 min)")
    );
}
