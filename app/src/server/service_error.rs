//! Errors of the service layer, and the one table of what each answers over HTTP.
//!
//! Every edge reads [`ServiceError::status`] and [`ServiceError::code`]: the server functions (through
//! [`crate::server::to_app_error`]), the JSON APIs (`ApiError` in the server crate) and the priority-URL
//! import. An unexpected failure keeps its cause chain for the log and reaches the client as an opaque 500.

use crate::error::AppError;
use http::StatusCode;

/// What a service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Nobody is signed in, or the token is unknown, revoked or expired.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("not allowed: {0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// A field failed validation; `field` names the form control or JSON property.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// The edit was based on an old version.
    #[error("{message}")]
    Conflict { message: String, current_version: i32 },
    /// The request is well formed but the entity's state does not allow it: a gate not met, a transition
    /// the rollout's status forbids. `code` is stable for scripts (`GATE_BLOCKED`, `INVALID_TRANSITION`...).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("database error")]
    /// A query failed for a reason other than the database being unreachable (see the `From` below).
    Database(sqlx::Error),
    /// PostgreSQL cannot be reached, or not in time (see [`unreachable`]): nothing was changed, and the
    /// caller may try again. A 503 with `Retry-After`.
    #[error("the database is unreachable; evaluation goes on serving; try again shortly")]
    Unavailable,
    /// Anything else that should not happen: a stored value that no longer parses, a task that panicked.
    /// The source keeps the cause chain for the log; the client sees only that something went wrong.
    #[error("unexpected error")]
    Internal(#[source] anyhow::Error),
}

/// What the client reads instead of an internal error's text.
pub const INTERNAL_MESSAGE: &str = "something went wrong on the server; it has been logged";

impl ServiceError {
    /// A field that failed validation.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid { field, message: message.into() }
    }

    /// An unexpected failure, with what was being done when it happened (kept with the cause chain).
    pub fn internal<E>(doing: impl std::fmt::Display + Send + Sync + 'static, err: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        ServiceError::Internal(anyhow::Error::new(err).context(doing))
    }

    /// An unexpected state with no underlying error, e.g. a row that vanished under a lock.
    pub fn bug(message: impl std::fmt::Display) -> Self {
        ServiceError::Internal(anyhow::anyhow!("{message}"))
    }

    /// The HTTP status every edge answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ServiceError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ServiceError::Conflict { .. } | ServiceError::Refused { .. } => StatusCode::CONFLICT,
            ServiceError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Database(_) | ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code scripts match on (the `error` property of an API error body).
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Unauthenticated(_) => "UNAUTHORIZED",
            ServiceError::Forbidden(_) => "FORBIDDEN",
            ServiceError::NotFound(_) => "NOT_FOUND",
            ServiceError::Invalid { .. } => "INVALID",
            ServiceError::Conflict { .. } => "CONFLICT",
            ServiceError::Refused { code, .. } => code,
            ServiceError::Unavailable => "DATABASE_UNAVAILABLE",
            ServiceError::Database(_) | ServiceError::Internal(_) => "INTERNAL",
        }
    }

    /// Whether the client must not see this error's text (it is logged instead).
    pub fn is_internal(&self) -> bool {
        matches!(self, ServiceError::Database(_) | ServiceError::Internal(_))
    }

    /// The message for the client: what is wrong for an expected failure, [`INTERNAL_MESSAGE`] otherwise.
    pub fn client_message(&self) -> String {
        if self.is_internal() {
            INTERNAL_MESSAGE.to_owned()
        } else {
            self.to_string()
        }
    }

    /// Logs an internal error once, with its whole cause chain; expected failures are not logged.
    pub fn log_if_internal(&self) {
        if !self.is_internal() {
            return;
        }
        let mut chain = Vec::new();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(err) = cause {
            chain.push(err.to_string());
            cause = err.source();
        }
        tracing::error!(error = %self, cause = %chain.join(": "), "request failed on the server");
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(err: sqlx::Error) -> Self {
        if unreachable(&err) {
            tracing::warn!(error = %err, "the database is unreachable");
            ServiceError::Unavailable
        } else {
            ServiceError::Database(err)
        }
    }
}

/// Whether an error says that PostgreSQL cannot be reached (down, unreachable, restarting, out of
/// connections, no connection within the pool's acquire timeout), as opposed to a query it refused.
pub fn unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        // Class 08: connection exception; 57P01-03: shutting down, crashed, starting up; 53300: too many
        // connections.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")),
        _ => false,
    }
}

impl From<crate::domain::InvalidValue> for ServiceError {
    fn from(err: crate::domain::InvalidValue) -> Self {
        ServiceError::Invalid { field: err.field, message: err.message }
    }
}

impl From<ServiceError> for AppError {
    /// The page's view of a service error; internal errors are logged here, once, and become opaque.
    fn from(err: ServiceError) -> Self {
        err.log_if_internal();
        match err {
            ServiceError::Unauthenticated(_) => AppError::Unauthenticated,
            ServiceError::Forbidden(why) => AppError::Forbidden(why),
            ServiceError::NotFound(what) => AppError::NotFound(what),
            ServiceError::Invalid { field, message } => AppError::Invalid { field: field.to_owned(), message },
            ServiceError::Conflict { message, current_version } => AppError::Conflict { message, current_version },
            ServiceError::Refused { code, message } => AppError::Refused { code: code.to_owned(), message },
            ServiceError::Unavailable => AppError::Unavailable,
            ServiceError::Database(_) | ServiceError::Internal(_) => AppError::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_cause_chain_but_shows_the_client_nothing_of_it() {
        // Arrange
        let cause = std::io::Error::other("disk on fire at /var/lib/secret");
        // Act
        let err = ServiceError::internal("writing the report", cause);
        // Assert
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("writing the report"));
        let chain = format!(
            "{:#}",
            match &err {
                ServiceError::Internal(inner) => inner,
                _ => unreachable!("built as internal"),
            }
        );
        assert!(chain.contains("disk on fire"), "{chain}");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.client_message(), INTERNAL_MESSAGE);
        let app_error = AppError::from(err);
        assert_eq!((app_error.status(), app_error), (500, AppError::Internal));
    }

    #[test]
    fn each_expected_failure_has_its_status_and_code() {
        let cases = [
            (ServiceError::Unauthenticated("sign in".into()), 401, "UNAUTHORIZED"),
            (ServiceError::Forbidden("no".into()), 403, "FORBIDDEN"),
            (ServiceError::NotFound("flag x".into()), 404, "NOT_FOUND"),
            (ServiceError::invalid("key", "bad"), 422, "INVALID"),
            (ServiceError::Conflict { message: "moved".into(), current_version: 3 }, 409, "CONFLICT"),
            (ServiceError::Refused { code: "GATE_BLOCKED", message: "wait".into() }, 409, "GATE_BLOCKED"),
            (ServiceError::Unavailable, 503, "DATABASE_UNAVAILABLE"),
        ];
        for (err, status, code) in cases {
            assert_eq!((err.status().as_u16(), err.code()), (status, code), "{err:?}");
            assert_ne!(err.client_message(), INTERNAL_MESSAGE);
            // A server function answers with the same status as the API for the same failure.
            let message = format!("{err:?}");
            assert_eq!(AppError::from(err).status(), status, "{message}");
        }
    }
}
