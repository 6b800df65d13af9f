//! The HTTP APIs for applications and scripts.

pub mod admin;
pub mod error;
pub mod evaluate;
pub mod ofrep;
pub mod stream;
