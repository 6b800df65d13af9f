//! What the people pages show: users, their one-time set-password links, the first admin's set-up.

use super::{AuditEventView, TokenRow};
use crate::domain::{Role, SignoffRole};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a user stands.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Can sign in.
    Active,
    /// Has no password yet (invited, or an admin forced a reset): waits for their set-password link.
    Pending,
    /// Cannot sign in; their sessions and admin tokens were ended when they were disabled.
    Disabled,
}

impl UserStatus {
    /// As pages show it.
    pub fn label(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Pending => "waiting to set a password",
            UserStatus::Disabled => "disabled",
        }
    }
}

crate::domain::text_enum!(
    /// Why a one-time set-password link was issued: to invite a new user or to reset a password.
    LinkPurpose, "purpose", {
        Invite => "invite",
        Reset => "reset",
    }
);

/// A user as listed on the users page and by `rollgate user list`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub signoff_roles: Vec<SignoffRole>,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A set-password link that has not been used yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingLink {
    pub purpose: LinkPurpose,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Everything one user's admin page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDetail {
    pub user: UserRow,
    /// Their admin tokens that still work.
    pub admin_tokens: Vec<TokenRow>,
    pub pending_link: Option<PendingLink>,
    /// What was done to this user, newest first.
    pub history: Vec<AuditEventView>,
    /// The user is the signed-in admin (who cannot disable or reset themselves here).
    pub is_me: bool,
    /// The user is the only active admin (who cannot be disabled or demoted).
    pub last_admin: bool,
}

/// A one-time set-password link just made: shown once, to be passed on to its user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedLinkView {
    pub user_id: i64,
    pub email: String,
    /// `invite` or `reset`.
    pub purpose: LinkPurpose,
    /// The whole address to open, e.g. `https://flags.example.com/set-password?token=...`.
    pub link: String,
    pub expires_at: DateTime<Utc>,
}

/// What the users page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsersPageData {
    pub users: Vec<UserRow>,
    /// A link made by a form posted without JavaScript, shown once on the page it came back to.
    pub just_created: Option<CreatedLinkView>,
}

/// Whom a set-password link is for, as its page greets them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkTarget {
    pub email: String,
    pub name: String,
    /// `invite` or `reset`.
    pub purpose: LinkPurpose,
}
