//! Targets are keys: overrides for customer and organization keys nobody registered evaluate through the
//! REST API and OFREP; overrides are added, changed and removed through the admin API with versions and
//! an audit trail; bad keys and duplicates are refused naming the field; the registry names keys.
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

const OVERRIDES: &str = "/api/admin/feature-flags/checkout/environments/production/overrides";

/// `checkout`, on in every environment (default true), an editor's admin token and a router whose
/// snapshot is refreshed by [`World::refresh`].
struct World {
    pool: PgPool,
    state: app::server::AppState,
    router: Router,
    editor: String,
}

impl World {
    async fn new(pool: &PgPool) -> Self {
        seed_flag(pool, "checkout").await;
        sqlx::query("update flag_environments set enabled = true").execute(pool).await.unwrap();
        seed_user(pool, "eddie@example.com", "editor").await;
        let editor = admin_token_for(pool, "eddie@example.com").await;
        let state = state(pool);
        let router = server::app(state.clone(), server::csrf::TrustedOrigins::default());
        World { pool: pool.clone(), state, router, editor }
    }

    async fn refresh(&self) {
        server::workers::snapshot::refresh(&self.pool, &self.state.snapshot).await.unwrap();
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn overrides_for_keys_nobody_registered_evaluate_through_rest_and_ofrep(pool: PgPool) {
    let w = World::new(&pool).await;
    let app_token = evaluate_token_for(&pool, "production").await;
    let registered: i64 = sqlx::query_scalar("select count(*) from organizations").fetch_one(&pool).await.unwrap();
    assert_eq!(registered, 0, "nothing is registered");

    let (org, org_body) = call(
        &w.router,
        "POST",
        OVERRIDES,
        &w.editor,
        Some(json!({ "organization": "brand-new-org", "value": false, "reason": "not yet" })),
    )
    .await;
    let (customer, customer_body) = call(
        &w.router,
        "POST",
        OVERRIDES,
        &w.editor,
        Some(json!({ "customer": "alice+beta@example.com", "value": false })),
    )
    .await;
    w.refresh().await;

    assert_eq!(org, StatusCode::CREATED, "{org_body}");
    assert_eq!(customer, StatusCode::CREATED, "{customer_body}");
    assert_eq!(org_body["target"], json!({ "kind": "organization", "key": "brand-new-org" }));
    assert_eq!(org_body["target_name"], Value::Null);
    let rest = |query: &str| {
        Request::get(format!("/api/v1/flags/checkout?{query}"))
            .header(header::AUTHORIZATION, format!("Bearer {app_token}"))
            .body(Body::empty())
            .unwrap()
    };
    let by_org: Value = serde_json::from_str(
        &body_text(send(&w.router, rest("customer_id=someone&organization_id=brand-new-org")).await).await,
    )
    .unwrap();
    let other: Value =
        serde_json::from_str(&body_text(send(&w.router, rest("organization_id=another-org")).await).await).unwrap();
    assert_eq!((&by_org["value"], &by_org["reason"]), (&json!(false), &json!("TARGETING_MATCH")));
    assert_eq!(other["value"], true, "{other}");
    assert_ne!(other["reason"], "TARGETING_MATCH");

    let ofrep = Request::post("/ofrep/v1/evaluate/flags/checkout")
        .header(header::AUTHORIZATION, format!("Bearer {app_token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "context": { "targetingKey": "alice+beta@example.com" } }).to_string()))
        .unwrap();
    let response = send(&w.router, ofrep).await;
    assert_eq!(response.status(), StatusCode::OK);
    let by_customer: Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!((&by_customer["value"], &by_customer["reason"]), (&json!(false), &json!("TARGETING_MATCH")));
}

#[sqlx::test(migrations = "../migrations")]
async fn an_override_is_changed_and_removed_by_version_and_every_change_is_audited(pool: PgPool) {
    let w = World::new(&pool).await;
    let created =
        call(&w.router, "POST", OVERRIDES, &w.editor, Some(json!({ "organization": "acme", "value": false }))).await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
    let one = format!("{OVERRIDES}/organizations/acme");

    let (changed, body) = call(
        &w.router,
        "PUT",
        &one,
        &w.editor,
        Some(json!({ "value": true, "reason": "pilot", "expected_version": 1 })),
    )
    .await;
    let (stale, conflict) =
        call(&w.router, "PUT", &one, &w.editor, Some(json!({ "value": false, "expected_version": 1 }))).await;
    let (listed, list) = call(&w.router, "GET", OVERRIDES, &w.editor, None).await;
    let (removed, _) =
        call(&w.router, "DELETE", &format!("{one}?expected_version=2&reason=pilot%20over"), &w.editor, None).await;
    let (gone, _) = call(&w.router, "DELETE", &one, &w.editor, None).await;

    assert_eq!(changed, StatusCode::OK, "{body}");
    assert_eq!((&body["value"], &body["version"], &body["reason"]), (&json!(true), &json!(2), &json!("pilot")));
    assert_eq!(stale, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["details"]["current_version"], 2);
    assert_eq!(listed, StatusCode::OK);
    assert_eq!(list["overrides"].as_array().unwrap().len(), 1);
    assert_eq!(list["overrides"][0]["value"], true);
    assert_eq!(removed, StatusCode::NO_CONTENT);
    assert_eq!(gone, StatusCode::NOT_FOUND);
    /// `(action, before, after, actor, reason)` of an audit event.
    type Event = (String, Option<Value>, Option<Value>, String, Option<String>);
    let events: Vec<Event> = sqlx::query_as(
        "select action, before, after, actor_label, reason from audit_events
         where entity_kind = 'organization_override' order by id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(actions, ["override.set", "override.set", "override.cleared"]);
    assert_eq!(events[1].1, Some(json!({ "organization": "acme", "value": false, "version": 1 })));
    assert_eq!(events[1].2, Some(json!({ "organization": "acme", "value": true, "version": 2 })));
    assert_eq!(events[2].2, None);
    assert_eq!((events[1].4.as_deref(), events[2].4.as_deref()), (Some("pilot"), Some("pilot over")));
    assert!(events.iter().all(|e| e.3 == "eddie@example.com"));
    // Every change moved the configuration version, so every server process reloads its snapshot.
    let version: i64 = sqlx::query_scalar("select version from config_state").fetch_one(&pool).await.unwrap();
    assert!(version >= 4, "create, change and remove each notify: {version}");
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_keys_values_and_duplicates_get_a_4xx_naming_the_field(pool: PgPool) {
    let w = World::new(&pool).await;
    call(&w.router, "POST", OVERRIDES, &w.editor, Some(json!({ "customer": "c-1", "value": true }))).await;
    let cases = [
        (
            "POST",
            OVERRIDES.to_owned(),
            json!({ "organization": "bad key", "value": true }),
            "organization",
            "not an organization key",
        ),
        ("POST", OVERRIDES.to_owned(), json!({ "customer": "c/1", "value": true }), "customer", "'/' is not allowed"),
        (
            "POST",
            OVERRIDES.to_owned(),
            json!({ "customer": "c-1", "value": false }),
            "customer",
            "already has an override",
        ),
        (
            "POST",
            OVERRIDES.to_owned(),
            json!({ "customer": "c-2", "organization": "o", "value": true }),
            "organization",
            "not both",
        ),
        ("POST", OVERRIDES.to_owned(), json!({ "value": true }), "customer", "give the customer"),
        ("POST", OVERRIDES.to_owned(), json!({ "customer": "c-3", "value": "yes" }), "value", "takes boolean values"),
        ("PUT", format!("{OVERRIDES}/teams/x"), json!({ "value": true }), "kind", "customers or organizations"),
        (
            "POST",
            "/api/admin/organizations".to_owned(),
            json!({ "key": "has space", "name": "X" }),
            "key",
            "not an organization key",
        ),
        (
            "POST",
            "/api/admin/organizations".to_owned(),
            json!({ "key": "acme", "name": "  " }),
            "name",
            "the name is required",
        ),
    ];
    for (method, path, body, field, message) in cases {
        let (status, answer) = call(&w.router, method, &path, &w.editor, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path} {body} -> {answer}");
        assert_eq!(answer["details"]["field"], field, "{body} -> {answer}");
        assert!(answer["message"].as_str().unwrap().contains(message), "{body} -> {answer}");
    }
    let (first, _) =
        call(&w.router, "POST", "/api/admin/organizations", &w.editor, Some(json!({ "key": "acme", "name": "Acme" })))
            .await;
    let (again, twice) = call(
        &w.router,
        "POST",
        "/api/admin/organizations",
        &w.editor,
        Some(json!({ "key": "acme", "name": "Acme 2" })),
    )
    .await;
    assert_eq!(first, StatusCode::CREATED);
    assert_eq!(again, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(twice["details"]["field"], "key");
    assert!(twice["message"].as_str().unwrap().contains("already registered as \"Acme\""), "{twice}");
    let count: i64 = sqlx::query_scalar("select count(*) from overrides").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 1, "nothing was half-applied");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_viewer_reads_overrides_but_cannot_change_them(pool: PgPool) {
    let w = World::new(&pool).await;
    seed_user(&pool, "vera@example.com", "viewer").await;
    let viewer = admin_token_for(&pool, "vera@example.com").await;

    let (read, _) = call(&w.router, "GET", OVERRIDES, &viewer, None).await;
    let (write, why) =
        call(&w.router, "POST", OVERRIDES, &viewer, Some(json!({ "organization": "acme", "value": false }))).await;
    let (name, _) =
        call(&w.router, "POST", "/api/admin/organizations", &viewer, Some(json!({ "key": "acme", "name": "Acme" })))
            .await;

    assert_eq!(read, StatusCode::OK);
    assert_eq!(write, StatusCode::FORBIDDEN, "{why}");
    assert_eq!(name, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_name_registered_for_a_key_in_use_shows_beside_it_and_a_rename_is_audited(pool: PgPool) {
    let w = World::new(&pool).await;
    call(&w.router, "POST", OVERRIDES, &w.editor, Some(json!({ "organization": "acme", "value": false }))).await;
    let (_, before) = call(&w.router, "GET", "/api/admin/organizations?q=acm", &w.editor, None).await;

    call(&w.router, "POST", "/api/admin/organizations", &w.editor, Some(json!({ "key": "acme", "name": "Acme" })))
        .await;
    let (renamed, row) =
        call(&w.router, "PUT", "/api/admin/organizations/acme", &w.editor, Some(json!({ "name": "Acme Corp" }))).await;
    let (_, list) = call(&w.router, "GET", OVERRIDES, &w.editor, None).await;

    assert_eq!(
        before["organizations"],
        json!([{ "key": "acme", "name": null, "customers": 0, "overrides": 1, "urls": 0 }])
    );
    assert_eq!(renamed, StatusCode::OK);
    assert_eq!(row["name"], "Acme Corp");
    assert_eq!(list["overrides"][0]["target_name"], "Acme Corp");
    let rename: (Value, Value) = sqlx::query_as(
        "select before, after from audit_events where action = 'organization.renamed' and entity_key = 'acme'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rename, (json!({ "name": "Acme" }), json!({ "name": "Acme Corp" })));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rollout_allow_list_takes_keys_nobody_registered(pool: PgPool) {
    let w = World::new(&pool).await;
    let (status, body) = call(
        &w.router,
        "POST",
        "/api/admin/rollouts",
        &w.editor,
        Some(json!({ "flag": "checkout", "environment": "production", "stages": [{ "name": "all", "percent": 100 }],
                     "allow_customers": ["vip-7"], "allow_organizations": ["pilot-co"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let snapshot = app::server::snapshot::load(&pool).await.unwrap();
    let rollout = snapshot.environments["production"].flags["checkout"].env.rollout.clone().unwrap();
    assert!(rollout.allow_customers.contains("vip-7"));
    assert!(rollout.allow_organizations.contains("pilot-co"));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_override_form_works_without_javascript_for_an_unregistered_key(pool: PgPool) {
    let w = World::new(&pool).await;
    let cookie = login(&w.router, "eddie@example.com").await;
    let mut form = form_post(
        "/api/override_add",
        "flag=checkout&environment=production&kind=organization&target=no-name-co&value=false&reason=pilot",
        Some(&cookie),
    );
    form.headers_mut().insert(header::ACCEPT, "text/html".parse().unwrap());
    form.headers_mut().insert(header::REFERER, "http://rollgate.test/admin/feature-flags/checkout".parse().unwrap());

    let response = send(&w.router, form).await;

    assert!(response.status().is_redirection(), "{}", response.status());
    let value: Value = sqlx::query_scalar("select value from overrides where organization_key = 'no-name-co'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(value, json!(false));
}
