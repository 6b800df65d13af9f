//! The HTTP APIs for applications and scripts.

pub mod admin;
pub mod badges;
pub mod caller;
pub mod config_io;
pub mod cors;
pub mod error;
pub mod evaluate;
pub mod frontend;
pub mod ingest;
pub mod ofrep;
pub mod openapi;
pub mod people;
pub mod rollouts;
pub mod schedule;
pub mod stream;
pub mod structure;
pub mod targets;
