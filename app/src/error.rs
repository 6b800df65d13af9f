//! The error a server function returns to the page: expected failures the UI can match on, and an opaque
//! `Internal` for everything else (logged on the server with its cause, never sent to the client).
//! Made on the server from a `ServiceError`, which also sets the response's status.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// An error a page can show. Every message says what is wrong in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    #[error("your session has ended; sign in again")]
    Unauthenticated,
    #[error("not allowed: {0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// A field failed validation; `field` names the form control the message belongs next to.
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// The edit was based on an old version; the page should reload the current state.
    #[error("{message} (current version {current_version})")]
    Conflict { message: String, current_version: i32 },
    /// Not allowed in the entity's current state, e.g. a gate not met; the message says what is missing.
    #[error("{message}")]
    Refused { code: String, message: String },
    #[error("something went wrong on the server; it has been logged")]
    Internal,
    /// PostgreSQL does not answer (or not in time); nothing was changed. Evaluation, which never needs
    /// it, goes on serving.
    #[error("the database is unreachable; evaluation goes on serving")]
    Unavailable,
    /// The call itself failed (network, serialization); raised by the server-function machinery.
    #[error("the request failed: {0}")]
    Transport(String),
}

impl AppError {
    /// The HTTP status the server answers with for this error.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthenticated => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Invalid { .. } => 422,
            AppError::Conflict { .. } | AppError::Refused { .. } => 409,
            AppError::Internal => 500,
            AppError::Unavailable => 503,
            AppError::Transport(_) => 400,
        }
    }

    /// The message for one form field, if this error is about it.
    pub fn field_message(&self, field: &str) -> Option<String> {
        match self {
            AppError::Invalid { field: f, message } if f == field => Some(message.clone()),
            _ => None,
        }
    }
}

impl From<crate::domain::InvalidValue> for AppError {
    fn from(err: crate::domain::InvalidValue) -> Self {
        AppError::Invalid { field: err.field.to_owned(), message: err.message }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        // On the server, arguments that do not decode are the caller's mistake: say which one.
        #[cfg(feature = "ssr")]
        if let Some(invalid) = crate::server::arguments::client_error(&value) {
            return invalid;
        }
        AppError::Transport(value.to_string())
    }

    /// Every error a server function answers with carries its own status (422, 404, 503...), not the
    /// 500 server_fn gives every error by default.
    fn ser(&self) -> server_fn::Bytes {
        #[cfg(feature = "ssr")]
        crate::server::set_response_status(self);
        <JsonEncoding as server_fn::Encodes<Self>>::encode(self).unwrap_or_default()
    }
}
