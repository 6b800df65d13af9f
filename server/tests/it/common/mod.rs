//! Test helpers: fixtures written as plain SQL, a router over the test's database, and a tiny cookie jar.
#![allow(dead_code, clippy::unwrap_used)]

pub mod outage;
pub mod route_groups;
pub mod routes;
pub mod urls;

use app::server::password::hash_password;
use app::server::{AppState, SecurityConfig};
use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use sqlx::PgPool;
use std::sync::Arc;
use tower::ServiceExt;

pub const PASSWORD: &str = "a long test password";
pub const HOST: &str = "rollgate.test";
pub const ORIGIN: &str = "http://rollgate.test";

/// The state over the test's database, with default security settings and no snapshot loaded yet.
pub fn state(pool: &PgPool) -> AppState {
    state_with(pool, SecurityConfig::default())
}

pub fn state_with(pool: &PgPool, security: SecurityConfig) -> AppState {
    let leptos_options = leptos::config::LeptosOptions::builder().output_name("rollgate").build();
    AppState {
        leptos_options: std::sync::Arc::new(leptos_options),
        pool: pool.clone(),
        security: Arc::new(security),
        snapshot: Arc::default(),
        priority_urls: Arc::default(),
        guardrail_worker: Arc::default(),
    }
}

/// The router over the test's database, with default security settings.
pub fn router(pool: &PgPool) -> Router {
    router_with(pool, SecurityConfig::default())
}

pub fn router_with(pool: &PgPool, security: SecurityConfig) -> Router {
    server::app(state_with(pool, security), server::csrf::TrustedOrigins::default())
}

/// An editor acting as the system, for calls straight to the service layer.
pub fn editor() -> app::server::audit::Actor {
    use app::server::audit::{Actor, ActorKind};
    Actor { kind: ActorKind::System, user_id: None, label: "system:test".into(), role: app::domain::Role::Editor }
}

/// Turns `flag` on or off in `env` through the service layer, as an editor.
pub async fn toggle(pool: &PgPool, flag: &str, env: &str, enabled: bool) {
    let editor = editor();
    let flag = app::domain::FlagKey::parse(flag).unwrap();
    let env = app::domain::EnvKey::parse(env).unwrap();
    app::server::flags::set_enabled(pool, &editor, &flag, &env, enabled, None, None).await.unwrap();
}

/// Environments and one phase with one flag, off everywhere.
pub async fn seed_flag(pool: &PgPool, key: &str) {
    sqlx::query(
        "insert into environments (key, name, position) values
           ('development', 'Development', 0), ('staging', 'Staging', 1), ('production', 'Production', 2)
         on conflict do nothing",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("insert into phases (key, name, position) values ('phase-1', 'Phase 1', 1) on conflict do nothing")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("insert into flags (key, name, phase_id) select $1, $1, id from phases where key = 'phase-1'")
        .bind(key)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into flag_environments (flag_id, environment_id, enabled)
         select f.id, e.id, false from flags f, environments e where f.key = $1",
    )
    .bind(key)
    .execute(pool)
    .await
    .unwrap();
}

/// A user with `PASSWORD`.
pub async fn seed_user(pool: &PgPool, email: &str, role: &str) -> i64 {
    let hash = hash_password(PASSWORD).unwrap();
    sqlx::query_scalar("insert into users (email, name, role, password_hash) values ($1, $1, $2, $3) returning id")
        .bind(email)
        .bind(role)
        .bind(hash)
        .fetch_one(pool)
        .await
        .unwrap()
}

