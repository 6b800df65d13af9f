//! Importing customers into the registry from CSV: every valid row applied, every other one in the report
//! with its line and reason, as a priority-URL import reports them; the browser form and the admin API.
#![allow(clippy::unwrap_used)]

use crate::common::urls::multipart;
use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

const FILE: &str = "key,name,organization\n\
    cust-1,Ada,acme\n\
    bad key,Bob,acme\n\
    cust-2,Cy,\n\
    cust-3,Old name,globex\n\
    cust-3,Dee,globex\n\
    cust-4,,no-name-org\n";

async fn import(router: &axum::Router, token: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::post("/api/admin/customers/import?file_name=team.csv")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = send(router, request).await;
    let status = response.status();
    (status, serde_json::from_str(&body_text(response).await).unwrap())
}

#[sqlx::test(migrations = "../migrations")]
async fn a_customer_file_applies_its_valid_rows_and_reports_the_others_by_line(pool: PgPool) {
    seed_user(&pool, "eddie@example.com", "editor").await;
    let token = admin_token_for(&pool, "eddie@example.com").await;
    let router = router(&pool);

    let (status, first) = import(&router, &token, FILE).await;
    let (_, second) = import(&router, &token, FILE).await;

    assert_eq!(status, StatusCode::OK, "{first}");
    let counts = |v: &Value| {
        ["rows_read", "inserted", "updated", "unchanged", "rejected", "duplicates"].map(|k| v[k].as_i64().unwrap())
    };
    assert_eq!(counts(&first), [6, 3, 0, 0, 2, 1]);
    assert_eq!(counts(&second), [6, 0, 0, 3, 2, 1], "the same file again changes nothing");
    let report: Vec<(u64, &str, &str)> = first["report"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["kind"].as_str().unwrap(), r["key"].as_str().unwrap()))
        .collect();
    assert_eq!(report, [(3, "rejected", "bad key"), (4, "rejected", "cust-2"), (5, "duplicate", "cust-3")]);
    assert_eq!(first["report"][1]["reason"], "the organization key is required");
    let customers: Vec<(String, String, String)> =
        sqlx::query_as("select key, name, organization_key from customers order by key")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        customers,
        [
            ("cust-1".into(), "Ada".into(), "acme".into()),
            ("cust-3".into(), "Dee".into(), "globex".into()),
            ("cust-4".into(), String::new(), "no-name-org".into()),
        ]
    );
    assert_eq!(audit_count(&pool, "customers.imported").await, 2);

    // A later file renames and moves a customer.
    let (_, third) = import(&router, &token, "key,name,organization\ncust-1,Ada L.,globex\n").await;
    assert_eq!(counts(&third), [1, 0, 1, 0, 0, 0]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_file_without_the_columns_is_refused_whole_and_recorded_as_failed(pool: PgPool) {
    seed_user(&pool, "eddie@example.com", "editor").await;
    let token = admin_token_for(&pool, "eddie@example.com").await;
    let router = router(&pool);

    let (status, body) = import(&router, &token, "key,name\ncust-1,Ada\n").await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().contains("key, name and organization; organization missing"), "{body}");
    let (count, failed): (i64, i64) = sqlx::query_as(
        "select (select count(*) from customers), (select count(*) from customer_import_batches where status = 'failed')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((count, failed), (0, 1));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_browser_form_imports_and_comes_back_to_the_page_with_a_downloadable_report(pool: PgPool) {
    seed_user(&pool, "eddie@example.com", "editor").await;
    let router = router(&pool);
    let cookie = login(&router, "eddie@example.com").await;
    let (content_type, body) = multipart("team.csv", FILE.as_bytes(), false);
    let upload = Request::post("/admin/organizations/customers/import")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header("sec-fetch-site", "same-origin")
        .header(header::ACCEPT, "text/html")
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();

    let response = send(&router, upload).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let id: i64 = sqlx::query_scalar("select max(id) from customer_import_batches").fetch_one(&pool).await.unwrap();
    assert_eq!(location, format!("/admin/organizations?import={id}#import"));
    let report = Request::get(format!("/admin/organizations/customers/imports/{id}/report.csv"))
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let csv = body_text(send(&router, report).await).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "line,kind,key,reason");
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[1].starts_with("3,rejected,bad key,"), "{csv}");
}
