//! Errors of the JSON APIs: a status, a stable code and a message that says what is wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// More to go with it, e.g. the field at fault or the current version after a conflict.
    pub details: Option<serde_json::Value>,
    /// Seconds to wait before trying again, sent as `Retry-After` (a rate limit, a server not ready).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None, retry_after: None }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl From<app::server::ServiceError> for ApiError {
    fn from(err: app::server::ServiceError) -> Self {
        use app::server::ServiceError as E;
        match err {
            E::Forbidden(why) => Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", format!("not allowed: {why}")),
            E::NotFound(what) => Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("{what} not found")),
            E::Invalid { field, message } => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID", message)
                .with_details(serde_json::json!({ "field": field })),
            E::Conflict { message, current_version } => Self::new(StatusCode::CONFLICT, "CONFLICT", message)
                .with_details(serde_json::json!({ "current_version": current_version })),
            E::Refused { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            E::Database(source) => {
                tracing::error!(error = %source, cause = ?source, "database error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "something went wrong on the server; it has been logged",
                )
            }
            E::Other(message) => {
                tracing::error!(%message, "unexpected error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "something went wrong on the server; it has been logged",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.code, "message": self.message });
        if let Some(details) = self.details {
            body["details"] = details;
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}
