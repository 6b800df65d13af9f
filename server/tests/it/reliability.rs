//! The fast part of the reliability suite (`scripts/reliability` runs the rest against a release build):
//! the permission matrix over every route × role × kind of credential, the cross-site check on every
//! state-changing route, a hundred parallel edits of one flag, and advances racing rollbacks.
#![allow(clippy::unwrap_used)]

use crate::common::routes::*;
use crate::common::*;
use app::domain::Role;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use sqlx::PgPool;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Identity {
    Anonymous,
    Evaluate,
    Token(Role),
    Session(Role),
}

fn valid_request(route: &Route, identity: Identity, credentials: &Credentials, n: usize) -> Request<Body> {
    let path = route.path.replace("{n}", &n.to_string());
    let (content_type, body) = match &route.input {
        Input::Json(value) => (Some("application/json".to_owned()), value.to_string().replace("{n}", &n.to_string())),
        Input::Form(pairs) => (
            Some("application/x-www-form-urlencoded".to_owned()),
            pairs
                .iter()
                .map(|(k, v)| {
                    let enc = |t: &str| {
                        percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC).to_string()
                    };
                    format!("{}={}", enc(k), enc(&v.replace("{n}", &n.to_string())))
                })
                .collect::<Vec<_>>()
                .join("&"),
        ),
        Input::Yaml(text) => (Some("application/yaml".to_owned()), text.clone()),
        Input::Csv(text) => (Some("text/csv".to_owned()), text.clone()),
        Input::Multipart { file_name, content } => {
            let (ct, body) = crate::common::urls::multipart(file_name, content.as_bytes(), false);
            (Some(ct), String::from_utf8(body).unwrap())
        }
        Input::None => (None, String::new()),
        Input::Query(pairs) => {
            let query = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
            return with_identity(
                Request::builder().method(route.method.clone()).uri(format!("{path}?{query}")),
                identity,
                credentials,
            )
            .body(Body::empty())
            .unwrap();
        }
    };
    let mut builder = with_identity(Request::builder().method(route.method.clone()).uri(path), identity, credentials);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Body::from(body)).unwrap()
}

fn with_identity(
    builder: axum::http::request::Builder,
    identity: Identity,
    credentials: &Credentials,
) -> axum::http::request::Builder {
    let builder = builder
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header("sec-fetch-site", "same-origin")
        .header(header::ACCEPT, "application/json");
    match identity {
        Identity::Anonymous => builder,
        Identity::Evaluate => builder.header(header::AUTHORIZATION, format!("Bearer {}", credentials.evaluate)),
        Identity::Token(role) => builder.header(header::AUTHORIZATION, format!("Bearer {}", credentials.token(role))),
        Identity::Session(role) => builder.header(header::COOKIE, credentials.cookie(role)),
    }
}

struct Credentials {
    evaluate: String,
    tokens: Vec<(Role, String)>,
    cookies: Vec<(Role, String)>,
}

impl Credentials {
    fn token(&self, role: Role) -> &str {
        &self.tokens.iter().find(|(r, _)| *r == role).unwrap().1
    }
    fn cookie(&self, role: Role) -> &str {
        &self.cookies.iter().find(|(r, _)| *r == role).unwrap().1
    }
}

/// Whether `identity` may call `route`.
fn allowed(route: &Route, identity: Identity) -> bool {
    match (route.via, identity) {
        (Via::Public, _) => true,
        (Via::Evaluate, Identity::Evaluate) => true,
        (Via::Evaluate, _) => false,
        (Via::AdminApi, Identity::Token(role) | Identity::Session(role)) => role >= route.role,
        (Via::AdminApi, _) => false,
        (Via::Browser, Identity::Session(role)) => role >= route.role,
        (Via::Browser, _) => false,
    }
}

/// A refusal: 401, 403, or a page sending the visitor to sign in (`/login?next=`; signing in and out
/// also answer with the login page, which is no refusal).
fn refused(status: StatusCode, location: Option<&str>) -> bool {
    matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        || (status.is_redirection() && location.is_some_and(|l| l.starts_with("/login?next=")))
}

