//! Staged rollouts through the admin API: every gate, self-approval refused, sign-offs voided by an edit,
//! admin overrides, and the concurrency rules, against a real PostgreSQL.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::domain::Email;
use app::server::audit::Actor;
use app::server::tokens::{self, NewToken, TokenScope};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use sqlx::PgPool;

/// A user with a role and sign-off roles, and an admin token acting as them.
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

async fn call(router: &Router, method: &str, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(if method == "GET" { Body::empty() } else { Body::from(body.to_string()) })
        .unwrap();
    let response = send(router, request).await;
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn act(router: &Router, token: &str, verb: &str, body: Value) -> (StatusCode, Value) {
    call(router, "POST", &format!("/api/admin/rollout/{verb}"), token, body).await
}

/// The flag `checkout` (staging), an editor holding ops_oncall, a product owner, a dev lead and an admin.
struct World {
    router: Router,
    editor: String,
    po: String,
    dev_lead: String,
    admin: String,
}

async fn world(pool: &PgPool) -> World {
    seed_flag(pool, "checkout").await;
    toggle(pool, "checkout", "staging", true).await;
    World {
        router: router(pool),
        editor: person(pool, "eddie@example.com", "editor", &["ops_oncall"]).await,
        po: person(pool, "paula@example.com", "viewer", &["product_owner"]).await,
        dev_lead: person(pool, "dan@example.com", "editor", &["dev_lead"]).await,
        admin: person(pool, "ada@example.com", "admin", &[]).await,
    }
}

fn on(flag: &str) -> Value {
    json!({ "flag": flag, "environment": "staging" })
}

async fn create(w: &World, body: Value) -> Value {
    let (status, rollout) = call(&w.router, "POST", "/api/admin/rollouts", &w.editor, body).await;
    assert_eq!(status, StatusCode::CREATED, "{rollout}");
    rollout
}

#[sqlx::test(migrations = "../migrations")]
async fn a_five_tier_rollout_waits_for_the_product_owner_then_advances(pool: PgPool) {
    let w = world(&pool).await;
    let rollout = create(&w, json!({ "flag": "checkout", "environment": "staging", "template": "five_tier" })).await;
    assert_eq!(rollout["status"], "planned");
    let percents: Vec<&str> =
        rollout["stages"].as_array().unwrap().iter().map(|s| s["percent"].as_str().unwrap()).collect();
    assert_eq!(percents, ["0%", "1%", "10%", "50%", "100%"]);

    assert_eq!(act(&w.router, &w.editor, "start", on("checkout")).await.0, StatusCode::OK);
    let (status, at_one) = act(&w.router, &w.editor, "advance", on("checkout")).await;
    assert_eq!((status, at_one["current_percent"].as_str()), (StatusCode::OK, Some("1%")), "{at_one}");

    let (refused, why) = act(&w.router, &w.editor, "advance", on("checkout")).await;
    assert_eq!(refused, StatusCode::CONFLICT, "{why}");
    assert_eq!(why["error"], "GATE_BLOCKED");
    assert_eq!(why["message"], "missing sign-off: product_owner");

    let id = rollout["id"].as_i64().unwrap();
    let (signed, _) = call(
        &w.router,
        "POST",
        "/api/admin/rollout/signoff",
        &w.po,
        json!({ "rollout": id, "stage": 2, "decision": "approved", "comment": "metrics fine" }),
    )
    .await;
    assert_eq!(signed, StatusCode::OK);
    let (status, at_ten) = act(&w.router, &w.editor, "advance", on("checkout")).await;
    assert_eq!(status, StatusCode::OK, "{at_ten}");
    assert_eq!(at_ten["current_percent"], "10%");
    let kinds: Vec<&str> = at_ten["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "started", "advanced", "signoff_requested", "signoff", "advanced"]);
    assert_eq!(audit_count(&pool, "rollout.advanced").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_approvals_queue_shows_the_request_and_its_requester(pool: PgPool) {
    let w = world(&pool).await;
    create(&w, json!({ "flag": "checkout", "environment": "staging", "template": "two_step" })).await;
    act(&w.router, &w.editor, "start", on("checkout")).await;
    let blocked = act(&w.router, &w.editor, "advance", on("checkout")).await;
    assert_eq!(blocked.1["error"], "GATE_BLOCKED", "{}", blocked.1);

    let po = app::server::auth::load_user(&pool, user_id(&pool, "paula@example.com").await).await.unwrap().unwrap();
    let queue = app::server::rollouts::approvals_for(&pool, po.id, &po.signoff_roles).await.unwrap();

    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(queue[0].flag, "checkout");
    assert_eq!(queue[0].role, "product_owner");
    assert_eq!(queue[0].target_percent, "100%");
    assert_eq!(queue[0].requester.as_deref(), Some("eddie@example.com"));
    assert!(!queue[0].requested_by_you);
}

async fn user_id(pool: &PgPool, email: &str) -> i64 {
    sqlx::query_scalar("select id from users where email = $1").bind(email).fetch_one(pool).await.unwrap()
}

/// Stages `[10% needing product_owner, 100%]`, started.
async fn one_signoff_rollout(w: &World) -> i64 {
    let rollout = create(
        w,
        json!({ "flag": "checkout", "environment": "staging", "stages": [
            { "name": "pilot", "percent": 0 },
            { "name": "ten", "percent": 10, "required_roles": ["product_owner"] },
            { "name": "all", "percent": 100 }
        ]}),
    )
    .await;
    assert_eq!(act(&w.router, &w.editor, "start", on("checkout")).await.0, StatusCode::OK);
    rollout["id"].as_i64().unwrap()
}

async fn sign(w: &World, token: &str, id: i64, stage: u32, decision: &str) -> (StatusCode, Value) {
    call(
        &w.router,
        "POST",
        "/api/admin/rollout/signoff",
        token,
        json!({ "rollout": id, "stage": stage, "decision": decision, "comment": "checked" }),
    )
    .await
}

#[sqlx::test(migrations = "../migrations")]
async fn whoever_asked_for_the_sign_off_cannot_give_it(pool: PgPool) {
    let w = world(&pool).await;
    let both = person(&pool, "both@example.com", "editor", &["product_owner"]).await;
    let id = one_signoff_rollout(&w).await;

    let (blocked, _) = act(&w.router, &both, "advance", on("checkout")).await;
    let (status, refusal) = sign(&w, &both, id, 1, "approved").await;

    assert_eq!(blocked, StatusCode::CONFLICT);
    assert_eq!(status, StatusCode::CONFLICT, "{refusal}");
    assert_eq!(refusal["error"], "SIGNOFF_REFUSED");
    assert_eq!(sqlx::query_scalar::<_, i64>("select count(*) from signoffs").fetch_one(&pool).await.unwrap(), 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn your_own_approval_does_not_open_your_own_advance(pool: PgPool) {
    let w = world(&pool).await;
    let both = person(&pool, "both@example.com", "editor", &["product_owner"]).await;
    let id = one_signoff_rollout(&w).await;
    // Signed before anyone asked, so the sign-off is recorded...
    assert_eq!(sign(&w, &both, id, 1, "approved").await.0, StatusCode::OK);

    // ...but the signer's own advance does not count it; someone else's does.
    let (own, why) = act(&w.router, &both, "advance", on("checkout")).await;
    let (other, _) = act(&w.router, &w.editor, "advance", on("checkout")).await;

    assert_eq!((own, why["message"].as_str()), (StatusCode::CONFLICT, Some("missing sign-off: product_owner")));
    assert_eq!(other, StatusCode::OK);
}

#[sqlx::test(migrations = "../migrations")]
async fn signing_without_the_role_or_rejecting_without_a_comment_is_refused(pool: PgPool) {
    let w = world(&pool).await;
    let id = one_signoff_rollout(&w).await;

    let (no_role, why) = sign(&w, &w.dev_lead, id, 1, "approved").await;
    let (no_comment, why_comment) = call(
        &w.router,
        "POST",
        "/api/admin/rollout/signoff",
        &w.po,
        json!({ "rollout": id, "stage": 1, "decision": "rejected" }),
    )
    .await;

    assert_eq!(no_role, StatusCode::FORBIDDEN, "{why}");
    assert!(why["message"].as_str().unwrap().contains("product_owner"), "{why}");
    assert_eq!(no_comment, StatusCode::UNPROCESSABLE_ENTITY, "{why_comment}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rejection_blocks_and_an_edit_voids_every_sign_off(pool: PgPool) {
    let w = world(&pool).await;
    let id = one_signoff_rollout(&w).await;
    assert_eq!(sign(&w, &w.po, id, 1, "rejected").await.0, StatusCode::OK);
    let (_, rejected) = act(&w.router, &w.editor, "advance", on("checkout")).await;
    assert_eq!(rejected["message"], "rejected sign-off: product_owner");

    // Edit the plan (a new version): the rejection no longer counts, and neither would an approval.
    let (_, current) = call(&w.router, "GET", &format!("/api/admin/rollouts/{id}"), &w.editor, Value::Null).await;
    let (edited, view) = call(
        &w.router,
        "PUT",
        &format!("/api/admin/rollouts/{id}"),
        &w.editor,
        json!({ "expected_version": current["version"], "reason": "smaller step", "stages": [
            { "name": "pilot", "percent": 0 },
            { "name": "five", "percent": 5, "required_roles": ["product_owner"] },
            { "name": "all", "percent": 100 }
        ]}),
    )
    .await;
    assert_eq!(edited, StatusCode::OK, "{view}");
    assert!(view["signoffs"].as_array().unwrap().iter().all(|s| s["current"] == false), "{view}");
    let (_, after_edit) = act(&w.router, &w.editor, "advance", on("checkout")).await;
    assert_eq!(after_edit["message"], "missing sign-off: product_owner");

    assert_eq!(sign(&w, &w.po, id, 1, "approved").await.0, StatusCode::OK);
    let (advanced, at_five) = act(&w.router, &w.editor, "advance", on("checkout")).await;
    assert_eq!((advanced, at_five["current_percent"].as_str()), (StatusCode::OK, Some("5%")), "{at_five}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_soak_holds_the_advance_and_only_an_admin_with_a_reason_can_override(pool: PgPool) {
    let w = world(&pool).await;
    create(
        &w,
        json!({ "flag": "checkout", "environment": "staging", "stages": [
            { "name": "canary", "percent": 10, "min_soak_seconds": 3600 },
            { "name": "all", "percent": 100 }
        ]}),
    )
    .await;
    act(&w.router, &w.editor, "start", on("checkout")).await;

    let (_, soaking) = act(&w.router, &w.editor, "advance", on("checkout")).await;
    let message = soaking["message"].as_str().unwrap();
    assert!(["soak ends in 1h", "soak ends in 59m"].iter().any(|m| message.starts_with(m)), "{soaking}");
    let editor_override =
        json!({ "flag": "checkout", "environment": "staging", "override_gates": true, "reason": "hotfix" });
    let (not_admin, _) = act(&w.router, &w.editor, "advance", editor_override).await;
    assert_eq!(not_admin, StatusCode::CONFLICT);
    let no_reason = json!({ "flag": "checkout", "environment": "staging", "override_gates": true });
    let (unexplained, why) = act(&w.router, &w.admin, "advance", no_reason).await;
    assert_eq!(unexplained, StatusCode::CONFLICT);
    assert!(why["message"].as_str().unwrap().contains("written reason"), "{why}");

    let forced = json!({ "flag": "checkout", "environment": "staging", "override_gates": true,
                         "reason": "incident 42 needs the fix everywhere" });
    let (status, view) = act(&w.router, &w.admin, "advance", forced).await;

    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["current_percent"], "100%");
    let last = view["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["gate_overridden"], true, "{last}");
    assert_eq!(last["reason"], "incident 42 needs the fix everywhere");
    let audited: Value = sqlx::query_scalar("select after from audit_events where action = 'rollout.advanced'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(audited.get("gate_overridden").is_some(), "{audited}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_phase_that_requires_the_previous_one_waits_for_it(pool: PgPool) {
    let w = world(&pool).await;
    sqlx::query("insert into phases (key, name, position, requires_previous) values ('phase-2', 'Phase 2', 2, true)")
        .execute(&pool)
        .await
        .unwrap();
    seed_flag(&pool, "later").await;
    sqlx::query("update flags set phase_id = (select id from phases where key = 'phase-2') where key = 'later'")
        .execute(&pool)
        .await
        .unwrap();
    toggle(&pool, "checkout", "staging", false).await; // phase 1 is not fully out in staging
    create(&w, json!({ "flag": "later", "environment": "staging", "stages": [{ "name": "all", "percent": 100 }] }))
        .await;

    let (blocked, why) = act(&w.router, &w.editor, "start", on("later")).await;
    toggle(&pool, "checkout", "staging", true).await;
    let (started, _) = act(&w.router, &w.editor, "start", on("later")).await;

    assert_eq!(blocked, StatusCode::CONFLICT);
    assert_eq!(why["message"], "previous phase not fully rolled out: checkout");
    assert_eq!(started, StatusCode::OK);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stale_version_gets_409_with_the_current_one(pool: PgPool) {
    let w = world(&pool).await;
    let rollout = create(&w, json!({ "flag": "checkout", "environment": "staging", "template": "five_tier" })).await;
    let stale = rollout["version"].as_i64().unwrap();
    act(&w.router, &w.editor, "start", on("checkout")).await;

    let (status, body) = act(
        &w.router,
        &w.editor,
        "pause",
        json!({ "flag": "checkout", "environment": "staging", "expected_version": stale }),
    )
    .await;

    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "CONFLICT");
    assert_eq!(body["details"]["current_version"], stale + 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn of_two_advances_sent_together_exactly_one_succeeds(pool: PgPool) {
    let w = world(&pool).await;
    let rollout = create(&w, json!({ "flag": "checkout", "environment": "staging", "template": "five_tier" })).await;
    act(&w.router, &w.editor, "start", on("checkout")).await;
    let version = rollout["version"].as_i64().unwrap() + 1;
    let body = json!({ "flag": "checkout", "environment": "staging", "expected_version": version });

    let (a, b) = tokio::join!(
        act(&w.router, &w.editor, "advance", body.clone()),
        act(&w.router, &w.dev_lead, "advance", body.clone())
    );

    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{} / {}", a.1, b.1);
    let advanced: i64 = sqlx::query_scalar("select count(*) from rollout_events where kind = 'advanced'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(advanced, 1);
    let (_, now) =
        call(&w.router, "GET", &format!("/api/admin/rollouts/{}", rollout["id"]), &w.editor, Value::Null).await;
    assert_eq!(now["current_percent"], "1%");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_advance_and_a_rollback_sent_together_end_in_one_order_or_the_other(pool: PgPool) {
    let w = world(&pool).await;
    let rollout = create(&w, json!({ "flag": "checkout", "environment": "staging", "template": "five_tier" })).await;
    act(&w.router, &w.editor, "start", on("checkout")).await;
    act(&w.router, &w.editor, "advance", on("checkout")).await; // 1%
                                                                // The advance to 10% needs the product owner: give it, so that either request can succeed on its own.
    let id = rollout["id"].as_i64().unwrap();
    assert_eq!(sign(&w, &w.po, id, 2, "approved").await.0, StatusCode::OK);

    let ((advance, _), (rollback, _)) = tokio::join!(
        act(&w.router, &w.editor, "advance", on("checkout")),
        act(
            &w.router,
            &w.dev_lead,
            "rollback",
            json!({ "flag": "checkout", "environment": "staging", "reason": "errors" })
        )
    );

    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from rollout_events where kind in ('advanced', 'rolled_back') order by id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let (_, now) = call(&w.router, "GET", &format!("/api/admin/rollouts/{id}"), &w.editor, Value::Null).await;
    assert_eq!(rollback, StatusCode::OK, "a rollback is never refused while the rollout is live");
    assert_eq!(now["status"], "rolled_back");
    assert_eq!(now["current_percent"], "0%");
    if advance == StatusCode::OK {
        assert_eq!(kinds, ["advanced", "advanced", "rolled_back"], "advance first, then the rollback");
    } else {
        // Second, the advance finds the rollout finished: no live rollout (404), or, if it looked the
        // rollout up before the rollback committed, a finished one it may not advance (409).
        assert!([StatusCode::NOT_FOUND, StatusCode::CONFLICT].contains(&advance), "{advance}");
        assert_eq!(kinds, ["advanced", "rolled_back"]);
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rollout_moves_the_served_percentage_in_the_snapshot(pool: PgPool) {
    let w = world(&pool).await;
    create(
        &w,
        json!({ "flag": "checkout", "environment": "staging", "stages": [
            { "name": "half", "percent": 50 }, { "name": "all", "percent": 100 }
        ], "allow_customers": [] }),
    )
    .await;
    act(&w.router, &w.editor, "start", on("checkout")).await;
    let snapshot = app::server::snapshot::load(&pool).await.unwrap();
    let entry = &snapshot.environments["staging"].flags["checkout"];
    let rollout = entry.env.rollout.as_ref().unwrap();
    assert_eq!(rollout.percent.to_string(), "50%");

    act(&w.router, &w.editor, "rollback", on("checkout")).await;
    let snapshot = app::server::snapshot::load(&pool).await.unwrap();
    let rollout = snapshot.environments["staging"].flags["checkout"].env.rollout.as_ref().unwrap();
    assert_eq!(rollout.status.as_str(), "rolled_back");
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_plans_and_requests_say_what_is_wrong(pool: PgPool) {
    let w = world(&pool).await;
    let cases = [
        (json!({ "flag": "checkout", "environment": "staging" }), "template"),
        (json!({ "flag": "checkout", "environment": "staging", "template": "seven_tier" }), "seven_tier"),
        (
            json!({ "flag": "checkout", "environment": "staging", "stages": [
                { "name": "a", "percent": 50 }, { "name": "b", "percent": 40 }, { "name": "c", "percent": 100 }] }),
            "below the previous",
        ),
        (
            json!({ "flag": "checkout", "environment": "staging", "stages": [{ "name": "a", "percent": "150%" }] }),
            "stage 0",
        ),
        (
            json!({ "flag": "checkout", "environment": "staging", "template": "canary", "allow_customers": ["no body"] }),
            "\"no body\" is not a customer key",
        ),
        (
            json!({ "flag": "checkout", "environment": "staging", "template": "canary", "allow_organizations": ["acme", "acme"] }),
            "\"acme\" is listed twice",
        ),
    ];
    for (body, expected) in cases {
        let (status, why) = call(&w.router, "POST", "/api/admin/rollouts", &w.editor, body.clone()).await;
        assert!(status.is_client_error(), "{body} -> {status} {why}");
        assert!(why["message"].as_str().unwrap().contains(expected), "{body} -> {why}");
    }
    let (none, _) = act(&w.router, &w.editor, "advance", on("checkout")).await;
    assert_eq!(none, StatusCode::NOT_FOUND);
    assert_eq!(sqlx::query_scalar::<_, i64>("select count(*) from rollouts").fetch_one(&pool).await.unwrap(), 0);
}

/// How many of `customers` the evaluation engine puts in, from a fresh snapshot.
async fn served_to(pool: &PgPool, customers: &[String]) -> Vec<String> {
    let snapshot = app::server::snapshot::load(pool).await.unwrap();
    let env = &snapshot.environments["staging"];
    customers
        .iter()
        .filter(|c| {
            let ctx = app::domain::EvalContext { customer_id: Some((*c).clone()), ..Default::default() };
            env.evaluate("checkout", &ctx).unwrap().value == &json!(true)
        })
        .cloned()
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_population_counts_agree_with_what_evaluation_serves(pool: PgPool) {
    let w = world(&pool).await;
    sqlx::query("insert into organizations (key, name) values ('acme', 'Acme')").execute(&pool).await.unwrap();
    sqlx::query(
        "insert into customers (key, organization_key) select 'c-' || lpad(g::text, 3, '0'), 'acme'
         from generate_series(0, 199) g",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("update flag_environments set default_value = 'false'").execute(&pool).await.unwrap();
    let customers: Vec<String> = (0..200).map(|i| format!("c-{i:03}")).collect();
    let rollout = create(
        &w,
        json!({ "flag": "checkout", "environment": "staging", "stages": [
            { "name": "ten", "percent": 10 }, { "name": "half", "percent": 50 }, { "name": "all", "percent": 100 }
        ]}),
    )
    .await;
    let id = rollout["id"].as_i64().unwrap();
    act(&w.router, &w.editor, "start", on("checkout")).await;

    let at_ten = app::server::rollouts::population(&pool, id).await.unwrap();
    let served_at_ten = served_to(&pool, &customers).await;
    act(&w.router, &w.editor, "advance", on("checkout")).await;
    let served_at_half = served_to(&pool, &customers).await;

    assert_eq!(at_ten.customers_known, 200);
    assert_eq!(at_ten.customers_in, served_at_ten.len() as u64);
    assert!(at_ten.customers_in > 0 && at_ten.customers_in < 60, "{at_ten:?}");
    assert_eq!(at_ten.next_percent.as_deref(), Some("50%"));
    assert_eq!(at_ten.customers_in + at_ten.next_adds, served_at_half.len() as u64);
    assert!(at_ten.next_adds_preview.iter().all(|c| served_at_half.contains(c) && !served_at_ten.contains(c)));
    assert!(served_at_ten.iter().all(|c| served_at_half.contains(c)), "monotonic");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stored_status_reads_as_its_type_and_an_unknown_spelling_is_an_error_naming_it(pool: PgPool) {
    use app::domain::rollout::RolloutStatus;
    let read = |text: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, RolloutStatus>("select $1::text").bind(text).fetch_one(&pool).await }
    };

    assert_eq!(read("rolled_back").await.unwrap(), RolloutStatus::RolledBack);
    let err = read("exploded").await.unwrap_err().to_string();
    assert!(err.contains("\"exploded\"") && err.contains("rolled_back"), "{err}");
}
