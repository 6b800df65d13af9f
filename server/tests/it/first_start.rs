//! The first start on an empty database: development and production created once (replicas starting
//! together included), the one-time set-up link that creates the first admin, and `rollgate serve`
//! printing it.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::server::setup;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use sqlx::PgPool;
use std::io::BufRead;

async fn environment_keys(pool: &PgPool) -> Vec<(String, bool)> {
    sqlx::query_as("select key, archived_at is not null from environments order by position")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn replicas_starting_together_on_an_empty_database_create_development_and_production_once(pool: PgPool) {
    let (a, b, c) = tokio::join!(
        setup::ensure_environments(&pool),
        setup::ensure_environments(&pool),
        setup::ensure_environments(&pool)
    );

    let mut created: Vec<Vec<String>> = vec![a.unwrap(), b.unwrap(), c.unwrap()];
    created.sort();
    assert_eq!(created, vec![vec![], vec![], vec!["development".to_owned(), "production".to_owned()]]);
    assert_eq!(environment_keys(&pool).await, [("development".into(), false), ("production".into(), false)]);
    let actors: Vec<String> =
        sqlx::query_scalar("select actor_label from audit_events where action = 'environment.created'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(actors, ["system:setup", "system:setup"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_later_start_never_brings_back_an_environment_the_team_archived(pool: PgPool) {
    setup::ensure_environments(&pool).await.unwrap();
    let admin = app::server::audit::Actor::system("test");
    let staging = app::domain::EnvKey::parse("staging").unwrap();
    app::server::environments::create(&pool, &admin, &staging, &app::domain::EnvName::parse("Staging").unwrap())
        .await
        .unwrap();
    app::server::environments::archive(&pool, &admin, &app::domain::EnvKey::parse("development").unwrap(), None)
        .await
        .unwrap();

    let again = setup::ensure_environments(&pool).await.unwrap();

    assert!(again.is_empty());
    assert_eq!(
        environment_keys(&pool).await,
        [("development".into(), true), ("production".into(), false), ("staging".into(), false)],
        "development stays archived, in its place"
    );
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).header(header::HOST, HOST).body(Body::empty()).unwrap()
}

fn complete(token: &str, email: &str, password: &str, again: &str) -> Request<Body> {
    let body = format!(
        "token={token}&email={}&name=Ada+Admin&password={}&password_again={}",
        email.replace('@', "%40"),
        password.replace(' ', "+"),
        again.replace(' ', "+")
    );
    form_post("/api/complete_setup", &body, None)
}

#[sqlx::test(migrations = "../migrations")]
async fn the_set_up_link_creates_the_first_admin_once_and_is_404_otherwise(pool: PgPool) {
    setup::ensure_environments(&pool).await.unwrap();
    let token = setup::issue_setup_token(&pool).await.unwrap().expect("no user yet, so a link");
    let router = router(&pool);

    let form = send(&router, get(&format!("/setup?token={token}"))).await;
    let without = send(&router, get("/setup")).await;
    let wrong = send(&router, get("/setup?token=not-the-token")).await;
    assert_eq!(form.status(), StatusCode::OK);
    assert!(body_text(form).await.contains("Create the admin account"));
    assert_eq!(without.status(), StatusCode::NOT_FOUND);
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);

    let done = send(&router, complete(&token, "ada@example.com", PASSWORD, PASSWORD)).await;
    assert!(done.status().is_success() || done.status().is_redirection(), "{}", done.status());
    let cookie = session_cookie(&done).expect("signed in at the end");
    let home = send(
        &router,
        Request::get("/admin/feature-flags")
            .header(header::HOST, HOST)
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(home.status(), StatusCode::OK, "the new admin is signed in");

    let (role, hash): (String, String) =
        sqlx::query_as("select role, password_hash from users").fetch_one(&pool).await.unwrap();
    assert_eq!(role, "admin");
    assert!(hash.starts_with("$argon2id$"));
    assert_eq!(audit_count(&pool, "user.created").await, 1);

    // Once: the same link, or any other, now leads nowhere.
    let again = send(&router, complete(&token, "eve@example.com", PASSWORD, PASSWORD)).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(send(&router, get(&format!("/setup?token={token}"))).await.status(), StatusCode::NOT_FOUND);
    assert!(setup::issue_setup_token(&pool).await.unwrap().is_none(), "no new link once a user exists");
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&pool).await.unwrap();
    assert_eq!(users, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn set_up_refuses_bad_input_naming_the_field_and_keeps_the_link(pool: PgPool) {
    let token = setup::issue_setup_token(&pool).await.unwrap().unwrap();
    let router = router(&pool);

    for (request, field) in [
        (complete(&token, "not-an-email", PASSWORD, PASSWORD), "email"),
        (complete(&token, "ada@example.com", "short", "short"), "password"),
        (complete(&token, "ada@example.com", PASSWORD, "something else entirely"), "password_again"),
    ] {
        let response = send(&router, request).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = body_text(response).await;
        assert!(body.contains(&format!("\"field\":\"{field}\"")), "{field}: {body}");
    }

    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&pool).await.unwrap();
    assert_eq!(users, 0);
    assert!(setup::setup_token_valid(&pool, &token).await.unwrap(), "a refused attempt does not use the link up");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_expired_set_up_link_is_404_and_two_links_racing_make_one_admin(pool: PgPool) {
    let expired = setup::issue_setup_token(&pool).await.unwrap().unwrap();
    sqlx::query("update setup_tokens set expires_at = now() - interval '1 minute'").execute(&pool).await.unwrap();
    let first = setup::issue_setup_token(&pool).await.unwrap().unwrap();
    let second = setup::issue_setup_token(&pool).await.unwrap().unwrap();
    let router = router(&pool);

    assert_eq!(send(&router, get(&format!("/setup?token={expired}"))).await.status(), StatusCode::NOT_FOUND);
    let (a, b) = tokio::join!(
        send(&router, complete(&first, "ada@example.com", PASSWORD, PASSWORD)),
        send(&router, complete(&second, "bob@example.com", PASSWORD, PASSWORD))
    );

    let mut statuses = [
        a.status().is_success() || a.status().is_redirection(),
        b.status().is_success() || b.status().is_redirection(),
    ];
    statuses.sort();
    assert_eq!(statuses, [false, true], "exactly one of them wins");
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&pool).await.unwrap();
    assert_eq!(users, 1);
}

/// The URL of the database `#[sqlx::test]` made for this test.
fn url_of(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let db = pool.connect_options().get_database().expect("a database name").to_owned();
    format!("{}/{}", base.rsplit_once('/').expect("a URL with a path").0, db)
}

#[sqlx::test(migrations = "../migrations")]
async fn rollgate_serve_on_an_empty_database_prints_a_working_set_up_link(pool: PgPool) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", url_of(&pool))
        // The spellings people use for a switch are taken (this one has no effect with a DATABASE_URL).
        .env("ROLLGATE_NO_DEMO", "1")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.split_once("/setup?token=").map(|(_, token)| token.trim().to_owned()))
    });
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(reader.join().ok().flatten()));
    let token = receiver.recv_timeout(std::time::Duration::from_secs(60)).ok().flatten();
    child.kill().unwrap();
    child.wait().unwrap();

    let token = token.expect("the server printed a set-up link");
    assert!(setup::setup_token_valid(&pool, &token).await.unwrap(), "the printed link works");
    assert_eq!(environment_keys(&pool).await, [("development".into(), false), ("production".into(), false)]);
}
