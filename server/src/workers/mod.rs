//! Background tasks of a server process.

pub mod snapshot;
pub mod webhooks;
