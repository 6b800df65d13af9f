//! Targets: the customer and organization keys applications send. Overrides and allow-lists name a target
//! by key, registered or not; the registry only gives keys names for people.
//!
//! The rules match the database's (`customers_key_format`, `organizations_key_format` and the same checks on
//! `overrides` and `rollout_allow_list`), so a key that passes here is stored.

use super::{text_enum, InvalidValue};
use serde::{Deserialize, Serialize};

text_enum!(
    /// What kind of target a key names.
    TargetKind, "target kind", {
        /// A customer (an application's user or tenant id; the default stickiness).
        Customer => "customer",
        /// An organization (an account), which customers belong to.
        Organization => "organization",
    }
);

impl TargetKind {
    /// The longest key of this kind.
    pub fn max_len(self) -> usize {
        match self {
            TargetKind::Customer => 200,
            TargetKind::Organization => 100,
        }
    }

    /// Whether a key of this kind may hold `c`.
    fn allows(self, c: char) -> bool {
        c.is_ascii_alphanumeric()
            || matches!(c, '_' | '.' | ':' | '-')
            || (self == TargetKind::Customer && matches!(c, '@' | '+'))
    }

    /// The characters allowed, in words, for messages and hints.
    pub fn alphabet(self) -> &'static str {
        match self {
            TargetKind::Customer => "letters, digits, '_', '.', ':', '@', '+' and '-'",
            TargetKind::Organization => "letters, digits, '_', '.', ':' and '-'",
        }
    }

    /// With its article, for messages: `a customer`, `an organization`.
    pub fn a(self) -> &'static str {
        match self {
            TargetKind::Customer => "a customer",
            TargetKind::Organization => "an organization",
        }
    }

    /// The plural used in paths and lists: `customers`, `organizations`.
    pub fn plural(self) -> &'static str {
        match self {
            TargetKind::Customer => "customers",
            TargetKind::Organization => "organizations",
        }
    }

    /// Reads the plural as well as the singular (`customers` or `customer`).
    pub fn parse_loose(raw: &str) -> Result<Self, InvalidValue> {
        match raw.trim() {
            "customer" | "customers" => Ok(TargetKind::Customer),
            "organization" | "organizations" => Ok(TargetKind::Organization),
            other => Err(InvalidValue::new(
                "target kind",
                format!("unknown target kind {other:?}: expected customer or organization"),
            )),
        }
    }

    /// Checks a key of this kind; `field` names the form field or property in the message's error.
    pub fn parse_key(self, raw: &str, field: &'static str) -> Result<String, InvalidValue> {
        let key = raw.trim();
        let what = self.as_str();
        if key.is_empty() {
            return Err(InvalidValue::new(field, format!("the {what} key is required")));
        }
        let len = key.chars().count();
        if len > self.max_len() {
            return Err(InvalidValue::new(
                field,
                format!("the {what} key is {len} characters long; the limit is {}", self.max_len()),
            ));
        }
        if let Some(bad) = key.chars().find(|c| !self.allows(*c)) {
            return Err(InvalidValue::new(
                field,
                format!(
                    "{key:?} is not {} key: it may hold only {}; {bad:?} is not allowed",
                    self.a(),
                    self.alphabet()
                ),
            ));
        }
        Ok(key.to_owned())
    }
}

/// A customer or an organization, by key.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub kind: TargetKind,
    pub key: String,
}

impl Target {
    /// A checked target; the error names `field`.
    pub fn parse(kind: TargetKind, raw: &str, field: &'static str) -> Result<Self, InvalidValue> {
        Ok(Self { kind, key: kind.parse_key(raw, field)? })
    }

    pub fn customer(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse(TargetKind::Customer, raw, "customer")
    }

    pub fn organization(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse(TargetKind::Organization, raw, "organization")
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.key)
    }
}

