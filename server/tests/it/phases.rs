//! Phases managed from the flag manager (editors): create, edit with versions, reorder, delete when empty,
//! move a flag; the CLI (`rollgate env`, `rollgate phase`) over the admin API; export and apply of
//! environments and phases.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use sqlx::PgPool;

fn api(method: &str, path: &str, token: &str, body: serde_json::Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn json(router: &Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = send(router, request).await;
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

async fn phase_of(pool: &PgPool, flag: &str) -> Option<String> {
    sqlx::query_scalar("select p.key from flags f left join phases p on p.id = f.phase_id where f.key = $1")
        .bind(flag)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn an_editor_creates_edits_reorders_and_deletes_phases_and_moves_flags(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_flag(&pool, "search").await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let token = admin_token_for(&pool, "ed@example.com").await;
    let router = router(&pool);

    let (status, created) = json(
        &router,
        api(
            "POST",
            "/api/admin/phases",
            &token,
            serde_json::json!({"key": "phase-2", "name": "Phase 2: Resilience", "requires_previous": true}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!((created["position"].as_i64(), created["flags"].as_i64()), (Some(2), Some(0)), "after phase-1");

    let (status, moved) = json(
        &router,
        api("PUT", "/api/admin/feature-flags/search/phase", &token, serde_json::json!({"phase": "phase-2"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["phase_key"], "phase-2");
    assert_eq!(phase_of(&pool, "search").await.as_deref(), Some("phase-2"));

    let (status, edited) = json(
        &router,
        api(
            "PUT",
            "/api/admin/phases/phase-2",
            &token,
            serde_json::json!({"description": "retries and storage", "expected_version": 1}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!((edited["version"].as_i64(), edited["name"].as_str()), (Some(2), Some("Phase 2: Resilience")));
    let (status, stale) = json(
        &router,
        api("PUT", "/api/admin/phases/phase-2", &token, serde_json::json!({"name": "P2", "expected_version": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    assert_eq!(stale["details"]["current_version"], 2);

    let (status, order) = json(
        &router,
        api("POST", "/api/admin/phases/reorder", &token, serde_json::json!({"keys": ["phase-2", "phase-1"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order[0]["key"], "phase-2");

    let (status, refused) =
        json(&router, api("DELETE", "/api/admin/phases/phase-1", &token, serde_json::Value::Null)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"], "PHASE_NOT_EMPTY");
    assert!(refused["message"].as_str().unwrap().contains("holds 1 flag"), "{refused}");

    json(&router, api("PUT", "/api/admin/feature-flags/checkout/phase", &token, serde_json::json!({"phase": null})))
        .await;
    let deleted = send(&router, api("DELETE", "/api/admin/phases/phase-1", &token, serde_json::Value::Null)).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(phase_of(&pool, "checkout").await, None);

    for action in ["phase.created", "phase.updated", "phase.reordered", "phase.deleted"] {
        assert_eq!(audit_count(&pool, action).await, 1, "{action}");
    }
    assert_eq!(audit_count(&pool, "flag.moved").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn phases_refuse_viewers_and_bad_input_naming_the_field(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "vi@example.com", "viewer").await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let viewer = admin_token_for(&pool, "vi@example.com").await;
    let editor = admin_token_for(&pool, "ed@example.com").await;
    let router = router(&pool);

    let (status, _) =
        json(&router, api("POST", "/api/admin/phases", &viewer, serde_json::json!({"key": "p2", "name": "P2"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = json(&router, api("GET", "/api/admin/phases", &viewer, serde_json::Value::Null)).await;
    assert_eq!(status, StatusCode::OK, "viewers see the phases");

    for (body, field) in [
        (serde_json::json!({"key": "Phase 2", "name": "P2"}), "key"),
        (serde_json::json!({"key": "phase-1", "name": "again"}), "key"),
        (serde_json::json!({"key": "p2", "name": ""}), "name"),
        (serde_json::json!({"key": "p2", "name": "P2", "description": "d".repeat(2001)}), "description"),
    ] {
        let (status, error) = json(&router, api("POST", "/api/admin/phases", &editor, body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error["details"]["field"], field, "{body}: {error}");
    }
    let (status, error) = json(
        &router,
        api("PUT", "/api/admin/feature-flags/checkout/phase", &editor, serde_json::json!({"phase": "nowhere"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["details"]["field"], "phase");
    let phases: i64 = sqlx::query_scalar("select count(*) from phases").fetch_one(&pool).await.unwrap();
    assert_eq!(phases, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn apply_creates_and_renames_environments_and_phases_and_never_archives(pool: PgPool) {
    app::server::setup::ensure_environments(&pool).await.unwrap();
    seed_user(&pool, "admin@example.com", "admin").await;
    let admin = app::server::audit::Actor::system("test");
    let flag = app::server::flags::NewFlag {
        key: app::domain::FlagKey::parse("checkout").unwrap(),
        name: app::domain::FlagName::parse("Checkout").unwrap(),
        description: app::domain::Description::parse("").unwrap(),
        phase_key: None,
        kind: app::domain::FlagKind::Release,
    };
    app::server::flags::create(&pool, &admin, flag).await.unwrap();
    let file = "rollgate: 1
environments:
- key: development
  name: Dev
- key: staging
  name: Staging
phases:
- key: launch
  name: Launch
  requires_previous: true
flags:
- key: checkout
  name: Checkout
  phase: launch
  kind: release
  environments:
    staging:
      enabled: true
";
    let doc: app::server::config_as_code::ConfigDocument = serde_norway::from_str(file).unwrap();

    let dry = app::server::config_as_code::apply(&pool, &admin, &doc, true).await.unwrap();
    assert!(!dry.applied && !dry.changes.is_empty());
    let count: i64 = sqlx::query_scalar("select count(*) from environments").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 2, "a dry run changes nothing");

    let report = app::server::config_as_code::apply(&pool, &admin, &doc, false).await.unwrap();

    let actions: Vec<&str> = report.changes.iter().map(|c| c.action.as_str()).collect();
    assert!(actions.starts_with(&["environment.renamed", "environment.created", "phase.created"]), "{actions:?}");
    let envs: Vec<(String, String, bool)> =
        sqlx::query_as("select key, name, archived_at is null from environments order by position")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        envs,
        [
            ("development".into(), "Dev".into(), true),
            ("production".into(), "Production".into(), true),
            ("staging".into(), "Staging".into(), true)
        ],
        "production, not in the file, is left as it is"
    );
    assert!(flag_enabled(&pool, "checkout", "staging").await, "the new environment's state was set in the same apply");
    let again = app::server::config_as_code::apply(&pool, &admin, &doc, false).await.unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);

    let exported = {
        let mut tx = pool.begin().await.unwrap();
        app::server::config_as_code::export(&mut tx, None).await.unwrap()
    };
    let keys: Vec<&str> = exported.environments.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["development", "production", "staging"]);
    let one = {
        let mut tx = pool.begin().await.unwrap();
        app::server::config_as_code::export(&mut tx, Some("staging")).await.unwrap()
    };
    assert!(one.environments.is_empty(), "a one-environment export can be applied to another server");
}

/// The URL of the database `#[sqlx::test]` made for this test.
fn rollgate(url: &str, token: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(args)
        .env("ROLLGATE_URL", url)
        .env("ROLLGATE_TOKEN", token)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_env_and_phase_commands_work_through_the_admin_api(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "admin@example.com", "admin").await;
    let token = admin_token_for(&pool, "admin@example.com").await;
    let served = serve_state(state(&pool)).await;
    let url = served.url.clone();
    let run = move |args: Vec<&'static str>| {
        let (url, token) = (url.clone(), token.clone());
        async move { tokio::task::spawn_blocking(move || rollgate(&url, &token, &args)).await.unwrap() }
    };

    let added = run(vec!["env", "add", "eu-prod", "--name", "EU production"]).await;
    let renamed = run(vec!["env", "rename", "eu-prod", "--name", "EU live"]).await;
    let phase = run(vec!["phase", "add", "launch", "--name", "Launch", "--requires-previous"]).await;
    let moved = run(vec!["phase", "move", "checkout", "--to", "launch"]).await;
    let listed = run(vec!["env", "list"]).await;
    let phases = run(vec!["phase", "list"]).await;
    let refused = run(vec!["phase", "delete", "launch"]).await;
    let bad = run(vec!["env", "add", "EU!", "--name", "x"]).await;
    let archived = run(vec!["env", "archive", "eu-prod", "--reason", "not needed"]).await;

    for output in [&added, &renamed, &phase, &moved, &listed, &phases, &archived] {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("eu-prod") && listed.contains("EU live"), "{listed}");
    let phases = String::from_utf8_lossy(&phases.stdout);
    assert!(phases.lines().any(|l| l.starts_with("launch") && l.contains("yes") && l.contains("Launch")), "{phases}");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("holds 1 flag"));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an environment key"));
    assert_eq!(phase_of(&pool, "checkout").await.as_deref(), Some("launch"));
    let archived: bool = sqlx::query_scalar("select archived_at is not null from environments where key = 'eu-prod'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(archived);
}
