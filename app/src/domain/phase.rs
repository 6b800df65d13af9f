//! Phases and environments as people name them: the keys and names typed into the flag manager's forms.

use super::InvalidValue;
use serde::{Deserialize, Serialize};

/// A phase's key, e.g. `phase-2` or `api-features`: lowercase letters, digits, `_`, `.` and `-`, starting
/// with a letter or digit, up to 100 characters (the `phases_key_format` constraint).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhaseKey(String);

impl PhaseKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let key = raw.trim();
        let valid_start = key.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid_rest =
            key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        if key.is_empty() {
            return Err(InvalidValue::new("key", "the key is required"));
        }
        if !valid_start || !valid_rest || key.len() > 100 {
            return Err(InvalidValue::new(
                "key",
                format!(
                    "{key:?} is not a phase key (lowercase letters, digits, '_', '.' and '-', starting with a \
                     letter or digit, up to 100)"
                ),
            ));
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PhaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhaseKey {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhaseKey> for String {
    fn from(key: PhaseKey) -> Self {
        key.0
    }
}

/// A display name: trimmed, required, at most `max` characters. Reported against the `name` field.
fn name(raw: &str, max: usize) -> Result<String, InvalidValue> {
    let name = raw.trim();
    match name.chars().count() {
        0 => Err(InvalidValue::new("name", "the name is required")),
        n if n > max => Err(InvalidValue::new("name", format!("the name is {n} characters long; the limit is {max}"))),
        _ => Ok(name.to_owned()),
    }
}

/// A phase's name, e.g. "Phase 2: Resilience": 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseName(String);

impl PhaseName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        name(raw, 200).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An environment's name, e.g. "EU production": 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvName(String);

impl EnvName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        name(raw, 100).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's name: 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        name(raw, 200).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_keys_take_lowercase_letters_digits_and_separators() {
        for good in ["phase-1", "api.features", "2026_q1", "x"] {
            assert_eq!(PhaseKey::parse(good).map(String::from), Ok(good.to_owned()));
        }
        assert_eq!(PhaseKey::parse("  phase-1 ").map(String::from), Ok("phase-1".to_owned()));
        for bad in ["", "Phase-1", "-phase", "phase 1", &"p".repeat(101)] {
            let err = PhaseKey::parse(bad).unwrap_err();
            assert_eq!(err.field, "key", "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_required_and_bounded() {
        assert_eq!(EnvName::parse("  EU production ").map(|n| n.as_str().to_owned()), Ok("EU production".into()));
        assert_eq!(EnvName::parse("   ").unwrap_err().message, "the name is required");
        assert!(EnvName::parse(&"e".repeat(101)).unwrap_err().message.contains("limit is 100"));
        assert!(PhaseName::parse(&"p".repeat(200)).is_ok());
        assert!(PhaseName::parse(&"p".repeat(201)).is_err());
        assert_eq!(PersonName::parse("").unwrap_err().field, "name");
    }
}
