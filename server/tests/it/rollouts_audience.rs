//! Rollout audiences, through the admin API and `rollgate apply`: a rollout limited to a segment and
//! constraints serves only the units in it (the allow-list still lets others in), reaches the snapshot and
//! the REST answers; a change of audience alone voids the sign-offs; a bad audience is refused naming it;
//! a segment an audience uses cannot be deleted; configuration files carry the audience both ways.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use crate::config_as_code::{client, constraint, count, seed_configuration, serve, token_for, ADMIN};
use app::domain::targeting::{Condition, Operator};
use app::domain::Email;
use app::server::audit::Actor;
use app::server::tokens::{self, NewToken, TokenScope};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use server::api::config_io::parse_document;
use server::cli::config_io;
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

/// An admin token acting as a new user with `role` and these sign-off roles.
async fn person(pool: &PgPool, email: &str, role: &str, signoff_roles: &[&str]) -> String {
    let id = seed_user(pool, email, role).await;
    for r in signoff_roles {
        sqlx::query("insert into user_signoff_roles (user_id, role) values ($1, $2)")
            .bind(id)
            .bind(r)
            .execute(pool)
            .await
            .unwrap();
    }
    let new = NewToken {
        name: format!("token of {email}"),
        scope: TokenScope::Admin,
        environment: None,
        user: Some(Email::parse(email).unwrap()),
        origins: vec![],
        rate_limit: None,
    };
    tokens::create(pool, &Actor::system("test"), &new).await.unwrap().secret
}

/// `checkout`, on in production with the default `false`; the segment `beta` (app_version >= 2.3.0); an editor, a product owner, an
/// evaluate token for production, and a router whose snapshot [`World::refresh`] reloads.
struct World {
    pool: PgPool,
    state: app::server::AppState,
    router: Router,
    editor: String,
    po: String,
    app: String,
}

impl World {
    async fn new(pool: &PgPool) -> Self {
        seed_flag(pool, "checkout").await;
        toggle(pool, "checkout", "production", true).await;
        // A default apart from the on value, so that an answer tells the rollout from the default.
        sqlx::query("update flag_environments set default_value = 'false'").execute(pool).await.unwrap();
        let editor = person(pool, "eddie@example.com", "editor", &[]).await;
        let po = person(pool, "paula@example.com", "viewer", &["product_owner"]).await;
        let app = evaluate_token_for(pool, "production").await;
        let state = state(pool);
        let router = server::app(state.clone(), server::csrf::TrustedOrigins::default());
        let w = World { pool: pool.clone(), state, router, editor, po, app };
        let (status, segment) = w
            .call(
                "POST",
                "/api/admin/segments",
                json!({ "key": "beta", "name": "Beta testers",
                        "constraints": [{ "field": "app_version", "operator": "SEMVER_GTE", "values": ["2.3.0"] }] }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{segment}");
        w
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        call(&self.router, method, path, &self.editor, if method == "GET" { None } else { Some(body) }).await
    }

    async fn act(&self, verb: &str) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/api/admin/rollout/{verb}"),
            json!({ "flag": "checkout", "environment": "production" }),
        )
        .await
    }

    async fn refresh(&self) {
        server::workers::snapshot::refresh(&self.pool, &self.state.snapshot).await.unwrap();
    }

