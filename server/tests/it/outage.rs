//! A database outage, played by cutting a relay in front of the test's PostgreSQL: evaluation goes on from
//! the snapshot, everything that needs the database answers 503 with Retry-After within the pool's
//! acquire timeout, and a server started while PostgreSQL is down starts, answers 503 until it can, and
//! serves as soon as PostgreSQL answers.
#![allow(clippy::unwrap_used)]

use crate::common::outage::PgProxy;
use crate::common::routes::{Fixture, ADMIN, FLAG};
use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// What one request answered, and how long it took.
struct Answer {
    what: &'static str,
    status: StatusCode,
    retry_after: Option<String>,
    body: String,
    took: Duration,
}

async fn answer(router: &axum::Router, what: &'static str, request: Request<Body>) -> Answer {
    let started = Instant::now();
    let response = send(router, request).await;
    let (status, took) = (response.status(), started.elapsed());
    let retry_after = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
    Answer { what, status, retry_after, body: body_text(response).await, took }
}

#[sqlx::test(migrations = "../migrations")]
async fn while_the_database_is_cut_evaluation_serves_and_the_rest_answers_503_with_retry_after_at_once(pool: PgPool) {
    let fixture = Fixture::seed(&pool).await;
    let proxy = PgProxy::start(&pool, true).await;
    let relayed = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(server::db::ACQUIRE_TIMEOUT)
        .connect_lazy(&proxy.url(&pool))
        .unwrap();
    let state = state(&relayed);
    server::workers::snapshot::refresh(&relayed, &state.snapshot).await.unwrap();
    let router = server::app(state, server::csrf::TrustedOrigins::default());
    let cookie = login(&router, ADMIN).await;
    let bearer = |token: &str| format!("Bearer {token}");

    proxy.cut();
    let admin = Request::get("/api/admin/whoami")
        .header(header::AUTHORIZATION, bearer(&fixture.admin_token))
        .body(Body::empty())
        .unwrap();
    let write = Request::put(format!("/api/admin/feature-flags/{FLAG}/environments/staging"))
        .header(header::AUTHORIZATION, bearer(&fixture.admin_token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"enabled": true}"#))
        .unwrap();
    let page = Request::get("/admin/feature-flags")
        .header(header::COOKIE, &cookie)
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    let mut server_fn = form_post("/api/toggle_flag", &format!("flag={FLAG}&env=staging&enabled=true"), Some(&cookie));
    server_fn.headers_mut().insert(header::ACCEPT, "application/json".parse().unwrap());
    let sign_in = form_post("/login", "email=admin%40rollgate.test&password=a+long+test+password", None);
    let ingest = Request::post("/api/v1/metrics")
        .header(header::AUTHORIZATION, bearer(&fixture.evaluate_token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(r#"{{"batch_id": "o-1", "samples": [{{"flag": "{FLAG}", "cohort": "treatment", "requests": 1, "errors": 0}}]}}"#)))
        .unwrap();
    let evaluate = Request::post("/api/v1/evaluate")
        .header(header::AUTHORIZATION, bearer(&fixture.evaluate_token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"context": {"customer_id": "c-1"}}"#))
        .unwrap();
    let answers = futures_util::future::join_all([
        answer(&router, "admin read", admin),
        answer(&router, "admin write", write),
        answer(&router, "page", page),
        answer(&router, "server function", server_fn),
        answer(&router, "sign-in", sign_in),
        answer(&router, "metrics ingest", ingest),
    ])
    .await;
    let evaluated = answer(&router, "evaluation", evaluate).await;

    for a in &answers {
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}: {}", a.what, a.body);
        assert_eq!(a.retry_after.as_deref(), Some("5"), "{}", a.what);
        assert!(a.took < Duration::from_secs(3), "{} took {:?}", a.what, a.took);
        // A server function answers the error itself (`"Unavailable"`), which the page shows in words.
        let said = a.body.to_lowercase().contains("the database is unreachable") || a.body == "\"Unavailable\"";
        assert!(said, "{}: {}", a.what, a.body);
    }
    let page = answers.iter().find(|a| a.what == "page").unwrap();
    assert!(page.body.contains("The database is unreachable; evaluation goes on serving."), "{}", page.body);
    assert_eq!(evaluated.status, StatusCode::OK, "{}", evaluated.body);

    // Back: the same router serves again, and the outage changed nothing.
    proxy.restore();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        let again = Request::get("/api/admin/whoami")
            .header(header::AUTHORIZATION, bearer(&fixture.admin_token))
            .body(Body::empty())
            .unwrap();
        status = send(&router, again).await.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK);
    assert!(!flag_enabled(&pool, FLAG, "staging").await);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_server_started_while_the_database_is_down_starts_answers_503_and_serves_once_it_answers(pool: PgPool) {
    use clap::Parser;
    let fixture = Fixture::seed(&pool).await;
    let proxy = PgProxy::start(&pool, false).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let site = tempfile::tempdir().unwrap();
    let cli = server::config::Cli::try_parse_from([
        "rollgate",
        "--database-url",
        &proxy.url(&pool),
        "serve",
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--site-root",
        site.path().to_str().unwrap(),
        "--snapshot-check-seconds",
        "1",
    ])
    .unwrap();
    let server::config::Command::Serve(args) = cli.command else { panic!("serve") };
    let db = cli.db.clone();
    let serving = tokio::spawn(async move { server::cli::serve::run(&db, args).await });
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}"));

    let mut alive = false;
    for _ in 0..100 {
        if get("/healthz").send().await.is_ok_and(|r| r.status().is_success()) {
            alive = true;
            break;
        }
        assert!(!serving.is_finished(), "the server exited: {:?}", serving.await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(alive, "the server listens although the database is down");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!serving.is_finished(), "still running after retrying for a while");
    assert_eq!(get("/readyz").send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    let evaluate = client
        .post(format!("{base}/api/v1/evaluate"))
        .bearer_auth(&fixture.evaluate_token)
        .json(&serde_json::json!({ "context": { "customer_id": "c-1" } }));
    let not_ready = evaluate.try_clone().unwrap().send().await.unwrap();
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(not_ready.text().await.unwrap().contains("NOT_READY"));
    let admin = get("/api/admin/whoami").bearer_auth(&fixture.admin_token).send().await.unwrap();
    assert_eq!(admin.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(admin.headers()[header::RETRY_AFTER], "5");
    let page = get("/admin/feature-flags").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.text().await.unwrap().contains("The database is unreachable; evaluation goes on serving."));

    let restored = Instant::now();
    proxy.restore();
    let mut ready = false;
    while restored.elapsed() < Duration::from_secs(15) {
        if get("/readyz").send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "ready within 15 s of the database answering");
    println!("ready {:?} after the database answered", restored.elapsed());
    let served = evaluate.send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    let who = get("/api/admin/whoami").bearer_auth(&fixture.admin_token).send().await.unwrap();
    assert_eq!(who.status(), StatusCode::OK, "{}", who.text().await.unwrap());
    serving.abort();
}
