//! Pages rendered in a loop while other tests run on other threads. About one render in a thousand never
//! finished that way, with every database session idle; the render watchdog in `server/src/lib.rs` renders
//! such a page again. Run by hand, beside a few other modules, to see how often it happens:
//!
//! ```sh
//! PAGE_STALLS_SECONDS=120 cargo test -p server --test it -- --include-ignored --test-threads 3 --nocapture \
//!     page_stalls:: evaluate:: first_start:: flags::
//! ```
//!
//! It prints how many renders needed the second try, and fails if a page did not answer 200.
#![allow(clippy::unwrap_used)]

use crate::common::routes::{Fixture, ADMIN};
use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use sqlx::PgPool;
use std::time::{Duration, Instant};

#[ignore = "a load reproduction, run by hand (see the module's comment)"]
#[sqlx::test(migrations = "../migrations")]
async fn pages_render_in_a_loop_beside_other_work(pool: PgPool) {
    let fixture = Fixture::seed(&pool).await;
    let router = router(&pool);
    let cookie = login(&router, ADMIN).await;
    let seconds = std::env::var("PAGE_STALLS_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let pages = [
        "/admin/audit?actor=admin&flag=checkout".to_owned(),
        "/admin/feature-flags".to_owned(),
        format!("/admin/rollouts/{}?range=6h", fixture.rollout),
        "/admin/phases".to_owned(),
        "/admin/approvals".to_owned(),
    ];
    let started = Instant::now();
    let (mut renders, mut second_tries, mut wrong) = (0, Vec::new(), Vec::new());
    while started.elapsed() < Duration::from_secs(seconds) {
        let page = &pages[renders % pages.len()];
        renders += 1;
        let request =
            Request::get(page).header(header::HOST, HOST).header(header::COOKIE, &cookie).body(Body::empty()).unwrap();
        let sent = Instant::now();
        let response = send(&router, request).await;
        let status = response.status();
        response.into_body().collect().await.unwrap();
        if sent.elapsed() >= server::PAGE_RENDER_LIMIT {
            second_tries.push(format!("{page} at {:?}", started.elapsed()));
        }
        if status != StatusCode::OK {
            wrong.push(format!("{page}: {status}"));
        }
    }
    println!("figure: {renders} page renders in {seconds} s, {} needed a second try", second_tries.len());
    for slow in &second_tries {
        println!("  second try: {slow}");
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}
