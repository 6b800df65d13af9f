//! Frontend tokens: the flags visible to frontends only, CORS on the evaluation routes only (and the admin
//! routes still refusing cross-site requests), origins, rate limits, the browser's event stream.

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use sqlx::PgPool;

const APP: &str = "https://app.example";
const EVIL: &str = "https://evil.example";

/// `public_banner` (visible to frontends) and `internal_pricing` (not), both on in production; a router
/// with its snapshot loaded.
async fn setup(pool: &PgPool) -> Router {
    seed_flag(pool, "public_banner").await;
    seed_flag(pool, "internal_pricing").await;
    sqlx::query("update flag_environments set enabled = true").execute(pool).await.unwrap();
    show_to_frontends(pool, "public_banner", true).await;
    let state = state(pool);
    server::workers::snapshot::refresh(pool, &state.snapshot).await.unwrap();
    server::app(state, server::csrf::TrustedOrigins::default())
}

fn ofrep(path: &str, token: &str, origin: Option<&str>) -> Request<Body> {
    let mut request = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin).header("sec-fetch-site", "cross-site");
    }
    request.body(Body::from(r#"{"context":{"targetingKey":"visitor-1"}}"#)).unwrap()
}

async fn json(router: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let response = send(router, request).await;
    let (status, headers) = (response.status(), response.headers().clone());
    let text = body_text(response).await;
    (status, headers, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

#[sqlx::test(migrations = "../migrations")]
async fn a_frontend_token_evaluates_only_the_flags_visible_to_frontends(pool: PgPool) {
    let router = setup(&pool).await;
    let token = frontend_token_for(&pool, "production", &[APP], 100).await;

    let (status, _, bulk) = json(&router, ofrep("/ofrep/v1/evaluate/flags", &token, None)).await;
    let (_, _, hidden) = json(&router, ofrep("/ofrep/v1/evaluate/flags/internal_pricing", &token, None)).await;
    let (_, _, shown) = json(&router, ofrep("/ofrep/v1/evaluate/flags/public_banner", &token, None)).await;
    let rest = Request::post("/api/v1/evaluate")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"context":{}}"#))
        .unwrap();
    let (_, _, rest) = json(&router, rest).await;

    assert_eq!(status, StatusCode::OK, "{bulk}");
    let keys: Vec<&str> = bulk["flags"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["public_banner"]);
    assert_eq!(hidden["errorCode"], "FLAG_NOT_FOUND", "a hidden flag is not found, as if it did not exist");
    assert_eq!(shown["value"], true);
    assert_eq!(rest["flags"].as_object().unwrap().keys().collect::<Vec<_>>(), ["public_banner"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_server_token_still_sees_every_flag(pool: PgPool) {
    let router = setup(&pool).await;
    let token = evaluate_token_for(&pool, "production").await;

    let (_, _, bulk) = json(&router, ofrep("/ofrep/v1/evaluate/flags", &token, None)).await;

    assert_eq!(bulk["flags"].as_array().unwrap().len(), 2, "{bulk}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_preflight_from_a_listed_origin_is_answered_and_one_from_elsewhere_is_not(pool: PgPool) {
    seed_flag(&pool, "public_banner").await;
    frontend_token_for(&pool, "production", &[APP], 100).await;
    let state = state(&pool);
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    let router = server::app(state, server::csrf::TrustedOrigins::default());
    let preflight = |origin: &str| {
        Request::options("/ofrep/v1/evaluate/flags")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization, content-type")
            .body(Body::empty())
            .unwrap()
    };

    let listed = send(&router, preflight(APP)).await;
    let other = send(&router, preflight(EVIL)).await;

    assert_eq!(listed.status(), StatusCode::NO_CONTENT);
    assert_eq!(listed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    assert!(listed.headers()[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap().contains("POST"));
    assert_eq!(listed.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS], "authorization, content-type");
    assert!(listed.headers().get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none(), "cookies never ride along");
    assert!(other.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "the browser refuses the request");
}

#[sqlx::test(migrations = "../migrations")]
async fn evaluation_from_another_origin_works_while_an_admin_write_from_it_is_still_refused(pool: PgPool) {
    let router = setup(&pool).await;
    let token = frontend_token_for(&pool, "production", &[APP], 100).await;
    seed_user(&pool, "editor@rollgate.test", "editor").await;
    let cookie = login(&router, "editor@rollgate.test").await;

    let (status, headers, bulk) = json(&router, ofrep("/ofrep/v1/evaluate/flags", &token, Some(APP))).await;
    let admin_write = Request::put("/api/admin/feature-flags/internal_pricing/environments/production")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, APP)
        .header("sec-fetch-site", "cross-site")
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"enabled": false}"#))
        .unwrap();
    let refused = send(&router, admin_write).await;
    let admin_preflight = Request::options("/api/admin/feature-flags")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, APP)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .unwrap();
    let admin_preflight = send(&router, admin_preflight).await;

    assert_eq!(status, StatusCode::OK, "{bulk}");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    assert!(headers[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap().contains("ETag"));
    assert!(headers.get(header::ETAG).is_some());
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    assert!(body_text(refused).await.contains("cross-site request refused"));
    assert!(admin_preflight.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    assert!(flag_enabled(&pool, "internal_pricing", "production").await, "nothing changed");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_page_on_an_unlisted_origin_or_with_a_server_token_is_refused(pool: PgPool) {
    let router = setup(&pool).await;
    let frontend = frontend_token_for(&pool, "production", &[APP], 100).await;
    let server_token = evaluate_token_for(&pool, "production").await;

    let (elsewhere, _, why) = json(&router, ofrep("/ofrep/v1/evaluate/flags", &frontend, Some(EVIL))).await;
    let (server, _, server_why) = json(&router, ofrep("/ofrep/v1/evaluate/flags", &server_token, Some(APP))).await;
    let (app_without_origin, _, _) = json(&router, ofrep("/ofrep/v1/evaluate/flags", &frontend, None)).await;

    assert_eq!(elsewhere, StatusCode::FORBIDDEN);
    assert_eq!(why["error"], "ORIGIN_NOT_ALLOWED");
    assert_eq!(server, StatusCode::FORBIDDEN);
    assert_eq!(server_why["error"], "SERVER_TOKEN_IN_BROWSER");
    assert_eq!(app_without_origin, StatusCode::OK, "a mobile app sends no Origin");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_frontend_token_over_its_rate_gets_429_with_retry_after(pool: PgPool) {
    let router = setup(&pool).await;
    let token = frontend_token_for(&pool, "production", &[APP], 3).await;

    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let response = send(&router, ofrep("/ofrep/v1/evaluate/flags", &token, Some(APP))).await;
        statuses.push(response.status());
        retry_after = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
    }

    assert_eq!(statuses[..3], [StatusCode::OK; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("1"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_frontend_token_cannot_report_metrics(pool: PgPool) {
    let router = setup(&pool).await;
    let token = frontend_token_for(&pool, "production", &[], 100).await;
    let request = Request::post("/api/v1/metrics")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"batch_id":"b-1","samples":[]}"#))
        .unwrap();

    let (status, _, body) = json(&router, request).await;

    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["message"].as_str().unwrap().contains("frontend token only evaluates"));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_bulk_answer_points_a_browser_at_a_stream_it_can_open_without_headers(pool: PgPool) {
    let router = setup(&pool).await;
    let frontend = frontend_token_for(&pool, "production", &[APP], 100).await;
    let server_token = evaluate_token_for(&pool, "production").await;

    let (_, _, bulk) = json(&router, ofrep("/ofrep/v1/evaluate/flags", &frontend, Some(APP))).await;
    let url = bulk["eventStreams"][0]["url"].as_str().unwrap().to_owned();
    let path = url.trim_start_matches(&format!("http://{HOST}"));
    let open = |path: &str| {
        Request::get(path).header(header::HOST, HOST).header(header::ORIGIN, APP).body(Body::empty()).unwrap()
    };
    let stream = send(&router, open(path)).await;
    let server_in_page = send(&router, open(&format!("/api/v1/stream?token={server_token}"))).await;
    let server_in_url = Request::get(format!("/api/v1/stream?token={server_token}")).body(Body::empty()).unwrap();
    let server_in_url = send(&router, server_in_url).await;

    assert_eq!(url, format!("http://{HOST}/api/v1/stream?token={frontend}"));
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()[header::CONTENT_TYPE], "text/event-stream");
    assert_eq!(stream.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    assert_eq!(server_in_page.status(), StatusCode::FORBIDDEN);
    assert!(body_text(server_in_page).await.contains("SERVER_TOKEN_IN_BROWSER"));
    assert_eq!(server_in_url.status(), StatusCode::FORBIDDEN);
    assert!(body_text(server_in_url).await.contains("TOKEN_IN_URL"));
}

#[sqlx::test(migrations = "../migrations")]
async fn showing_a_flag_to_frontends_is_audited_and_reaches_evaluation(pool: PgPool) {
    let router = setup(&pool).await;
    seed_user(&pool, "editor@rollgate.test", "editor").await;
    let admin = admin_token_for(&pool, "editor@rollgate.test").await;
    let token = frontend_token_for(&pool, "production", &[], 100).await;
    let show = Request::put("/api/admin/feature-flags/internal_pricing/frontend")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"visible": true}"#))
        .unwrap();

    let (status, _, detail) = json(&router, show).await;
    let state = state(&pool);
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    let fresh = server::app(state, server::csrf::TrustedOrigins::default());
    let (_, _, answer) = json(&fresh, ofrep("/ofrep/v1/evaluate/flags/internal_pricing", &token, None)).await;

    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["visible_to_frontends"], true);
    assert_eq!(audit_count(&pool, "flag.shown_to_frontends").await, 2, "public_banner in setup, then this one");
    assert_eq!(answer["value"], true, "{answer}");
}

#[sqlx::test(migrations = "../migrations")]
async fn only_a_frontend_token_lists_origins(pool: PgPool) {
    seed_flag(&pool, "any").await;
    let new = app::server::tokens::NewToken {
        name: "web".into(),
        scope: app::server::tokens::TokenScope::Evaluate,
        environment: Some(app::domain::EnvKey::parse("production").unwrap()),
        user: None,
        origins: vec![app::domain::AllowedOrigin::parse(APP).unwrap()],
        rate_limit: None,
    };

    let refused = app::server::tokens::create(&pool, &app::server::audit::Actor::system("test"), &new).await;

    match refused {
        Err(app::server::ServiceError::Invalid { field, .. }) => assert_eq!(field, "origins"),
        other => panic!("expected a refusal naming origins, got {other:?}"),
    }
}
