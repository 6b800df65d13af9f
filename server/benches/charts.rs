//! How long the server takes to load and draw a rollout's charts with 7 days of per-minute figures for
//! treatment and control (2 x 10,080 rows in metric_minutes), beside 20 other flags' week of figures: the
//! charts' server function body (three queries, bucketing in SQL, two SVGs) for each range, and the whole
//! rollout page through the router. Target: under 100 ms for the 7-day charts. Needs DATABASE_URL pointing
//! at a PostgreSQL server where it may create the database `rollgate_bench_charts`; `scripts/bench`
//! provides one.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use app::pages::rollouts::charts::ChartRange;
use app::server::{charts, AppState, SecurityConfig};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt;
use sqlx::PgPool;
use std::sync::Arc;
use tower::ServiceExt;

const PASSWORD: &str = "benchmark password";
const OTHER_FLAGS: i32 = 20;

async fn setup() -> (axum::Router, PgPool, String, i64) {
    let pool = common::fresh_database("rollgate_bench_charts").await;

    sqlx::query(
        "insert into environments (key, name, position) values ('staging','Staging',1),('production','Production',2)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("insert into flags (key, name) select 'flag_' || i, 'Flag ' || i from generate_series(0, $1) i")
        .bind(OTHER_FLAGS)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("insert into flag_environments (flag_id, environment_id, enabled) select f.id, e.id, true from flags f, environments e")
        .execute(&pool)
        .await
        .unwrap();
    // The charted rollout: flag_0 in production, five tiers, at 50% after four stage changes this week.
    let rollout: i64 = sqlx::query_scalar(
        "insert into rollouts (flag_id, environment_id) select f.id, e.id from flags f, environments e
         where f.key = 'flag_0' and e.key = 'production' returning id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into rollout_stages (rollout_id, position, name, basis_points) values
           ($1, 0, 'disabled', 0), ($1, 1, 'internal', 100), ($1, 2, 'early adopters', 1000),
           ($1, 3, 'general', 5000), ($1, 4, 'full', 10000)",
    )
    .bind(rollout)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "update rollouts set status = 'active', current_stage = 3, stage_entered_at = now() - interval '1 day',
                started_at = now() - interval '6 days' where id = $1",
    )
    .bind(rollout)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into guardrails (rollout_id, kind, threshold, window_seconds, min_samples, baseline) values
           ($1, 'error_rate', 1, 300, 100, null), ($1, 'latency_p99', 500, 300, 100, null),
           ($1, 'latency_p95', 250, 300, 100, null), ($1, 'error_rate_increase', 5, 600, 200, 'control')",
    )
    .bind(rollout)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into rollout_events (rollout_id, occurred_at, kind, from_basis_points, to_basis_points, actor_kind, actor_label)
         values ($1, now() - interval '6 days', 'started', 0, 100, 'system', 'system:bench'),
                ($1, now() - interval '4 days', 'advanced', 100, 1000, 'system', 'system:bench'),
                ($1, now() - interval '3 days', 'rolled_back', 1000, 100, 'system', 'system:guardrail'),
                ($1, now() - interval '2 days', 'advanced', 100, 1000, 'system', 'system:bench'),
                ($1, now() - interval '1 day', 'advanced', 1000, 5000, 'system', 'system:bench')",
    )
    .bind(rollout)
    .execute(&pool)
    .await
    .unwrap();
    // A week of minutes for every flag in production, both cohorts: 21 x 2 x 10,080 rows, with varying figures.
    sqlx::query(
        "insert into metric_minutes (flag_id, environment_id, cohort, minute, part_start, request_count, error_count,
                                     latency_buckets, latency_sum_ms)
         select f.id, e.id, c.cohort, date_trunc('minute', now()) - make_interval(mins => i),
                date_trunc('minute', now()) - make_interval(mins => i),
                1000 + (i % 97), (i % 13) + c.extra,
                array[100 + i % 50, 200, 300, 200, 100, 50, 30 + (i % 7) * c.extra, 10, 5, 3, 2, 0]::bigint[],
                90000 + i % 1000
         from flags f, environments e, (values ('treatment', 3), ('control', 0)) c (cohort, extra),
              generate_series(0, 7 * 24 * 60 - 1) i
         where e.key = 'production'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let hash = app::server::password::hash_password(PASSWORD).unwrap();
    sqlx::query(
        "insert into users (email, name, role, password_hash) values ('bench@example.com', 'Bench', 'viewer', $1)",
    )
    .bind(hash)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("vacuum analyze").execute(&pool).await.unwrap();

    let leptos_options = leptos::config::LeptosOptions::builder().output_name("rollgate").build();
    let state = AppState {
        leptos_options: std::sync::Arc::new(leptos_options),
        pool: pool.clone(),
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
    (router, pool, cookie, rollout)
}

async fn page(router: &axum::Router, cookie: &str, path: &str) -> String {
    let request =
        Request::get(path).header(header::HOST, "bench").header(header::COOKIE, cookie).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).into_owned()
}

fn chart_bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (router, pool, cookie, rollout) = runtime.block_on(setup());

    let week =
        runtime.block_on(charts::load::chart_data(&pool, rollout, ChartRange::Week, chrono::Utc::now())).unwrap();
    assert!(week.treatment.len() >= 336 && week.control.len() >= 336, "a week in half hours");
    let svgs = runtime.block_on(charts::rollout_charts(&pool, rollout, ChartRange::Week, chrono::Utc::now())).unwrap();
    assert!(svgs.latency.contains("rolled back") && svgs.latency.contains("p99 limit 500 ms"));
    println!(
        "7-day charts: {} + {} points, SVGs of {} and {} bytes",
        week.treatment.len(),
        week.control.len(),
        svgs.latency.len(),
        svgs.error_rate.len()
    );
    let body = runtime.block_on(page(&router, &cookie, &format!("/admin/rollouts/{rollout}?range=7d")));
    assert!(body.contains("Latency of flag_0 in production, last 7 d"), "the page draws the 7-day charts");

    let mut group = c.benchmark_group("charts");
    group.sample_size(30);
    for range in ChartRange::ALL {
        group.bench_function(format!("load + draw, {}", range.as_str()), |b| {
            b.to_async(&runtime)
                .iter(|| async { charts::rollout_charts(&pool, rollout, range, chrono::Utc::now()).await.unwrap() });
        });
    }
    group.bench_function("draw only, 7d", |b| {
        b.iter(|| (charts::render::latency_svg(&week), charts::render::error_rate_svg(&week)));
    });
    let path = format!("/admin/rollouts/{rollout}?range=7d");
    group.bench_function("whole rollout page, 7d", |b| {
        b.to_async(&runtime).iter(|| page(&router, &cookie, &path));
    });
    group.finish();
}

criterion_group!(benches, chart_bench);
criterion_main!(benches);
