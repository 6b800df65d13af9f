//! The browser bundle under `/pkg/`: the gzip copy the build writes goes to browsers that accept gzip,
//! the plain file to the others, and browsers are told to revalidate.

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn the_bundle_goes_gzipped_to_browsers_that_accept_it_and_is_revalidated(pool: PgPool) {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/rollgate.js"), "console.log('plain');").unwrap();
    std::fs::write(site.path().join("pkg/rollgate.js.gz"), b"\x1f\x8b pretend gzip").unwrap();
    let mut state = state(&pool);
    std::sync::Arc::make_mut(&mut state.leptos_options).site_root = site.path().to_string_lossy().into_owned().into();
    let router = server::app(state, server::csrf::TrustedOrigins::default());
    let get = |accept: Option<&'static str>| {
        let mut request = Request::get("/pkg/rollgate.js").header(header::HOST, HOST);
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT_ENCODING, accept);
        }
        request.body(Body::empty()).unwrap()
    };

    let zipped = send(&router, get(Some("gzip, deflate, br"))).await;
    assert_eq!(zipped.status(), StatusCode::OK);
    assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(zipped.headers()[header::CACHE_CONTROL], "no-cache");
    assert!(zipped.headers()[header::CONTENT_TYPE].to_str().unwrap().contains("javascript"));
    assert!(body_text(zipped).await.ends_with("pretend gzip"));

    let plain = send(&router, get(None)).await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(body_text(plain).await, "console.log('plain');");

    let missing =
        send(&router, Request::get("/pkg/nothing.wasm").header(header::HOST, HOST).body(Body::empty()).unwrap()).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
