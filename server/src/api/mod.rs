//! The HTTP APIs for applications and scripts.

pub mod badges;
pub mod error;
pub mod evaluate;
pub mod ofrep;
pub mod stream;