#[sqlx::test(migrations = "../migrations")]
async fn every_route_answers_every_role_and_kind_of_credential_as_its_permissions_say(pool: PgPool) {
    let fixture = Fixture::seed(&pool).await;
    let state = state(&pool);
    server::workers::snapshot::refresh(&pool, &state.snapshot).await.unwrap();
    let router = server::app(state, server::csrf::TrustedOrigins::default());
    seed_user(&pool, "viewer@rollgate.test", "viewer").await;
    seed_user(&pool, "editor@rollgate.test", "editor").await;
    let emails = [(Role::Viewer, "viewer@rollgate.test"), (Role::Editor, "editor@rollgate.test"), (Role::Admin, ADMIN)];
    let mut credentials =
        Credentials { evaluate: fixture.evaluate_token.clone(), tokens: Vec::new(), cookies: Vec::new() };
    for (role, email) in emails {
        credentials.tokens.push((role, admin_token_for(&pool, email).await));
    }
    // From the least to the most powerful, so that a refusal is checked before someone allowed changes
    // the state it would have changed.
    let identities = [
        Identity::Anonymous,
        Identity::Evaluate,
        Identity::Token(Role::Viewer),
        Identity::Session(Role::Viewer),
        Identity::Token(Role::Editor),
        Identity::Session(Role::Editor),
        Identity::Token(Role::Admin),
        Identity::Session(Role::Admin),
    ];

    let mut wrong = Vec::new();
    let mut checked = 0;
    let mut n = 0;
    for identity in identities {
        if let Identity::Session(role) = identity {
            // A fresh session each time: /logout, the last route, ends it.
            let email = emails.iter().find(|(r, _)| *r == role).unwrap().1;
            let cookie = login(&router, email).await;
            credentials.cookies.retain(|(r, _)| *r != role);
            credentials.cookies.push((role, cookie));
        }
        for route in fixture.routes() {
            n += 1;
            let before = server_state(&pool).await;
            let response = send(&router, valid_request(&route, identity, &credentials, n)).await;
            checked += 1;
            let status = response.status();
            let location = response.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).map(str::to_owned);
            let was_refused = refused(status, location.as_deref());
            let expected = allowed(&route, identity);
            let label = format!("{identity:?} {} {}", route.method, route.pattern);
            if expected && was_refused {
                wrong.push(format!("{label}: refused with {status} {}", body_text(response).await));
            } else if !expected && !was_refused {
                wrong.push(format!("{label}: answered {status}, should be refused"));
            } else if !expected && server_state(&pool).await != before {
                wrong.push(format!("{label}: refused ({status}) yet the data changed"));
            }
        }
    }
    println!("figure: permission matrix: {checked} answers (routes x roles x credentials), {} wrong", wrong.len());
    assert!(checked > 700, "{checked}");
    assert!(wrong.is_empty(), "{} of {checked} answers are wrong:\n{}", wrong.len(), wrong.join("\n"));
}

