//! Rolling priority-URL batches back (exact restore, refusal while a newer batch holds the URLs), the
//! account page, the organization override, badges in the evaluation API, and the CLI.
#![allow(clippy::unwrap_used)]

use crate::common::urls::*;
use crate::common::*;
use app::server::priority_urls::rollback::rollback;
use app::server::priority_urls::ImportLimits;
use app::server::ServiceError;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use sqlx::PgPool;

const ACCOUNT: &str = "seo-co";

#[sqlx::test(migrations = "../migrations")]
async fn rolling_back_restores_the_previous_values_exactly_and_an_older_batch_waits_for_the_newer(pool: PgPool) {
    seed_account(&pool, ACCOUNT).await;
    let limits = ImportLimits::default();
    let first = csv_of(&[
        ("https://shop.example/", "critical", "home"),
        ("https://shop.example/category/shoes", "high", "category"),
        ("https://shop.example/p/1", "low", "product"),
    ]);
    let second = csv_of(&[
        ("https://shop.example/", "critical", "home"),       // unchanged
        ("https://shop.example/p/1", "medium", "landing"),   // changed
        ("https://shop.example/blog/new", "low", "article"), // added
    ]);
    let b1 = import_text(&pool, ACCOUNT, "first.csv", &first, false, &limits).await.unwrap();
    let after_first = metadata(&pool, ACCOUNT).await;
    let b2 = import_text(&pool, ACCOUNT, "second.csv", &second, false, &limits).await.unwrap();
    assert_ne!(metadata(&pool, ACCOUNT).await, after_first);

    let refused = rollback(&pool, &editor(), b1.batch_id, None).await;
    match refused {
        Err(ServiceError::Invalid { message, .. }) => {
            assert!(message.contains(&format!("batch #{} (second.csv) changed 1 of them", b2.batch_id)), "{message}");
            assert!(message.contains(&format!("Roll back batch #{} first", b2.batch_id)), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let done = rollback(&pool, &editor(), b2.batch_id, Some("wrong file")).await.unwrap();

    assert_eq!((done.removed, done.restored), (1, 1));
    assert_eq!(metadata(&pool, ACCOUNT).await, after_first, "values and batch ids exactly as after the first import");
    let again = rollback(&pool, &editor(), b2.batch_id, None).await;
    assert!(
        matches!(again, Err(ServiceError::Invalid { ref message, .. }) if message.contains("already been rolled back"))
    );

    rollback(&pool, &editor(), b1.batch_id, None).await.unwrap();
    assert!(metadata(&pool, ACCOUNT).await.is_empty(), "the first batch's URLs are removed, not nulled");
    let statuses: Vec<String> = batch_statuses(&pool, ACCOUNT).await.into_iter().map(|s| s.0).collect();
    assert_eq!(statuses, ["rolled_back", "rolled_back"]);
    assert_eq!(audit_count(&pool, "priority_urls.rolled_back").await, 2);
    let reason: String = sqlx::query_scalar(
        "select reason from audit_events where action = 'priority_urls.rolled_back' order by id limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(reason, "wrong file");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_dry_run_cannot_be_rolled_back_and_a_viewer_cannot_roll_back(pool: PgPool) {
    seed_account(&pool, ACCOUNT).await;
    let limits = ImportLimits::default();
    let file = csv_of(&[("https://shop.example/", "critical", "home")]);
    let dry = import_text(&pool, ACCOUNT, "dry.csv", &file, true, &limits).await.unwrap();
    let real = import_text(&pool, ACCOUNT, "real.csv", &file, false, &limits).await.unwrap();
    let viewer = app::server::audit::Actor { role: app::domain::Role::Viewer, ..editor() };

    let dry_result = rollback(&pool, &editor(), dry.batch_id, None).await;
    let viewer_result = rollback(&pool, &viewer, real.batch_id, None).await;

    assert!(matches!(dry_result, Err(ServiceError::Invalid { ref message, .. }) if message.contains("dry run")));
    assert!(matches!(viewer_result, Err(ServiceError::Forbidden(_))));
    assert_eq!(metadata(&pool, ACCOUNT).await.len(), 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_rollback_server_function_answers_a_form_and_the_page_shows_the_restored_state(pool: PgPool) {
    seed_account(&pool, ACCOUNT).await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let cookie = login(&router, "ed@example.com").await;
    let limits = ImportLimits::default();
    import_text(&pool, ACCOUNT, "a.csv", &csv_of(&[("https://shop.example/p/1", "low", "product")]), false, &limits)
        .await
        .unwrap();
    let b2 = import_text(
        &pool,
        ACCOUNT,
        "b.csv",
        &csv_of(&[("https://shop.example/p/1", "critical", "product")]),
        false,
        &limits,
    )
    .await
    .unwrap();

    let page = |router: axum::Router, cookie: String| async move {
        let request = Request::get(format!("/admin/priority-urls/{ACCOUNT}"))
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap();
        body_text(send(&router, request).await).await
    };
    let before = page(router.clone(), cookie.clone()).await;
    assert_eq!((distribution_count(&before, "critical"), distribution_count(&before, "low")), (1, 0));

    let response =
        send(&router, form_post("/api/rollback_import", &format!("batch={}", b2.batch_id), Some(&cookie))).await;

    assert_eq!(response.status(), StatusCode::OK, "{}", body_text(response).await);
    let html = page(router.clone(), cookie.clone()).await;
    assert!(html.contains("https://shop.example/p/1"));
    assert_eq!(imported_tiers(&html), ["low"], "the restored tier is shown");
    assert_eq!(
        (distribution_count(&html, "critical"), distribution_count(&html, "low")),
        (0, 1),
        "the distribution is computed again after the rollback, not served from before"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_account_page_filters_by_tier_page_type_and_text_and_pages_by_key(pool: PgPool) {
    seed_account(&pool, ACCOUNT).await;
    seed_user(&pool, "vi@example.com", "viewer").await;
    let router = router(&pool);
    let cookie = login(&router, "vi@example.com").await;
    let mut rows = vec![("https://shop.example/".to_owned(), "critical", "home")];
    for i in 0..60 {
        rows.push((format!("https://shop.example/p/{i:03}"), if i % 2 == 0 { "high" } else { "low" }, "product"));
    }
    let refs: Vec<(&str, &str, &str)> = rows.iter().map(|(u, t, p)| (u.as_str(), *t, *p)).collect();
    import_text(&pool, ACCOUNT, "a.csv", &csv_of(&refs), false, &ImportLimits::default()).await.unwrap();
    let get = |path: String| {
        let router = router.clone();
        let cookie = cookie.clone();
        async move {
            let response =
                send(&router, Request::get(path).header(header::COOKIE, cookie).body(Body::empty()).unwrap()).await;
            assert_eq!(response.status(), StatusCode::OK);
            body_text(response).await
        }
    };

    let all = get(format!("/admin/priority-urls/{ACCOUNT}")).await;
    let high = get(format!("/admin/priority-urls/{ACCOUNT}?tier=high")).await;
    let home = get(format!("/admin/priority-urls/{ACCOUNT}?page_type=home")).await;
    let text = get(format!("/admin/priority-urls/{ACCOUNT}?q=p%2F05")).await;
    let next = get(format!("/admin/priority-urls/{ACCOUNT}?after=https%3A%2F%2Fshop.example%2Fp%2F048")).await;

    let rows_in = |html: &str| html.matches(r#"data-testid="url-row""#).count();
    assert_eq!(rows_in(&all), 50, "a page holds 50");
    assert!(all.contains("61 URLs match") && all.contains("rel=\"next\""));
    assert_eq!(rows_in(&high), 30);
    assert_eq!(imported_tiers(&high), vec!["high"; 30]);
    // The first page holds / and p/000..p/048; the odd ones of those are low.
    assert_eq!(imported_tiers(&all).iter().filter(|t| *t == "low").count(), 24);
    assert_eq!(rows_in(&home), 1);
    assert_eq!(rows_in(&text), 10, "p/050 to p/059");
    assert_eq!(rows_in(&next), 11, "p/049 to p/059 after p/048");
    assert!(all.contains("Turning the flag on changes the tier of"), "the comparison summary is shown");
}

#[sqlx::test(migrations = "../migrations")]
async fn turning_the_flag_on_for_an_account_is_an_audited_override_that_reaches_evaluation(pool: PgPool) {
    seed_flag(&pool, "priority_urls_enabled").await;
    toggle(&pool, "priority_urls_enabled", "production", true).await;
    sqlx::query("update flag_environments set default_value = 'false'").execute(&pool).await.unwrap();
    seed_account(&pool, ACCOUNT).await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let cookie = login(&router, "ed@example.com").await;

    let response = send(
        &router,
        form_post("/api/set_account_flag", &format!("account={ACCOUNT}&env=production&value=on"), Some(&cookie)),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK, "{}", body_text(response).await);
    let value: serde_json::Value = sqlx::query_scalar("select value from overrides where organization_key = $1")
        .bind(ACCOUNT)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(value, serde_json::json!(true));
    let (action, after): (String, serde_json::Value) =
        sqlx::query_as("select action, after from audit_events where entity_kind = 'organization_override'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(action, "override.set");
    assert_eq!(after, serde_json::json!({ "organization": ACCOUNT, "value": true, "version": 1 }));
    let snapshot = app::server::snapshot::load(&pool).await.unwrap();
    let entry = &snapshot.environments["production"].flags["priority_urls_enabled"];
    let ctx = app::domain::EvalContext { organization_id: Some(ACCOUNT.into()), ..Default::default() };
    assert_eq!(
        app::domain::evaluate(Some((&entry.flag, &entry.env)), &ctx, &app::domain::NoFlags).unwrap().value,
        &serde_json::json!(true)
    );

    let cleared = send(
        &router,
        form_post("/api/set_account_flag", &format!("account={ACCOUNT}&env=production&value=default"), Some(&cookie)),
    )
    .await;
    assert_eq!(cleared.status(), StatusCode::OK);
    assert_eq!(count(&pool, "select count(*) from overrides").await, 0);
    assert_eq!(audit_count(&pool, "override.cleared").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_evaluation_api_returns_imported_badges_when_the_flag_is_on_and_heuristic_ones_when_off(pool: PgPool) {
    seed_flag(&pool, "priority_urls_enabled").await;
    toggle(&pool, "priority_urls_enabled", "production", true).await;
    sqlx::query("update flag_environments set default_value = 'false'").execute(&pool).await.unwrap();
    seed_account(&pool, ACCOUNT).await;
    seed_account(&pool, "other-co").await;
    let file = csv_of(&[("https://shop.example/", "low", "other")]);
    import_text(&pool, ACCOUNT, "a.csv", &file, false, &ImportLimits::default()).await.unwrap();
    import_text(&pool, "other-co", "a.csv", &file, false, &ImportLimits::default()).await.unwrap();
    let flag = app::domain::FlagKey::parse("priority_urls_enabled").unwrap();
    let env = app::domain::EnvKey::parse("production").unwrap();
    app::server::overrides::set_organization_override(
        &pool,
        &editor(),
        &flag,
        &env,
        ACCOUNT,
        Some(serde_json::json!(true)),
        None,
    )
    .await
    .unwrap();
    let new_token = app::server::tokens::NewToken {
        name: "app".into(),
        scope: app::server::tokens::TokenScope::Evaluate,
        environment: Some(env.clone()),
        user: None,
        origins: vec![],
        rate_limit: None,
    };
    let admin = app::server::audit::Actor { role: app::domain::Role::Admin, ..editor() };
    let secret = app::server::tokens::create(&pool, &admin, &new_token).await.unwrap().secret;
    let state = state(&pool);
    state.snapshot.replace(app::server::snapshot::load(&pool).await.unwrap());
    let router = server::app(state, server::csrf::TrustedOrigins::default());
    let ask = |org: &str, extra: &str| {
        Request::get(format!("/api/v1/flags/priority_urls_enabled?organization_id={org}&include=priority_urls{extra}"))
            .header(header::AUTHORIZATION, format!("Bearer {secret}"))
            .body(Body::empty())
            .unwrap()
    };
    let json = |text: String| serde_json::from_str::<serde_json::Value>(&text).unwrap();

    let on = json(
        body_text(
            send(&router, ask(ACCOUNT, "&url=https%3A%2F%2FSHOP.example%2F&url=https%3A%2F%2Fshop.example%2Fp%2F9"))
                .await,
        )
        .await,
    );
    let off = json(body_text(send(&router, ask("other-co", "&url=https%3A%2F%2Fshop.example%2F")).await).await);
    let no_urls = send(&router, ask(ACCOUNT, "")).await;

    assert_eq!(on["value"], true);
    assert_eq!(on["priority_urls"]["source"], "imported");
    assert_eq!(
        on["priority_urls"]["badges"],
        serde_json::json!([
            { "url": "https://shop.example/", "update_priority": "low", "page_type": "other", "source": "imported" },
            { "url": "https://shop.example/p/9", "update_priority": "medium", "page_type": "product", "source": "heuristic" },
        ])
    );
    assert_eq!(off["value"], false);
    assert_eq!(off["priority_urls"]["badges"][0]["update_priority"], "critical", "the heuristic's, not the import's");
    assert_eq!(no_urls.status(), StatusCode::BAD_REQUEST);
}

/// The URL of the database `#[sqlx::test]` made for this test.
fn url_of(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let db = pool.connect_options().get_database().expect("a database name").to_owned();
    format!("{}/{}", base.rsplit_once('/').expect("a URL with a path").0, db)
}

fn rollgate(pool: &PgPool, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .env("DATABASE_URL", url_of(pool))
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .expect("run rollgate")
}

#[sqlx::test(migrations = "../migrations")]
async fn the_cli_imports_with_a_dry_run_first_lists_batches_prints_the_report_and_rolls_back(pool: PgPool) {
    seed_account(&pool, ACCOUNT).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("urls.csv");
    std::fs::write(&file, csv_of(&[("https://shop.example/", "critical", "home"), ("nope", "low", "other")])).unwrap();
    let path = file.to_str().unwrap();

    let dry = rollgate(&pool, &["import", "urls", path, "--account", ACCOUNT, "--dry-run"]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert!(metadata(&pool, ACCOUNT).await.is_empty(), "a dry run changes nothing");
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(
        out.contains("dry run (nothing changed) of 2 rows") && out.contains("inserted 1") && out.contains("rejected 1"),
        "{out}"
    );

    let real = rollgate(&pool, &["import", "urls", path, "--account", ACCOUNT]);
    assert!(real.status.success(), "{}", String::from_utf8_lossy(&real.stderr));
    assert_eq!(metadata(&pool, ACCOUNT).await.len(), 1);
    let batch: i64 = count(&pool, "select max(id) from url_import_batches").await;

    let listed =
        String::from_utf8_lossy(&rollgate(&pool, &["import", "batches", "--account", ACCOUNT]).stdout).into_owned();
    assert!(listed.contains("completed (dry)") && listed.contains("urls.csv"), "{listed}");
    let report = String::from_utf8_lossy(
        &rollgate(&pool, &["import", "report", &batch.to_string(), "--account", ACCOUNT]).stdout,
    )
    .into_owned();
    assert!(report.starts_with("line,kind,url,reason\n3,rejected,nope,"), "{report}");

    let rolled = rollgate(&pool, &["import", "rollback", &batch.to_string(), "--reason", "test"]);
    assert!(rolled.status.success(), "{}", String::from_utf8_lossy(&rolled.stderr));
    assert!(metadata(&pool, ACCOUNT).await.is_empty());
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "no,header\n").unwrap();
    let refused = rollgate(&pool, &["import", "urls", bad.to_str().unwrap(), "--account", ACCOUNT]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("the header row must name"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
