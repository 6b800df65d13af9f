//! Configuration as code: `rollgate export` reads the configuration into a [`ConfigDocument`] and
//! `rollgate apply` makes the configuration match one, in one audited transaction. The YAML itself is
//! written and parsed by the server crate's admin API (`/api/admin/export`, `/api/admin/apply`).

mod apply;
mod apply_targeting;
mod document;
mod export;

pub use apply::{apply, ApplyReport, Change};
pub use document::{
    ConfigDocument, EnvStateDoc, EnvironmentDoc, FlagDoc, GuardrailDoc, OverrideDoc, PhaseDoc, RolloutDoc, SegmentDoc,
    FORMAT_VERSION,
};
pub use export::{export, export_as, rename_environment};

use crate::server::ServiceError;

/// Says where in the file an error comes from. A check constraint of the database (a name too long, a key
/// in the wrong format) is named rather than reported as an internal error.
fn at(path: &str, err: ServiceError) -> ServiceError {
    match err {
        ServiceError::Invalid { field, message } => ServiceError::invalid(field, format!("{path}: {message}")),
        ServiceError::NotFound(what) => ServiceError::invalid("document", format!("{path}: there is no {what}")),
        ServiceError::Refused { code, message } => {
            ServiceError::Refused { code, message: format!("{path}: {message}") }
        }
        ServiceError::Conflict { message, current_version } => {
            ServiceError::Conflict { message: format!("{path}: {message}"), current_version }
        }
        ServiceError::Forbidden(why) => ServiceError::Forbidden(why),
        ServiceError::Database(sqlx::Error::Database(db)) if db.constraint().is_some() => ServiceError::invalid(
            "document",
            format!("{path}: refused by the database rule {}", db.constraint().unwrap_or_default()),
        ),
        other => other,
    }
}
