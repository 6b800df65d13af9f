//! Sessions, login throttling, CSRF and authorization, through the real router and a real PostgreSQL.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn login_redirects_to_the_flag_manager_and_sets_a_strict_http_only_cookie(pool: PgPool) {
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);

    let body = format!("email=ed%40example.com&password={}", PASSWORD.replace(' ', "+"));
    let response = send(&router, form_post("/login", &body, None)).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/admin/feature-flags");
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain-HTTP default must not set Secure: {cookie}");
}

#[sqlx::test(migrations = "../migrations")]
async fn login_issues_a_new_session_id_instead_of_keeping_the_one_it_was_given(pool: PgPool) {
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let first = login(&router, "ed@example.com").await;

    // Log in again while presenting the first session's cookie.
    let body = format!("email=ed%40example.com&password={}", PASSWORD.replace(' ', "+"));
    let response = send(&router, form_post("/login", &body, Some(&first))).await;
    let second = session_cookie(&response).expect("a new cookie");

    assert_ne!(first, second);
    let rows: i64 = sqlx::query_scalar("select count(*) from tower_sessions.session").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 1, "the old session row is gone after the id is cycled");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer(pool: PgPool) {
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);

    let wrong_password = send(&router, form_post("/login", "email=ed%40example.com&password=nope", None)).await;
    let unknown_user = send(&router, form_post("/login", "email=nobody%40example.com&password=nope", None)).await;

    assert_eq!(wrong_password.status(), unknown_user.status());
    assert_eq!(wrong_password.headers()[header::LOCATION], unknown_user.headers()[header::LOCATION]);
    assert_eq!(wrong_password.headers()[header::LOCATION], "/login?error=1");
    assert!(session_cookie(&wrong_password).is_none() && session_cookie(&unknown_user).is_none());
}

#[sqlx::test(migrations = "../migrations")]
async fn the_eleventh_rapid_failed_login_is_throttled_with_retry_after(pool: PgPool) {
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);

    for attempt in 1..=10 {
        let response = send(&router, form_post("/login", "email=ed%40example.com&password=wrong", None)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "attempt {attempt} is an ordinary failure");
    }
    // The eleventh is refused even with the right password.
    let body = format!("email=ed%40example.com&password={}", PASSWORD.replace(' ', "+"));
    let response = send(&router, form_post("/login", &body, None)).await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "Retry-After {retry_after}");
    assert!(session_cookie(&response).is_none());
}

#[sqlx::test(migrations = "../migrations")]
async fn failures_are_also_counted_per_client_address_across_accounts(pool: PgPool) {
    let security = app::server::SecurityConfig { max_failures_per_ip: 3, ..Default::default() };
    let router = router_with(&pool, security);

    // Oneshot requests carry no peer address, so they all share the address "unknown".
    for n in 0..3 {
        let body = format!("email=user{n}%40example.com&password=wrong");
        assert_eq!(send(&router, form_post("/login", &body, None)).await.status(), StatusCode::SEE_OTHER);
    }
    let response = send(&router, form_post("/login", "email=user9%40example.com&password=wrong", None)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[sqlx::test(migrations = "../migrations")]
async fn logout_ends_the_session_on_the_server(pool: PgPool) {
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let cookie = login(&router, "ed@example.com").await;

    let response = send(&router, form_post("/logout", "", Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let rows: i64 = sqlx::query_scalar("select count(*) from tower_sessions.session").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 0, "the session row is deleted");
    // Replaying the old cookie gets the login page, not the admin page.
    let request = Request::get("/admin/feature-flags")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let response = send(&router, request).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers()[header::LOCATION].to_str().unwrap().starts_with("/login"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_session_past_its_absolute_timeout_is_ended_even_if_active(pool: PgPool) {
    seed_user(&pool, "ed@example.com", "editor").await;
    let security =
        app::server::SecurityConfig { absolute_timeout: std::time::Duration::from_secs(0), ..Default::default() };
    let router = router_with(&pool, security);
    let cookie = login(&router, "ed@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let request = Request::get("/admin/feature-flags")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let response = send(&router, request).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers()[header::LOCATION].to_str().unwrap().starts_with("/login"));
}

#[sqlx::test(migrations = "../migrations")]
async fn admin_pages_send_anonymous_visitors_to_login_and_back(pool: PgPool) {
    let router = router(&pool);
    let request = Request::get("/admin/audit?flag=x").header(header::HOST, HOST).body(Body::empty()).unwrap();

    let response = send(&router, request).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/login?next=%2Fadmin%2Faudit%3Fflag%3Dx");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_cross_site_post_is_refused_and_changes_nothing(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let cookie = login(&router, "ed@example.com").await;

    for (name, value) in [("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")] {
        let request = Request::post("/api/toggle_flag")
            .header(header::HOST, HOST)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &cookie)
            .header(name, value)
            .body(Body::from("flag=checkout&env=staging&enabled=true"))
            .unwrap();
        let response = send(&router, request).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name}: {value}");
    }
    // And a cross-site login attempt (login CSRF) too.
    let request = Request::post("/login")
        .header(header::HOST, HOST)
        .header("sec-fetch-site", "cross-site")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("email=ed%40example.com&password=x"))
        .unwrap();
    assert_eq!(send(&router, request).await.status(), StatusCode::FORBIDDEN);

    assert!(!flag_enabled(&pool, "checkout", "staging").await);
    assert_eq!(audit_count(&pool, "flag.toggled").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_viewers_toggle_is_refused_with_403_and_changes_nothing(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_user(&pool, "vi@example.com", "viewer").await;
    let router = router(&pool);
    let cookie = login(&router, "vi@example.com").await;

    let response =
        send(&router, form_post("/api/toggle_flag", "flag=checkout&env=staging&enabled=true", Some(&cookie))).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(body_text(response).await.contains("cannot change flags"));
    assert!(!flag_enabled(&pool, "checkout", "staging").await);
    assert_eq!(audit_count(&pool, "flag.toggled").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn server_functions_refuse_anonymous_callers(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    let router = router(&pool);

    let response = send(&router, form_post("/api/toggle_flag", "flag=checkout&env=staging&enabled=true", None)).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!flag_enabled(&pool, "checkout", "staging").await);
}

#[sqlx::test(migrations = "../migrations")]
async fn only_admins_may_list_users(pool: PgPool) {
    seed_user(&pool, "ed@example.com", "editor").await;
    seed_user(&pool, "ad@example.com", "admin").await;
    let router = router(&pool);

    let editor = login(&router, "ed@example.com").await;
    assert_eq!(send(&router, form_post("/api/list_users", "", Some(&editor))).await.status(), StatusCode::FORBIDDEN);

    let admin = login(&router, "ad@example.com").await;
    let response = send(&router, form_post("/api/list_users", "", Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_text(response).await.contains("ed@example.com"));
}
