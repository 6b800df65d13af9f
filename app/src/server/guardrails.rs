//! Guardrails on the server: metric ingest, the guardrail rows and their latest decisions, the figures
//! over a window, and one pass of the guardrail worker. The decisions themselves are pure
//! (`crate::domain::guardrail`); this module loads what they read and writes what they return.

pub mod ingest;
pub mod store;
pub mod worker;

pub use ingest::{ingest, IngestOutcome, UnknownKey};
pub use store::{advance_blockers, insert_specs, list, EvaluationRow, GuardrailRow};
