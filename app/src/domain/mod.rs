//! Pure types and rules of the domain. No I/O: this module builds for the server and the browser alike,
//! so the browser can validate a form with the very rules the server enforces.

pub mod audit_diff;
pub mod bucketing;
pub mod duration;
pub mod evaluation;
pub mod flag;
pub mod guardrail;
pub mod percent;
pub mod phase;
pub mod priority;
pub mod rollout;
pub mod staleness;
pub mod target;
pub mod targeting;
pub mod text;
pub mod token;
pub mod user;
pub mod variant;
pub mod webhook;

pub use evaluation::{
    evaluate, DecidedBy, EnvConfig, EvalContext, EvalError, Evaluation, FlagConfig, FlagLookup, KeyMap, NoFlags,
    OnValue, Reason, RolloutConfig, Stickiness,
};
pub use flag::{Description, EnvKey, FlagKey, FlagKind, FlagName, ValueType};
pub use percent::Percent;
pub use phase::{EnvName, PersonName, PhaseKey, PhaseName};
pub use target::{Target, TargetKind};
pub use text::{ChangeReason, Comment};
pub use token::{AllowedOrigin, RateLimit, TokenScope};
pub use user::{Email, Role, SignoffRole};
pub use variant::{Variant, Variants};
pub use webhook::WebhookEvent;

/// A count with thousands separators, as every page, message and command prints counts: 60000 -> "60,000".
pub fn thousands(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A value that failed validation at the edge, with a message fit to show next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidValue {
    /// The form field or JSON property the message is about.
    pub field: &'static str,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl InvalidValue {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }

    /// The same error, about the field the caller read the value from (a flag key sent as `flag`).
    pub fn at(self, field: &'static str) -> Self {
        Self { field, ..self }
    }
}

/// Generates `as_str`, `ALL`, `Display` and `FromStr` for a fieldless enum stored as text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and serialized spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// In the OpenAPI document: a string, one of the spellings.
        #[cfg(feature = "ssr")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        #[cfg(feature = "ssr")]
        impl utoipa::ToSchema for $name {}

        /// Stored as its spelling in a `text` column; a query reads it with `col as "col: Type"`.
        #[cfg(feature = "ssr")]
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        /// A stored value that is not a known spelling is an error with the value named, never a default.
        #[cfg(feature = "ssr")]
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(text.parse::<$name>()?)
            }
        }

        #[cfg(feature = "ssr")]
        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        #[cfg(feature = "ssr")]
        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::domain::InvalidValue::new(
                        $field,
                        format!(
                            "unknown {} {:?}: expected one of {}",
                            $field,
                            other,
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }
    };
}
pub(crate) use text_enum;
