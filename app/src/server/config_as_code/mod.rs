//! Configuration as code: `rollgate export` reads the configuration into a [`ConfigDocument`] and
//! `rollgate apply` makes the configuration match one, in one audited transaction. The YAML itself is
//! written and parsed by the server crate's admin API (`/api/admin/export`, `/api/admin/apply`).

mod apply;
mod document;
mod export;

pub use apply::{apply, ApplyReport, Change};
pub use document::{
    ConfigDocument, EnvStateDoc, EnvironmentDoc, FlagDoc, GuardrailDoc, OverrideDoc, PhaseDoc, RolloutDoc,
    FORMAT_VERSION,
};
pub use export::{export, export_as, rename_environment};
