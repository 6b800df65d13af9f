//! The OpenAPI document lists only routes that exist: every operation in it reaches a handler.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn every_documented_operation_is_routed_and_the_document_is_served(pool: PgPool) {
    let router = router(&pool);
    let served = send(&router, Request::get("/api/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(served.status(), StatusCode::OK);
    let document: serde_json::Value = serde_json::from_str(&body_text(served).await).unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(
        paths.values().map(|p| p.as_object().unwrap().len()).sum::<usize>(),
        server::api::openapi::OPERATIONS.len()
    );

    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let concrete = path
                .replace("{key}", "some_flag")
                .replace("{env}", "production")
                .replace("{id}", "1")
                .replace("{kind}", "organizations")
                .replace("{target}", "acme");
            let request = Request::builder()
                .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
                .uri(&concrete)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let status = send(&router, request).await.status();
            // Unauthenticated: a handler answers 401 (or 503 before the first snapshot), never 404/405.
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but answered {status}"
            );
        }
    }
}
