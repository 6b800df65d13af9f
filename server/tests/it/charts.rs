//! The rollout charts against a real PostgreSQL: figures reported per minute come out as SVG charts with
//! the series, the guardrails' limits and the stage markers, on the rollout page and as sparklines in the
//! flag list; a rollout without figures shows the empty state.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::pages::rollouts::charts::ChartRange;
use app::server::charts;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Utc;
use sqlx::PgPool;

/// An active rollout of `key` in production at stage 2 (50%) with a p99 limit of 500 ms and an error-rate
/// limit of 1%, started 50 minutes ago and advanced to 50% 20 minutes ago.
async fn seed_rollout(pool: &PgPool, key: &str) -> i64 {
    seed_flag(pool, key).await;
    let id: i64 = sqlx::query_scalar(
        "insert into rollouts (flag_id, environment_id)
         select f.id, e.id from flags f, environments e where f.key = $1 and e.key = 'production' returning id",
    )
    .bind(key)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into rollout_stages (rollout_id, position, name, basis_points) values
           ($1, 0, 'internal', 100), ($1, 1, 'early adopters', 1000), ($1, 2, 'general', 5000), ($1, 3, 'full', 10000)",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "update rollouts set status = 'active', current_stage = 2, stage_entered_at = now() - interval '20 minutes',
                started_at = now() - interval '50 minutes' where id = $1",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into guardrails (rollout_id, kind, threshold, window_seconds, min_samples) values
           ($1, 'error_rate', 1, 300, 100), ($1, 'latency_p99', 500, 300, 100)",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into rollout_events (rollout_id, occurred_at, kind, from_basis_points, to_basis_points, actor_kind, actor_label)
         values ($1, now() - interval '50 minutes', 'started', 0, 100, 'system', 'system:test'),
                ($1, now() - interval '20 minutes', 'advanced', 1000, 5000, 'system', 'system:test')",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
    id
}

/// `minutes` minutes of figures up to now for both cohorts: 1,000 requests a minute, 2% errors in
/// treatment and 0.5% in control, latencies mostly under 100 ms with a tail to 10 s.
async fn seed_minutes(pool: &PgPool, key: &str, minutes: i32) {
    sqlx::query(
        "insert into metric_minutes (flag_id, environment_id, cohort, minute, part_start, request_count, error_count,
                                     latency_buckets, latency_sum_ms)
         select f.id, e.id, c.cohort, date_trunc('minute', now()) - make_interval(mins => i),
                date_trunc('minute', now()) - make_interval(mins => i), 1000, c.errors,
                array[100, 200, 300, 200, 100, 50, 30, 10, 5, 3, 2, 0]::bigint[], 90000
         from flags f, environments e, (values ('treatment', 20), ('control', 5)) c (cohort, errors),
              generate_series(0, $2 - 1) i
         where f.key = $1 and e.key = 'production'",
    )
    .bind(key)
    .bind(minutes)
    .execute(pool)
    .await
    .unwrap();
}

/// The text content of an SVG's `<title>` and `<desc>`.
fn title_and_desc(svg: &str) -> (String, String) {
    let between = |open: &str, close: &str| {
        let start = svg.find(open).map(|i| i + open.len()).unwrap();
        let start = start + svg[start..].find('>').unwrap() + 1;
        svg[start..start + svg[start..].find(close).unwrap()].to_owned()
    };
    (between("<title", "</title>"), between("<desc", "</desc>"))
}

