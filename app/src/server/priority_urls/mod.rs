//! Priority URLs: importing an account's URL metadata (parse, COPY into a staging table, merge in one
//! transaction), rolling a batch back, and the queries behind the badge previews.

pub mod import;
pub mod normalize;
pub mod parse;
pub mod queries;
pub mod rollback;

pub use import::{import, ImportRequest};
pub use parse::{FileError, Format};

use super::ServiceError;
use crate::error::AppError;

/// What the priority-URL code keeps for the process: the limits, and the account overviews computed.
#[derive(Debug, Default)]
pub struct PriorityUrls {
    pub limits: ImportLimits,
    pub overviews: queries::OverviewCache,
}

impl PriorityUrls {
    pub fn new(limits: ImportLimits) -> Self {
        Self { limits, overviews: queries::OverviewCache::default() }
    }
}

/// Limits on imports, from the configuration.
#[derive(Debug, Clone)]
pub struct ImportLimits {
    /// The most URLs one account may hold; rows that would add more go to the overflow report.
    pub max_urls_per_account: i64,
    /// The largest file accepted, in bytes.
    pub max_file_bytes: usize,
}

impl ImportLimits {
    pub const DEFAULT_CAP: i64 = 60_000;
    pub const DEFAULT_MAX_MIB: usize = 32;
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self { max_urls_per_account: Self::DEFAULT_CAP, max_file_bytes: Self::DEFAULT_MAX_MIB * 1024 * 1024 }
    }
}

/// Why an import did not happen. Either way nothing changed but, where an account was found, a batch
/// record with status `failed` and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole broke a rule.
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl ImportError {
    /// The HTTP status to answer with: 413 for a file over the limit, 422 for another bad file.
    pub fn status(&self) -> u16 {
        match self {
            ImportError::File(FileError::TooLarge { .. }) => 413,
            ImportError::File(_) => 422,
            ImportError::Service(err) => match err {
                ServiceError::Forbidden(_) => 403,
                ServiceError::NotFound(_) => 404,
                ServiceError::Invalid { .. } => 422,
                ServiceError::Conflict { .. } | ServiceError::Refused { .. } => 409,
                ServiceError::Unavailable => 503,
                ServiceError::Database(_) | ServiceError::Other(_) => 500,
            },
        }
    }

    /// The message for the client; unexpected failures are logged and described without detail.
    pub fn into_client_message(self) -> String {
        match self {
            ImportError::File(err) => err.to_string(),
            ImportError::Service(err) => AppError::from(err).to_string(),
        }
    }
}

/// Where an import is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The file is read and checked: `valid` rows of `rows_read` go on to the database.
    Parsed {
        rows_read: u32,
        valid: usize,
    },
    /// Rows sent to the staging table so far. They load while the file is still being read, so `total`
    /// is the valid rows found so far; `Parsed` follows once the whole file is read.
    Loading {
        sent: usize,
        total: usize,
    },
    /// Deciding what is new, changed, unchanged or over the cap, and writing it.
    Merging,
    Committed,
}
