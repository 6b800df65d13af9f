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

/// Two rules of three constraints each, as a team would write them; the bench's context holds the first two
/// constraints of each and fails the third, so every constraint runs and every flag goes on to its rollout.
fn rules() -> serde_json::Value {
    json!({"rules": [
        {"name": "enterprise in the EU", "serve": {"kind": "on"}, "constraints": [
            {"field": "plan", "operator": "IN", "values": ["enterprise", "business"]},
            {"field": "app_version", "operator": "SEMVER_GTE", "values": ["2.3.0"]},
            {"field": "region", "operator": "IN", "values": ["eu-west", "eu-central"]}]},
        {"name": "internal", "serve": {"kind": "off"}, "constraints": [
            {"field": "plan", "operator": "NOT_IN", "values": ["free"]},
            {"field": "app_version", "operator": "SEMVER_LT", "values": ["9.0.0"]},
            {"field": "email", "operator": "STR_ENDS_WITH", "values": ["@rollgate.test"]}]},
    ]})
}

/// The context of every request: a new user each time, with the attributes the rules read.
fn context(user: usize, key: &str) -> serde_json::Value {
    json!({"context": {key: format!("user-{user}"), "plan": "enterprise", "app_version": "2.4.0", "region": "us-east"}})
}

async fn setup(database: &str, with_rules: bool) -> Bench {
    let pool = common::fresh_database(database).await;
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
        ]
        .into_iter()
        .chain(with_rules.then(|| {
            ("PUT", format!("/api/admin/feature-flags/{key}/environments/production/targeting/rules"), rules())
        })) {
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
        call(&router, post("/ofrep/v1/evaluate/flags", &evaluate, &context(1, "targetingKey"))).await;
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
    let bench = runtime.block_on(setup("rollgate_bench_evaluate_http", false));
    let user = AtomicUsize::new(0);
    let next_user = || context(user.fetch_add(1, Ordering::Relaxed), "targetingKey");

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
                let mut request = post("/ofrep/v1/evaluate/flags", &bench.token, &context(1, "targetingKey"));
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
                let mut body = context(n, "customer_id");
                let attributes: serde_json::Map<_, _> = ["plan", "app_version", "region"]
                    .into_iter()
                    .map(|k| (k.to_owned(), body["context"][k].take()))
                    .collect();
                body["context"] = json!({"customer_id": body["context"]["customer_id"], "attributes": attributes});
                post("/api/v1/evaluate", &bench.token, &body)
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

    // The same bulk request when every flag also has two targeting rules of three constraints, which the
    // context passes through: what rules cost a bulk answer.
    let ruled = runtime.block_on(setup("rollgate_bench_evaluate_http_rules", true));
    let mut group = c.benchmark_group("evaluation through the router, 50 flags with two 3-constraint rules each");
    group.bench_function("OFREP bulk, a new user each time", |b| {
        b.to_async(&runtime).iter_batched(
            || post("/ofrep/v1/evaluate/flags", &ruled.token, &next_user()),
            |request| async {
                let (status, _, body) = call(&ruled.router, request).await;
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
