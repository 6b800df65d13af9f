//! The flag manager's writes: the kill switch, creating flags, and the append-only audit trail.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::domain::{EnvKey, FlagKey};
use app::server::audit::Actor;
use app::server::flags;
use app::server::ServiceError;
use axum::http::StatusCode;
use sqlx::PgPool;

async fn editor(pool: &PgPool) -> Actor {
    let id = seed_user(pool, "ed@example.com", "editor").await;
    Actor {
        kind: app::server::audit::ActorKind::User,
        user_id: Some(id),
        label: "ed@example.com".into(),
        role: app::domain::Role::Editor,
    }
}

fn key(k: &str) -> FlagKey {
    FlagKey::parse(k).unwrap()
}

fn env(e: &str) -> EnvKey {
    EnvKey::parse(e).unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_toggle_over_http_changes_the_state_and_writes_one_audit_event_with_before_and_after(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let cookie = login(&router, "ed@example.com").await;

    let response = send(
        &router,
        form_post("/api/toggle_flag", "flag=checkout&env=staging&enabled=true&version=1&reason=launch", Some(&cookie)),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK, "{}", body_text(response).await);
    assert!(flag_enabled(&pool, "checkout", "staging").await);
    assert!(!flag_enabled(&pool, "checkout", "production").await, "other environments untouched");
    let (actor, before, after, reason): (String, serde_json::Value, serde_json::Value, String) = sqlx::query_as(
        "select actor_label, before, after, reason from audit_events where action = 'flag.toggled' and flag_key = 'checkout' and environment_key = 'staging'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(actor, "ed@example.com");
    assert_eq!(before["enabled"], false);
    assert_eq!(after["enabled"], true);
    assert_eq!(reason, "launch");
}

#[sqlx::test(migrations = "../migrations")]
async fn when_the_audit_event_cannot_be_written_the_toggle_is_rolled_back(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    // The audit trail refuses an actor label over 254 characters, so the event insert fails after the
    // update (reasons are checked before anything is written, so they cannot make it fail).
    let actor = Actor { label: "x".repeat(300), ..editor(&pool).await };

    let result = flags::set_enabled(&pool, &actor, &key("checkout"), &env("staging"), true, None, Some("launch")).await;

    assert!(matches!(result, Err(ServiceError::Database(_))), "{result:?}");
    assert!(!flag_enabled(&pool, "checkout", "staging").await, "state change rolled back with the failed audit insert");
    let version: i32 = sqlx::query_scalar("select version from flag_environments fe join environments e on e.id = fe.environment_id where e.key = 'staging'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_toggle_based_on_a_stale_version_gets_409_with_the_current_version(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let cookie = login(&router, "ed@example.com").await;
    // Someone else turns it on first (version 1 -> 2).
    let first =
        send(&router, form_post("/api/toggle_flag", "flag=checkout&env=staging&enabled=true&version=1", Some(&cookie)))
            .await;
    assert_eq!(first.status(), StatusCode::OK);

    // A page still showing version 1 tries to turn it on... off again.
    let stale = send(
        &router,
        form_post("/api/toggle_flag", "flag=checkout&env=staging&enabled=false&version=1", Some(&cookie)),
    )
    .await;

    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let body = body_text(stale).await;
    assert!(body.contains("\"current_version\":2"), "{body}");
    assert!(flag_enabled(&pool, "checkout", "staging").await);
    assert_eq!(audit_count(&pool, "flag.toggled").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn toggling_to_the_state_it_already_has_changes_and_audits_nothing(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    let actor = editor(&pool).await;

    let state = flags::set_enabled(&pool, &actor, &key("checkout"), &env("staging"), false, None, None).await.unwrap();

    assert_eq!(state.version, 1);
    assert_eq!(audit_count(&pool, "flag.toggled").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn toggling_an_unknown_flag_or_environment_is_not_found(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    let actor = editor(&pool).await;

    let unknown_flag = flags::set_enabled(&pool, &actor, &key("nope"), &env("staging"), true, None, None).await;
    let unknown_env = flags::set_enabled(&pool, &actor, &key("checkout"), &env("qa"), true, None, None).await;

    assert!(matches!(unknown_flag, Err(ServiceError::NotFound(_))));
    assert!(matches!(unknown_env, Err(ServiceError::NotFound(_))));
}

#[sqlx::test(migrations = "../migrations")]
async fn an_audit_event_can_be_neither_updated_nor_deleted_nor_truncated(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    let actor = editor(&pool).await;
    flags::set_enabled(&pool, &actor, &key("checkout"), &env("staging"), true, None, None).await.unwrap();

    let update = sqlx::query("update audit_events set actor_label = 'someone else'").execute(&pool).await;
    let delete = sqlx::query("delete from audit_events").execute(&pool).await;
    let truncate = sqlx::query("truncate audit_events").execute(&pool).await;

    for (what, result) in [("update", update), ("delete", delete), ("truncate", truncate)] {
        let err = result.expect_err(what).to_string();
        assert!(err.contains("append-only"), "{what}: {err}");
    }
    assert_eq!(audit_count(&pool, "flag.toggled").await, 1);
    let label: String = sqlx::query_scalar("select actor_label from audit_events").fetch_one(&pool).await.unwrap();
    assert_eq!(label, "ed@example.com");
}

#[sqlx::test(migrations = "../migrations")]
async fn creating_a_flag_puts_it_off_in_every_environment_and_audits_it(pool: PgPool) {
    seed_flag(&pool, "existing").await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let cookie = login(&router, "ed@example.com").await;

    let response = send(
        &router,
        form_post(
            "/api/create_flag",
            "key=new_checkout&name=New+checkout&description=&phase=phase-1&kind=release",
            Some(&cookie),
        ),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK, "{}", body_text(response).await);
    for e in ["development", "staging", "production"] {
        assert!(!flag_enabled(&pool, "new_checkout", e).await);
    }
    assert_eq!(audit_count(&pool, "flag.created").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_bad_key_is_refused_with_a_message_about_the_key_field(pool: PgPool) {
    seed_flag(&pool, "existing").await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let cookie = login(&router, "ed@example.com").await;

    let response =
        send(&router, form_post("/api/create_flag", "key=bad+key&name=x&description=&kind=release", Some(&cookie)))
            .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(body["Invalid"]["field"], "key");
    assert!(body["Invalid"]["message"].as_str().unwrap().contains("' '"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_duplicate_key_and_an_archived_key_get_distinct_clear_messages(pool: PgPool) {
    seed_flag(&pool, "taken").await;
    seed_flag(&pool, "retired").await;
    sqlx::query("update flags set archived_at = now() where key = 'retired'").execute(&pool).await.unwrap();
    let actor = editor(&pool).await;
    let new = |k: &str| flags::NewFlag {
        key: key(k),
        name: app::domain::FlagName::parse("A flag").unwrap(),
        description: app::domain::Description::parse("").unwrap(),
        phase_key: None,
        kind: app::domain::FlagKind::Release,
    };

    let duplicate = flags::create(&pool, &actor, new("taken")).await.unwrap_err();
    let archived = flags::create(&pool, &actor, new("retired")).await.unwrap_err();

    assert!(
        matches!(&duplicate, ServiceError::Invalid { field: "key", message } if message.contains("already exists")),
        "{duplicate:?}"
    );
    assert!(
        matches!(&archived, ServiceError::Invalid { field: "key", message } if message.contains("never reused")),
        "{archived:?}"
    );
    assert_eq!(audit_count(&pool, "flag.created").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_database_refuses_deleting_a_flag_or_changing_its_key(pool: PgPool) {
    seed_flag(&pool, "checkout").await;

    let delete = sqlx::query("delete from flags where key = 'checkout'").execute(&pool).await;
    let rename = sqlx::query("update flags set key = 'other' where key = 'checkout'").execute(&pool).await;

    assert!(delete.expect_err("delete").to_string().contains("archive the flag instead"));
    assert!(rename.expect_err("rename").to_string().contains("never changes"));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_flag_list_filters_in_the_database(pool: PgPool) {
    seed_flag(&pool, "checkout_v2").await;
    seed_flag(&pool, "search_boost").await;
    let actor = editor(&pool).await;
    flags::set_enabled(&pool, &actor, &key("search_boost"), &env("production"), true, None, None).await.unwrap();
    let list = |q: app::model::FlagListQuery| {
        let pool = pool.clone();
        async move { flags::list(&pool, &q, true).await.unwrap() }
    };

    let by_text = list(app::model::FlagListQuery { q: Some("checkout".into()), ..Default::default() }).await;
    let on_in_prod = list(app::model::FlagListQuery {
        env: Some("production".into()),
        state: Some(app::model::StateFilter::On),
        ..Default::default()
    })
    .await;
    let page_two = list(app::model::FlagListQuery { per_page: Some(1), page: Some(2), ..Default::default() }).await;

    assert_eq!(by_text.flags.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(), ["checkout_v2"]);
    assert_eq!(on_in_prod.flags.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(), ["search_boost"]);
    assert_eq!(on_in_prod.environments.len(), 1, "only the chosen environment's column");
    assert_eq!(on_in_prod.flags[0].states.len(), 1);
    assert_eq!((page_two.total, page_two.flags.len(), page_two.flags[0].key.as_str()), (2, 1, "search_boost"));
}
