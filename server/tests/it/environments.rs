//! Environments managed in the product: created with a state for every flag in one transaction, renamed,
//! reordered, archived only when nothing uses them, keys never reused; every change audited and seen by
//! every server process's snapshot.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use sqlx::PgPool;

/// A JSON request to the admin API with an admin token.
fn api(method: &str, path: &str, token: &str, body: serde_json::Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn json(response: axum::http::Response<Body>) -> (StatusCode, serde_json::Value) {
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// An admin with an admin token, over a database with three flags (one archived) in the usual
/// environments.
async fn admin_with_flags(pool: &PgPool) -> String {
    for key in ["checkout", "search", "old_banner"] {
        seed_flag(pool, key).await;
    }
    sqlx::query("update flags set archived_at = now() where key = 'old_banner'").execute(pool).await.unwrap();
    seed_user(pool, "admin@example.com", "admin").await;
    admin_token_for(pool, "admin@example.com").await
}

async fn states_in(pool: &PgPool, env: &str) -> Vec<(String, bool, serde_json::Value)> {
    sqlx::query_as(
        "select f.key, fe.enabled, fe.default_value from flag_environments fe join flags f on f.id = fe.flag_id
         join environments e on e.id = fe.environment_id where e.key = $1 order by f.key",
    )
    .bind(env)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_new_environment_gives_every_flag_an_off_state_in_the_same_transaction(pool: PgPool) {
    let token = admin_with_flags(&pool).await;
    let router = router(&pool);
    let version_before: i64 = sqlx::query_scalar("select version from config_state").fetch_one(&pool).await.unwrap();

    let (status, created) = json(
        send(
            &router,
            api(
                "POST",
                "/api/admin/environments",
                &token,
                serde_json::json!({"key": "eu-prod", "name": "EU production"}),
            ),
        )
        .await,
    )
    .await;

    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["key"], "eu-prod");
    assert_eq!(created["name"], "EU production");
    assert_eq!(
        states_in(&pool, "eu-prod").await,
        vec![
            ("checkout".into(), false, serde_json::json!(false)),
            ("old_banner".into(), false, serde_json::json!(false)),
            ("search".into(), false, serde_json::json!(false)),
        ],
        "every flag, archived ones too, is off and serves false"
    );
    let keys: Vec<String> =
        sqlx::query_scalar("select key from environments order by position").fetch_all(&pool).await.unwrap();
    assert_eq!(keys, ["development", "staging", "production", "eu-prod"], "added at the end");
    assert_eq!(audit_count(&pool, "environment.created").await, 1);
    let version_after: i64 = sqlx::query_scalar("select version from config_state").fetch_one(&pool).await.unwrap();
    assert_eq!(version_after, version_before + 1, "one NOTIFY for the snapshots");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failure_in_the_middle_of_creating_an_environment_leaves_nothing(pool: PgPool) {
    let token = admin_with_flags(&pool).await;
    // Arrange a failure after the environment row is written: the flag states refuse to be inserted.
    sqlx::query(
        "create function fail_states() returns trigger language plpgsql as $$
         begin raise exception 'injected failure'; end; $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "create trigger fail_states before insert on flag_environments for each row execute function fail_states()",
    )
    .execute(&pool)
    .await
    .unwrap();
    let router = router(&pool);

    let response = send(
        &router,
        api("POST", "/api/admin/environments", &token, serde_json::json!({"key": "eu-prod", "name": "EU"})),
    )
    .await;

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = body_text(response).await;
    assert!(!body.contains("injected"), "the database's text stays on the server: {body}");
    let envs: i64 =
        sqlx::query_scalar("select count(*) from environments where key = 'eu-prod'").fetch_one(&pool).await.unwrap();
    assert_eq!(envs, 0, "no environment without its flag states");
    assert_eq!(audit_count(&pool, "environment.created").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn archiving_is_refused_while_tokens_or_live_rollouts_use_the_environment_and_says_which(pool: PgPool) {
    let admin = admin_with_flags(&pool).await;
    let app_token = evaluate_token_for(&pool, "staging").await;
    let prefix = app::server::tokens::prefix_of(&app_token).unwrap().to_owned();
    let rollout = app::server::rollouts::create(
        &pool,
        &editor(),
        &app::server::rollouts::NewRollout {
            flag: app::domain::FlagKey::parse("checkout").unwrap(),
            environment: app::domain::EnvKey::parse("staging").unwrap(),
            plan: app::server::rollouts::PlanSource::Template(app::domain::rollout::Template::FiveTier),
            stickiness: app::domain::Stickiness::CustomerId,
            allow_customers: vec![],
            allow_organizations: vec![],
            audience: None,
        },
    )
    .await
    .unwrap();
    let router = router(&pool);

    let (status, refused) = json(
        send(&router, api("POST", "/api/admin/environments/staging/archive", &admin, serde_json::json!({}))).await,
    )
    .await;

    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"], "ENVIRONMENT_IN_USE");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains(&prefix) && message.contains("checkout (planned)"), "{message}");

    // Once nothing uses it, it archives, and leaves the lists and the evaluation.
    app::server::tokens::revoke(&pool, &app::server::audit::Actor::system("test"), &prefix).await.unwrap();
    let rollback = app::server::rollouts::TransitionRequest {
        action: app::domain::rollout::Action::RollbackTo(None),
        expected_version: None,
        reason: Some("not needed".into()),
        override_gates: false,
        details: None,
    };
    app::server::rollouts::transition(&pool, &editor(), rollout, &rollback).await.unwrap();
    let (status, archived) = json(
        send(
            &router,
            api(
                "POST",
                "/api/admin/environments/staging/archive",
                &admin,
                serde_json::json!({"reason": "merged into dev"}),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{archived}");
    assert!(archived["archived_at"].is_string());
    let listed = app::server::flags::environments(&pool).await.unwrap();
    assert_eq!(listed.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["development", "production"]);
    let snapshot = app::server::snapshot::load(&pool).await.unwrap();
    assert!(!snapshot.environments.contains_key("staging") && snapshot.environments.contains_key("production"));
    let reason: String = sqlx::query_scalar("select reason from audit_events where action = 'environment.archived'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(reason, "merged into dev");
    // Nothing can be changed there any more.
    let toggled = app::server::flags::set_enabled(
        &pool,
        &editor(),
        &app::domain::FlagKey::parse("checkout").unwrap(),
        &app::domain::EnvKey::parse("staging").unwrap(),
        true,
        None,
        None,
    )
    .await;
    assert!(matches!(toggled, Err(app::server::ServiceError::NotFound(_))), "{toggled:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_key_is_never_reused_and_bad_input_gets_a_4xx_naming_the_field(pool: PgPool) {
    let admin = admin_with_flags(&pool).await;
    let router = router(&pool);
    let create = |key: &str, name: &str| {
        api("POST", "/api/admin/environments", &admin, serde_json::json!({"key": key, "name": name}))
    };

    let duplicate = json(send(&router, create("staging", "Staging again")).await).await;
    let bad_key = json(send(&router, create("EU Prod!", "EU")).await).await;
    let no_name = json(send(&router, create("qa", "  ")).await).await;
    let unknown_field = send(
        &router,
        api("POST", "/api/admin/environments", &admin, serde_json::json!({"key": "qa", "name": "QA", "colour": "red"})),
    )
    .await;
    send(&router, create("qa", "QA")).await;
    send(&router, api("POST", "/api/admin/environments/qa/archive", &admin, serde_json::json!({}))).await;
    let reused = json(send(&router, create("qa", "QA again")).await).await;

    for ((status, body), field, words) in [
        (duplicate, "key", "already exists"),
        (bad_key, "key", "not an environment key"),
        (no_name, "name", "required"),
        (reused, "key", "never reused"),
    ] {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["details"]["field"], field, "{body}");
        assert!(body["message"].as_str().unwrap().contains(words), "{body}");
    }
    assert!(unknown_field.status().is_client_error());
    let qa: i64 =
        sqlx::query_scalar("select count(*) from environments where key = 'qa'").fetch_one(&pool).await.unwrap();
    assert_eq!(qa, 1, "the archived qa stays, and no second one was made");
    let renamed = sqlx::query("update environments set key = 'qa2' where key = 'qa'").execute(&pool).await;
    assert!(renamed.is_err(), "the database refuses a key change too");
    let deleted = sqlx::query("delete from environments where key = 'qa'").execute(&pool).await;
    assert!(deleted.is_err(), "and a delete");
}

#[sqlx::test(migrations = "../migrations")]
async fn renaming_and_reordering_are_audited_and_a_partial_order_is_refused(pool: PgPool) {
    let admin = admin_with_flags(&pool).await;
    let router = router(&pool);

    let (status, renamed) = json(
        send(&router, api("PUT", "/api/admin/environments/production", &admin, serde_json::json!({"name": "Live"})))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Live");
    let (status, listed) = json(
        send(
            &router,
            api(
                "POST",
                "/api/admin/environments/reorder",
                &admin,
                serde_json::json!({"keys": ["production", "staging", "development"]}),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let order: Vec<&str> = listed.as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(order, ["production", "staging", "development"]);
    let (status, partial) = json(
        send(
            &router,
            api("POST", "/api/admin/environments/reorder", &admin, serde_json::json!({"keys": ["production"]})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(partial["details"]["field"], "keys");

    assert_eq!(audit_count(&pool, "environment.renamed").await, 1);
    assert_eq!(audit_count(&pool, "environment.reordered").await, 1);
    let pages = app::server::flags::environments(&pool).await.unwrap();
    assert_eq!(pages[0].name, "Live", "pages show the new order and name");
}

#[sqlx::test(migrations = "../migrations")]
async fn only_admins_manage_environments_and_everyone_signed_in_sees_them(pool: PgPool) {
    admin_with_flags(&pool).await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let editor_token = admin_token_for(&pool, "ed@example.com").await;
    let router = router(&pool);

    let refused = json(
        send(
            &router,
            api("POST", "/api/admin/environments", &editor_token, serde_json::json!({"key": "qa", "name": "QA"})),
        )
        .await,
    )
    .await;
    let listed = send(&router, api("GET", "/api/admin/environments", &editor_token, serde_json::Value::Null)).await;
    let cookie = login(&router, "ed@example.com").await;
    let by_form = send(&router, form_post("/api/create_environment", "key=qa&name=QA", Some(&cookie))).await;

    assert_eq!(refused.0, StatusCode::FORBIDDEN, "{}", refused.1);
    assert!(refused.1["message"].as_str().unwrap().contains("cannot manage environments"));
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(by_form.status(), StatusCode::FORBIDDEN);
    let qa: i64 =
        sqlx::query_scalar("select count(*) from environments where key = 'qa'").fetch_one(&pool).await.unwrap();
    assert_eq!(qa, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn every_server_process_serves_a_new_environment_once_it_is_created(pool: PgPool) {
    let admin = admin_with_flags(&pool).await;
    let served = serve_with_snapshot(&pool).await;
    let first = served.state.snapshot.version().unwrap();

    let router = router(&pool);
    let response = send(
        &router,
        api("POST", "/api/admin/environments", &admin, serde_json::json!({"key": "eu-prod", "name": "EU"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let mut seen = false;
    for _ in 0..250 {
        if let Some(snapshot) = served.state.snapshot.get() {
            if snapshot.version > first && snapshot.environments.contains_key("eu-prod") {
                seen = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen, "the other process's snapshot took the new environment");
}
