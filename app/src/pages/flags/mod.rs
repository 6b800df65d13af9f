//! The flag manager: the list at `/admin/feature-flags` and each flag's page.

pub mod detail;
pub mod evaluate_for;
pub mod frontend_visibility;
pub mod list;
pub mod move_phase;
pub mod new_flag;
pub mod override_actions;
pub mod overrides;
pub mod targeting;
pub mod targeting_actions;