#[sqlx::test(migrations = "../migrations")]
async fn charts_of_a_rollout_with_figures_show_both_cohorts_the_limits_and_the_stage_changes(pool: PgPool) {
    let id = seed_rollout(&pool, "checkout").await;
    seed_minutes(&pool, "checkout", 60).await;

    let svgs = charts::rollout_charts(&pool, id, ChartRange::Hour, Utc::now()).await.unwrap();

    let (title, desc) = title_and_desc(&svgs.latency);
    assert_eq!(title, "Latency of checkout in production, last 1 h");
    assert!(desc.contains("treatment drawn solid, control dashed"), "{desc}");
    assert!(desc.contains("Guardrail limits: p99 limit 500 ms."), "{desc}");
    assert!(desc.contains("→ 1%") && desc.contains("→ 50%"), "{desc}");
    for text in ["p99 treatment", "p99 control", "p50 treatment", "p99 limit 500 ms", "→ 50%", "Latency (ms)"] {
        assert!(svgs.latency.contains(text), "the latency chart shows {text}");
    }
    assert!(svgs.latency.contains("<polyline"), "the series are drawn");
    // plotters draws a dashed line as one short polyline per dash: the control lines add many.
    assert!(svgs.latency.matches("<polyline").count() > 10, "the control lines are drawn dashed");
    assert!(!svgs.latency.contains("No figures yet"));

    let (title, desc) = title_and_desc(&svgs.error_rate);
    assert_eq!(title, "Error rate of checkout in production, last 1 h");
    assert!(desc.contains(": 2%.") && desc.contains(": 0.5%."), "latest treatment 2%, control 0.5%: {desc}");
    for text in ["limit 1%", "treatment", "control", "Error rate (%)", "→ 50%"] {
        assert!(svgs.error_rate.contains(text), "the error chart shows {text}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_week_of_minutes_is_bucketed_to_half_hours_and_rollbacks_are_marked(pool: PgPool) {
    let id = seed_rollout(&pool, "checkout").await;
    seed_minutes(&pool, "checkout", 7 * 24 * 60).await;
    sqlx::query(
        "insert into rollout_events (rollout_id, occurred_at, kind, from_basis_points, to_basis_points, actor_kind, actor_label)
         values ($1, now() - interval '3 days', 'rolled_back', 5000, 0, 'system', 'system:guardrail')",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();

    let data = charts::load::chart_data(&pool, id, ChartRange::Week, Utc::now()).await.unwrap();

    assert!((336..=337).contains(&data.treatment.len()), "{} points", data.treatment.len());
    assert_eq!(data.control.len(), data.treatment.len());
    // A whole half hour holds 30 minutes of 1,000 requests.
    assert_eq!(data.treatment[data.treatment.len() / 2].requests, 30_000);
    assert!(data.markers.iter().any(|m| m.label == "rolled back"));
    let svg = charts::render::latency_svg(&data);
    assert!(svg.contains("rolled back") && svg.contains("rollback"), "marker and its legend entry");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_variant_flags_variants_together_are_its_treatment_as_the_guardrails_count_them(pool: PgPool) {
    let id = seed_rollout(&pool, "checkout").await;
    sqlx::query(
        "insert into metric_minutes (flag_id, environment_id, cohort, minute, part_start, request_count, error_count,
                                     latency_buckets)
         select f.id, e.id, c.cohort, date_trunc('minute', now()) - make_interval(mins => i),
                date_trunc('minute', now()) - make_interval(mins => i), 1000, c.errors,
                array_fill(10::bigint, array[12])
         from flags f, environments e, (values ('variant:a', 30), ('variant:b', 10), ('control', 5)) c (cohort, errors),
              generate_series(0, 9) i
         where f.key = 'checkout' and e.key = 'production'",
    )
    .execute(&pool)
    .await
    .unwrap();

    let svgs = charts::rollout_charts(&pool, id, ChartRange::Hour, Utc::now()).await.unwrap();
    let (_, desc) = title_and_desc(&svgs.error_rate);
    assert!(desc.contains(": 2%.") && desc.contains(": 0.5%."), "40 errors in 2,000 variant requests: {desc}");
    let lines = charts::sparklines(&pool, &[id], Utc::now()).await.unwrap();
    assert!(lines[&id].contains("now 2%"), "{}", lines[&id]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rollout_without_figures_shows_the_empty_state(pool: PgPool) {
    let id = seed_rollout(&pool, "checkout").await;

    let svgs = charts::rollout_charts(&pool, id, ChartRange::SixHours, Utc::now()).await.unwrap();

    for svg in [&svgs.latency, &svgs.error_rate] {
        assert!(svg.contains("No figures yet: applications report them to POST /api/v1/metrics"), "{svg}");
        assert!(!svg.contains("<polyline"));
    }
    assert_eq!(title_and_desc(&svgs.latency).0, "Latency of checkout in production, last 6 h");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unknown_rollout_has_no_charts(pool: PgPool) {
    let result = charts::rollout_charts(&pool, 4242, ChartRange::Hour, Utc::now()).await;
    assert!(matches!(result, Err(app::server::ServiceError::NotFound(_))));
}

async fn get(router: &axum::Router, cookie: &str, path: &str) -> String {
    let request =
        Request::get(path).header(header::HOST, HOST).header(header::COOKIE, cookie).body(Body::empty()).unwrap();
    let response = send(router, request).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    body_text(response).await
}

#[sqlx::test(migrations = "../migrations")]
async fn the_rollout_page_draws_the_charts_without_javascript_and_the_flag_list_a_sparkline(pool: PgPool) {
    let id = seed_rollout(&pool, "checkout").await;
    seed_minutes(&pool, "checkout", 90).await;
    seed_user(&pool, "viewer@example.com", "viewer").await;
    let router = router(&pool);
    let cookie = login(&router, "viewer@example.com").await;

    let page = get(&router, &cookie, &format!("/admin/rollouts/{id}?range=6h")).await;
    assert!(page.contains("data-testid=\"rollout-figures\""));
    assert!(page.contains("Latency of checkout in production, last 6 h"), "the 6 h range is drawn");
    assert!(page.contains("p99 limit 500 ms") && page.contains("limit 1%"));
    assert!(page.contains("href=\"?range=7d\""), "the range selector is plain links");

    let list = get(&router, &cookie, "/admin/feature-flags").await;
    let sparkline = format!("data-testid=\"sparkline-{id}\"");
    assert!(list.contains(&sparkline), "an active rollout has a sparkline in the flag list");
    assert!(list.contains("Treatment error rate, last hour: now 2%, highest 2%, limit 1%"));
}

#[sqlx::test(migrations = "../migrations")]
async fn sparklines_come_only_for_active_or_paused_rollouts(pool: PgPool) {
    let id = seed_rollout(&pool, "checkout").await;
    seed_minutes(&pool, "checkout", 10).await;
    let now = Utc::now();

    let lines = charts::sparklines(&pool, &[id, 999], now).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert!(lines[&id].contains("now 2%"));

    sqlx::query("update rollouts set status = 'completed', completed_at = now() where id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    assert!(charts::sparklines(&pool, &[id], now).await.unwrap().is_empty());
}