pub async fn flag_enabled(pool: &PgPool, key: &str, env: &str) -> bool {
    sqlx::query_scalar(
        "select fe.enabled from flag_environments fe join flags f on f.id = fe.flag_id
         join environments e on e.id = fe.environment_id where f.key = $1 and e.key = $2",
    )
    .bind(key)
    .bind(env)
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn audit_count(pool: &PgPool, action: &str) -> i64 {
    sqlx::query_scalar("select count(*) from audit_events where action = $1")
        .bind(action)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// How long a test waits for an answer, or for an answer's body to end, before it fails naming the request:
/// a route that never answers is a defect, and a test that hangs says nothing about which.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// What every PostgreSQL session of the test server is doing, for the message of a test that waited too
/// long: a query waiting for a lock, or no query at all, tells where to look.
async fn database_activity() -> String {
    use sqlx::Connection;
    let Ok(url) = std::env::var("DATABASE_URL") else { return "DATABASE_URL is not set".into() };
    let Ok(mut connection) = sqlx::PgConnection::connect(&url).await else { return "PostgreSQL did not answer".into() };
    let lines: Vec<String> = sqlx::query_scalar(
        "select format('  %s %s wait=%s/%s for %s s: %s', datname, state, wait_event_type, wait_event,
                       round(extract(epoch from now() - coalesce(query_start, backend_start))::numeric, 1),
                       regexp_replace(left(query, 160), '\\s+', ' ', 'g'))
         from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()
         order by datname, query_start",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap_or_default();
    format!("the database sessions then:\n{}", lines.join("\n"))
}

/// The request an answer was for, kept in the answer for the messages of [`body_text`].
#[derive(Clone)]
struct AnswerTo(String);

pub async fn send(router: &Router, request: Request<Body>) -> Response<Body> {
    let what = format!("{} {}", request.method(), request.uri());
    let Ok(response) = tokio::time::timeout(ANSWER_WITHIN, router.clone().oneshot(request)).await else {
        panic!("{what}: no answer within {} s; {}", ANSWER_WITHIN.as_secs(), database_activity().await)
    };
    let mut response = response.unwrap();
    response.extensions_mut().insert(AnswerTo(what));
    response
}

pub async fn body_text(response: Response<Body>) -> String {
    let what = response.extensions().get::<AnswerTo>().map_or_else(|| "an answer".to_owned(), |a| a.0.clone());
    let status = response.status();
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    // Read frame by frame, so that a body that stops part-way says where it stopped.
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(frame)) => {
                if let Ok(data) = frame.unwrap().into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            Ok(None) => break,
            Err(_) => {
                let text = String::from_utf8_lossy(&bytes);
                let tail: String = text.chars().rev().take(600).collect::<Vec<_>>().into_iter().rev().collect();
                panic!(
                    "{what}: the {status} answer's body did not end within {} s; after {} bytes it stopped at:\n{tail}",
                    ANSWER_WITHIN.as_secs(),
                    bytes.len()
                )
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A same-origin form POST, as a browser sends it.
pub fn form_post(path: &str, body: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header("sec-fetch-site", "same-origin")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

/// The `name=value` of the session cookie a response sets.
pub fn session_cookie(response: &Response<Body>) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(server::SESSION_COOKIE))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

pub async fn login(router: &Router, email: &str) -> String {
    let body = format!("email={}&password={}", email.replace('@', "%40"), PASSWORD.replace(' ', "+"));
    let response = send(router, form_post("/login", &body, None)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "login of {email} should redirect");
    session_cookie(&response).expect("login sets a session cookie")
}

/// The application served on 127.0.0.1 with its background tasks; all stop when this is dropped.
pub struct Served {
    pub url: String,
    pub state: AppState,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Serves the whole application over `state` on a free port, at once (no snapshot worker).
pub async fn serve_state(state: AppState) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = server::app(state.clone(), server::csrf::TrustedOrigins::default());
    let http = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.unwrap();
    });
    Served { url, state, tasks: vec![http] }
}

/// Serves over `pool` as `rollgate serve` does: with the snapshot worker (checking every second), once
/// the first snapshot is loaded or after 5 s without one.
pub async fn serve_with_snapshot(pool: &PgPool) -> Served {
    let mut served = serve_state(state(pool)).await;
    let snapshot = served.state.snapshot.clone();
    served.tasks.push(tokio::spawn(server::workers::snapshot::run(
        pool.clone(),
        snapshot.clone(),
        std::time::Duration::from_secs(1),
    )));
    for _ in 0..250 {
        if snapshot.version().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    served
}

/// An admin token acting as `email` (who must exist): the secret.
pub async fn admin_token_for(pool: &PgPool, email: &str) -> String {
    let new = app::server::tokens::NewToken {
        name: format!("script for {email}"),
        scope: app::server::tokens::TokenScope::Admin,
        environment: None,
        user: Some(app::domain::Email::parse(email).unwrap()),
        origins: vec![],
        rate_limit: None,
    };
    app::server::tokens::create(pool, &app::server::audit::Actor::system("test"), &new).await.unwrap().secret
}

/// An evaluate token for `env`: the secret.
pub async fn evaluate_token_for(pool: &PgPool, env: &str) -> String {
    let new = app::server::tokens::NewToken {
        name: format!("app in {env}"),
        scope: app::server::tokens::TokenScope::Evaluate,
        environment: Some(app::domain::EnvKey::parse(env).unwrap()),
        user: None,
        origins: vec![],
        rate_limit: None,
    };
    app::server::tokens::create(pool, &app::server::audit::Actor::system("test"), &new).await.unwrap().secret
}

/// A frontend token for `env`, usable from pages on `origins`, at `rate` requests per second: the secret.
pub async fn frontend_token_for(pool: &PgPool, env: &str, origins: &[&str], rate: u32) -> String {
    let new = app::server::tokens::NewToken {
        name: format!("web app in {env}"),
        scope: app::server::tokens::TokenScope::Frontend,
        environment: Some(app::domain::EnvKey::parse(env).unwrap()),
        user: None,
        origins: origins.iter().map(|o| app::domain::AllowedOrigin::parse(o).unwrap()).collect(),
        rate_limit: Some(app::domain::RateLimit::new(rate).unwrap()),
    };
    app::server::tokens::create(pool, &app::server::audit::Actor::system("test"), &new).await.unwrap().secret
}

/// Shows `flag` to frontends (or hides it) through the service layer, as an editor.
pub async fn show_to_frontends(pool: &PgPool, flag: &str, visible: bool) {
    let flag = app::domain::FlagKey::parse(flag).unwrap();
    app::server::frontend_visibility::set(pool, &editor(), &flag, visible, None).await.unwrap();
}
