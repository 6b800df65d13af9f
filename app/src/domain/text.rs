//! Free text that people type and the database keeps: reasons, comments, names. Each type carries the
//! limits the schema checks, so a write path refuses bad text with a message naming the field before it
//! writes anything, and a function that writes such a column takes the type, not a `&str`, so no path can
//! forget the check.
//!
//! Every one of them is trimmed, counted in characters (as PostgreSQL's `length` counts them) and refuses
//! control characters other than line breaks and tabs: PostgreSQL cannot store a NUL at all, and the others
//! only hide text from whoever reads it.

use super::InvalidValue;

/// Checks `raw` against a field's rules and answers it trimmed.
///
/// `label` is how messages name the field ("the reason"); `min` is 0 for optional text.
pub fn bounded(field: &'static str, label: &str, raw: &str, min: usize, max: usize) -> Result<String, InvalidValue> {
    let text = raw.trim();
    if let Some(bad) = text.chars().find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(InvalidValue::new(
            field,
            format!("{label} holds a control character (U+{:04X}); remove it", u32::from(bad)),
        ));
    }
    let n = text.chars().count();
    if n < min {
        return Err(InvalidValue::new(field, format!("{label} is required")));
    }
    if n > max {
        return Err(InvalidValue::new(
            field,
            format!(
                "{label} is {} characters long; the limit is {}",
                super::thousands(n as u64),
                super::thousands(max as u64)
            ),
        ));
    }
    Ok(text.to_owned())
}

/// Generates a newtype over `String` whose only constructor is [`bounded`] with the given limits.
macro_rules! bounded_text {
    ($(#[$meta:meta])* $name:ident, $field:literal, $label:literal, $min:literal ..= $max:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The most characters accepted.
            pub const MAX_CHARS: usize = $max;

            /// Checks text typed by a person or sent by a client.
            pub fn parse(raw: &str) -> Result<Self, $crate::domain::InvalidValue> {
                $crate::domain::text::bounded($field, $label, raw, $min, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

bounded_text!(
    /// Why a change was made, for the timeline, the audit trail and the notifications: up to 2,000
    /// characters, and may be empty (no reason given).
    ChangeReason, "reason", "the reason", 0..=2000
);

impl ChangeReason {
    /// An optional reason as forms and APIs send it: absent or blank is none.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, InvalidValue> {
        match raw.map(str::trim).filter(|r| !r.is_empty()) {
            Some(text) => Self::parse(text).map(Some),
            None => Ok(None),
        }
    }

    /// Text Rollgate writes itself (a guardrail's figures, a failed change's error), cut to the limit and
    /// cleaned of control characters rather than refused: nobody could shorten it.
    pub fn system(text: &str) -> Self {
        let cleaned: String = text.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t')).collect();
        Self(cleaned.trim().chars().take(Self::MAX_CHARS).collect())
    }

    /// The reason, or `None` when it is empty.
    pub fn given(&self) -> Option<&str> {
        Some(self.0.as_str()).filter(|r| !r.is_empty())
    }
}

bounded_text!(
    /// A sign-off's comment: up to 2,000 characters; a rejection needs one.
    Comment, "comment", "the comment", 0..=2000
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_trimmed_and_may_be_empty() {
        assert_eq!(ChangeReason::parse("  error rate 4% ").unwrap().as_str(), "error rate 4%");
        assert_eq!(ChangeReason::parse_optional(Some("   ")), Ok(None));
        assert_eq!(ChangeReason::parse_optional(None), Ok(None));
        assert_eq!(ChangeReason::parse("").unwrap().given(), None);
    }

    #[test]
    fn a_reason_of_2001_characters_is_refused_naming_the_field_and_2000_pass() {
        assert!(ChangeReason::parse(&"é".repeat(2000)).is_ok(), "characters, not bytes");
        let err = ChangeReason::parse(&"r".repeat(2001)).unwrap_err();
        assert_eq!(err.field, "reason");
        assert_eq!(err.message, "the reason is 2,001 characters long; the limit is 2,000");
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_and_tabs_are_text() {
        let err = ChangeReason::parse("before\u{0}after").unwrap_err();
        assert_eq!(err.message, "the reason holds a control character (U+0000); remove it");
        assert!(Comment::parse("line one\nline two\tend").is_ok());
    }

    #[test]
    fn text_written_by_the_system_is_cut_to_the_limit_instead_of_refused() {
        let long = format!("{}\u{0}", "x".repeat(3000));
        assert_eq!(ChangeReason::system(&long).as_str().chars().count(), 2000);
        assert!(!ChangeReason::system("a\u{0}b").as_str().contains('\u{0}'));
    }

    #[test]
    fn json_bodies_are_checked_when_they_are_read() {
        assert!(serde_json::from_str::<ChangeReason>("\"fine\"").is_ok());
        let err = serde_json::from_str::<ChangeReason>(&format!("\"{}\"", "x".repeat(2001))).unwrap_err();
        assert!(err.to_string().contains("the limit is 2,000"), "{err}");
    }
}
