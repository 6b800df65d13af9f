//! Flags: keys, names and kinds.

use super::{text_enum, InvalidValue};
use serde::{Deserialize, Serialize};

/// A flag's stable key: letters, digits, `_`, `.` and `-`, 1 to 100 characters. Never reused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FlagKey(String);

impl FlagKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 100;

    /// Checks a key typed by a person or sent by a client.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let key = raw.trim();
        if key.is_empty() {
            return Err(InvalidValue::new("key", "the key is required"));
        }
        let len = key.chars().count();
        if len > Self::MAX_LEN {
            return Err(InvalidValue::new(
                "key",
                format!("the key is {len} characters long; the limit is {}", Self::MAX_LEN),
            ));
        }
        if let Some(bad) = key.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
            return Err(InvalidValue::new(
                "key",
                format!("the key may hold only letters, digits, '_', '.' and '-'; {bad:?} is not allowed"),
            ));
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FlagKey {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<FlagKey> for String {
    fn from(key: FlagKey) -> Self {
        key.0
    }
}

impl std::fmt::Display for FlagKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An environment's key, e.g. `production`: lowercase letters, digits, `_` and `-`, up to 50 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvKey(String);

impl EnvKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let key = raw.trim();
        let valid_start = key.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid_rest = key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid_start || !valid_rest || key.len() > 50 {
            return Err(InvalidValue::new(
                "environment",
                format!("{key:?} is not an environment key (lowercase letters, digits, '_' and '-', up to 50)"),
            ));
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EnvKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EnvKey {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EnvKey> for String {
    fn from(key: EnvKey) -> Self {
        key.0
    }
}

/// A flag's display name: 1 to 200 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagName(String);

impl FlagName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        super::text::bounded("name", "the name", raw, 1, 200).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A flag's description: up to 2,000 characters, may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        super::text::bounded("description", "the description", raw, 0, 2000).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_enum!(
    /// What a flag is for; it decides, among other things, when a flag counts as stale.
    FlagKind, "kind", {
        /// Ships a change; removed once fully rolled out.
        Release => "release",
        /// A long-lived operational switch.
        Operational => "operational",
        /// Turns a feature off in an emergency; never stale.
        KillSwitch => "kill_switch",
        /// An A/B test with variants.
        Experiment => "experiment",
        /// Gates access for some customers; never stale.
        Permission => "permission",
    }
);

text_enum!(
    /// The type of the values a flag serves.
    ValueType, "value type", {
        Boolean => "boolean",
        String => "string",
        Number => "number",
        Json => "json",
    }
);

impl ValueType {
    /// Whether `value` is of this type (JSON flags take any value).
    pub fn accepts(self, value: &serde_json::Value) -> bool {
        match self {
            ValueType::Boolean => value.is_boolean(),
            ValueType::String => value.is_string(),
            ValueType::Number => value.is_number(),
            ValueType::Json => true,
        }
    }

    /// Reads a value typed into a form: `true`/`false` (or `on`/`off`) for a boolean flag, the text itself
    /// for a string flag, a number, or any JSON. The error names `field`.
    pub fn parse_value(self, text: &str, field: &'static str) -> Result<serde_json::Value, InvalidValue> {
        let trimmed = text.trim();
        let refuse = |what: &str| InvalidValue::new(field, format!("{trimmed:?} is not {what}"));
        match self {
            ValueType::Boolean => match trimmed.to_ascii_lowercase().as_str() {
                "true" | "on" => Ok(serde_json::Value::Bool(true)),
                "false" | "off" => Ok(serde_json::Value::Bool(false)),
                _ => Err(refuse("true or false")),
            },
            ValueType::String if trimmed.is_empty() => Err(InvalidValue::new(field, "the value is required")),
            // Kept as typed (not trimmed): a string value may start or end with a space on purpose.
            ValueType::String => Ok(serde_json::Value::String(text.to_owned())),
            ValueType::Number => match serde_json::from_str::<serde_json::Value>(trimmed) {
                Ok(number @ serde_json::Value::Number(_)) => Ok(number),
                _ => Err(refuse("a number")),
            },
            ValueType::Json => serde_json::from_str(trimmed)
                .map_err(|e| InvalidValue::new(field, format!("the value is not valid JSON: {e}"))),
        }
    }

    /// The value a flag of this type serves by default in an environment added after it: `false`, `""`,
    /// `0`, or JSON `null`. Nothing is served until someone turns the flag on there.
    pub fn zero(self) -> serde_json::Value {
        match self {
            ValueType::Boolean => serde_json::Value::Bool(false),
            ValueType::String => serde_json::Value::String(String::new()),
            ValueType::Number => serde_json::Value::from(0),
            ValueType::Json => serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_with_letters_digits_and_separators_is_accepted() {
        for key in ["parentStorage", "phase2_tab_sync", "ENABLE_UI_REFRESH", "a.b-c_d", "x"] {
            assert_eq!(FlagKey::parse(key).map(|k| k.as_str().to_owned()), Ok(key.to_owned()));
        }
    }

    #[test]
    fn a_key_is_trimmed() {
        assert_eq!(FlagKey::parse("  autoRestore ").map(String::from), Ok("autoRestore".to_owned()));
    }

    #[test]
    fn an_empty_key_is_refused_with_a_message() {
        let err = FlagKey::parse("   ").unwrap_err();
        assert_eq!(err.field, "key");
        assert_eq!(err.message, "the key is required");
    }

    #[test]
    fn a_key_of_101_characters_is_refused_and_100_is_accepted() {
        assert!(FlagKey::parse(&"a".repeat(100)).is_ok());
        let err = FlagKey::parse(&"a".repeat(101)).unwrap_err();
        assert!(err.message.contains("101 characters"), "{}", err.message);
    }

    #[test]
    fn a_key_with_a_space_or_slash_names_the_bad_character() {
        let err = FlagKey::parse("my flag").unwrap_err();
        assert!(err.message.contains("' '"), "{}", err.message);
        let err = FlagKey::parse("a/b").unwrap_err();
        assert!(err.message.contains("'/'"), "{}", err.message);
        assert!(FlagKey::parse("clé").is_err());
    }

    #[test]
    fn a_key_deserializes_only_when_valid() {
        assert!(serde_json::from_str::<FlagKey>("\"ok_key\"").is_ok());
        assert!(serde_json::from_str::<FlagKey>("\"not ok\"").is_err());
    }

    #[test]
    fn environment_keys_are_lowercase() {
        assert!(EnvKey::parse("production").is_ok());
        assert!(EnvKey::parse("Production").is_err());
        assert!(EnvKey::parse("").is_err());
        assert!(EnvKey::parse("-dev").is_err());
    }

    #[test]
    fn names_are_required_and_bounded() {
        assert_eq!(FlagName::parse(" Tab sync ").map(|n| n.as_str().to_owned()), Ok("Tab sync".to_owned()));
        assert_eq!(FlagName::parse("").unwrap_err().field, "name");
        assert!(FlagName::parse(&"n".repeat(201)).is_err());
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"d".repeat(2001)).is_err());
    }

    #[test]
    fn kinds_round_trip_through_text_and_reject_unknown_ones() {
        for kind in FlagKind::ALL {
            assert_eq!(kind.as_str().parse::<FlagKind>(), Ok(*kind));
        }
        let err = "feature".parse::<FlagKind>().unwrap_err();
        assert!(err.message.contains("release, operational, kill_switch, experiment, permission"), "{}", err.message);
    }

    #[test]
    fn form_values_are_read_by_the_flag_type() {
        use serde_json::json;
        assert_eq!(ValueType::Boolean.parse_value(" On ", "value"), Ok(json!(true)));
        assert_eq!(ValueType::Boolean.parse_value("false", "value"), Ok(json!(false)));
        assert_eq!(ValueType::Boolean.parse_value("yes", "value").unwrap_err().message, "\"yes\" is not true or false");
        assert_eq!(ValueType::String.parse_value("blue", "value"), Ok(json!("blue")));
        assert!(ValueType::String.parse_value("  ", "value").is_err());
        assert_eq!(ValueType::Number.parse_value("2.5", "value"), Ok(json!(2.5)));
        assert!(ValueType::Number.parse_value("\"2\"", "value").is_err());
        assert_eq!(ValueType::Json.parse_value(r#"{"a": [1]}"#, "value"), Ok(json!({"a": [1]})));
        assert_eq!(ValueType::Json.parse_value("{", "value").unwrap_err().field, "value");
    }

    #[test]
    fn a_value_fits_its_flag_type() {
        use serde_json::json;
        assert!(ValueType::Boolean.accepts(&json!(true)));
        assert!(!ValueType::Boolean.accepts(&json!("true")));
        assert!(ValueType::Number.accepts(&json!(3)));
        assert!(ValueType::Json.accepts(&json!(null)));
    }
}