    /// The REST answer for `checkout` in production.
    async fn rest(&self, query: &str) -> Value {
        let request = Request::get(format!("/api/v1/flags/checkout?{query}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.app))
            .body(Body::empty())
            .unwrap();
        serde_json::from_str(&body_text(send(&self.router, request).await).await).unwrap()
    }
}

/// In the beta segment and in the EU.
fn beta_in_the_eu() -> Value {
    json!({ "segments": ["beta"], "constraints": [{ "field": "region", "operator": "IN", "values": ["eu"] }] })
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rollout_at_100_percent_serves_only_its_audience_and_the_allow_list(pool: PgPool) {
    let w = World::new(&pool).await;
    let (status, rollout) = w
        .call(
            "POST",
            "/api/admin/rollouts",
            json!({ "flag": "checkout", "environment": "production", "stages": [{ "name": "all", "percent": 100 }],
                    "audience": beta_in_the_eu(), "allow_customers": ["vip-1"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rollout}");
    assert_eq!(
        rollout["audience"],
        json!({ "segments": ["beta"], "constraints": [{ "field": "region", "operator": "IN", "values": ["eu"],
                                                        "inverted": false, "case_insensitive": false }] })
    );
    assert_eq!(w.act("start").await.0, StatusCode::OK);
    w.refresh().await;

    let inside = w.rest("customer_id=c-1&attr.app_version=2.4.0&attr.region=eu").await;
    let old_app = w.rest("customer_id=c-2&attr.app_version=2.0.0&attr.region=eu").await;
    let elsewhere = w.rest("customer_id=c-3&attr.app_version=2.4.0&attr.region=us").await;
    let allowed = w.rest("customer_id=vip-1&attr.region=us").await;

    assert_eq!((inside["value"].clone(), inside["reason"].clone()), (json!(true), json!("SPLIT")), "{inside}");
    assert_eq!(inside["decided_by"]["kind"], "rollout");
    for outside in [&old_app, &elsewhere] {
        assert_eq!(outside["value"], false, "{outside}");
        assert_eq!(
            (outside["reason"].clone(), outside["decided_by"]["kind"].clone()),
            (json!("DEFAULT"), json!("default"))
        );
    }
    assert_eq!((allowed["value"].clone(), allowed["decided_by"]["kind"].clone()), (json!(true), json!("allow_list")));
    // The snapshot holds the audience compiled, with the rollout.
    let snapshot = w.state.snapshot.get().unwrap();
    let rollout = snapshot.environments["production"].flags["checkout"].env.rollout.as_ref().unwrap();
    assert_eq!(rollout.audience.as_ref().unwrap().segment_keys, ["beta"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn known_customers_are_counted_against_the_audience(pool: PgPool) {
    let w = World::new(&pool).await;
    sqlx::query("insert into organizations (key, name) values ('acme', 'Acme')").execute(&pool).await.unwrap();
    sqlx::query(
        r#"insert into customers (key, organization_key, name, attributes) values
             ('c-1', 'acme', 'One', '{"plan": "enterprise"}'), ('c-2', 'acme', 'Two', '{"plan": "free"}'),
             ('c-3', 'acme', 'Three', '{}')"#,
    )
    .execute(&pool)
    .await
    .unwrap();
    let (_, rollout) = w
        .call(
            "POST",
            "/api/admin/rollouts",
            json!({ "flag": "checkout", "environment": "production", "stages": [{ "name": "all", "percent": 100 }],
                    "audience": { "constraints": [{ "field": "plan", "operator": "IN", "values": ["enterprise"] }] } }),
        )
        .await;
    w.act("start").await;

    let population = app::server::rollouts::population(&pool, rollout["id"].as_i64().unwrap()).await.unwrap();

    assert_eq!((population.customers_in_audience, population.customers_in), (Some(1), 1), "{population:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn changing_only_the_audience_voids_the_sign_offs_and_is_audited(pool: PgPool) {
    let w = World::new(&pool).await;
    let stages = json!([
        { "name": "pilot", "percent": 0 },
        { "name": "ten", "percent": 10, "required_roles": ["product_owner"] },
        { "name": "all", "percent": 100 }
    ]);
    let (_, rollout) = w
        .call(
            "POST",
            "/api/admin/rollouts",
            json!({ "flag": "checkout", "environment": "production", "stages": stages }),
        )
        .await;
    let id = rollout["id"].as_i64().unwrap();
    w.act("start").await;
    let (signed, _) = call(
        &w.router,
        "POST",
        "/api/admin/rollout/signoff",
        &w.po,
        Some(json!({ "rollout": id, "stage": 1, "decision": "approved", "comment": "fine" })),
    )
    .await;
    assert_eq!(signed, StatusCode::OK);
    let (_, before) = w.call("GET", &format!("/api/admin/rollouts/{id}"), Value::Null).await;
    assert!(before["signoffs"][0]["current"].as_bool().unwrap(), "{before}");

    let (status, edited) = w
        .call(
            "PUT",
            &format!("/api/admin/rollouts/{id}"),
            json!({ "stages": stages, "audience": beta_in_the_eu(), "expected_version": before["version"],
                    "reason": "beta first" }),
        )
        .await;

    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["version"], before["version"].as_i64().unwrap() + 1);
    assert_eq!(edited["audience"]["segments"], json!(["beta"]));
    assert_eq!(edited["signoffs"][0]["current"], false, "{edited}");
    let (blocked, why) = w.act("advance").await;
    assert_eq!((blocked, why["message"].as_str()), (StatusCode::CONFLICT, Some("missing sign-off: product_owner")));
    let (audit_before, audit_after): (Value, Value) =
        sqlx::query_as("select before, after from audit_events where action = 'rollout.edited'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audit_before["audience"], Value::Null);
    assert_eq!(audit_after["audience"]["constraints"][0]["field"], "region");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_bad_audience_is_refused_naming_it_and_nothing_is_written(pool: PgPool) {
    let w = World::new(&pool).await;
    let create = |audience: Value| {
        w.call(
            "POST",
            "/api/admin/rollouts",
            json!({ "flag": "checkout", "environment": "production", "template": "canary", "audience": audience }),
        )
    };
    let cases = [
        (
            json!({ "constraints": [{ "field": "seats", "operator": "NUM_GT", "values": ["ten"] }] }),
            "audience, constraint 1: \"ten\" is not a number",
        ),
        (json!({ "segments": ["nope"] }), "audience: there is no segment \"nope\""),
        (
            json!({ "segments": ["beta"], "constraints": [{ "field": "email", "operator": "REGEX", "values": ["(x"] }] }),
            "audience, constraint 1: the expression does not compile",
        ),
    ];
    for (audience, expected) in cases {
        let (status, body) = create(audience.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{audience}: {body}");
        assert_eq!(body["details"]["field"], "audience", "{body}");
        assert!(body["message"].as_str().unwrap().contains(expected), "{audience}: {body}");
    }
    let (status, body) = create(json!({ "segment": ["beta"] })).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("INVALID_BODY")), "{body}");
    assert_eq!(count(&pool, "select count(*) from rollouts").await, 0);

    // An edit with a bad audience changes nothing either.
    let (_, rollout) = create(Value::Null).await;
    let id = rollout["id"].as_i64().unwrap();
    let stages = json!([{ "name": "all", "percent": 100 }]);
    let (status, body) = w
        .call(
            "PUT",
            &format!("/api/admin/rollouts/{id}"),
            json!({ "stages": stages, "audience": { "segments": ["nope"] } }),
        )
        .await;
    assert_eq!((status, body["details"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("audience")));
    let (_, after) = w.call("GET", &format!("/api/admin/rollouts/{id}"), Value::Null).await;
    assert_eq!((after["version"].clone(), after["audience"].clone()), (rollout["version"].clone(), Value::Null));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_segment_an_audience_uses_lists_the_rollout_and_cannot_be_deleted(pool: PgPool) {
    let w = World::new(&pool).await;
    let (_, rollout) = w
        .call(
            "POST",
            "/api/admin/rollouts",
            json!({ "flag": "checkout", "environment": "production", "template": "canary", "audience": beta_in_the_eu() }),
        )
        .await;
    let id = rollout["id"].as_i64().unwrap();

    let (_, segment) = w.call("GET", "/api/admin/segments/beta", Value::Null).await;
    let (status, refusal) = w.call("DELETE", "/api/admin/segments/beta", Value::Null).await;

    assert_eq!(
        segment["used_by"],
        json!([{ "flag": "checkout", "environment": "production", "rule": "rollout audience", "rollout": id }])
    );
    assert_eq!((status, refusal["error"].clone()), (StatusCode::CONFLICT, json!("SEGMENT_IN_USE")), "{refusal}");
    assert!(refusal["message"].as_str().unwrap().contains("the rollout of checkout in production"), "{refusal}");

    // Without the audience, the segment is free again.
    let stages: Value = rollout["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            json!({ "name": s["name"], "percent": s["percent"], "required_roles": s["required_roles"],
                         "min_soak_seconds": s["min_soak_seconds"] })
        })
        .collect();
    let (status, edited) = w.call("PUT", &format!("/api/admin/rollouts/{id}"), json!({ "stages": stages })).await;
    assert_eq!((status, edited["audience"].clone()), (StatusCode::OK, Value::Null), "{edited}");
    assert_eq!(w.call("DELETE", "/api/admin/segments/beta", Value::Null).await.0, StatusCode::NO_CONTENT);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stored_audience_that_does_not_compile_drops_the_rollout_and_not_the_snapshot(pool: PgPool) {
    let w = World::new(&pool).await;
    w.call(
        "POST",
        "/api/admin/rollouts",
        json!({ "flag": "checkout", "environment": "production", "stages": [{ "name": "all", "percent": 100 }] }),
    )
    .await;
    w.act("start").await;
    // Only a hand edit of the database can do this: writes check the audience, and a segment in use stays.
    sqlx::query("update rollouts set audience = '{\"segments\": [\"gone\"]}'").execute(&pool).await.unwrap();
    sqlx::query("update config_state set version = version + 1").execute(&pool).await.unwrap();

    w.refresh().await;

    let answer = w.rest("customer_id=c-1").await;
    assert_eq!((answer["value"].clone(), answer["decided_by"]["kind"].clone()), (json!(false), json!("default")));
}

#[sqlx::test(migrations = "../migrations")]
async fn configuration_files_carry_the_audience_and_apply_edits_a_rollout_whose_audience_alone_differs(pool: PgPool) {
    seed_configuration(&pool).await;
    let token = token_for(&pool, ADMIN, "admin").await;
    let running = serve(&pool).await;
    let api = client(&running, &token);
    let mut doc = parse_document(&config_io::export(&api, None, None).await.unwrap()).unwrap();
    let i = doc.flags.iter().position(|f| f.key == "checkout").unwrap();
    let rollout = doc.flags[i].environments.get_mut("production").unwrap().rollout.as_mut().unwrap();
    assert_eq!(rollout.audience, None);
    rollout.audience = Some(Condition {
        constraints: vec![constraint("plan", Operator::In, &["enterprise"])],
        segments: vec!["beta".into()],
    });
    let file = serde_norway::to_string(&doc).unwrap();

    let report = config_io::apply(&api, &file, false).await.unwrap();
    let exported = config_io::export(&api, None, None).await.unwrap();
    let again = config_io::apply(&api, &exported, false).await.unwrap();

    let actions: Vec<&str> = report.changes.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(actions, ["rollout.edited"], "{:?}", report.changes);
    assert!(exported.contains("audience:\n"), "{exported}");
    assert_eq!(parse_document(&exported).unwrap(), doc, "the file comes back as it was applied");
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    let stored: Value =
        sqlx::query_scalar("select audience from rollouts where status = 'planned'").fetch_one(&pool).await.unwrap();
    assert_eq!(stored["segments"], json!(["beta"]));

    // A file without the audience takes it away again.
    let mut without = parse_document(&exported).unwrap();
    without.flags[i].environments.get_mut("production").unwrap().rollout.as_mut().unwrap().audience = None;
    let report = config_io::apply(&api, &serde_norway::to_string(&without).unwrap(), false).await.unwrap();
    assert_eq!(report.changes.len(), 1, "{:?}", report.changes);
    assert_eq!(count(&pool, "select count(*) from rollouts where audience is not null").await, 0);
}
