//! Outgoing webhooks against a real PostgreSQL and a real HTTP receiver on 127.0.0.1: signed deliveries,
//! retries with backoff until `failed`, disabled webhooks, and notifications that share the transaction
//! of the change they report.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::server::audit::Actor;
use app::server::webhooks::{self, NewWebhook};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use server::workers::webhooks::{send_due, SenderConfig};
use sha2::Sha256;
use sqlx::PgPool;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "a-receiver-secret-0123456789";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver on 127.0.0.1 that records every request and answers with `status`.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start(status: u16) -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(status));
        let (g, s) = (got.clone(), status.clone());
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let (g, s) = (g.clone(), s.clone());
                async move {
                    g.lock().unwrap().push(Received { headers, body });
                    StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, got, status }
    }

    fn requests(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn admin() -> Actor {
    Actor::system("test")
}

async fn webhook(pool: &PgPool, url: &str, kind: &str, events: &[&str]) -> i64 {
    let new = NewWebhook {
        name: format!("{kind} hook"),
        url: url.to_owned(),
        kind: kind.to_owned(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        secret: Some(SECRET.to_owned()),
    };
    webhooks::create(pool, &admin(), &new).await.unwrap().id
}

/// Queues `event` in its own committed transaction.
async fn notify(pool: &PgPool, event: &str, summary: &str) -> u64 {
    let event: app::domain::WebhookEvent = event.parse().unwrap();
    let mut tx = pool.begin().await.unwrap();
    let queued = webhooks::enqueue(&mut tx, event, summary, json!({ "flag": "checkout" })).await.unwrap();
    tx.commit().await.unwrap();
    queued
}

fn fast() -> SenderConfig {
    SenderConfig { backoff_base: Duration::from_millis(20), timeout: Duration::from_secs(2), ..SenderConfig::default() }
}

async fn pass(pool: &PgPool, config: &SenderConfig) -> usize {
    send_due(pool, &server::workers::webhooks::client(config).unwrap(), config).await.unwrap()
}

#[derive(Debug, sqlx::FromRow)]
struct Delivery {
    id: i64,
    event: String,
    status: String,
    attempt: i32,
    response_status: Option<i32>,
    last_error: Option<String>,
}

async fn deliveries(pool: &PgPool) -> Vec<Delivery> {
    sqlx::query_as("select id, event, status, attempt, response_status, last_error from webhook_deliveries order by id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The receiver's side of the signature, written from the README's description, not from Rollgate's code.
fn signature_is_valid(header: &str, body: &[u8]) -> bool {
    let mut parts = header.split(',');
    let t = parts.next().unwrap().strip_prefix("t=").unwrap();
    let v1 = parts.next().unwrap().strip_prefix("v1=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    expected == v1 && (0..300).contains(&age)
}

#[sqlx::test(migrations = "../migrations")]
async fn a_delivery_arrives_signed_with_its_event_and_id_and_is_recorded_as_delivered(pool: PgPool) {
    let receiver = Receiver::start(200).await;
    webhook(&pool, &receiver.url, "generic", &["rollout.advanced"]).await;

    assert_eq!(notify(&pool, "rollout.advanced", "checkout in staging advanced 10% → 50% by ada").await, 1);
    assert_eq!(pass(&pool, &fast()).await, 1);

    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let request = &got[0];
    assert!(signature_is_valid(request.header("x-rollgate-signature"), &request.body), "{request:?}");
    assert_eq!(request.header("x-rollgate-event"), "rollout.advanced");
    assert_eq!(request.header("content-type"), "application/json");
    let body = request.json();
    assert_eq!(body["event"], "rollout.advanced");
    assert_eq!(body["summary"], "checkout in staging advanced 10% → 50% by ada");
    assert_eq!(body["data"]["flag"], "checkout");
    assert_eq!(body["id"], request.header("x-rollgate-delivery"));
    let rows = deliveries(&pool).await;
    assert_eq!(rows[0].id.to_string(), request.header("x-rollgate-delivery"));
    assert_eq!((rows[0].status.as_str(), rows[0].attempt, rows[0].response_status), ("delivered", 1, Some(200)));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_slack_webhook_gets_text_and_blocks_signed_the_same_way(pool: PgPool) {
    let receiver = Receiver::start(200).await;
    webhook(&pool, &receiver.url, "slack", &["guardrail.breached"]).await;

    notify(&pool, "guardrail.breached", "checkout: error rate 4.2% > 1% <!channel>").await;
    pass(&pool, &fast()).await;

    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    assert!(signature_is_valid(got[0].header("x-rollgate-signature"), &got[0].body));
    let body = got[0].json();
    assert_eq!(body["text"], "checkout: error rate 4.2% &gt; 1% &lt;!channel&gt;");
    assert_eq!(body["blocks"][0]["type"], "section");
    assert!(body.get("data").is_none(), "{body}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failing_receiver_is_retried_with_backoff_and_finally_failed_with_its_status(pool: PgPool) {
    let receiver = Receiver::start(500).await;
    webhook(&pool, &receiver.url, "generic", &["rollout.paused"]).await;
    let config = fast();
    notify(&pool, "rollout.paused", "checkout paused").await;

    let before: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("select now()").fetch_one(&pool).await.unwrap();
    assert_eq!(pass(&pool, &config).await, 1);
    let (status, attempt, next): (String, i32, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("select status, attempt, next_attempt_at from webhook_deliveries")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempt), ("pending", 1));
    assert!(next >= before + chrono::Duration::milliseconds(20), "the first retry waits the base delay");

    // 20 + 60 + 180 + 540 + 1620 ms of backoff: the sixth attempt comes within a few seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while deliveries(&pool).await[0].status == "pending" {
        assert!(tokio::time::Instant::now() < deadline, "still pending: {:?}", deliveries(&pool).await);
        pass(&pool, &config).await;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let row = &deliveries(&pool).await[0];
    assert_eq!(
        (row.event.as_str(), row.status.as_str(), row.attempt, row.response_status),
        ("rollout.paused", "failed", 6, Some(500))
    );
    assert!(row.last_error.as_deref().unwrap_or_default().contains("500"), "{row:?}");
    assert_eq!(receiver.requests().len(), 6, "one request per attempt, no more");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_receiver_that_recovers_gets_the_delivery_on_a_retry(pool: PgPool) {
    let receiver = Receiver::start(503).await;
    webhook(&pool, &receiver.url, "generic", &["rollout.resumed"]).await;
    let config = fast();
    notify(&pool, "rollout.resumed", "checkout resumed").await;
    pass(&pool, &config).await;
    receiver.status.store(204, Ordering::SeqCst);

    tokio::time::sleep(Duration::from_millis(40)).await;
    pass(&pool, &config).await;

    let row = &deliveries(&pool).await[0];
    assert_eq!((row.status.as_str(), row.attempt, row.response_status), ("delivered", 2, Some(204)));
    let got = receiver.requests();
    assert_eq!(got[0].header("x-rollgate-delivery"), got[1].header("x-rollgate-delivery"));
}

#[sqlx::test(migrations = "../migrations")]
async fn disabled_and_unsubscribed_webhooks_get_nothing(pool: PgPool) {
    let receiver = Receiver::start(200).await;
    let disabled = webhook(&pool, &receiver.url, "generic", &["rollout.completed"]).await;
    webhooks::set_enabled(&pool, &admin(), disabled, false).await.unwrap();
    webhook(&pool, &receiver.url, "generic", &["rollout.started"]).await;

    assert_eq!(notify(&pool, "rollout.completed", "checkout completed").await, 0);
    assert_eq!(pass(&pool, &fast()).await, 0);

    assert!(receiver.requests().is_empty());
    assert!(deliveries(&pool).await.is_empty());
    assert_eq!(audit_count(&pool, "webhook.disabled").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rolled_back_transaction_queues_nothing(pool: PgPool) {
    let receiver = Receiver::start(200).await;
    webhook(&pool, &receiver.url, "generic", &["schedule.failed"]).await;

    let mut tx = pool.begin().await.unwrap();
    assert_eq!(
        webhooks::enqueue(&mut tx, app::domain::WebhookEvent::ScheduleFailed, "nope", json!({})).await.unwrap(),
        1
    );
    tx.rollback().await.unwrap();
    pass(&pool, &fast()).await;

    assert!(deliveries(&pool).await.is_empty());
    assert!(receiver.requests().is_empty());
}

/// An admin token of a new admin user, for the admin API.
async fn admin_token(pool: &PgPool, email: &str) -> String {
    seed_user(pool, email, "admin").await;
    admin_token_for(pool, email).await
}

async fn api(router: &axum::Router, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = send(router, request).await;
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[sqlx::test(migrations = "../migrations")]
async fn rollout_transitions_and_signoff_requests_notify_with_a_summary_and_links(pool: PgPool) {
    let receiver = Receiver::start(200).await;
    webhook(&pool, &receiver.url, "generic", &["rollout.started", "rollout.advanced", "signoff.requested"]).await;
    seed_flag(&pool, "checkout").await;
    toggle(&pool, "checkout", "staging", true).await;
    let token = admin_token(&pool, "ada@example.com").await;
    let router = router(&pool);
    let on = json!({ "flag": "checkout", "environment": "staging" });
    let (created, rollout) = api(
        &router,
        &token,
        "/api/admin/rollouts",
        json!({ "flag": "checkout", "environment": "staging", "template": "five_tier" }),
    )
    .await;
    assert_eq!(created, StatusCode::CREATED, "{rollout}");
    let id = rollout["id"].as_i64().unwrap();

    assert_eq!(api(&router, &token, "/api/admin/rollout/start", on.clone()).await.0, StatusCode::OK);
    let advance = json!({ "flag": "checkout", "environment": "staging", "reason": "internal looks fine" });
    assert_eq!(api(&router, &token, "/api/admin/rollout/advance", advance).await.0, StatusCode::OK);
    // Stage 2 needs a product owner: refused, and the request for the sign-off is recorded and notified.
    assert_eq!(api(&router, &token, "/api/admin/rollout/advance", on).await.0, StatusCode::CONFLICT);
    pass(&pool, &fast()).await;

    let bodies: Vec<Value> = receiver.requests().iter().map(Received::json).collect();
    let events: Vec<&str> = bodies.iter().map(|b| b["event"].as_str().unwrap()).collect();
    assert_eq!(events.len(), 3, "{bodies:?}");
    for event in ["rollout.started", "rollout.advanced", "signoff.requested"] {
        assert!(events.contains(&event), "{events:?}");
    }
    let advanced = bodies.iter().find(|b| b["event"] == "rollout.advanced").unwrap();
    assert_eq!(advanced["summary"], "checkout in staging advanced 0% → 1% by ada@example.com (internal looks fine)");
    assert_eq!(advanced["data"]["links"]["rollout"], format!("/admin/rollouts/{id}"));
    let signoff = bodies.iter().find(|b| b["event"] == "signoff.requested").unwrap();
    assert_eq!(signoff["data"]["roles"], json!(["product_owner"]));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_sender_wakes_on_notify_without_waiting_for_its_poll(pool: PgPool) {
    let receiver = Receiver::start(200).await;
    webhook(&pool, &receiver.url, "generic", &["import.failed"]).await;
    let config = SenderConfig { poll_every: Duration::from_secs(600), ..fast() };
    let client = server::workers::webhooks::client(&config).unwrap();
    let sender = tokio::spawn(server::workers::webhooks::run(pool.clone(), config, client));
    // The first pass runs at once; let the listener settle before notifying.
    tokio::time::sleep(Duration::from_millis(300)).await;

    notify(&pool, "import.failed", "import 12 failed").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while receiver.requests().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "not sent within 5 s of the commit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sender.abort();
    assert_eq!(receiver.requests()[0].header("x-rollgate-event"), "import.failed");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_test_delivery_goes_to_that_webhook_only_and_is_audited(pool: PgPool) {
    let receiver = Receiver::start(200).await;
    let tested = webhook(&pool, &receiver.url, "generic", &["rollout.started"]).await;
    webhook(&pool, &receiver.url, "generic", &["webhook.test"]).await;

    webhooks::send_test(&pool, &admin(), tested).await.unwrap();
    pass(&pool, &fast()).await;

    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["event"], "webhook.test");
    assert_eq!(audit_count(&pool, "webhook.tested").await, 1);
    let audited: Value = sqlx::query_scalar("select after from audit_events where action = 'webhook.created' limit 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!audited.to_string().contains(SECRET), "the secret stays out of the audit trail: {audited}");
}
