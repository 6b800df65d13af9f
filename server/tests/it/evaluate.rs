//! The evaluation API: token checks, answers from the snapshot, live reload by NOTIFY, and serving on
//! when the database is gone.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::domain::{EnvKey, Role};
use app::server::audit::{Actor, ActorKind};
use app::server::tokens::{self, NewToken, TokenScope};
use app::server::AppState;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use sqlx::PgPool;
use std::time::Duration;

fn admin() -> Actor {
    Actor { kind: ActorKind::System, user_id: None, label: "system:test".into(), role: Role::Admin }
}

/// Waits (up to 2 s) until the snapshot worker has loaded its first snapshot.
async fn wait_for_first_snapshot(state: &AppState) {
    for _ in 0..100 {
        if state.snapshot.version().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn token(pool: &PgPool, env: &str) -> String {
    let new = NewToken {
        name: "app".into(),
        scope: TokenScope::Evaluate,
        environment: Some(EnvKey::parse(env).unwrap()),
        user: None,
        origins: vec![],
        rate_limit: None,
    };
    tokens::create(pool, &admin(), &new).await.unwrap().secret
}

async fn post_evaluate(router: &Router, token: Option<&str>, body: &str) -> (StatusCode, serde_json::Value) {
    let mut request = Request::post("/api/v1/evaluate").header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let response = send(router, request.body(Body::from(body.to_owned())).unwrap()).await;
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

#[sqlx::test(migrations = "../migrations")]
async fn before_the_first_snapshot_evaluation_answers_503_never_everything_off(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    let secret = token(&pool, "staging").await;
    let router = server::app(state(&pool), server::csrf::TrustedOrigins::default());

    let (status, body) = post_evaluate(&router, Some(&secret), r#"{"context":{}}"#).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "NOT_READY");
}

#[sqlx::test(migrations = "../migrations")]
async fn every_flag_is_evaluated_for_the_tokens_environment_with_value_and_reason(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_flag(&pool, "search").await;
    toggle(&pool, "search", "staging", true).await;
    let secret = token(&pool, "staging").await;
    let state = state(&pool);
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    let router = server::app(state, server::csrf::TrustedOrigins::default());

    let (status, body) = post_evaluate(&router, Some(&secret), r#"{"context":{"customer_id":"c-1"}}"#).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["environment"], "staging");
    assert_eq!(body["flags"]["checkout"]["value"], false);
    assert_eq!(body["flags"]["checkout"]["reason"], "DISABLED");
    assert_eq!(body["flags"]["search"]["value"], true);
    assert_eq!(body["flags"]["search"]["reason"], "STATIC");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_organization_override_is_a_targeting_match_for_that_organization_only(pool: PgPool) {
    seed_flag(&pool, "priority_urls_enabled").await;
    sqlx::query("update flag_environments set enabled = true, default_value = 'false'").execute(&pool).await.unwrap();
    sqlx::query("insert into organizations (key, name) values ('seo', 'SEO'), ('other', 'Other')")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into overrides (flag_id, environment_id, organization_key, value)
         select f.id, e.id, 'seo', 'true' from flags f, environments e where e.key = 'production'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let secret = token(&pool, "production").await;
    let state = state(&pool);
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    let router = server::app(state, server::csrf::TrustedOrigins::default());
    let get = |org: &'static str| {
        Request::get(format!("/api/v1/flags/priority_urls_enabled?organization_id={org}"))
            .header(header::AUTHORIZATION, format!("Bearer {secret}"))
            .body(Body::empty())
            .unwrap()
    };

    let seo: serde_json::Value = serde_json::from_str(&body_text(send(&router, get("seo")).await).await).unwrap();
    let other: serde_json::Value = serde_json::from_str(&body_text(send(&router, get("other")).await).await).unwrap();

    assert_eq!(
        (seo["value"].clone(), seo["reason"].clone()),
        (serde_json::json!(true), serde_json::json!("TARGETING_MATCH"))
    );
    assert_eq!(other["value"], false);
    assert_ne!(other["reason"], "TARGETING_MATCH");
}

#[sqlx::test(migrations = "../migrations")]
async fn tokens_are_checked_unknown_flags_are_404_and_bad_bodies_are_4xx(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "ops@example.com", "admin").await;
    let secret = token(&pool, "staging").await;
    let admin_token = tokens::create(
        &pool,
        &admin(),
        &NewToken {
            name: "script".into(),
            scope: TokenScope::Admin,
            environment: None,
            user: Some(app::domain::Email::parse("ops@example.com").unwrap()),
            origins: vec![],
            rate_limit: None,
        },
    )
    .await
    .unwrap()
    .secret;
    let state = state(&pool);
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    let router = server::app(state.clone(), server::csrf::TrustedOrigins::default());

    assert_eq!(post_evaluate(&router, None, "{}").await.0, StatusCode::UNAUTHORIZED);
    let forged = format!("{}{}", &secret[..13], "x".repeat(32));
    assert_eq!(post_evaluate(&router, Some(&forged), "{}").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(post_evaluate(&router, Some(&admin_token), "{}").await.0, StatusCode::FORBIDDEN);
    let (status, body) = post_evaluate(&router, Some(&secret), r#"{"context":{"customer_id":7}}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "INVALID_CONTEXT");
    let (status, body) = post_evaluate(&router, Some(&secret), "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let missing = Request::get("/api/v1/flags/nope")
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .body(Body::empty())
        .unwrap();
    let response = send(&router, missing).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(body_text(response).await.contains("FLAG_NOT_FOUND"));

    let prefix = tokens::prefix_of(&secret).unwrap().to_owned();
    tokens::revoke(&pool, &admin(), &prefix).await.unwrap();
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    assert_eq!(post_evaluate(&router, Some(&secret), "{}").await.0, StatusCode::UNAUTHORIZED, "revoked");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_committed_toggle_reaches_the_snapshot_through_notify(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    let state = state(&pool);
    // A long periodic check, so only the notification can explain a quick reload.
    let worker =
        tokio::spawn(server::workers::snapshot::run(pool.clone(), state.snapshot.clone(), Duration::from_secs(3600)));
    wait_for_first_snapshot(&state).await;
    let before = state.snapshot.version().expect("the first snapshot loads");

    toggle(&pool, "checkout", "staging", true).await;

    let mut reloaded = false;
    for _ in 0..100 {
        if state.snapshot.version() > Some(before) {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.abort();
    assert!(reloaded, "the snapshot reloads within 2 s of the commit");
    let snapshot = state.snapshot.get().unwrap();
    assert!(snapshot.environments["staging"].flags["checkout"].env.enabled);
}

#[sqlx::test(migrations = "../migrations")]
async fn evaluation_goes_on_from_the_last_snapshot_when_the_database_is_gone(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    let secret = token(&pool, "staging").await;
    let state = state(&pool);
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    let router = server::app(state.clone(), server::csrf::TrustedOrigins::default());

    pool.close().await;
    assert!(server::workers::snapshot::refresh(&pool, &state.snapshot).await.is_err(), "the database is unreachable");
    let (status, body) = post_evaluate(&router, Some(&secret), r#"{"context":{"customer_id":"c-1"}}"#).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["flags"]["checkout"]["reason"], "DISABLED");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_connected_stream_hears_about_a_committed_change(pool: PgPool) {
    use http_body_util::BodyExt;
    seed_flag(&pool, "checkout").await;
    let secret = token(&pool, "staging").await;
    let state = state(&pool);
    let worker =
        tokio::spawn(server::workers::snapshot::run(pool.clone(), state.snapshot.clone(), Duration::from_secs(3600)));
    wait_for_first_snapshot(&state).await;
    let router = server::app(state.clone(), server::csrf::TrustedOrigins::default());
    let request = Request::get("/api/v1/stream")
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .body(Body::empty())
        .unwrap();
    let response = send(&router, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: ready"));

    toggle(&pool, "checkout", "staging", true).await;

    let next = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(next.data_ref().unwrap()).into_owned();
    worker.abort();
    // OFREP's event-stream style: an unnamed event (EventSource's `message`) whose data says what to do.
    assert!(!text.contains("event:"), "{text}");
    assert!(text.contains(r#""type":"refetchEvaluation""#), "{text}");
    assert!(text.contains(&format!("\"version\":{}", state.snapshot.version().unwrap())), "{text}");
}

async fn get_metrics(router: &Router) -> String {
    let response = send(router, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    body_text(response).await
}

/// The value of one exposition line, e.g. `rollgate_snapshot_version 7` -> 7.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[sqlx::test(migrations = "../migrations")]
async fn metrics_count_evaluations_by_environment_flag_and_reason_and_time_requests_by_route(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_flag(&pool, "search").await;
    toggle(&pool, "search", "staging", true).await;
    let secret = token(&pool, "staging").await;
    let state = state(&pool);
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    let version = state.snapshot.version().unwrap();
    let router = server::app(state, server::csrf::TrustedOrigins::default());

    for _ in 0..3 {
        let (status, _) = post_evaluate(&router, Some(&secret), r#"{"context":{"customer_id":"c-1"}}"#).await;
        assert_eq!(status, StatusCode::OK);
    }
    let missing = Request::get("/api/v1/flags/nope").header(header::AUTHORIZATION, format!("Bearer {secret}"));
    assert_eq!(send(&router, missing.body(Body::empty()).unwrap()).await.status(), StatusCode::NOT_FOUND);
    let metrics = get_metrics(&router).await;

    let evaluations = |flag: &str, reason: &str| {
        sample(
            &metrics,
            &format!(r#"rollgate_evaluations_total{{environment="staging",flag="{flag}",reason="{reason}"}}"#),
        )
    };
    assert_eq!(evaluations("checkout", "DISABLED"), Some(3.0), "{metrics}");
    assert_eq!(evaluations("search", "STATIC"), Some(3.0), "{metrics}");
    assert_eq!(evaluations("search", "DISABLED"), None, "reasons never answered are left out");
    assert_eq!(sample(&metrics, r#"rollgate_evaluation_flag_not_found_total{environment="staging"}"#), Some(1.0));
    assert_eq!(sample(&metrics, "rollgate_snapshot_version"), Some(version as f64));
    assert_eq!(sample(&metrics, "rollgate_snapshot_loaded"), Some(1.0));
    assert!(sample(&metrics, "rollgate_snapshot_age_seconds").is_some_and(|age| (0.0..60.0).contains(&age)));
    assert_eq!(
        sample(
            &metrics,
            r#"rollgate_http_request_duration_seconds_count{method="POST",route="/api/v1/evaluate",status="200"}"#
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"rollgate_http_request_duration_seconds_count{method="GET",route="/api/v1/flags/{key}",status="404"}"#
        ),
        Some(1.0),
        "the route pattern, not the raw path: {metrics}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn evaluation_counts_survive_a_snapshot_swap(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    let secret = token(&pool, "staging").await;
    let state = state(&pool);
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    let snapshot = state.snapshot.clone();
    let router = server::app(state, server::csrf::TrustedOrigins::default());
    post_evaluate(&router, Some(&secret), r#"{"context":{}}"#).await;

    toggle(&pool, "checkout", "staging", true).await;
    server::workers::snapshot::refresh(&pool, &snapshot).await.unwrap();
    post_evaluate(&router, Some(&secret), r#"{"context":{}}"#).await;
    post_evaluate(&router, Some(&secret), r#"{"context":{}}"#).await;
    let metrics = get_metrics(&router).await;

    let series = |reason: &str| {
        format!(r#"rollgate_evaluations_total{{environment="staging",flag="checkout",reason="{reason}"}}"#)
    };
    assert_eq!(sample(&metrics, &series("DISABLED")), Some(1.0), "{metrics}");
    assert_eq!(sample(&metrics, &series("STATIC")), Some(2.0), "{metrics}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_tokens_last_use_is_recorded(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    let secret = token(&pool, "staging").await;
    let state = state(&pool);
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    let router = server::app(state, server::csrf::TrustedOrigins::default());
    let never = tokens::list(&pool).await.unwrap();
    assert_eq!(never[0].last_used_at, None);

    post_evaluate(&router, Some(&secret), r#"{"context":{}}"#).await;

    // Written in the background, off the request's path.
    for _ in 0..100 {
        if tokens::list(&pool).await.unwrap()[0].last_used_at.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("last_used_at was not recorded within 2 s");
}
