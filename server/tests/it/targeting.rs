//! Targeting from an empty database, through the admin API: segments, rules and prerequisites are written
//! with versions and audit events, reach the snapshot, and decide REST and OFREP answers, which name the
//! rule or prerequisite that decided; bad rules are refused naming the rule and field; a segment in use
//! cannot be deleted; a prerequisite cycle is refused naming it.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use sqlx::PgPool;

async fn call(router: &Router, method: &str, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = send(router, request).await;
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn targeting(flag: &str) -> String {
    format!("/api/admin/feature-flags/{flag}/environments/production/targeting")
}

/// Flags `checkout` and `dlq` (on in production), an editor's and a viewer's admin tokens, an evaluate
/// token for production, and a router whose snapshot [`World::refresh`] reloads.
struct World {
    pool: PgPool,
    state: app::server::AppState,
    router: Router,
    editor: String,
    viewer: String,
    app: String,
}

impl World {
    async fn new(pool: &PgPool) -> Self {
        seed_flag(pool, "checkout").await;
        seed_flag(pool, "dlq").await;
        for flag in ["checkout", "dlq"] {
            toggle(pool, flag, "production", true).await;
        }
        seed_user(pool, "eddie@example.com", "editor").await;
        seed_user(pool, "vera@example.com", "viewer").await;
        let editor = admin_token_for(pool, "eddie@example.com").await;
        let viewer = admin_token_for(pool, "vera@example.com").await;
        let app = evaluate_token_for(pool, "production").await;
        let state = state(pool);
        let router = server::app(state.clone(), server::csrf::TrustedOrigins::default());
        World { pool: pool.clone(), state, router, editor, viewer, app }
    }

    async fn refresh(&self) {
        server::workers::snapshot::refresh(&self.pool, &self.state.snapshot).await.unwrap();
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        call(&self.router, "PUT", path, &self.editor, Some(body)).await
    }

    /// The REST answer for `checkout`, with these attributes.
    async fn rest(&self, flag: &str, query: &str) -> Value {
        let request = Request::get(format!("/api/v1/flags/{flag}?{query}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.app))
            .body(Body::empty())
            .unwrap();
        serde_json::from_str(&body_text(send(&self.router, request).await).await).unwrap()
    }

    /// The OFREP answer for `flag`, with this context.
    async fn ofrep(&self, flag: &str, context: Value) -> Value {
        let request = Request::post(format!("/ofrep/v1/evaluate/flags/{flag}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.app))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "context": context }).to_string()))
            .unwrap();
        serde_json::from_str(&body_text(send(&self.router, request).await).await).unwrap()
    }
}

fn enterprise_rules() -> Value {
    json!([
        { "name": "enterprise", "constraints": [{ "field": "plan", "operator": "IN", "values": ["enterprise"] }],
          "serve": { "kind": "on" } },
        { "name": "beta testers", "segments": ["beta"], "serve": { "kind": "on" } },
        { "name": "everyone else", "serve": { "kind": "off" } },
    ])
}

#[sqlx::test(migrations = "../migrations")]
async fn rules_segments_and_prerequisites_decide_rest_and_ofrep_answers_and_say_which(pool: PgPool) {
    let w = World::new(&pool).await;
    let (status, segment) = call(
        &w.router,
        "POST",
        "/api/admin/segments",
        &w.editor,
        Some(json!({ "key": "beta", "name": "Beta testers",
                     "constraints": [{ "field": "app_version", "operator": "SEMVER_GTE", "values": ["2.3.0"] }] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{segment}");
    let (status, view) =
        w.put(&format!("{}/rules", targeting("checkout")), json!({ "rules": enterprise_rules() })).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["version"], 2);
    assert_eq!(view["rules"][1]["segments"], json!(["beta"]));
    w.refresh().await;

    let enterprise = w.rest("checkout", "customer_id=c-1&attr.plan=enterprise").await;
    assert_eq!(enterprise["value"], true, "{enterprise}");
    assert_eq!(enterprise["reason"], "TARGETING_MATCH");
    assert_eq!(
        enterprise["decided_by"],
        json!({ "kind": "rule", "position": 1, "name": "enterprise", "segments": [] })
    );
    let beta = w.ofrep("checkout", json!({ "targetingKey": "c-2", "app_version": "2.10.1" })).await;
    assert_eq!(beta["value"], true, "{beta}");
    assert_eq!(beta["metadata"]["rule"], "beta testers");
    assert_eq!(beta["metadata"]["rulePosition"], 2);
    assert_eq!(beta["metadata"]["segments"], "beta");
    let old_app = w.ofrep("checkout", json!({ "targetingKey": "c-3", "app_version": "2.2.9" })).await;
    assert_eq!((old_app["value"].clone(), old_app["metadata"]["rule"].clone()), (json!(false), json!("everyone else")));

    // Editing the segment changes every rule that uses it at once.
    let (status, changed) = call(
        &w.router,
        "PUT",
        "/api/admin/segments/beta",
        &w.editor,
        Some(json!({ "name": "Beta testers", "expected_version": 1,
                     "constraints": [{ "field": "app_version", "operator": "SEMVER_GTE", "values": ["2.2.0"] }] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        changed["used_by"],
        json!([{ "flag": "checkout", "environment": "production", "rule": "beta testers" }])
    );
    w.refresh().await;
    assert_eq!(w.ofrep("checkout", json!({ "targetingKey": "c-3", "app_version": "2.2.9" })).await["value"], true);

    // A prerequisite: checkout needs dlq on. With dlq off, checkout serves its off value, saying why.
    let (status, view) = w
        .put(&format!("{}/prerequisites", targeting("checkout")), json!({ "prerequisites": [{ "flag": "dlq" }] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    toggle(&pool, "dlq", "production", false).await;
    w.refresh().await;
    let blocked = w.rest("checkout", "customer_id=c-1&attr.plan=enterprise").await;
    assert_eq!(blocked["value"], false, "{blocked}");
    assert_eq!(blocked["reason"], "PREREQUISITE_FAILED");
    assert_eq!(blocked["decided_by"], json!({ "kind": "prerequisite", "flag": "dlq" }));
    let blocked = w.ofrep("checkout", json!({ "targetingKey": "c-1", "plan": "enterprise" })).await;
    assert_eq!(
        (blocked["reason"].clone(), blocked["metadata"]["prerequisite"].clone()),
        (json!("PREREQUISITE_FAILED"), json!("dlq"))
    );
    toggle(&pool, "dlq", "production", true).await;
    w.refresh().await;
    assert_eq!(w.rest("checkout", "customer_id=c-1&attr.plan=enterprise").await["value"], true);

    // Every change is in the audit trail with before and after.
    for action in ["segment.created", "segment.changed", "targeting.rules_changed", "targeting.prerequisites_changed"] {
        assert_eq!(audit_count(&pool, action).await, 1, "{action}");
    }
    let (before, after): (Value, Value) =
        sqlx::query_as("select before, after from audit_events where action = 'targeting.rules_changed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(before["rules"], json!([]));
    assert_eq!(after["rules"][0]["name"], "enterprise");
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_rules_are_refused_naming_the_rule_and_field_and_nothing_is_written(pool: PgPool) {
    let w = World::new(&pool).await;
    let rules = format!("{}/rules", targeting("checkout"));
    let rule = |constraint: Value| {
        json!({ "rules": [
        { "name": "fine", "serve": { "kind": "on" } },
        { "name": "broken", "constraints": [constraint], "serve": { "kind": "on" } },
    ] })
    };
    let cases = [
        (
            json!({ "field": "email", "operator": "REGEX", "values": ["(unclosed"] }),
            "rule 2 (broken), constraint 1: the expression does not compile",
        ),
        (json!({ "field": "email", "operator": "REGEX", "values": ["a".repeat(1001)] }), "longer than 1000 characters"),
        (
            json!({ "field": "ip", "operator": "IN_CIDR", "values": ["10.0.0.0/8", "10.0.0.300/8"] }),
            "\"10.0.0.300/8\" is not an address",
        ),
        (json!({ "field": "app_version", "operator": "SEMVER_GT", "values": ["v2"] }), "is not a semantic version"),
        (
            json!({ "field": "current_time", "operator": "DATE_AFTER", "values": ["next tuesday"] }),
            "is not a date and time",
        ),
        (json!({ "field": "seats", "operator": "NUM_GT", "values": ["ten"] }), "\"ten\" is not a number"),
        (json!({ "field": "seats", "operator": "NUM_GT", "values": ["1", "2"] }), "compares with one value, not 2"),
        (json!({ "field": "bad field!", "operator": "IN", "values": ["x"] }), "may hold only letters"),
    ];
    for (constraint, expected) in cases {
        let (status, body) = w.put(&rules, rule(constraint.clone())).await;
        assert!(status.is_client_error(), "{constraint}: {status} {body}");
        assert!(body["message"].as_str().unwrap_or_default().contains(expected), "{constraint}: {body}");
    }
    let (status, body) =
        w.put(&rules, json!({ "rules": [{ "name": "x", "segments": ["nope"], "serve": { "kind": "on" } }] })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().contains("rule 1 (x): there is no segment \"nope\""), "{body}");
    for typo in [
        json!({ "name": "x", "segment": ["beta"], "serve": { "kind": "on" } }),
        json!({ "name": "x", "constraints": [{ "field": "plan", "operator": "LIKE", "values": ["x"] }], "serve": { "kind": "on" } }),
    ] {
        let (status, body) = w.put(&rules, json!({ "rules": [typo] })).await;
        assert_eq!(
            (status, body["error"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!("INVALID_BODY")),
            "{body}"
        );
    }
    let many: Vec<Value> = (0..101).map(|i| json!({ "name": format!("r{i}"), "serve": { "kind": "on" } })).collect();
    let (status, body) = w.put(&rules, json!({ "rules": many })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().contains("at most 100"), "{body}");
    let (status, body) =
        w.put(&rules, json!({ "rules": [{ "name": "a", "serve": { "kind": "value", "value": "yes" } }] })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["details"]["field"], "serve");

    // Nothing was written, and a viewer may not write at all.
    let (_, view) = call(&w.router, "GET", &targeting("checkout"), &w.viewer, None).await;
    assert_eq!((view["rules"].clone(), view["version"].clone()), (json!([]), json!(1)));
    let (status, _) = call(&w.router, "PUT", &rules, &w.viewer, Some(json!({ "rules": [] }))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(audit_count(&pool, "targeting.rules_changed").await, 0);

    // A stale version is a conflict with the current one.
    w.put(&rules, json!({ "rules": [{ "name": "a", "serve": { "kind": "on" } }], "expected_version": 1 })).await;
    let (status, body) = w.put(&rules, json!({ "rules": [], "expected_version": 1 })).await;
    assert_eq!((status, body["details"]["current_version"].clone()), (StatusCode::CONFLICT, json!(2)), "{body}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_segment_in_use_cannot_be_deleted_and_a_prerequisite_cycle_is_refused_naming_it(pool: PgPool) {
    let w = World::new(&pool).await;
    seed_flag(&pool, "heartbeat").await;
    let create = |key: &'static str| {
        call(&w.router, "POST", "/api/admin/segments", &w.editor, Some(json!({ "key": key, "name": key })))
    };
    assert_eq!(create("staff").await.0, StatusCode::CREATED);
    let (status, body) = create("STAFF").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().contains("\"staff\" exists already"), "{body}");
    w.put(
        &format!("{}/rules", targeting("checkout")),
        json!({ "rules": [{ "name": "staff", "segments": ["staff"], "serve": { "kind": "on" } }] }),
    )
    .await;
    let (status, body) = call(&w.router, "DELETE", "/api/admin/segments/staff", &w.editor, None).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::CONFLICT, json!("SEGMENT_IN_USE")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("checkout in production (rule staff)"), "{body}");
    w.put(&format!("{}/rules", targeting("checkout")), json!({ "rules": [] })).await;
    let (status, _) = call(&w.router, "DELETE", "/api/admin/segments/staff", &w.editor, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // checkout -> dlq -> heartbeat, then heartbeat -> checkout would close the cycle.
    let prerequisites = |flag: &str| format!("{}/prerequisites", targeting(flag));
    let needs = |flag: &str| json!({ "prerequisites": [{ "flag": flag }] });
    assert_eq!(w.put(&prerequisites("checkout"), needs("dlq")).await.0, StatusCode::OK);
    assert_eq!(w.put(&prerequisites("dlq"), needs("heartbeat")).await.0, StatusCode::OK);
    let (status, body) = w.put(&prerequisites("heartbeat"), needs("checkout")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["message"].as_str().unwrap().contains("heartbeat -> checkout -> dlq -> heartbeat"), "{body}");
    let (status, body) = w.put(&prerequisites("heartbeat"), needs("missing")).await;
    assert!(
        status == StatusCode::UNPROCESSABLE_ENTITY && body["message"].as_str().unwrap().contains("no flag \"missing\""),
        "{body}"
    );
    let (status, body) =
        w.put(&prerequisites("heartbeat"), json!({ "prerequisites": [{ "flag": "dlq", "variants": ["blue"] }] })).await;
    assert!(
        status == StatusCode::UNPROCESSABLE_ENTITY && body["message"].as_str().unwrap().contains("no variant \"blue\""),
        "{body}"
    );

    // The chain holds in evaluation: heartbeat is off, which turns dlq and so checkout off.
    w.refresh().await;
    let answer = w.rest("checkout", "customer_id=c-1").await;
    assert_eq!(
        (answer["value"].clone(), answer["decided_by"]["flag"].clone()),
        (json!(false), json!("dlq")),
        "{answer}"
    );
}
