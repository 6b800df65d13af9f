//! The admin REST API: an admin token acts as its user, with that user's permissions, audited under them.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::domain::EnvKey;
use app::server::audit::Actor;
use app::server::tokens::{self, NewToken, TokenScope};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use sqlx::PgPool;

async fn call(
    router: &Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let response = send(router, request).await;
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

#[sqlx::test(migrations = "../migrations")]
async fn an_editors_token_toggles_a_flag_audited_under_the_editor(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "eddie@example.com", "editor").await;
    let token = admin_token_for(&pool, "eddie@example.com").await;
    let router = router(&pool);

    let (status, body) = call(
        &router,
        "PUT",
        "/api/admin/feature-flags/checkout/environments/staging",
        &token,
        Some(r#"{"enabled": true, "reason": "verified in dev"}"#),
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["enabled"], true);
    assert!(flag_enabled(&pool, "checkout", "staging").await);
    let (kind, label, reason): (String, String, Option<String>) = sqlx::query_as(
        "select actor_kind, actor_label, reason from audit_events where action = 'flag.toggled' order by id desc limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), label.as_str(), reason.as_deref()),
        ("token", "eddie@example.com", Some("verified in dev"))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_viewers_token_reads_but_cannot_change_anything(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "vera@example.com", "viewer").await;
    let token = admin_token_for(&pool, "vera@example.com").await;
    let router = router(&pool);

    let (read, flag) = call(&router, "GET", "/api/admin/feature-flags/checkout", &token, None).await;
    let (write, refusal) = call(
        &router,
        "PUT",
        "/api/admin/feature-flags/checkout/environments/staging",
        &token,
        Some(r#"{"enabled": true}"#),
    )
    .await;

    assert_eq!(read, StatusCode::OK, "{flag}");
    assert_eq!(flag["key"], "checkout");
    assert_eq!(write, StatusCode::FORBIDDEN, "{refusal}");
    assert_eq!(refusal["error"], "FORBIDDEN");
    assert!(!flag_enabled(&pool, "checkout", "staging").await);
    assert_eq!(audit_count(&pool, "flag.toggled").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stale_expected_version_gets_409_with_the_current_version(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "eddie@example.com", "editor").await;
    let token = admin_token_for(&pool, "eddie@example.com").await;
    let router = router(&pool);
    toggle(&pool, "checkout", "staging", true).await; // version 1 -> 2 behind the script's back

    let (status, body) = call(
        &router,
        "PUT",
        "/api/admin/feature-flags/checkout/environments/staging",
        &token,
        Some(r#"{"enabled": false, "expected_version": 1}"#),
    )
    .await;

    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["details"]["current_version"], 2);
    assert!(flag_enabled(&pool, "checkout", "staging").await, "the stale edit changed nothing");
}

#[sqlx::test(migrations = "../migrations")]
async fn revoked_evaluate_and_disabled_users_tokens_are_refused(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "eddie@example.com", "editor").await;
    seed_user(&pool, "gone@example.com", "editor").await;
    let revoked = admin_token_for(&pool, "eddie@example.com").await;
    tokens::revoke(&pool, &Actor::system("test"), &revoked[..12]).await.unwrap();
    let disabled = admin_token_for(&pool, "gone@example.com").await;
    sqlx::query("update users set disabled = true where email = 'gone@example.com'").execute(&pool).await.unwrap();
    let evaluate = tokens::create(
        &pool,
        &Actor::system("test"),
        &NewToken {
            name: "app".into(),
            scope: TokenScope::Evaluate,
            environment: Some(EnvKey::parse("staging").unwrap()),
            user: None,
            origins: vec![],
            rate_limit: None,
        },
    )
    .await
    .unwrap()
    .secret;
    let router = router(&pool);

    for token in [revoked.as_str(), disabled.as_str(), evaluate.as_str(), "rgt_nonsense"] {
        let (status, body) = call(&router, "GET", "/api/admin/whoami", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}: {body}");
        assert_eq!(body["error"], "UNAUTHORIZED");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_bodies_and_keys_get_a_4xx_that_says_what_is_wrong(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "eddie@example.com", "editor").await;
    let token = admin_token_for(&pool, "eddie@example.com").await;
    let router = router(&pool);
    let path = "/api/admin/feature-flags/checkout/environments/staging";

    let (wrong_type, body) = call(&router, "PUT", path, &token, Some(r#"{"enabled": "yes"}"#)).await;
    assert_eq!(wrong_type, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["message"].as_str().unwrap().contains("enabled"), "{body}");

    let (unknown_field, body) = call(&router, "PUT", path, &token, Some(r#"{"enabled": true, "force": 1}"#)).await;
    assert_eq!(unknown_field, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["message"].as_str().unwrap().contains("force"), "{body}");

    let long_key = format!("/api/admin/feature-flags/{}/environments/staging", "k".repeat(10_000));
    let (too_long, body) = call(&router, "PUT", &long_key, &token, Some(r#"{"enabled": true}"#)).await;
    assert_eq!(too_long, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (missing, body) = call(
        &router,
        "PUT",
        "/api/admin/feature-flags/nope/environments/staging",
        &token,
        Some(r#"{"enabled": true}"#),
    )
    .await;
    assert_eq!(missing, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(audit_count(&pool, "flag.toggled").await, 0);
}

fn session_request(method: &str, path: &str, cookie: &str, site: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST)
        .header("sec-fetch-site", site)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_signed_in_session_uses_the_api_and_a_cross_site_request_is_refused(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "eddie@example.com", "editor").await;
    let router = router(&pool);
    let cookie = login(&router, "eddie@example.com").await;
    let path = "/api/admin/feature-flags/checkout/environments/staging";

    let forged = send(&router, session_request("PUT", path, &cookie, "cross-site", r#"{"enabled": true}"#)).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(!flag_enabled(&pool, "checkout", "staging").await);

    let own = send(&router, session_request("PUT", path, &cookie, "same-origin", r#"{"enabled": true}"#)).await;
    assert_eq!(own.status(), StatusCode::OK);
    assert!(flag_enabled(&pool, "checkout", "staging").await);
    let kind: String = sqlx::query_scalar("select actor_kind from audit_events where action = 'flag.toggled'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kind, "user");
}

#[sqlx::test(migrations = "../migrations")]
async fn flags_are_created_and_the_audit_trail_read_over_the_api(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "eddie@example.com", "editor").await;
    let token = admin_token_for(&pool, "eddie@example.com").await;
    let router = router(&pool);

    let (created, flag) = call(
        &router,
        "POST",
        "/api/admin/feature-flags",
        &token,
        Some(r#"{"key": "new_search", "name": "New search", "kind": "release", "phase": "phase-1"}"#),
    )
    .await;
    let (duplicate, refusal) = call(
        &router,
        "POST",
        "/api/admin/feature-flags",
        &token,
        Some(r#"{"key": "new_search", "name": "Again", "kind": "release"}"#),
    )
    .await;
    let (listed, audit) = call(&router, "GET", "/api/admin/audit?action=flag.created", &token, None).await;

    assert_eq!(created, StatusCode::CREATED, "{flag}");
    assert_eq!(flag["key"], "new_search");
    assert_eq!(flag["environments"].as_array().unwrap().len(), 3);
    assert!(duplicate.is_client_error(), "{refusal}");
    assert!(refusal["message"].as_str().unwrap().contains("new_search"), "{refusal}");
    assert_eq!(listed, StatusCode::OK);
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["actor"], "eddie@example.com");
}
