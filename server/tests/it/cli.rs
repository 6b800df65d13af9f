//! The `rollgate` binary's user commands and the demo data, against the test's own database.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use sqlx::PgPool;
use std::process::Command;

/// The URL of the database `#[sqlx::test]` made for this test.
fn url_of(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let db = pool.connect_options().get_database().expect("a database name").to_owned();
    format!("{}/{}", base.rsplit_once('/').expect("a URL with a path").0, db)
}

fn rollgate(pool: &PgPool, args: &[&str], password: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollgate"));
    command.env("DATABASE_URL", url_of(pool)).env("RUST_LOG", "warn").args(args);
    match password {
        Some(p) => command.env("ROLLGATE_PASSWORD", p),
        None => command.env_remove("ROLLGATE_PASSWORD"),
    };
    command.output().expect("run rollgate")
}

#[sqlx::test(migrations = "../migrations")]
async fn user_add_creates_an_account_that_can_sign_in_and_user_list_shows_it(pool: PgPool) {
    let added = rollgate(
        &pool,
        &[
            "user",
            "add",
            "--email",
            "po@example.com",
            "--name",
            "Pat Owner",
            "--role",
            "viewer",
            "--signoff",
            "product_owner,qa",
        ],
        Some(PASSWORD),
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));

    let listed = rollgate(&pool, &["user", "list"], None);
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success());
    assert!(out.contains("po@example.com") && out.contains("viewer") && out.contains("product_owner,qa"), "{out}");

    let router = router(&pool);
    login(&router, "po@example.com").await;
    let stored: String = sqlx::query_scalar("select password_hash from users where email = 'po@example.com'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'user.created' and actor_label = 'system:cli'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn user_add_refuses_bad_input_with_a_message_naming_the_option(pool: PgPool) {
    let bad_role =
        rollgate(&pool, &["user", "add", "--email", "a@example.com", "--name", "A", "--role", "owner"], Some(PASSWORD));
    let bad_signoff = rollgate(
        &pool,
        &["user", "add", "--email", "a@example.com", "--name", "A", "--role", "viewer", "--signoff", "ceo"],
        Some(PASSWORD),
    );
    let short_password =
        rollgate(&pool, &["user", "add", "--email", "a@example.com", "--name", "A", "--role", "viewer"], Some("short"));

    for (output, expected) in [(bad_role, "--role"), (bad_signoff, "--signoff"), (short_password, "at least 12")] {
        assert!(!output.status.success());
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&pool).await.unwrap();
    assert_eq!(users, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_demo_data_loads_once_and_a_second_load_changes_nothing(pool: PgPool) {
    let first = server::demo::load(&pool).await.unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    let before = (
        count("select count(*) from flags").await,
        count("select count(*) from customers").await,
        count("select count(*) from users").await,
    );

    let second = server::demo::load(&pool).await.unwrap();

    assert_eq!(first.len(), 4, "admin, editor, viewer and product owner");
    assert!(second.is_empty(), "existing demo users keep their passwords");
    let after = (
        count("select count(*) from flags").await,
        count("select count(*) from customers").await,
        count("select count(*) from users").await,
    );
    assert_eq!(before, after);
    assert_eq!(before.0, 19);
    assert_eq!(before.1, 300);
    // Phase 1 is on everywhere; priority_urls_enabled serves true for one account only.
    assert_eq!(count("select count(*) from flag_environments fe join flags f on f.id = fe.flag_id where f.key = 'autoRestore' and fe.enabled").await, 3);
    assert_eq!(count("select count(distinct organization_key) from overrides").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_token_is_shown_once_stored_as_a_hash_listed_by_prefix_and_revocable(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "ops@example.com", "admin").await;

    let created =
        rollgate(&pool, &["token", "create", "--name", "web app", "--scope", "evaluate", "--env", "production"], None);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let secret = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    let prefix = app::server::tokens::prefix_of(&secret).expect("a well-formed token").to_owned();

    let (stored_hash, scope): (String, String) =
        sqlx::query_as("select secret_hash, scope from api_tokens where prefix = $1")
            .bind(&prefix)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored_hash, app::server::tokens::hash_secret(&secret), "only the hash is stored");
    assert_eq!(scope, "evaluate");
    let leaked: i64 = sqlx::query_scalar("select count(*) from audit_events where after::text like '%' || $1 || '%'")
        .bind(&secret[13..])
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(leaked, 0, "the secret never reaches the audit trail");

    let listed = String::from_utf8_lossy(&rollgate(&pool, &["token", "list"], None).stdout).into_owned();
    assert!(
        listed.contains(&prefix)
            && listed.contains("production")
            && listed.contains("active")
            && !listed.contains(&secret),
        "{listed}"
    );

    assert!(rollgate(&pool, &["token", "revoke", &prefix], None).status.success());
    let again = rollgate(&pool, &["token", "revoke", &prefix], None);
    assert!(!again.status.success(), "revoking twice is refused");
    let listed = String::from_utf8_lossy(&rollgate(&pool, &["token", "list"], None).stdout).into_owned();
    assert!(listed.contains("revoked"), "{listed}");
}

#[sqlx::test(migrations = "../migrations")]
async fn token_create_says_what_is_missing(pool: PgPool) {
    seed_flag(&pool, "checkout").await;

    let no_env = rollgate(&pool, &["token", "create", "--name", "x", "--scope", "evaluate"], None);
    let no_user = rollgate(&pool, &["token", "create", "--name", "x", "--scope", "admin"], None);
    let unknown_env =
        rollgate(&pool, &["token", "create", "--name", "x", "--scope", "evaluate", "--env", "moon"], None);

    for (output, expected) in [(no_env, "--env"), (no_user, "--user"), (unknown_env, "no environment \"moon\"")] {
        assert!(!output.status.success());
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
    let tokens: i64 = sqlx::query_scalar("select count(*) from api_tokens").fetch_one(&pool).await.unwrap();
    assert_eq!(tokens, 0);
}
