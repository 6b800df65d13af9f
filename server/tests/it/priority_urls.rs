//! Priority-URL imports against a real PostgreSQL: uploads through the router, every bad-file case, the
//! cap and its overflow report, dry runs, and failed imports that must leave everything as it was.
#![allow(clippy::unwrap_used)]

use crate::common::urls::*;
use crate::common::*;
use app::server::priority_urls::{FileError, ImportError, ImportLimits, PriorityUrls};
use app::server::SecurityConfig;
use axum::http::{header, Request, StatusCode};
use sqlx::PgPool;
use std::sync::Arc;

const ACCOUNT: &str = "seo-co";

async fn signed_in_editor(pool: &PgPool) -> (axum::Router, String) {
    seed_account(pool, ACCOUNT).await;
    seed_user(pool, "ed@example.com", "editor").await;
    let router = router(pool);
    let cookie = login(&router, "ed@example.com").await;
    (router, cookie)
}

fn three_rows() -> String {
    csv_of(&[
        ("https://shop.example/", "critical", "home"),
        ("https://shop.example/category/shoes", "high", "category"),
        ("https://shop.example/p/123", "low", "product"),
    ])
}

#[sqlx::test(migrations = "../migrations")]
async fn an_editor_uploads_a_csv_and_gets_the_counts_a_batch_record_and_an_audit_event(pool: PgPool) {
    let (router, cookie) = signed_in_editor(&pool).await;

    let (status, body) = upload(&router, &cookie, ACCOUNT, "urls.csv", three_rows().as_bytes(), false).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["rows_read"].as_i64(), body["inserted"].as_i64()), (Some(3), Some(3)));
    let batch = body["batch_id"].as_i64().unwrap();
    assert_eq!(body["redirect"], format!("/admin/priority-urls/{ACCOUNT}?batch={batch}#import"));
    let stored = metadata(&pool, ACCOUNT).await;
    assert_eq!(stored.len(), 3);
    assert!(stored.contains(&("https://shop.example/p/123".into(), "low".into(), "product".into(), batch)));
    let (actor, file, status, duration): (String, String, String, Option<i32>) =
        sqlx::query_as("select actor_label, file_name, status, duration_ms from url_import_batches where id = $1")
            .bind(batch)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((actor.as_str(), file.as_str(), status.as_str()), ("ed@example.com", "urls.csv", "completed"));
    assert!(duration.is_some());
    assert_eq!(audit_count(&pool, "priority_urls.imported").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_second_import_updates_changed_rows_leaves_equal_ones_and_json_lines_work_too(pool: PgPool) {
    seed_account(&pool, ACCOUNT).await;
    let limits = ImportLimits::default();
    import_text(&pool, ACCOUNT, "a.csv", &three_rows(), false, &limits).await.unwrap();
    let jsonl = concat!(
        "{\"url\":\"https://SHOP.example/\",\"update_priority\":\"critical\",\"page_type\":\"home\"}\n",
        "{\"url\":\"https://shop.example/p/123\",\"update_priority\":\"high\",\"page_type\":\"product\"}\n",
        "{\"url\":\"https://shop.example/blog/new\",\"update_priority\":\"medium\",\"page_type\":\"article\"}\n",
    );

    let second = import_text(&pool, ACCOUNT, "b.jsonl", jsonl, false, &limits).await.unwrap();

    assert_eq!(second.format, "jsonl");
    assert_eq!((second.inserted, second.updated, second.unchanged), (1, 1, 1));
    let stored = metadata(&pool, ACCOUNT).await;
    assert_eq!(stored.len(), 4);
    let product = stored.iter().find(|r| r.0 == "https://shop.example/p/123").unwrap();
    assert_eq!((product.1.as_str(), product.3), ("high", second.batch_id));
    let home = stored.iter().find(|r| r.0 == "https://shop.example/").unwrap();
    assert_ne!(home.3, second.batch_id, "an unchanged row keeps the batch that wrote it");
}

#[sqlx::test(migrations = "../migrations")]
async fn every_bad_file_gets_a_clear_422_changes_nothing_and_is_recorded_as_failed(pool: PgPool) {
    let (router, cookie) = signed_in_editor(&pool).await;
    upload(&router, &cookie, ACCOUNT, "first.csv", three_rows().as_bytes(), false).await;
    let before = metadata(&pool, ACCOUNT).await;
    // Operations subscribe to failed imports.
    sqlx::query(
        "insert into webhooks (name, url, kind, secret, events)
         values ('ops', 'http://127.0.0.1:9/hook', 'generic', 'a-secret-of-16-chars', array['import.failed'])",
    )
    .execute(&pool)
    .await
    .unwrap();
    let header = "url,update_priority,page_type\n";
    let mut latin1 = format!("{header}https://shop.example/caf").into_bytes();
    latin1.push(0xE9); // "é" in Latin-1
    latin1.extend_from_slice(b",low,other\n");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("latin1.csv", latin1, "not UTF-8: line 2"),
        ("noheader.csv", b"https://shop.example/,low,home\n".to_vec(), "missing"),
        ("quotes.csv", format!("{header}\"https://shop.example/x,low,home\n").into_bytes(), "broken quoting on line 2"),
        ("stray.csv", format!("{header}https://shop.example/x\"y,low,home\n").into_bytes(), "broken quoting on line 2"),
        ("empty.csv", Vec::new(), "the file is empty"),
        ("blank.csv", b"\xEF\xBB\xBF\n\n".to_vec(), "the file is empty"),
        ("header-only.csv", header.as_bytes().to_vec(), "no data rows"),
    ];

    for (name, content, expected) in cases {
        let (status, body) = upload(&router, &cookie, ACCOUNT, name, &content, false).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{name}: expected {expected:?} in {message:?}");
    }

    assert_eq!(metadata(&pool, ACCOUNT).await, before, "no bad file changed the metadata");
    let statuses = batch_statuses(&pool, ACCOUNT).await;
    assert_eq!(statuses.len(), 8);
    assert!(statuses[1..].iter().all(|(s, e)| s == "failed" && e.is_some()), "{statuses:?}");
    // Each failure notified the subscribers, with the account and the reason.
    let notices: Vec<String> = sqlx::query_scalar(
        "select payload->>'summary' from webhook_deliveries where event = 'import.failed' order by id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(notices.len(), 7, "{notices:?}");
    assert!(
        notices[0].contains(ACCOUNT) && notices[0].contains("latin1.csv") && notices[0].contains("not UTF-8"),
        "{notices:?}"
    );
    assert_eq!(
        count(&pool, "select count(*) from url_metadata_history").await,
        0,
        "a first import changes no stored row"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_file_over_the_size_limit_gets_413_naming_the_limit_and_changes_nothing(pool: PgPool) {
    seed_account(&pool, ACCOUNT).await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let mut state = state_with(&pool, SecurityConfig::default());
    state.priority_urls =
        Arc::new(PriorityUrls::new(ImportLimits { max_file_bytes: 1024 * 1024, ..ImportLimits::default() }));
    let router = server::app(state, server::csrf::TrustedOrigins::default());
    let cookie = login(&router, "ed@example.com").await;
    let mut big = three_rows();
    while big.len() <= 1024 * 1024 + 100 * 1024 {
        big.push_str("https://shop.example/p/filler,low,product\n");
    }

    let (status, body) = upload(&router, &cookie, ACCOUNT, "big.csv", big.as_bytes(), false).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["error"].as_str().unwrap().contains("limit of 1 MiB (1048576 bytes)"), "{body}");
    assert!(metadata(&pool, ACCOUNT).await.is_empty());

    // Just over the limit, within the form's allowance for its framing: refused after reading.
    let mut close = three_rows();
    while close.len() <= 1024 * 1024 {
        close.push_str("https://shop.example/p/filler,low,product\n");
    }
    let (status, body) = upload(&router, &cookie, ACCOUNT, "close.csv", close.as_bytes(), false).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(metadata(&pool, ACCOUNT).await.is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn an_upload_cut_off_halfway_is_refused_and_changes_nothing(pool: PgPool) {
    let (router, cookie) = signed_in_editor(&pool).await;
    upload(&router, &cookie, ACCOUNT, "first.csv", three_rows().as_bytes(), false).await;
    let before = metadata(&pool, ACCOUNT).await;
    let changed = csv_of(&[("https://shop.example/", "low", "other"), ("https://shop.example/new", "low", "other")]);
    let (content_type, body) = multipart("cut.csv", changed.as_bytes(), false);
    let cut = body[..body.len() / 2].to_vec();

    let response = send(&router, upload_request(ACCOUNT, &cookie, &content_type, cut, "application/json")).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(response).await.contains("incomplete or malformed"));
    assert_eq!(metadata(&pool, ACCOUNT).await, before);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_plain_form_post_is_redirected_back_to_the_account_page_with_the_batch_or_the_error(pool: PgPool) {
    let (router, cookie) = signed_in_editor(&pool).await;
    let html = "text/html,application/xhtml+xml";

    let (content_type, body) = multipart("urls.csv", three_rows().as_bytes(), false);
    let ok = send(&router, upload_request(ACCOUNT, &cookie, &content_type, body, html)).await;
    let (content_type, body) = multipart("bad.csv", b"nope\n", false);
    let bad = send(&router, upload_request(ACCOUNT, &cookie, &content_type, body, html)).await;

    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let location = ok.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(&format!("/admin/priority-urls/{ACCOUNT}?batch=")), "{location}");
    assert_eq!(bad.status(), StatusCode::SEE_OTHER);
    let location = bad.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.contains("import_error=the%20header%20row"), "{location}");
}

#[sqlx::test(migrations = "../migrations")]
async fn rows_past_the_cap_go_to_the_overflow_report_with_rejected_and_duplicate_rows(pool: PgPool) {
    let (router, cookie) = signed_in_editor(&pool).await;
    let limits = ImportLimits { max_urls_per_account: 5, ..ImportLimits::default() };
    import_text(&pool, ACCOUNT, "first.csv", &three_rows(), false, &limits).await.unwrap();
    let file = csv_of(&[
        ("https://shop.example/", "high", "home"), // line 2: update, within the cap
        ("https://shop.example/new-1", "low", "other"), // 3: new, 4th URL
        ("not a url", "low", "other"),             // 4: rejected
        ("https://shop.example/new-2", "low", "other"), // 5: duplicate of line 7
        ("https://shop.example/new-3", "low", "other"), // 6: new, 5th URL: the cap
        ("https://shop.example/new-2", "medium", "other"), // 7: new, 6th: overflow
        ("https://shop.example/new-4", "low", "other"), // 8: overflow
        ("https://shop.example/category/shoes", "low", "category"), // 9: update: no new URL, so not overflow
    ]);

    let summary = import_text(&pool, ACCOUNT, "second.csv", &file, false, &limits).await.unwrap();

    assert_eq!(
        (
            summary.rows_read,
            summary.inserted,
            summary.updated,
            summary.unchanged,
            summary.rejected,
            summary.duplicates,
            summary.overflow
        ),
        (8, 2, 2, 0, 1, 1, 2)
    );
    assert_eq!(metadata(&pool, ACCOUNT).await.len(), 5, "never more than the cap");
    let response = send(
        &router,
        Request::get(format!("/admin/priority-urls/{ACCOUNT}/batches/{}/report.csv", summary.batch_id))
            .header(header::COOKIE, &cookie)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let report = body_text(response).await;
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "line,kind,url,reason");
    assert!(lines[1].starts_with("4,rejected,not a url,not an absolute URL"), "{report}");
    assert!(lines[2].starts_with("5,duplicate,https://shop.example/new-2,line 7 has the same URL"), "{report}");
    assert!(
        lines[3].starts_with("7,overflow,https://shop.example/new-2,\"over the account's cap of 5 URLs"),
        "{report}"
    );
    assert!(lines[4].starts_with("8,overflow,https://shop.example/new-4,"), "{report}");
    assert_eq!(lines.len(), 5);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_dry_run_reports_exactly_what_the_import_then_does_and_changes_nothing(pool: PgPool) {
    seed_account(&pool, ACCOUNT).await;
    let limits = ImportLimits { max_urls_per_account: 4, ..ImportLimits::default() };
    import_text(&pool, ACCOUNT, "first.csv", &three_rows(), false, &limits).await.unwrap();
    let before = metadata(&pool, ACCOUNT).await;
    let history_before = count(&pool, "select count(*) from url_metadata_history").await;
    let file = csv_of(&[
        ("https://shop.example/", "critical", "home"),
        ("https://shop.example/p/123", "medium", "product"),
        ("https://shop.example/a", "low", "other"),
        ("https://shop.example/b", "low", "other"),
        ("ftp://shop.example/c", "low", "other"),
    ]);

    let dry = import_text(&pool, ACCOUNT, "plan.csv", &file, true, &limits).await.unwrap();

    assert!(dry.dry_run);
    assert_eq!(metadata(&pool, ACCOUNT).await, before, "a dry run changes no metadata");
    assert_eq!(count(&pool, "select count(*) from url_metadata_history").await, history_before);
    assert_eq!(audit_count(&pool, "priority_urls.imported").await, 1, "only the real import is audited");
    let real = import_text(&pool, ACCOUNT, "plan.csv", &file, false, &limits).await.unwrap();
    let counts = |s: &app::model::priority::ImportSummary| {
        (s.rows_read, s.inserted, s.updated, s.unchanged, s.rejected, s.duplicates, s.overflow)
    };
    assert_eq!(counts(&dry), counts(&real));
    assert_eq!(counts(&real), (5, 1, 1, 1, 1, 0, 1));
    let reports: Vec<(i32, String)> = sqlx::query_as(
        "select line_number, kind from url_import_report_rows where batch_id = any($1) order by batch_id, line_number",
    )
    .bind(vec![dry.batch_id, real.batch_id])
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        reports,
        vec![(5, "overflow".into()), (6, "rejected".into()), (5, "overflow".into()), (6, "rejected".into())]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_import_that_fails_inside_the_database_leaves_the_previous_metadata_exactly_as_it_was(pool: PgPool) {
    seed_account(&pool, ACCOUNT).await;
    let limits = ImportLimits::default();
    import_text(&pool, ACCOUNT, "first.csv", &three_rows(), false, &limits).await.unwrap();
    let before = metadata(&pool, ACCOUNT).await;
    // A trigger that fails the merge halfway, after other rows of the same statement were written.
    sqlx::query(
        "create function fail_on_boom() returns trigger language plpgsql as $$
         begin if new.url like '%boom%' then raise exception 'boom'; end if; return new; end $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "create trigger fail_on_boom before insert on url_metadata for each row execute function fail_on_boom()",
    )
    .execute(&pool)
    .await
    .unwrap();
    let file = csv_of(&[
        ("https://shop.example/", "low", "other"),
        ("https://shop.example/a", "low", "other"),
        ("https://shop.example/boom", "low", "other"),
    ]);

    let result = import_text(&pool, ACCOUNT, "boom.csv", &file, false, &limits).await;

    assert!(matches!(result, Err(ImportError::Service(_))), "{result:?}");
    assert_eq!(metadata(&pool, ACCOUNT).await, before);
    assert_eq!(count(&pool, "select count(*) from url_metadata_history").await, 0, "the change to / left no history");
    assert_eq!(count(&pool, "select count(*) from url_import_report_rows").await, 0);
    let statuses = batch_statuses(&pool, ACCOUNT).await;
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[1].0, "failed");
    assert!(statuses[1].1.as_deref().unwrap().contains("changed nothing"), "{statuses:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_viewer_cannot_import_an_unregistered_account_key_imports_and_a_bad_one_is_422(pool: PgPool) {
    seed_account(&pool, ACCOUNT).await;
    seed_user(&pool, "vi@example.com", "viewer").await;
    seed_user(&pool, "ed@example.com", "editor").await;
    let router = router(&pool);
    let viewer = login(&router, "vi@example.com").await;
    let editor = login(&router, "ed@example.com").await;

    let (status, body) = upload(&router, &viewer, ACCOUNT, "urls.csv", three_rows().as_bytes(), false).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(metadata(&pool, ACCOUNT).await.is_empty());
    let (status, body) =
        upload(&router, &editor, "nobody-registered", "urls.csv", three_rows().as_bytes(), false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(metadata(&pool, "nobody-registered").await.len(), 3);
    let (status, body) = upload(&router, &editor, "bad%20key", "urls.csv", three_rows().as_bytes(), false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().contains("is not an organization key"), "{body}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_cli_limit_check_refuses_an_oversized_file_before_parsing(pool: PgPool) {
    seed_account(&pool, ACCOUNT).await;
    let limits = ImportLimits { max_file_bytes: 10, ..ImportLimits::default() };

    let result = import_text(&pool, ACCOUNT, "x.csv", &three_rows(), false, &limits).await;

    assert!(matches!(result, Err(ImportError::File(FileError::TooLarge { limit: 10, .. }))), "{result:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_report_row_a_spreadsheet_would_run_as_a_formula_is_written_as_text(pool: PgPool) {
    let (router, cookie) = signed_in_editor(&pool).await;
    let file = "url,update_priority,page_type\n\
                \"=HYPERLINK(\"\"http://evil.example\"\",\"\"open\"\")\",low,other\n\
                @SUM(1+1),low,other\n\
                https://shop.example/ok,low,other\n";
    let summary = import_text(&pool, ACCOUNT, "evil.csv", file, false, &ImportLimits::default()).await.unwrap();
    assert_eq!(summary.rejected, 2);

    let response = send(
        &router,
        Request::get(format!("/admin/priority-urls/{ACCOUNT}/batches/{}/report.csv", summary.batch_id))
            .header(header::COOKIE, &cookie)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let report = body_text(response).await;
    let mut reader = ::csv::Reader::from_reader(report.as_bytes());
    let urls: Vec<String> = reader.records().map(|r| r.unwrap()[2].to_owned()).collect();
    assert_eq!(urls, ["'=HYPERLINK(\"http://evil.example\",\"open\")", "'@SUM(1+1)"], "{report}");
}
