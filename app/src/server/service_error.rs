//! Errors of the service layer.

use crate::error::AppError;

/// What a service call can fail with. Database errors stay inside the server: they become an opaque
/// `AppError::Internal` at the edge and are logged there.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not allowed: {0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    #[error("{message}")]
    Conflict { message: String, current_version: i32 },
    /// The request is well formed but the entity's state does not allow it: a gate not met, a transition
    /// the rollout's status forbids. `code` is stable for scripts (`GATE_BLOCKED`, `INVALID_TRANSITION`...).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("database error")]
    Database(sqlx::Error),
    /// PostgreSQL cannot be reached, or not in time (see [`unreachable`]): nothing was changed, and the
    /// caller may try again. A 503 with `Retry-After`.
    #[error("the database is unreachable; evaluation goes on serving")]
    Unavailable,
    #[error("{0}")]
    Other(String),
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
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Forbidden(why) => AppError::Forbidden(why),
            ServiceError::NotFound(what) => AppError::NotFound(what),
            ServiceError::Invalid { field, message } => AppError::Invalid { field: field.to_owned(), message },
            ServiceError::Conflict { message, current_version } => AppError::Conflict { message, current_version },
            ServiceError::Refused { code, message } => AppError::Refused { code: code.to_owned(), message },
            ServiceError::Database(source) => {
                tracing::error!(error = %source, cause = ?source, "database error");
                AppError::Internal
            }
            ServiceError::Unavailable => AppError::Unavailable,
            ServiceError::Other(message) => {
                tracing::error!(%message, "unexpected error");
                AppError::Internal
            }
        }
    }
}
