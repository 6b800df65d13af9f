//! The HTTP APIs for applications and scripts.

pub mod admin;
pub mod badges;
pub mod caller;
pub mod config_io;
pub mod cors;
pub mod error;
pub mod evaluate;
pub mod frontend;
pub mod ingest;
pub mod ofrep;
pub mod openapi;
pub mod people;
pub mod rollouts;
pub mod schedule;
pub mod stream;
pub mod structure;
pub mod targeting;
pub mod targets;

/// A JSON answer written into one buffer of about `size_hint` bytes: the evaluation routes' hot path, where
/// axum's `Json` would grow its buffer from 128 bytes through many small writes.
pub fn json_response<T: serde::Serialize>(
    status: axum::http::StatusCode,
    body: &T,
    size_hint: usize,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut buffer = Vec::with_capacity(size_hint);
    match serde_json::to_writer(&mut buffer, body) {
        Ok(()) => {
            (status, [(axum::http::header::CONTENT_TYPE, mime_json())], axum::body::Body::from(buffer)).into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "could not write a JSON answer");
            error::ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "something went wrong on the server; it has been logged",
            )
            .into_response()
        }
    }
}

fn mime_json() -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_static("application/json")
}
