//! `/admin/settings/...`: configuration pages for admins.

pub mod environments;
pub mod webhooks;
