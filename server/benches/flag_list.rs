//! How long the server takes to render `/admin/feature-flags` with 1,000 flags in 3 environments: the
//! whole request through the router (session lookup, the list queries, SSR of every row and switch),
//! body read to the end. Needs DATABASE_URL pointing at a PostgreSQL server where it may create the
//! database `rollgate_bench_flag_list`; `scripts/bench` provides one.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use app::server::{AppState, SecurityConfig};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

const FLAGS: usize = 1000;
const PASSWORD: &str = "benchmark password";

async fn setup() -> (axum::Router, String) {
    let pool = common::fresh_database("rollgate_bench_flag_list").await;

    // 10 phases of 100 flags, each flag in 3 environments, half of them on.
    sqlx::query("insert into environments (key, name, position) values ('development','Development',0),('staging','Staging',1),('production','Production',2)")
        .execute(&pool).await.unwrap();
    sqlx::query(
        "insert into phases (key, name, position) select 'phase-' || i, 'Phase ' || i, i from generate_series(1, 10) i",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into flags (key, name, description, phase_id, kind)
         select format('flag_%s', lpad(i::text, 4, '0')), format('Flag number %s', i),
                'A benchmark flag with a description of ordinary length.', p.id, 'release'
         from generate_series(1, $1) i join phases p on p.position = 1 + (i - 1) / ($1 / 10)",
    )
    .bind(FLAGS as i32)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("insert into flag_environments (flag_id, environment_id, enabled) select f.id, e.id, (f.id + e.id) % 2 = 0 from flags f, environments e")
        .execute(&pool).await.unwrap();
    let hash = app::server::password::hash_password(PASSWORD).unwrap();
    sqlx::query(
        "insert into users (email, name, role, password_hash) values ('bench@example.com', 'Bench', 'editor', $1)",
    )
    .bind(hash)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("analyze").execute(&pool).await.unwrap();

    let leptos_options = leptos::config::LeptosOptions::builder().output_name("rollgate").build();
    let state = AppState {
        leptos_options: std::sync::Arc::new(leptos_options),
        pool,
        security: Arc::new(SecurityConfig::default()),
        snapshot: Arc::default(),
        priority_urls: Arc::default(),
        guardrail_worker: Arc::default(),
    };
    let router = server::app(state, server::csrf::TrustedOrigins::default());
    let login = Request::post("/login")
        .header(header::HOST, "bench")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("email=bench%40example.com&password={}", PASSWORD.replace(' ', "+"))))
        .unwrap();
    let response = router.clone().oneshot(login).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    (router, cookie)
}

async fn render(router: &axum::Router, cookie: &str, path: &str) -> usize {
    let request =
        Request::get(path).header(header::HOST, "bench").header(header::COOKIE, cookie).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body().collect().await.unwrap().to_bytes().len()
}

fn flag_list(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (router, cookie) = runtime.block_on(setup());
    let all = "/admin/feature-flags?per_page=1000";
    let bytes = runtime.block_on(render(&router, &cookie, all));
    let rows = runtime.block_on(async {
        let request = Request::get(all)
            .header(header::HOST, "bench")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap();
        let body = router.clone().oneshot(request).await.unwrap().into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&body).matches("data-testid=\"flag-row-").count()
    });
    assert_eq!(rows, FLAGS, "the page must show every flag");
    println!("the 1,000-flag page is {bytes} bytes with {rows} rows");

    let mut group = c.benchmark_group("flag_list");
    group.sample_size(30);
    group.bench_function("1000 flags x 3 environments, one page", |b| {
        b.to_async(&runtime).iter(|| render(&router, &cookie, all));
    });
    group.bench_function("default page (100 flags)", |b| {
        b.to_async(&runtime).iter(|| render(&router, &cookie, "/admin/feature-flags"));
    });
    group.bench_function("search filter", |b| {
        b.to_async(&runtime)
            .iter(|| render(&router, &cookie, "/admin/feature-flags?q=flag_09&state=on&env=production"));
    });
    group.finish();
}

criterion_group!(benches, flag_list);
criterion_main!(benches);
