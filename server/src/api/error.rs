//! Errors of the JSON APIs: a status, a stable code and a message that says what is wrong, as the body
//! `{"error": CODE, "message": TEXT, "details": {...}}` ([`ErrorBody`] in the OpenAPI document).
//!
//! A service error brings its own status and code (`ServiceError::status`, `ServiceError::code`); the
//! constructors here are for what only the HTTP edge can see: a body that is not JSON, a missing token.

use app::server::ServiceError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

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

/// The body of every error of the JSON APIs (OFREP answers in its own shape, `OfrepError`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code for scripts: `INVALID`, `INVALID_BODY`, `INVALID_QUERY`, `UNAUTHORIZED`, `FORBIDDEN`,
    /// `NOT_FOUND`, `FLAG_NOT_FOUND`, `CONFLICT`, `GATE_BLOCKED`, `INVALID_TRANSITION`, `INTERNAL`...
    #[schema(example = "INVALID")]
    pub error: String,
    /// What is wrong, in words a person can act on.
    pub message: String,
    /// More to go with it: `field` for `INVALID`, `current_version` for `CONFLICT`, `path` for a metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None, retry_after: None }
    }

    /// A value that failed a check the handler makes itself: 422 `INVALID`, naming the field, as the
    /// services answer.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::invalid(field, message).into()
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// A JSON body that did not parse or did not match the request type (axum's own message says where).
    pub fn bad_body(rejection: &axum::extract::rejection::JsonRejection) -> Self {
        Self::new(rejection.status(), "INVALID_BODY", rejection.body_text())
    }

    /// A query string that did not match the parameters.
    pub fn bad_query(rejection: &axum::extract::rejection::QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_QUERY", rejection.body_text())
    }

    /// A path parameter that did not parse (e.g. an id that is not a number).
    pub fn bad_path(rejection: &axum::extract::rejection::PathRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PATH", rejection.body_text())
    }

    /// Sends `Retry-After` with this many seconds (a rate limit, a server not ready).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl From<ServiceError> for ApiError {
    /// Logs an internal error once, with its cause chain, and answers the client without its text.
    fn from(err: ServiceError) -> Self {
        err.log_if_internal();
        let details = match &err {
            ServiceError::Invalid { field, .. } => Some(serde_json::json!({ "field": field })),
            ServiceError::Conflict { current_version, .. } => {
                Some(serde_json::json!({ "current_version": current_version }))
            }
            _ => None,
        };
        Self { status: err.status(), code: err.code(), message: err.client_message(), details, retry_after: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.code.to_owned(), message: self.message, details: self.details };
        let mut response = (self.status, Json(body)).into_response();
        // A 503 always says when to try again; a rate limit says its own wait.
        let retry_after = self.retry_after.or_else(|| {
            (self.status == StatusCode::SERVICE_UNAVAILABLE).then_some(u64::from(app::server::RETRY_AFTER_SECONDS))
        });
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}
