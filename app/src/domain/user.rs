//! Users: roles, sign-off roles and email addresses.

use super::{text_enum, InvalidValue};
use serde::{Deserialize, Serialize};

text_enum!(
    /// What a user may do. Each role includes the one before it.
    Role, "role", {
        /// Sees everything, changes nothing.
        Viewer => "viewer",
        /// Changes flags, overrides and rollouts.
        Editor => "editor",
        /// Also manages users and tokens.
        Admin => "admin",
    }
);

impl Role {
    /// Whether this role may change flags and their states.
    pub fn can_edit_flags(self) -> bool {
        self >= Role::Editor
    }

    /// Whether this role may manage users.
    pub fn can_manage_users(self) -> bool {
        self == Role::Admin
    }

    /// The role with its article: "a viewer", "an editor", "an admin".
    pub fn with_article(self) -> &'static str {
        match self {
            Role::Viewer => "a viewer",
            Role::Editor => "an editor",
            Role::Admin => "an admin",
        }
    }
}

text_enum!(
    /// A role whose holder can sign off a rollout stage.
    SignoffRole, "sign-off role", {
        DevLead => "dev_lead",
        OpsOncall => "ops_oncall",
        ProductOwner => "product_owner",
        Qa => "qa",
    }
);

impl SignoffRole {
    /// Parses a comma-separated list such as `product_owner,dev_lead`; blanks are skipped, repeats merged.
    pub fn parse_list(raw: &str) -> Result<Vec<SignoffRole>, InvalidValue> {
        let mut roles = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let role: SignoffRole = part.parse()?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        roles.sort();
        Ok(roles)
    }
}

/// An email address, trimmed and compared case-insensitively (stored as typed, matched lowercased).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    /// A deliberately loose check: one `@` with text on both sides and a dot in the domain. Real
    /// validation of an address is sending mail to it, which an admin tool does not need.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let email = super::text::bounded("email", "the email address", raw, 1, 254)?;
        let valid = !email.chars().any(char::is_whitespace)
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && domain.contains('.')
                        && !domain.contains('@')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(email))
        } else {
            Err(InvalidValue::new("email", format!("{email:?} is not an email address")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(!Role::Viewer.can_edit_flags());
        assert!(Role::Editor.can_edit_flags());
        assert!(!Role::Editor.can_manage_users());
        assert!(Role::Admin.can_edit_flags() && Role::Admin.can_manage_users());
    }

    #[test]
    fn signoff_lists_parse_merge_and_reject_unknown_roles() {
        assert_eq!(
            SignoffRole::parse_list("product_owner, dev_lead,,product_owner"),
            Ok(vec![SignoffRole::DevLead, SignoffRole::ProductOwner])
        );
        assert_eq!(SignoffRole::parse_list(""), Ok(vec![]));
        let err = SignoffRole::parse_list("dev_lead,ceo").unwrap_err();
        assert!(err.message.contains("\"ceo\""), "{}", err.message);
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(Email::parse(" admin@rollgate.local ").is_ok());
        for bad in ["", "admin", "@x.io", "a@b", "a b@x.io", "a@@x.io", "a@x.io.", "a\u{0}b@x.io"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
        let long = format!("{}@example.com", "a".repeat(300));
        assert_eq!(
            Email::parse(&long).unwrap_err().message,
            "the email address is 312 characters long; the limit is 254"
        );
    }
}
