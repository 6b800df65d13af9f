//! Helpers for the priority-URL tests: accounts, uploads as a browser's script sends them, and the
//! stored metadata read back whole.

use super::*;
use app::model::priority::ImportSummary;
use app::server::priority_urls::{self, ImportError, ImportLimits, ImportRequest};

/// An organization (account).
pub async fn seed_account(pool: &PgPool, key: &str) -> i64 {
    sqlx::query_scalar("insert into organizations (key, name) values ($1, $1 || ' Inc') returning id")
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Imports `text` through the service layer, as the CLI does.
pub async fn import_text(
    pool: &PgPool,
    account: &str,
    file_name: &str,
    text: &str,
    dry_run: bool,
    limits: &ImportLimits,
) -> Result<ImportSummary, ImportError> {
    let request = ImportRequest {
        account: account.into(),
        file_name: file_name.into(),
        format: None,
        dry_run,
        bytes: text.as_bytes().to_vec().into(),
    };
    priority_urls::import(pool, &editor(), limits, request, &|_| {}).await
}

/// A CSV file from `(url, tier, page type)` rows.
pub fn csv_of(rows: &[(&str, &str, &str)]) -> String {
    let mut text = String::from("url,update_priority,page_type\n");
    for (url, tier, page_type) in rows {
        text.push_str(&format!("{url},{tier},{page_type}\n"));
    }
    text
}

/// `multipart/form-data` with a `file` part (and `dry_run` when asked), as FormData sends it.
pub fn multipart(file_name: &str, content: &[u8], dry_run: bool) -> (String, Vec<u8>) {
    let boundary = "----rollgate-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    if dry_run {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n\r\non\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A same-origin upload of `body` (already multipart) asking for JSON, as the page's script sends it.
pub fn upload_request(account: &str, cookie: &str, content_type: &str, body: Vec<u8>, accept: &str) -> Request<Body> {
    Request::post(format!("/admin/priority-urls/{account}/import"))
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header("sec-fetch-site", "same-origin")
        .header(header::COOKIE, cookie)
        .header(header::ACCEPT, accept)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap()
}

/// Uploads a file and returns the status and the JSON answer.
pub async fn upload(
    router: &Router,
    cookie: &str,
    account: &str,
    file_name: &str,
    content: &[u8],
    dry_run: bool,
) -> (StatusCode, serde_json::Value) {
    let (content_type, body) = multipart(file_name, content, dry_run);
    let response = send(router, upload_request(account, cookie, &content_type, body, "application/json")).await;
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// Every stored row of an account: (url, update_priority, page_type, batch_id), in URL order.
pub async fn metadata(pool: &PgPool, account: &str) -> Vec<(String, String, String, i64)> {
    sqlx::query_as(
        "select m.url, m.update_priority, m.page_type, m.batch_id from url_metadata m
         join url_accounts a on a.id = m.account_id where a.organization_key = $1 order by m.url",
    )
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// (status, error) of every batch of an account, oldest first.
pub async fn batch_statuses(pool: &PgPool, account: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "select b.status, b.error from url_import_batches b join url_accounts a on a.id = b.account_id
         where a.organization_key = $1 order by b.id",
    )
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap()
}

pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// The imported tier of every URL row of an account page, in order.
pub fn imported_tiers(html: &str) -> Vec<String> {
    html.split(r#"data-testid="badges-on"><span class="url-badges"><span data-tier=""#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or_default().to_owned())
        .collect()
}

/// The count an account page's distribution panel shows for a tier.
pub fn distribution_count(html: &str, tier: &str) -> i64 {
    let at = html.find(&format!("data-testid=\"dist-tier-{tier}\"")).expect("the tier's row");
    let rest = &html[at..];
    let cell = rest.find("class=\"num\">").expect("its count cell") + "class=\"num\">".len();
    rest[cell..].split('<').next().unwrap_or_default().replace(',', "").parse().expect("a count")
}
