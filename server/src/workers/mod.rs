//! Background tasks of a server process.

pub mod activity;
pub mod guardrails;
pub mod retention;
pub mod schedule;
pub mod setup_link;
pub mod snapshot;
pub mod webhooks;
