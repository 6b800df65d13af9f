//! Background tasks of a server process.

pub mod activity;
pub mod snapshot;
