//! Priority URLs at the size accounts reach: importing 60,000 rows (from the file received to the
//! transaction committed), rolling such a batch back, and the account page's server answer at 60,000 URLs
//! with every kind of filter. Needs DATABASE_URL pointing at a PostgreSQL server where it may create the
//! database `rollgate_bench_priority_urls`; `scripts/bench` provides one (with fsync off). The README's
//! import figures are taken against a server at its default settings (fsync on), e.g.
//! `DATABASE_URL=postgres://postgres@127.0.0.1:55000/postgres cargo bench -p server --bench priority_urls`.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use app::server::audit::{Actor, ActorKind};
use app::server::priority_urls::{self, ImportLimits, ImportRequest};
use app::server::{AppState, SecurityConfig};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt;
use sqlx::PgPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const ROWS: usize = 60_000;
const PASSWORD: &str = "benchmark password";
const TIERS: [&str; 4] = ["critical", "high", "medium", "low"];
const SHAPES: [(&str, &str); 7] = [
    ("products/item-{}", "product"),
    ("category/shoes/{}", "category"),
    ("blog/2024/05/post-{}", "article"),
    ("lp/campaign-{}", "landing"),
    ("search?q=term-{}", "search"),
    ("about/team-{}", "other"),
    ("de/{}", "home"),
];

/// A CSV of `ROWS` distinct URLs with realistic shapes; `variant` shifts every tier, so two variants
/// differ on every row.
fn csv_file(variant: usize) -> Vec<u8> {
    let mut text = String::with_capacity(ROWS * 80);
    text.push_str("url,update_priority,page_type\n");
    for i in 0..ROWS {
        let (shape, page_type) = SHAPES[i % SHAPES.len()];
        let path = shape.replace("{}", &i.to_string());
        text.push_str(&format!("https://www.example-shop.com/{path},{},{page_type}\n", TIERS[(i + variant) % 4]));
    }
    text.into_bytes()
}

fn actor() -> Actor {
    Actor { kind: ActorKind::System, user_id: None, label: "system:bench".into(), role: app::domain::Role::Editor }
}

async fn new_account(pool: &PgPool, n: usize) -> String {
    let key = format!("bench-{n}");
    sqlx::query("insert into organizations (key, name) values ($1, $1)").bind(&key).execute(pool).await.unwrap();
    key
}

/// Deletes an account's URLs and history (untimed), so that the database stays the size of one account.
async fn forget(pool: &PgPool, account: &str) {
    for table in ["url_metadata", "url_metadata_history"] {
        sqlx::query(&format!(
            "delete from {table} where account_id = (select id from url_accounts where organization_key = $1)"
        ))
        .bind(account)
        .execute(pool)
        .await
        .unwrap();
    }
}

async fn import(pool: &PgPool, account: &str, bytes: &[u8]) -> app::model::priority::ImportSummary {
    let request = ImportRequest {
        account: account.into(),
        file_name: "bench.csv".into(),
        format: None,
        dry_run: false,
        bytes: bytes.to_vec().into(),
    };
    priority_urls::import(pool, &actor(), &ImportLimits::default(), request, &|_| {}).await.unwrap()
}

async fn setup() -> (PgPool, axum::Router, String) {
    let pool = common::fresh_database("rollgate_bench_priority_urls").await;
    let hash = app::server::password::hash_password(PASSWORD).unwrap();
    sqlx::query(
        "insert into users (email, name, role, password_hash) values ('bench@example.com', 'Bench', 'editor', $1)",
    )
    .bind(hash)
    .execute(&pool)
    .await
    .unwrap();
    let leptos_options = leptos::config::LeptosOptions::builder().output_name("rollgate").build();
    let state = AppState {
        leptos_options: std::sync::Arc::new(leptos_options),
        pool: pool.clone(),
        security: Arc::new(SecurityConfig::default()),
        snapshot: Arc::default(),
        priority_urls: Arc::default(),
        guardrail_worker: Arc::default(),
    };
    let router = server::app(state, server::csrf::TrustedOrigins::default());
    let login = Request::post("/login")
        .header(header::HOST, "bench")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("email=bench%40example.com&password={}", PASSWORD.replace(' ', "+"))))
        .unwrap();
    let response = router.clone().oneshot(login).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    (pool, router, cookie)
}

