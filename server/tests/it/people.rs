//! People: admins add users with a one-time set-password link, change roles, disable (ending sessions and
//! admin tokens at once), force a reset; the last admin is protected; everyone changes their own password.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use sqlx::PgPool;

fn enc(text: &str) -> String {
    text.replace('%', "%25").replace('@', "%40").replace(' ', "+").replace('&', "%26")
}

/// The answer of a server function as JSON, with its status.
async fn call(router: &Router, path: &str, body: &str, cookie: &str) -> (StatusCode, serde_json::Value) {
    let response = send(router, form_post(path, body, Some(cookie))).await;
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// Whether a session cookie still opens an admin page (a dead one is sent to the login page).
async fn session_works(router: &Router, cookie: &str) -> bool {
    let response = send(
        router,
        Request::get("/admin/account")
            .header(header::HOST, HOST)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    response.status() == StatusCode::OK
}

async fn token_works(router: &Router, token: &str) -> bool {
    let response = send(
        router,
        Request::get("/api/admin/whoami")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    response.status() == StatusCode::OK
}

/// Signs in with a password; `None` when refused.
async fn sign_in(router: &Router, email: &str, password: &str) -> Option<String> {
    let body = format!("email={}&password={}", enc(email), enc(password));
    let response = send(router, form_post("/login", &body, None)).await;
    let to_login =
        response.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).is_some_and(|l| l.starts_with("/login"));
    if to_login {
        None
    } else {
        session_cookie(&response)
    }
}

fn token_of(link: &str) -> String {
    link.split_once("token=").unwrap().1.to_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn an_invited_user_sets_a_password_through_the_link_once_and_signs_in(pool: PgPool) {
    seed_user(&pool, "admin@example.com", "admin").await;
    let router = router(&pool);
    let admin = login(&router, "admin@example.com").await;

    let (status, link) = call(
        &router,
        "/api/invite_user",
        "email=Paula%40Example.com&name=Paula+Product&role=viewer&signoff[]=product_owner",
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert_eq!(link["purpose"], "invite");
    let url = link["link"].as_str().unwrap();
    assert!(url.starts_with("http://rollgate.test/set-password?token="), "{url}");
    let token = token_of(url);
    let (has_password, roles): (bool, Vec<String>) = sqlx::query_as(
        "select u.password_hash is not null, array(select role from user_signoff_roles where user_id = u.id)
         from users u where email = 'Paula@Example.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!has_password, "no password until they choose one");
    assert_eq!(roles, ["product_owner"]);
    assert!(sign_in(&router, "paula@example.com", PASSWORD).await.is_none());

    let page = send(
        &router,
        Request::get(format!("/set-password?token={token}")).header(header::HOST, HOST).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(body_text(page).await.contains("Paula@Example.com"));
    let set = send(
        &router,
        form_post("/api/set_password", &format!("token={token}&password={0}&password_again={0}", enc(PASSWORD)), None),
    )
    .await;
    assert!(set.status().is_success() || set.status().is_redirection(), "{}", set.status());
    let cookie = session_cookie(&set).expect("signed in at the end");
    assert!(session_works(&router, &cookie).await);
    assert!(sign_in(&router, "paula@example.com", PASSWORD).await.is_some());

    let again = send(
        &router,
        form_post(
            "/api/set_password",
            &format!("token={token}&password={0}&password_again={0}", enc("another long password")),
            None,
        ),
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "the link works once");
    let page = send(
        &router,
        Request::get(format!("/set-password?token={token}")).header(header::HOST, HOST).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(audit_count(&pool, "user.invited").await, 1);
    assert_eq!(audit_count(&pool, "user.password_set").await, 1);
    let leaked: i64 =
        sqlx::query_scalar("select count(*) from audit_events where coalesce(after::text, '') like '%' || $1 || '%'")
            .bind(&token)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(leaked, 0, "the link never reaches the audit trail");
}

#[sqlx::test(migrations = "../migrations")]
async fn adding_a_user_refuses_bad_input_naming_the_field(pool: PgPool) {
    seed_user(&pool, "admin@example.com", "admin").await;
    let router = router(&pool);
    let admin = login(&router, "admin@example.com").await;

    for (body, field) in [
        ("email=nobody&name=N&role=viewer", "email"),
        ("email=ADMIN%40example.com&name=Dup&role=viewer", "email"),
        ("email=n%40example.com&name=+&role=viewer", "name"),
        ("email=n%40example.com&name=N&role=owner", "role"),
        ("email=n%40example.com&name=N&role=viewer&signoff[]=ceo", "signoff"),
    ] {
        let (status, error) = call(&router, "/api/invite_user", body, &admin).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error["Invalid"]["field"], field, "{body}: {error}");
    }
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&pool).await.unwrap();
    assert_eq!(users, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn only_admins_manage_people(pool: PgPool) {
    seed_user(&pool, "ed@example.com", "editor").await;
    let viewer = seed_user(&pool, "vi@example.com", "viewer").await;
    let router = router(&pool);
    let editor = login(&router, "ed@example.com").await;

    let invited = call(&router, "/api/invite_user", "email=x%40example.com&name=X&role=admin", &editor).await;
    let promoted = call(&router, "/api/update_user_roles", &format!("id={viewer}&role=admin"), &editor).await;
    let disabled = call(&router, "/api/set_user_disabled", &format!("id={viewer}&disable=true"), &editor).await;

    for (status, body) in [invited, promoted, disabled] {
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let role: String =
        sqlx::query_scalar("select role from users where id = $1").bind(viewer).fetch_one(&pool).await.unwrap();
    assert_eq!(role, "viewer");
}

#[sqlx::test(migrations = "../migrations")]
async fn disabling_a_user_ends_their_sessions_and_admin_tokens_at_once(pool: PgPool) {
    seed_user(&pool, "admin@example.com", "admin").await;
    let ed = seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let admin = login(&router, "admin@example.com").await;
    let ed_session = login(&router, "ed@example.com").await;
    let ed_token = admin_token_for(&pool, "ed@example.com").await;
    assert!(session_works(&router, &ed_session).await && token_works(&router, &ed_token).await);

    let (status, body) =
        call(&router, "/api/set_user_disabled", &format!("id={ed}&disable=true&reason=left+the+team"), &admin).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!session_works(&router, &ed_session).await, "the session ended");
    assert!(!token_works(&router, &ed_token).await, "the admin token ended");
    assert!(sign_in(&router, "ed@example.com", PASSWORD).await.is_none());
    let (after, reason): (serde_json::Value, String) =
        sqlx::query_as("select after, reason from audit_events where action = 'user.disabled'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(after["admin_tokens_revoked"].as_array().unwrap().len(), 1);
    assert_eq!(reason, "left the team");

    // Enabled again: they sign in anew; what was ended stays ended.
    let (status, _) = call(&router, "/api/set_user_disabled", &format!("id={ed}&disable=false"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!session_works(&router, &ed_session).await);
    assert!(!token_works(&router, &ed_token).await);
    assert!(sign_in(&router, "ed@example.com", PASSWORD).await.is_some());
}

#[sqlx::test(migrations = "../migrations")]
async fn the_last_active_admin_can_be_neither_disabled_nor_demoted(pool: PgPool) {
    let ada = seed_user(&pool, "ada@example.com", "admin").await;
    let bob = seed_user(&pool, "bob@example.com", "admin").await;
    let router = router(&pool);
    let ada_session = login(&router, "ada@example.com").await;

    let (status, _) = call(&router, "/api/update_user_roles", &format!("id={bob}&role=editor"), &ada_session).await;
    assert_eq!(status, StatusCode::OK, "two admins: one may be demoted");
    let (status, demote_self) =
        call(&router, "/api/update_user_roles", &format!("id={ada}&role=editor"), &ada_session).await;
    assert_eq!(status, StatusCode::CONFLICT, "{demote_self}");
    assert!(demote_self.to_string().contains("last active admin"), "{demote_self}");
    let (status, disable_self) =
        call(&router, "/api/set_user_disabled", &format!("id={ada}&disable=true"), &ada_session).await;
    assert_eq!(status, StatusCode::CONFLICT, "{disable_self}");

    // Two admins disabling each other at once: one of them stays.
    sqlx::query("update users set role = 'admin' where id = $1").bind(bob).execute(&pool).await.unwrap();
    let as_admin = |id: i64, email: &str| app::server::audit::Actor {
        kind: app::server::audit::ActorKind::User,
        user_id: Some(id),
        label: email.to_owned(),
        role: app::domain::Role::Admin,
    };
    let (as_ada, as_bob) = (as_admin(ada, "ada@example.com"), as_admin(bob, "bob@example.com"));
    let (a, b) = tokio::join!(
        app::server::users::disable(&pool, &as_ada, bob, None),
        app::server::users::disable(&pool, &as_bob, ada, None)
    );
    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    let active: i64 = sqlx::query_scalar("select count(*) from users where role = 'admin' and not disabled")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(active, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_forced_reset_stops_the_old_password_and_the_sessions_until_the_link_is_used(pool: PgPool) {
    seed_user(&pool, "admin@example.com", "admin").await;
    let ed = seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let admin = login(&router, "admin@example.com").await;
    let ed_session = login(&router, "ed@example.com").await;

    let (status, link) = call(&router, "/api/reset_user_password", &format!("id={ed}"), &admin).await;

    assert_eq!(status, StatusCode::OK, "{link}");
    assert_eq!(link["purpose"], "reset");
    assert!(!session_works(&router, &ed_session).await);
    assert!(sign_in(&router, "ed@example.com", PASSWORD).await.is_none(), "the old password stops working");
    let new_password = "a brand new password";
    let token = token_of(link["link"].as_str().unwrap());
    let set = send(
        &router,
        form_post(
            "/api/set_password",
            &format!("token={token}&password={0}&password_again={0}", enc(new_password)),
            None,
        ),
    )
    .await;
    assert!(set.status().is_success() || set.status().is_redirection());
    assert!(sign_in(&router, "ed@example.com", new_password).await.is_some());
    assert_eq!(audit_count(&pool, "user.password_reset").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn everyone_changes_their_own_password_and_their_other_sessions_end(pool: PgPool) {
    seed_user(&pool, "vi@example.com", "viewer").await;
    let router = router(&pool);
    let here = login(&router, "vi@example.com").await;
    let elsewhere = login(&router, "vi@example.com").await;
    let new_password = "correct horse battery staple";

    let wrong = call(
        &router,
        "/api/change_password",
        &format!("current_password=nope&new_password={0}&new_password_again={0}", enc(new_password)),
        &here,
    )
    .await;
    let short = call(
        &router,
        "/api/change_password",
        &format!("current_password={}&new_password=short&new_password_again=short", enc(PASSWORD)),
        &here,
    )
    .await;
    for ((status, body), field) in [(wrong, "current_password"), (short, "new_password")] {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["Invalid"]["field"], field, "{body}");
    }
    assert!(session_works(&router, &elsewhere).await, "a refused change ends nothing");

    let (status, body) = call(
        &router,
        "/api/change_password",
        &format!("current_password={}&new_password={1}&new_password_again={1}", enc(PASSWORD), enc(new_password)),
        &here,
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(session_works(&router, &here).await, "the session that changed it goes on");
    assert!(!session_works(&router, &elsewhere).await, "every other session ended");
    assert!(sign_in(&router, "vi@example.com", PASSWORD).await.is_none());
    assert!(sign_in(&router, "vi@example.com", new_password).await.is_some());
    let hash: String = sqlx::query_scalar("select password_hash from users").fetch_one(&pool).await.unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert_eq!(audit_count(&pool, "user.password_changed").await, 1);
}

fn api(method: &str, path: &str, token: &str, body: serde_json::Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn api_json(router: &Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = send(router, request).await;
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

#[sqlx::test(migrations = "../migrations")]
async fn scripts_manage_people_through_the_admin_api_with_the_same_rules(pool: PgPool) {
    seed_user(&pool, "admin@example.com", "admin").await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let admin = admin_token_for(&pool, "admin@example.com").await;
    let editor = admin_token_for(&pool, "ed@example.com").await;
    let router = router(&pool);

    let (status, added) = api_json(
        &router,
        api(
            "POST",
            "/api/admin/users",
            &admin,
            serde_json::json!({"email": "qa@example.com", "name": "Quinn", "role": "viewer", "signoff_roles": ["qa"]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["user"]["status"], "pending");
    let link = added["set_password_link"].as_str().unwrap();
    assert!(link.starts_with("http://rollgate.test/set-password?token="), "{link}");
    let id = added["user"]["id"].as_i64().unwrap();

    let (status, refused) = api_json(&router, api("GET", "/api/admin/users", &editor, serde_json::Value::Null)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, bad) = api_json(
        &router,
        api(
            "POST",
            "/api/admin/users",
            &admin,
            serde_json::json!({"email": "qa@example.com", "name": "Again", "role": "viewer"}),
        ),
    )
    .await;
    assert_eq!((status, bad["details"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("email")), "{bad}");
    let (status, bad) =
        api_json(&router, api("PUT", "/api/admin/users/abc", &admin, serde_json::json!({"role": "editor"}))).await;
    assert_eq!((status, bad["details"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("id")), "{bad}");

    let (status, promoted) = api_json(
        &router,
        api(
            "PUT",
            &format!("/api/admin/users/{id}"),
            &admin,
            serde_json::json!({"role": "editor", "signoff_roles": ["qa", "dev_lead"]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{promoted}");
    assert_eq!(promoted["role"], "editor");
    assert_eq!(promoted["signoff_roles"], serde_json::json!(["dev_lead", "qa"]));

    let ed = sqlx::query_scalar::<_, i64>("select id from users where email = 'ed@example.com'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (status, disabled) = api_json(
        &router,
        api("POST", &format!("/api/admin/users/{ed}/disable"), &admin, serde_json::json!({"reason": "left"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{disabled}");
    assert_eq!(disabled["user"]["status"], "disabled");
    assert_eq!(disabled["admin_tokens_revoked"].as_array().unwrap().len(), 1);
    assert!(!token_works(&router, &editor).await);

    let me = sqlx::query_scalar::<_, i64>("select id from users where email = 'admin@example.com'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (status, own) =
        api_json(&router, api("POST", &format!("/api/admin/users/{me}/disable"), &admin, serde_json::json!({}))).await;
    assert_eq!((status, own["error"].as_str()), (StatusCode::CONFLICT, Some("SELF")), "{own}");
    let (status, reset) = api_json(
        &router,
        api("POST", &format!("/api/admin/users/{id}/reset-password"), &admin, serde_json::Value::Null),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(reset["purpose"], "invite", "no password was ever set: a fresh invitation");
}
