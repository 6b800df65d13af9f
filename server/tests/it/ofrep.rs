//! OFREP: the standard reasons and error codes, the bulk ETag, and bad input answered with a 4xx.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::domain::{EnvKey, Role};
use app::server::audit::{Actor, ActorKind};
use app::server::tokens::{self, NewToken, TokenScope};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use sqlx::PgPool;

async fn setup(pool: &PgPool) -> (Router, String) {
    seed_flag(pool, "checkout").await;
    seed_flag(pool, "canary").await;
    sqlx::query("update flag_environments set enabled = true").execute(pool).await.unwrap();
    // `canary` is in an active rollout at 10% by customer in staging: planned with one stage, then started.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "with r as (
           insert into rollouts (flag_id, environment_id, status, stickiness)
           select f.id, e.id, 'planned', 'customer_id' from flags f, environments e
           where f.key = 'canary' and e.key = 'staging' returning id)
         insert into rollout_stages (rollout_id, position, name, basis_points) select id, 0, 'canary', 1000 from r",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "update rollouts set status = 'active', current_stage = 0, started_at = now(), stage_entered_at = now()",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let admin = Actor { kind: ActorKind::System, user_id: None, label: "system:test".into(), role: Role::Admin };
    let new = NewToken {
        name: "sdk".into(),
        scope: TokenScope::Evaluate,
        environment: Some(EnvKey::parse("staging").unwrap()),
        user: None,
        origins: vec![],
        rate_limit: None,
    };
    let secret = tokens::create(pool, &admin, &new).await.unwrap().secret;
    let state = state(pool);
    server::workers::snapshot::refresh(pool, &state.snapshot).await.unwrap();
    (server::app(state, server::csrf::TrustedOrigins::default()), secret)
}

async fn post(
    router: &Router,
    path: &str,
    token: &str,
    content_type: &str,
    body: impl Into<Body>,
    etag: Option<&str>,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let mut request = Request::post(path).header("x-api-key", token).header(header::CONTENT_TYPE, content_type);
    if let Some(etag) = etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    let response = send(router, request.body(body.into()).unwrap()).await;
    let status = response.status();
    let etag = response.headers().get(header::ETAG).map(|v| v.to_str().unwrap().to_owned());
    let text = body_text(response).await;
    (status, etag, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

const JSON: &str = "application/json";

#[sqlx::test(migrations = "../migrations")]
async fn a_single_flag_answers_with_value_reason_and_version(pool: PgPool) {
    let (router, token) = setup(&pool).await;

    let (status, _, body) =
        post(&router, "/ofrep/v1/evaluate/flags/checkout", &token, JSON, r#"{"context":{"targetingKey":"c-1"}}"#, None)
            .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"], "checkout");
    assert_eq!(body["value"], true);
    assert_eq!(body["reason"], "STATIC");
    assert!(body["metadata"]["version"].as_i64().unwrap() > 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rollout_answers_split_and_needs_a_targeting_key(pool: PgPool) {
    let (router, token) = setup(&pool).await;

    let (status, _, body) =
        post(&router, "/ofrep/v1/evaluate/flags/canary", &token, JSON, r#"{"context":{"targetingKey":"c-1"}}"#, None)
            .await;
    assert_eq!((status, body["reason"].clone()), (StatusCode::OK, serde_json::json!("SPLIT")));

    let (status, _, body) =
        post(&router, "/ofrep/v1/evaluate/flags/canary", &token, JSON, r#"{"context":{}}"#, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "TARGETING_KEY_MISSING");
}

#[sqlx::test(migrations = "../migrations")]
async fn errors_carry_the_standard_codes_and_statuses(pool: PgPool) {
    let (router, token) = setup(&pool).await;
    let single = "/ofrep/v1/evaluate/flags/checkout";

    let cases: Vec<(&str, &str, Body, StatusCode, &str)> = vec![
        ("/ofrep/v1/evaluate/flags/nope", JSON, Body::from("{}"), StatusCode::NOT_FOUND, "FLAG_NOT_FOUND"),
        (single, JSON, Body::from("{not json"), StatusCode::BAD_REQUEST, "PARSE_ERROR"),
        (single, JSON, Body::from(r#"{"context":[1,2]}"#), StatusCode::BAD_REQUEST, "INVALID_CONTEXT"),
        (single, JSON, Body::from(r#"{"context":{"nested":{"a":1}}}"#), StatusCode::BAD_REQUEST, "INVALID_CONTEXT"),
        (single, JSON, Body::from(vec![b'{', 0xff, 0xfe, b'}']), StatusCode::BAD_REQUEST, "PARSE_ERROR"),
        (
            single,
            JSON,
            Body::from(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000))),
            StatusCode::BAD_REQUEST,
            "PARSE_ERROR",
        ),
        (single, "text/xml", Body::from("<context/>"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "PARSE_ERROR"),
    ];
    for (path, content_type, body, expected_status, expected_code) in cases {
        let (status, _, answer) = post(&router, path, &token, content_type, body, None).await;
        assert_eq!(status, expected_status, "{path} {answer}");
        assert_eq!(answer["errorCode"], expected_code, "{answer}");
        assert!(
            !answer["errorDetails"].as_str().unwrap_or_default().is_empty(),
            "a message says what is wrong: {answer}"
        );
    }

    let long_key = format!("/ofrep/v1/evaluate/flags/{}", "k".repeat(10_000));
    assert_eq!(post(&router, &long_key, &token, JSON, "{}", None).await.0, StatusCode::BAD_REQUEST);
    let too_big = format!(r#"{{"context":{{"targetingKey":"{}"}}}}"#, "x".repeat(1_100_000));
    assert_eq!(post(&router, single, &token, JSON, too_big, None).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        post(&router, single, "rgt_wrongwro_ngwrongwrongwrongwrongwrongwron", JSON, "{}", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn bulk_evaluation_has_an_etag_and_answers_304_while_nothing_changed(pool: PgPool) {
    let (router, token) = setup(&pool).await;
    let context = r#"{"context":{"targetingKey":"c-1"}}"#;

    let (status, etag, body) = post(&router, "/ofrep/v1/evaluate/flags", &token, JSON, context, None).await;
    assert_eq!(status, StatusCode::OK);
    let keys: Vec<&str> = body["flags"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["canary", "checkout"]);
    assert_eq!(body["eventStreams"][0]["type"], "sse", "where to hear of changes instead of polling: {body}");
    assert!(body["eventStreams"][0]["url"].as_str().unwrap().ends_with("/api/v1/stream"));
    let etag = etag.expect("an ETag");

    let (status, _, _) = post(&router, "/ofrep/v1/evaluate/flags", &token, JSON, context, Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, other_etag, _) =
        post(&router, "/ofrep/v1/evaluate/flags", &token, JSON, r#"{"context":{"targetingKey":"c-2"}}"#, Some(&etag))
            .await;
    assert_eq!(status, StatusCode::OK, "another context is another answer");
    assert_ne!(other_etag.unwrap(), etag);
}
