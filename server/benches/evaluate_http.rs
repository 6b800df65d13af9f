//! What the server spends on one evaluation request, the whole request through the router (every
//! middleware, the token check, the context, evaluating, writing the JSON), without the network: 50 flags,
//! each in an active rollout at 50%, set up through the admin API as a team would, and a different user on
//! every request. Beside it, the same bulk request whose ETag still matches (answered 304 before anything
//! is evaluated). Needs DATABASE_URL pointing at a PostgreSQL server where it may create the database
//! `rollgate_bench_evaluate_http`; `scripts/bench` provides one. Over the network, `scripts/bench-peers`.
#![allow(clippy::unwrap_used)]

/// The allocator the `rollgate` binary runs with (`server/src/main.rs`), so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/mod.rs"]
mod common;

use app::server::{AppState, SecurityConfig};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http_body_util::BodyExt;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

const FLAGS: usize = 50;

struct Bench {
    router: axum::Router,
    token: String,
    etag: String,
}

async fn call(router: &axum::Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
}

fn post(path: &str, token: &str, body: &serde_json::Value) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, "bench")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn setup() -> Bench {
    let pool = common::fresh_database("rollgate_bench_evaluate_http").await;
    sqlx::query("insert into environments (key, name, position) values ('production', 'Production', 0)")
        .execute(&pool)
        .await
        .unwrap();
    let hash = app::server::password::hash_password("benchmark password").unwrap();
    sqlx::query(
        "insert into users (email, name, role, password_hash) values ('bench@example.com', 'Bench', 'admin', $1)",
    )
    .bind(hash)
    .execute(&pool)
    .await
    .unwrap();
    let system = app::server::audit::Actor::system("bench");
    let token = |scope, environment: Option<&str>, user: Option<&str>| app::server::tokens::NewToken {
        name: "bench".into(),
        scope,
        environment: environment.map(|e| app::domain::EnvKey::parse(e).unwrap()),
        user: user.map(|u| app::domain::Email::parse(u).unwrap()),
        origins: vec![],
        rate_limit: None,
    };
    let admin_token = app::server::tokens::create(
        &pool,
        &system,
        &token(app::server::tokens::TokenScope::Admin, None, Some("bench@example.com")),
    )
    .await
    .unwrap()
    .secret;

    let state = AppState {
        leptos_options: Arc::new(leptos::config::LeptosOptions::builder().output_name("rollgate").build()),
        pool: pool.clone(),
        security: Arc::new(SecurityConfig::default()),
        snapshot: Arc::default(),
        priority_urls: Arc::default(),
        guardrail_worker: Arc::default(),
    };
    let router = server::app(state.clone(), server::csrf::TrustedOrigins::default());
    for i in 0..FLAGS {
        let key = format!("bench_flag_{i:02}");
        for (method, path, body) in [
            ("POST", "/api/admin/feature-flags".to_owned(), json!({"key": key, "name": key, "kind": "release"})),
            (
                "POST",
                "/api/admin/rollouts".to_owned(),
                json!({"flag": key, "environment": "production",
                       "stages": [{"name": "half", "percent": 50}, {"name": "everybody", "percent": 100}]}),
            ),
            (
                "POST",
                "/api/admin/rollout/start".to_owned(),
                json!({"flag": key, "environment": "production", "override_gates": true, "reason": "bench"}),
            ),
            (
                "PUT",
                format!("/api/admin/feature-flags/{key}/environments/production"),
                json!({"enabled": true, "reason": "bench"}),
            ),
        ] {
            let mut request = post(&path, &admin_token, &body);
            *request.method_mut() = method.parse().unwrap();
            let (status, _, text) = call(&router, request).await;
            assert!(status.is_success(), "{method} {path}: {status} {}", String::from_utf8_lossy(&text));
        }
    }
    let evaluate = app::server::tokens::create(
        &pool,
        &system,
        &token(app::server::tokens::TokenScope::Evaluate, Some("production"), None),
    )
    .await
    .unwrap()
    .secret;
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();

    let (status, headers, body) =
        call(&router, post("/ofrep/v1/evaluate/flags", &evaluate, &json!({"context": {"targetingKey": "user-1"}})))
            .await;
    assert_eq!(status, StatusCode::OK);
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let flags = answer["flags"].as_array().unwrap();
    assert_eq!(flags.len(), FLAGS);
    assert!(flags.iter().all(|f| f["reason"] == "SPLIT"), "every flag in its rollout: {answer}");
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    Bench { router, token: evaluate, etag }
}

fn evaluate_http(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let bench = runtime.block_on(setup());
    let user = AtomicUsize::new(0);
    let next_user = || json!({"context": {"targetingKey": format!("user-{}", user.fetch_add(1, Ordering::Relaxed))}});

    let mut group = c.benchmark_group("evaluation through the router, 50 flags in 50% rollouts");
    // Requests are made outside the timed part (`iter_batched`): what is measured is the server's work.
    group.bench_function("OFREP bulk, a new user each time", |b| {
        b.to_async(&runtime).iter_batched(
            || post("/ofrep/v1/evaluate/flags", &bench.token, &next_user()),
            |request| async {
                let (status, _, body) = call(&bench.router, request).await;
                assert_eq!(status, StatusCode::OK);
                body.len()
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("OFREP bulk, ETag still matches (304)", |b| {
        b.to_async(&runtime).iter_batched(
            || {
                let mut request =
                    post("/ofrep/v1/evaluate/flags", &bench.token, &json!({"context": {"targetingKey": "user-1"}}));
                request.headers_mut().insert(header::IF_NONE_MATCH, bench.etag.parse().unwrap());
                request
            },
            |request| async {
                let (status, _, body) = call(&bench.router, request).await;
                assert_eq!(status, StatusCode::NOT_MODIFIED);
                body.len()
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("REST bulk, a new user each time", |b| {
        b.to_async(&runtime).iter_batched(
            || {
                let n = user.fetch_add(1, Ordering::Relaxed);
                post("/api/v1/evaluate", &bench.token, &json!({"context": {"customer_id": format!("user-{n}")}}))
            },
            |request| async {
                let (status, _, body) = call(&bench.router, request).await;
                assert_eq!(status, StatusCode::OK);
                body.len()
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("OFREP one flag, a new user each time", |b| {
        b.to_async(&runtime).iter_batched(
            || post("/ofrep/v1/evaluate/flags/bench_flag_00", &bench.token, &next_user()),
            |request| async {
                let (status, _, body) = call(&bench.router, request).await;
                assert_eq!(status, StatusCode::OK);
                body.len()
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, evaluate_http);
criterion_main!(benches);
