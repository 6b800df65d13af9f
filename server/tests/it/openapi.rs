//! The OpenAPI document and the router agree: every documented operation reaches a handler, every route
//! the server registers is documented (or is a browser-only route, listed here with why), and every
//! operation says how it authenticates and what its errors look like.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::BTreeSet;

/// Routes for the browser, not the API: the login form, the UI's upload and download. Each is a form
/// target or a file, answered in HTML or CSV, and has no place in a JSON API document.
const BROWSER_ROUTES: &[&str] = &[
    "/",
    "/login",
    "/logout",
    "/admin/priority-urls/{account}/import",
    "/admin/priority-urls/{account}/batches/{batch}/report.csv",
    "/admin/organizations/customers/import",
    "/admin/organizations/customers/imports/{id}/report.csv",
];

/// The endpoints anyone may call, without a token.
const PUBLIC: &[&str] = &["/healthz", "/readyz", "/metrics", "/ofrep/v1/configuration", "/api/openapi.json"];

fn document() -> Value {
    serde_json::to_value(server::api::openapi::document()).unwrap()
}

/// Every `.route("...")` path literal in the server's sources: what `Router::route` registers by hand,
/// outside the documented `routes!` calls.
fn hand_registered_routes() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // `.route(` may be followed by a line break before the literal.
                for (at, _) in text.match_indices(".route(") {
                    let rest = text[at + ".route(".len()..].trim_start();
                    if let Some(literal) = rest.strip_prefix('"') {
                        found.insert(literal[..literal.find('"').unwrap()].to_owned());
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_route_the_server_registers_by_hand_is_documented_or_a_browser_route() {
    // Arrange
    let document = document();
    let documented: BTreeSet<&str> = document["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    // Act
    let routes = hand_registered_routes();
    // Assert
    assert!(routes.contains("/login"), "the scan found no routes: {routes:?}");
    let undocumented: Vec<&String> =
        routes.iter().filter(|r| !documented.contains(r.as_str()) && !BROWSER_ROUTES.contains(&r.as_str())).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:?}; register them with `routes!` in \
         server/src/api/openapi.rs and annotate the handler with #[utoipa::path]"
    );
}

#[test]
fn every_operation_states_its_authentication_and_its_error_bodies() {
    let document = document();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let security = operation["security"].as_array().unwrap_or_else(|| panic!("{method} {path}: no security"));
            let public = security.iter().all(|s| s.as_object().is_some_and(|o| o.is_empty()));
            assert_eq!(public, PUBLIC.contains(&path.as_str()), "{method} {path}: security {security:?}");
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path}: no success status");
            if !public {
                for status in ["401", "403", "500"] {
                    let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
                }
            }
            if path.contains('{') {
                assert!(operation["parameters"].as_array().is_some_and(|p| !p.is_empty()), "{method} {path}");
            }
        }
    }
}

#[test]
fn query_parameters_created_statuses_and_constraints_are_documented() {
    let document = document();
    let op = |path: &str, method: &str| document["paths"][path][method].clone();
    let names = |operation: &Value| -> Vec<String> {
        operation["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect()
    };
    assert!(names(&op("/api/admin/feature-flags", "get")).contains(&"per_page".to_owned()));
    assert!(names(&op("/api/admin/audit", "get")).contains(&"since".to_owned()));
    assert!(names(&op("/api/v1/flags/{key}", "get")).contains(&"organization_id".to_owned()));
    assert!(op("/api/admin/feature-flags", "post")["responses"]["201"].is_object());
    assert!(op("/api/admin/rollouts", "post")["responses"]["201"].is_object());
    assert!(op("/api/admin/schedule/{id}", "delete")["responses"]["204"].is_object());
    let ofrep_404 = &op("/ofrep/v1/evaluate/flags/{key}", "post")["responses"]["404"];
    assert_eq!(ofrep_404["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/OfrepError");
    let sample = &document["components"]["schemas"]["MetricSample"]["properties"]["latency_buckets"];
    assert_eq!(sample["minItems"], 12, "{sample}");
    let role = &document["components"]["schemas"]["Role"]["enum"];
    assert_eq!(role, &serde_json::json!(["viewer", "editor", "admin"]));
}

#[sqlx::test(migrations = "../migrations")]
async fn every_documented_operation_is_routed_and_the_document_is_served(pool: PgPool) {
    let router = router(&pool);
    let served = send(&router, Request::get("/api/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(served.status(), StatusCode::OK);
    let served: Value = serde_json::from_str(&body_text(served).await).unwrap();
    assert_eq!(served, document());

    for (path, operations) in served["paths"].as_object().unwrap() {
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