/// Reads a list of keys separated by commas, spaces or new lines (an allow-list typed in a form), each
/// checked; duplicates are dropped, the first spelling kept. The error names `field` and the bad key.
pub fn parse_key_list(kind: TargetKind, text: &str, field: &'static str) -> Result<Vec<String>, InvalidValue> {
    let mut keys: Vec<String> = Vec::new();
    for raw in text.split([',', '\n', '\r', ' ', '\t']).filter(|k| !k.trim().is_empty()) {
        let key = kind.parse_key(raw, field)?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Checks every key of a list sent as JSON or YAML; duplicates are refused, since they would say the same
/// thing twice and usually mean a mistake.
pub fn check_keys(kind: TargetKind, keys: &[String], field: &'static str) -> Result<Vec<String>, InvalidValue> {
    let mut out: Vec<String> = Vec::with_capacity(keys.len());
    for raw in keys {
        let key = kind.parse_key(raw, field)?;
        if out.contains(&key) {
            return Err(InvalidValue::new(field, format!("{key:?} is listed twice")));
        }
        out.push(key);
    }
    Ok(out)
}

/// A name for people: 1 to 200 characters, trimmed.
pub fn parse_name(raw: &str, field: &'static str) -> Result<String, InvalidValue> {
    let name = raw.trim();
    match name.chars().count() {
        0 => Err(InvalidValue::new(field, "the name is required")),
        n if n > 200 => Err(InvalidValue::new(field, format!("the name is {n} characters long; the limit is 200"))),
        _ => Ok(name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_keys_take_ids_uuids_and_email_addresses() {
        for key in ["cust-0001", "42", "3f1c9a2e-7d4b-4c1e-9a53-0b6f0e6d2a11", "alice+test@example.com", "tenant:7"] {
            assert_eq!(Target::customer(key).map(|t| t.key), Ok(key.to_owned()));
        }
    }

    #[test]
    fn organization_keys_take_letters_digits_and_separators_but_not_at_signs() {
        assert!(Target::organization("acme.example:eu-1").is_ok());
        let err = Target::organization("ops@acme").unwrap_err();
        assert_eq!(err.field, "organization");
        assert!(err.message.contains("'@' is not allowed"), "{}", err.message);
    }

    #[test]
    fn a_key_is_trimmed_and_an_empty_one_is_refused_naming_the_field() {
        assert_eq!(Target::customer("  c-1 ").map(|t| t.key), Ok("c-1".to_owned()));
        let err = TargetKind::Customer.parse_key("  ", "allow_customers").unwrap_err();
        assert_eq!(err.field, "allow_customers");
        assert_eq!(err.message, "the customer key is required");
    }

    #[test]
    fn a_key_over_the_limit_says_how_long_it_is() {
        assert!(Target::organization(&"o".repeat(100)).is_ok());
        let err = Target::organization(&"o".repeat(101)).unwrap_err();
        assert!(err.message.contains("101 characters"), "{}", err.message);
        assert!(Target::customer(&"c".repeat(200)).is_ok());
        assert!(Target::customer(&"c".repeat(201)).is_err());
    }

    #[test]
    fn a_key_with_a_space_or_slash_names_the_bad_character() {
        let err = Target::customer("a/b").unwrap_err();
        assert!(err.message.contains("'/'"), "{}", err.message);
        assert!(Target::customer("clé").is_err());
    }

    #[test]
    fn a_typed_list_splits_on_commas_spaces_and_lines_and_drops_repeats() {
        let keys = parse_key_list(TargetKind::Customer, "c-1, c-2\nc-1  c-3,", "allow_customers").unwrap();
        assert_eq!(keys, ["c-1", "c-2", "c-3"]);
        assert!(parse_key_list(TargetKind::Customer, " , ", "allow_customers").unwrap().is_empty());
        let err = parse_key_list(TargetKind::Organization, "acme, bad/key", "allow_organizations").unwrap_err();
        assert_eq!(err.field, "allow_organizations");
        assert!(err.message.contains("\"bad/key\""), "{}", err.message);
    }

    #[test]
    fn a_list_sent_as_data_refuses_a_key_listed_twice() {
        let keys = vec!["acme".to_owned(), "acme".to_owned()];
        let err = check_keys(TargetKind::Organization, &keys, "allow_organizations").unwrap_err();
        assert_eq!(err.message, "\"acme\" is listed twice");
    }

    #[test]
    fn kinds_read_singular_and_plural() {
        assert_eq!(TargetKind::parse_loose("customers"), Ok(TargetKind::Customer));
        assert_eq!(TargetKind::parse_loose("organization"), Ok(TargetKind::Organization));
        assert!(TargetKind::parse_loose("teams").is_err());
    }

    #[test]
    fn names_are_required_and_bounded() {
        assert_eq!(parse_name(" Acme ", "name"), Ok("Acme".to_owned()));
        assert_eq!(parse_name("", "name").unwrap_err().message, "the name is required");
        assert!(parse_name(&"n".repeat(201), "name").is_err());
    }
}