async fn server_state(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as("select (select count(*) from audit_events), (select version from config_state)")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn every_state_changing_route_refuses_a_cross_site_request_and_changes_nothing(pool: PgPool) {
    let fixture = Fixture::seed(&pool).await;
    let router = router(&pool);
    let cookie = login(&router, ADMIN).await;
    let credentials = Credentials {
        evaluate: fixture.evaluate_token.clone(),
        tokens: vec![(Role::Admin, fixture.admin_token.clone())],
        cookies: vec![(Role::Admin, cookie)],
    };
    let mut changing = 0;
    for route in fixture.routes().into_iter().filter(|r| r.method != Method::GET) {
        if server::api::cors::is_evaluation_path(&route.path) {
            // Evaluation is read-only and token-only (no cookie is ever read there), and pages on other
            // origins call it on purpose with a frontend token: the check lets it through, by design.
            let mut request = valid_request(&route, Identity::Evaluate, &credentials, 0);
            request.headers_mut().insert("sec-fetch-site", "cross-site".parse().unwrap());
            request.headers_mut().insert(header::ORIGIN, "https://evil.example".parse().unwrap());
            let answer = body_text(send(&router, request).await).await;
            assert!(!answer.contains("cross-site request refused"), "{} {}: {answer}", route.method, route.pattern);
            continue;
        }
        changing += 1;
        let identity = match route.via {
            Via::Evaluate => Identity::Evaluate,
            Via::AdminApi => Identity::Token(Role::Admin),
            Via::Public | Via::Browser => Identity::Session(Role::Admin),
        };
        for (site, origin) in [("cross-site", "https://evil.example"), ("same-site", "https://sub.rollgate.test")] {
            let mut request = valid_request(&route, identity, &credentials, changing);
            request.headers_mut().insert("sec-fetch-site", site.parse().unwrap());
            request.headers_mut().insert(header::ORIGIN, origin.parse().unwrap());
            let before = server_state(&pool).await;

            let response = send(&router, request).await;

            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{} {} ({site})", route.method, route.pattern);
            assert!(body_text(response).await.contains("cross-site request refused"));
            assert_eq!(server_state(&pool).await, before, "{} {}", route.method, route.pattern);
        }
        // No Sec-Fetch-Site, but an Origin of another host: refused too.
        let mut request = valid_request(&route, identity, &credentials, changing);
        request.headers_mut().remove("sec-fetch-site");
        request.headers_mut().insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert_eq!(send(&router, request).await.status(), StatusCode::FORBIDDEN, "{} {}", route.method, route.pattern);
    }
    println!("figure: cross-site: {changing} state-changing routes refused from another site, three ways each");
    assert!(changing > 40, "{changing} state-changing routes");
}

#[sqlx::test(migrations = "../migrations")]
async fn of_a_hundred_parallel_edits_of_one_version_exactly_one_wins(pool: PgPool) {
    let fixture = Fixture::seed(&pool).await;
    let router = router(&pool);
    let edits = (0..100).map(|i| {
        let request = Request::put(format!("/api/admin/feature-flags/{FLAG}/environments/staging"))
            .header(header::AUTHORIZATION, format!("Bearer {}", fixture.admin_token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!(r#"{{"enabled": true, "expected_version": 1, "reason": "edit {i}"}}"#)))
            .unwrap();
        let router = router.clone();
        tokio::spawn(async move { send(&router, request).await.status() })
    });

    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(edits).await.into_iter().map(|r| r.unwrap()).collect();

    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let conflicts = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((won, conflicts), (1, 99), "{statuses:?}");
    assert_eq!(audit_count(&pool, "flag.toggled").await, 1);
    let version: i32 = sqlx::query_scalar(
        "select fe.version from flag_environments fe join flags f on f.id = fe.flag_id
         join environments e on e.id = fe.environment_id where f.key = $1 and e.key = 'staging'",
    )
    .bind(FLAG)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(version, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn advances_racing_rollbacks_leave_one_order_and_no_gap_in_the_history(pool: PgPool) {
    use app::domain::rollout::Action;
    use app::server::rollouts::{self, TransitionRequest};
    let fixture = Fixture::seed(&pool).await;
    let admin = app::server::audit::Actor { role: Role::Admin, ..editor() };
    let start = TransitionRequest {
        action: Action::Start,
        expected_version: None,
        reason: Some("go".into()),
        override_gates: true,
        details: None,
    };
    rollouts::transition(&pool, &admin, fixture.rollout, &start).await.unwrap();
    let router = router(&pool);

    // Twenty advances and twenty rollbacks, all naming the version they saw, in three rounds.
    for _ in 0..3 {
        let version: i32 = sqlx::query_scalar("select version from rollouts where id = $1")
            .bind(fixture.rollout)
            .fetch_one(&pool)
            .await
            .unwrap();
        let presses = (0..40).map(|i| {
            let verb = if i % 2 == 0 { "advance" } else { "rollback" };
            let to_stage = if verb == "rollback" { r#", "to_stage": 0"# } else { "" };
            let request = Request::post(format!("/api/admin/rollout/{verb}"))
                .header(header::AUTHORIZATION, format!("Bearer {}", fixture.admin_token))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(format!(
                    r#"{{"flag": "{FLAG}", "environment": "production", "expected_version": {version}, "override_gates": true, "reason": "race"{to_stage}}}"#
                )))
                .unwrap();
            let router = router.clone();
            tokio::spawn(async move { send(&router, request).await.status() })
        });
        let statuses: Vec<StatusCode> =
            futures_util::future::join_all(presses).await.into_iter().map(|r| r.unwrap()).collect();
        let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(won, 1, "one press per version wins: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT), "{statuses:?}");
    }

    // One order: the timeline's transitions and the audit trail's tell the same story, version by version.
    let timeline: Vec<(String, Option<i32>)> = sqlx::query_as(
        "select kind, to_stage from rollout_events where rollout_id = $1 and kind in ('started', 'advanced', 'rolled_back') order by id",
    )
    .bind(fixture.rollout)
    .fetch_all(&pool)
    .await
    .unwrap();
    let audited: Vec<String> = sqlx::query_scalar(
        "select action from audit_events where entity_kind = 'rollout' and action in
           ('rollout.started', 'rollout.advanced', 'rollout.rolled_back') order by id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(timeline.len(), 4, "a start and three transitions: {timeline:?}");
    let kinds: Vec<String> = timeline.iter().map(|(k, _)| format!("rollout.{k}")).collect();
    assert_eq!(kinds, audited);
    let version: i32 = sqlx::query_scalar("select version from rollouts where id = $1")
        .bind(fixture.rollout)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, 5, "created at 1, then one version per transition");
}

#[sqlx::test(migrations = "../migrations")]
async fn every_answer_names_its_request_and_keeps_the_id_a_proxy_gave(pool: PgPool) {
    let router = server::app(state(&pool), server::csrf::TrustedOrigins::default());
    let get = |path: &str, id: Option<&'static str>| {
        let mut request = Request::get(path).header(header::HOST, HOST);
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.body(Body::empty()).unwrap()
    };
    let id_of = |response: &axum::response::Response| {
        response.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned())
    };

    // A console page, an evaluation route and a path nothing serves each get their own id.
    let console = send(&router, get("/login", None)).await;
    let evaluation = send(&router, get("/ofrep/v1/configuration", None)).await;
    let missing = send(&router, get("/nothing-here", None)).await;
    let ids: Vec<String> = [&console, &evaluation, &missing].into_iter().map(|r| id_of(r).unwrap()).collect();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "{ids:?}");

    let proxied = send(&router, get("/api/v1/evaluate", Some("edge-7f3a"))).await;
    assert_eq!(id_of(&proxied).as_deref(), Some("edge-7f3a"));
}
