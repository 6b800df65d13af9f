//! `/admin/settings/...`: configuration pages for admins.

pub mod webhooks;