fn multipart(content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "bench-boundary-1234567890";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.csv\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn get(router: &axum::Router, cookie: &str, path: &str) -> usize {
    let request =
        Request::get(path).header(header::HOST, "bench").header(header::COOKIE, cookie).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.into_body().collect().await.unwrap().to_bytes().len()
}

fn priority_urls(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (pool, router, cookie) = runtime.block_on(setup());
    let files = [csv_file(0), csv_file(1)];
    println!("the 60,000-row file is {} bytes", files[0].len());
    // "Committed" means durable only with fsync on: say which the figures were taken with (scripts/bench's
    // throwaway server runs with fsync off; point DATABASE_URL at a server with default settings to
    // measure what the README reports).
    let (fsync, synchronous_commit) = runtime.block_on(async {
        let fsync: String = sqlx::query_scalar("show fsync").fetch_one(&pool).await.unwrap();
        let sync: String = sqlx::query_scalar("show synchronous_commit").fetch_one(&pool).await.unwrap();
        (fsync, sync)
    });
    println!("PostgreSQL: fsync {fsync}, synchronous_commit {synchronous_commit}");
    let accounts = AtomicUsize::new(0);

    // The page is measured first, on an account of 60,000 URLs beside two others of the same size (the
    // import benchmarks below churn the tables).
    let shown = runtime.block_on(async {
        let shown = new_account(&pool, 2_000_000).await;
        import(&pool, &shown, &files[0]).await;
        for n in [2_000_001, 2_000_002] {
            let other = new_account(&pool, n).await;
            import(&pool, &other, &files[1]).await;
        }
        shown
    });
    runtime.block_on(async {
        sqlx::query("vacuum analyze").execute(&pool).await.unwrap();
    });
    let page = format!("/admin/priority-urls/{shown}");
    let cases = [
        ("no filter", page.clone()),
        ("tier filter", format!("{page}?tier=critical")),
        ("page type filter", format!("{page}?page_type=landing")),
        ("tier and page type", format!("{page}?tier=low&page_type=search")),
        ("text search, common", format!("{page}?q=products")),
        ("text search, rare", format!("{page}?q=item-59999")),
        ("text search, no match", format!("{page}?q=nothing-like-this")),
        ("a later page", format!("{page}?after=https%3A%2F%2Fwww.example-shop.com%2Flp%2Fcampaign-9")),
    ];
    let bytes = runtime.block_on(get(&router, &cookie, &page));
    println!("the account page at 60,000 URLs is {bytes} bytes");
    let mut page_group = c.benchmark_group("priority_urls_page");
    page_group.sample_size(30);
    for (name, path) in &cases {
        page_group.bench_function(*name, |b| b.to_async(&runtime).iter(|| get(&router, &cookie, path)));
    }
    // The first view after an import or a rollback computes the overview: the page's data without the
    // cache (the service call alone, without session and rendering).
    page_group.bench_function("no filter, first view after a change (data only, overview computed)", |b| {
        b.to_async(&runtime).iter(|| async {
            let fresh = priority_urls::PriorityUrls::default();
            let query = app::model::priority::UrlQuery::default();
            priority_urls::queries::account_page(&pool, &fresh, &shown, &query, true).await.unwrap()
        });
    });
    page_group.finish();

    let mut group = c.benchmark_group("priority_urls_import");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("60,000 new rows, file received to committed", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (pool, files, accounts) = (&pool, &files, &accounts);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let account = new_account(pool, accounts.fetch_add(1, Ordering::Relaxed)).await;
                    let start = Instant::now();
                    let summary = import(pool, &account, &files[0]).await;
                    total += start.elapsed();
                    assert_eq!(summary.inserted, ROWS as i64);
                    forget(pool, &account).await;
                }
                total
            }
        });
    });
    let updated = runtime.block_on(new_account(&pool, 1_000_000));
    runtime.block_on(import(&pool, &updated, &files[0]));
    let turn = AtomicUsize::new(1);
    group.bench_function("60,000 rows that all change, file received to committed", |b| {
        b.to_async(&runtime).iter(|| {
            let file = &files[turn.fetch_add(1, Ordering::Relaxed) % 2];
            let (pool, updated) = (&pool, &updated);
            async move {
                let summary = import(pool, updated, file).await;
                assert_eq!(summary.updated, ROWS as i64);
            }
        });
    });
    group.bench_function("60,000 new rows through the upload endpoint (multipart)", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (pool, files, accounts, router, cookie) = (&pool, &files, &accounts, &router, &cookie);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let account = new_account(pool, accounts.fetch_add(1, Ordering::Relaxed)).await;
                    let (content_type, body) = multipart(&files[0]);
                    let request = Request::post(format!("/admin/priority-urls/{account}/import"))
                        .header(header::HOST, "bench")
                        .header(header::COOKIE, cookie.as_str())
                        .header(header::ACCEPT, "application/json")
                        .header(header::CONTENT_TYPE, content_type)
                        .body(Body::from(body))
                        .unwrap();
                    let start = Instant::now();
                    let response = router.clone().oneshot(request).await.unwrap();
                    let status = response.status();
                    response.into_body().collect().await.unwrap();
                    total += start.elapsed();
                    assert_eq!(status, StatusCode::OK);
                    forget(pool, &account).await;
                }
                total
            }
        });
    });
    group.bench_function("rollback of a 60,000-row batch", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (pool, files, accounts) = (&pool, &files, &accounts);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let account = new_account(pool, accounts.fetch_add(1, Ordering::Relaxed)).await;
                    let batch = import(pool, &account, &files[0]).await.batch_id;
                    let start = Instant::now();
                    let done = priority_urls::rollback::rollback(pool, &actor(), batch, None).await.unwrap();
                    total += start.elapsed();
                    assert_eq!(done.removed, ROWS as i64);
                    forget(pool, &account).await;
                }
                total
            }
        });
    });
    group.finish();
}

criterion_group!(benches, priority_urls);
criterion_main!(benches);
