//! Background tasks of a server process.

pub mod guardrails;
pub mod activity;
pub mod schedule;
pub mod snapshot;
pub mod webhooks;
