//! Widgets shared by several pages.

pub mod badges;
pub mod forms;
pub mod layout;
pub mod priority_badges;
pub mod status;
pub mod toggle;
