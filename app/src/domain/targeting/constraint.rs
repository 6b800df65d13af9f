//! Constraints: one test of one context field, with Unleash's operators and their semantics, so that its
//! client-specification vectors hold (see `unleash_spec.rs`).
//!
//! A [`Constraint`] is what people write and what is stored; [`Matcher`] is the same constraint compiled
//! once, when the snapshot is built: values parsed, lists turned into sets, expressions compiled. Anything
//! that cannot be compiled is refused when it is written, with the field named, so a stored constraint
//! always compiles.

use super::super::InvalidValue;
use super::limits;
use super::EvalContext;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::IpAddr;

/// How a constraint compares the context's value with its own values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operator {
    /// The value is one of the values (exact, or ignoring case with `case_insensitive`).
    In,
    /// The value is none of the values; a missing value is none of them.
    NotIn,
    /// The value starts with one of the values.
    StrStartsWith,
    /// The value ends with one of the values.
    StrEndsWith,
    /// The value contains one of the values.
    StrContains,
    /// The value, read as a number, equals the number.
    NumEq,
    /// The value, read as a number, is greater than the number.
    NumGt,
    /// Greater than or equal.
    NumGte,
    /// Less than.
    NumLt,
    /// Less than or equal.
    NumLte,
    /// The value, read as an RFC 3339 time, is after the time (exclusive).
    DateAfter,
    /// The value, read as an RFC 3339 time, is before the time (exclusive).
    DateBefore,
    /// The value, read as a semantic version, equals the version (by precedence: build metadata is ignored).
    SemverEq,
    /// Greater than, by semantic-version precedence (`2.0.0-alpha` < `2.0.0-alpha.1` < `2.0.0-rc` < `2.0.0`).
    SemverGt,
    /// Greater than or equal.
    SemverGte,
    /// Less than.
    SemverLt,
    /// Less than or equal.
    SemverLte,
    /// The regular expression matches somewhere in the value (anchor it with `^...$` to match the whole).
    Regex,
    /// The value, read as an IP address, is in one of the address ranges (`10.0.0.0/8`, `2001:db8::/32`) or
    /// equals one of the addresses.
    InCidr,
}

impl Operator {
    /// Every operator, in the order the rule builder offers them.
    pub const ALL: [Operator; 19] = [
        Self::In,
        Self::NotIn,
        Self::StrStartsWith,
        Self::StrEndsWith,
        Self::StrContains,
        Self::NumEq,
        Self::NumGt,
        Self::NumGte,
        Self::NumLt,
        Self::NumLte,
        Self::DateAfter,
        Self::DateBefore,
        Self::SemverEq,
        Self::SemverGt,
        Self::SemverGte,
        Self::SemverLt,
        Self::SemverLte,
        Self::Regex,
        Self::InCidr,
    ];

    /// The stored and API spelling, Unleash's: `IN`, `STR_STARTS_WITH`, `SEMVER_GTE`...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "IN",
            Self::NotIn => "NOT_IN",
            Self::StrStartsWith => "STR_STARTS_WITH",
            Self::StrEndsWith => "STR_ENDS_WITH",
            Self::StrContains => "STR_CONTAINS",
            Self::NumEq => "NUM_EQ",
            Self::NumGt => "NUM_GT",
            Self::NumGte => "NUM_GTE",
            Self::NumLt => "NUM_LT",
            Self::NumLte => "NUM_LTE",
            Self::DateAfter => "DATE_AFTER",
            Self::DateBefore => "DATE_BEFORE",
            Self::SemverEq => "SEMVER_EQ",
            Self::SemverGt => "SEMVER_GT",
            Self::SemverGte => "SEMVER_GTE",
            Self::SemverLt => "SEMVER_LT",
            Self::SemverLte => "SEMVER_LTE",
            Self::Regex => "REGEX",
            Self::InCidr => "IN_CIDR",
        }
    }

    /// As people read it in the rule builder: "is one of", "starts with", "version >="...
    pub fn label(self) -> &'static str {
        match self {
            Self::In => "is one of",
            Self::NotIn => "is not one of",
            Self::StrStartsWith => "starts with",
            Self::StrEndsWith => "ends with",
            Self::StrContains => "contains",
            Self::NumEq => "number =",
            Self::NumGt => "number >",
            Self::NumGte => "number >=",
            Self::NumLt => "number <",
            Self::NumLte => "number <=",
            Self::DateAfter => "is after",
            Self::DateBefore => "is before",
            Self::SemverEq => "version =",
            Self::SemverGt => "version >",
            Self::SemverGte => "version >=",
            Self::SemverLt => "version <",
            Self::SemverLte => "version <=",
            Self::Regex => "matches the expression",
            Self::InCidr => "is in the address range",
        }
    }

    /// Whether the operator compares with exactly one value (numbers, dates, versions, an expression);
    /// the others take a list and hold when any value of it does.
    pub fn takes_one_value(self) -> bool {
        matches!(
            self,
            Self::NumEq
                | Self::NumGt
                | Self::NumGte
                | Self::NumLt
                | Self::NumLte
                | Self::DateAfter
                | Self::DateBefore
                | Self::SemverEq
                | Self::SemverGt
                | Self::SemverGte
                | Self::SemverLt
                | Self::SemverLte
                | Self::Regex
        )
    }
}

impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Operator {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|op| op.as_str() == s).ok_or_else(|| {
            InvalidValue::new(
                "operator",
                format!("unknown operator {s:?}: expected one of {}", Self::ALL.map(Operator::as_str).join(", ")),
            )
        })
    }
}

/// The part of the context a constraint reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ContextField {
    /// The customer id (OFREP's `targetingKey`), spelt `customer_id`.
    CustomerId,
    /// The organization id, spelt `organization_id`.
    OrganizationId,
    /// The time of the evaluation, spelt `current_time`: for "after 2027-01-05".
    CurrentTime,
    /// Any other attribute the application sends, by its name (`plan`, `app_version`, `region`...).
    Attribute(String),
}

impl ContextField {
    /// The longest attribute name accepted, as for stickiness attributes.
    pub const MAX_NAME_LEN: usize = 100;

    /// Reads a field name as written: the three built-in names, else an attribute name (letters, digits,
    /// `_`, `.` and `-`, the characters applications use in context keys).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw.trim() {
            "customer_id" => Ok(Self::CustomerId),
            "organization_id" => Ok(Self::OrganizationId),
            "current_time" => Ok(Self::CurrentTime),
            "" => Err(InvalidValue::new("field", "the context field is required")),
            name => {
                if name.chars().count() > Self::MAX_NAME_LEN {
                    return Err(InvalidValue::new(
                        "field",
                        format!("the field name is longer than {} characters", Self::MAX_NAME_LEN),
                    ));
                }
                if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
                    return Err(InvalidValue::new(
                        "field",
                        format!("the field {name:?} may hold only letters, digits, '_', '.' and '-'; {bad:?} is not allowed"),
                    ));
                }
                Ok(Self::Attribute(name.to_owned()))
            }
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::CustomerId => "customer_id",
            Self::OrganizationId => "organization_id",
            Self::CurrentTime => "current_time",
            Self::Attribute(name) => name,
        }
    }
}

impl std::fmt::Display for ContextField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for ContextField {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ContextField> for String {
    fn from(field: ContextField) -> Self {
        field.as_str().to_owned()
    }
}

/// One test of one context field, as written and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// `customer_id`, `organization_id`, `current_time`, or the name of an attribute.
    #[cfg_attr(feature = "ssr", schema(value_type = String, example = "plan"))]
    pub field: ContextField,
    #[cfg_attr(feature = "ssr", schema(value_type = String, example = "IN"))]
    pub operator: Operator,
    /// The values compared with: a list for `IN`, `NOT_IN`, the `STR_*` operators and `IN_CIDR` (any one
    /// may hold), exactly one for the others.
    #[serde(default)]
    pub values: Vec<String>,
    /// Negates the whole result, a missing field included.
    #[serde(default)]
    pub inverted: bool,
    /// Compares text ignoring case (`IN`, `NOT_IN` and the `STR_*` operators).
    #[serde(default)]
    pub case_insensitive: bool,
}

impl Constraint {
    /// A constraint with the defaults: not inverted, case-sensitive.
    pub fn new(field: ContextField, operator: Operator, values: Vec<String>) -> Self {
        Self { field, operator, values, inverted: false, case_insensitive: false }
    }

    /// Checks and compiles the constraint. `at` names it in messages ("rule 2, constraint 1").
    pub fn compile(&self, at: &str) -> Result<Matcher, InvalidValue> {
        let bad = |message: String| InvalidValue::new("constraints", format!("{at}: {message}"));
        if self.values.len() > limits::VALUES_PER_CONSTRAINT {
            return Err(bad(format!(
                "{} values; a constraint takes at most {}",
                self.values.len(),
                limits::VALUES_PER_CONSTRAINT
            )));
        }
        if let Some(long) = self.values.iter().find(|v| v.chars().count() > limits::VALUE_LEN) {
            return Err(bad(format!(
                "the value {:?}... is longer than {} characters",
                long.chars().take(20).collect::<String>(),
                limits::VALUE_LEN
            )));
        }
        let op = self.operator;
        let one = || -> Result<&str, InvalidValue> {
            match self.values.as_slice() {
                [value] => Ok(value.trim()),
                [] => Err(bad(format!("{op} needs a value"))),
                more => Err(bad(format!("{op} compares with one value, not {}", more.len()))),
            }
        };
        let fold = |v: &str| if self.case_insensitive { v.to_lowercase() } else { v.to_owned() };
        let test = match op {
            Operator::In | Operator::NotIn => Test::OneOf(OneOf::new(self.values.iter().map(|v| fold(v)).collect())),
            Operator::StrStartsWith | Operator::StrEndsWith | Operator::StrContains => {
                Test::Text(self.values.iter().map(|v| fold(v)).collect())
            }
            Operator::NumEq | Operator::NumGt | Operator::NumGte | Operator::NumLt | Operator::NumLte => {
                let raw = one()?;
                let n = parse_number(raw).ok_or_else(|| bad(format!("{raw:?} is not a number")))?;
                Test::Number(n)
            }
            Operator::DateAfter | Operator::DateBefore => {
                let raw = one()?;
                let at = parse_time(raw).ok_or_else(|| {
                    bad(format!("{raw:?} is not a date and time; write it as RFC 3339, e.g. 2027-01-05T00:00:00Z"))
                })?;
                Test::Time(at)
            }
            Operator::SemverEq
            | Operator::SemverGt
            | Operator::SemverGte
            | Operator::SemverLt
            | Operator::SemverLte => {
                let raw = one()?;
                let version = semver::Version::parse(raw)
                    .map_err(|e| bad(format!("{raw:?} is not a semantic version (MAJOR.MINOR.PATCH): {e}")))?;
                Test::Version(PlainVersion::of(&version), version)
            }
            Operator::Regex => {
                let raw = one()?;
                if raw.chars().count() > limits::REGEX_LEN {
                    return Err(bad(format!("the expression is longer than {} characters", limits::REGEX_LEN)));
                }
                let regex = regex::RegexBuilder::new(raw)
                    .case_insensitive(self.case_insensitive)
                    .size_limit(limits::REGEX_COMPILED_BYTES)
                    .build()
                    .map_err(|e| bad(format!("the expression does not compile: {}", first_line(&e.to_string()))))?;
                Test::Regex(regex)
            }
            Operator::InCidr => {
                let mut ranges = Vec::with_capacity(self.values.len());
                for raw in &self.values {
                    ranges.push(parse_range(raw.trim()).ok_or_else(|| {
                        bad(format!("{raw:?} is not an address or address range (10.0.0.0/8, 2001:db8::/32)"))
                    })?);
                }
                Test::Ranges(ranges)
            }
        };
        if matches!(self.field, ContextField::CurrentTime) && !matches!(test, Test::Time(_)) {
            return Err(bad(format!("current_time compares only with DATE_AFTER or DATE_BEFORE, not {op}")));
        }
        Ok(Matcher {
            field: self.field.clone(),
            operator: op,
            test,
            inverted: self.inverted,
            case_insensitive: self.case_insensitive,
        })
    }
}

/// A constraint compiled for evaluation.
#[derive(Debug, Clone)]
pub struct Matcher {
    field: ContextField,
    operator: Operator,
    test: Test,
    inverted: bool,
    case_insensitive: bool,
}

#[derive(Debug, Clone)]
enum Test {
    /// `IN`, `NOT_IN`.
    OneOf(OneOf),
    /// The `STR_*` operators.
    Text(Vec<String>),
    Number(f64),
    Time(DateTime<Utc>),
    /// The version, and its plain `MAJOR.MINOR.PATCH` form when it has no pre-release or build part.
    Version(Option<PlainVersion>, semver::Version),
    Regex(regex::Regex),
    Ranges(Vec<ipnet::IpNet>),
}

impl Matcher {
    /// Whether the constraint holds for this context.
    pub fn holds(&self, ctx: &EvalContext) -> bool {
        self.test(ctx) != self.inverted
    }

    /// The operator's own answer, before `inverted`.
    fn test(&self, ctx: &EvalContext) -> bool {
        if let Test::Time(at) = &self.test {
            let now = match &self.field {
                ContextField::CurrentTime => ctx.current_time.unwrap_or_else(Utc::now),
                _ => match self.value(ctx).and_then(parse_time) {
                    Some(t) => t,
                    None => return false,
                },
            };
            return match self.operator {
                Operator::DateAfter => now > *at,
                _ => now < *at,
            };
        }
        let Some(value) = self.value(ctx) else {
            // A missing field is in no list: NOT_IN holds, every other operator does not.
            return self.operator == Operator::NotIn;
        };
        match &self.test {
            Test::OneOf(set) => {
                let found =
                    if self.case_insensitive { set.contains(&value.to_lowercase()) } else { set.contains(value) };
                found == (self.operator == Operator::In)
            }
            Test::Text(values) => {
                let folded;
                let value = if self.case_insensitive {
                    folded = value.to_lowercase();
                    folded.as_str()
                } else {
                    value
                };
                values.iter().any(|v| match self.operator {
                    Operator::StrStartsWith => value.starts_with(v.as_str()),
                    Operator::StrEndsWith => value.ends_with(v.as_str()),
                    _ => value.contains(v.as_str()),
                })
            }
            Test::Number(n) => parse_number(value).is_some_and(|v| match self.operator {
                Operator::NumEq => v == *n,
                Operator::NumGt => v > *n,
                Operator::NumGte => v >= *n,
                Operator::NumLt => v < *n,
                _ => v <= *n,
            }),
            Test::Version(plain, version) => {
                let value = value.trim();
                // Most versions applications send are plain `MAJOR.MINOR.PATCH`: compared as three numbers
                // without building a `semver::Version` (this runs for every flag of every request).
                let order = match (plain.as_ref(), PlainVersion::parse(value)) {
                    (Some(plain), Some(theirs)) => Some(theirs.cmp(plain)),
                    _ => semver::Version::parse(value).ok().map(|v| v.cmp_precedence(version)),
                };
                order.is_some_and(|order| match self.operator {
                    Operator::SemverEq => order.is_eq(),
                    Operator::SemverGt => order.is_gt(),
                    Operator::SemverGte => order.is_ge(),
                    Operator::SemverLt => order.is_lt(),
                    _ => order.is_le(),
                })
            }
            Test::Regex(regex) => regex.is_match(value),
            Test::Ranges(ranges) => {
                value.trim().parse::<IpAddr>().is_ok_and(|addr| ranges.iter().any(|range| range.contains(&addr)))
            }
            Test::Time(_) => false,
        }
    }

    fn value<'c>(&self, ctx: &'c EvalContext) -> Option<&'c str> {
        match &self.field {
            ContextField::CustomerId => ctx.customer_id.as_deref(),
            ContextField::OrganizationId => ctx.organization_id.as_deref(),
            ContextField::CurrentTime => None,
            ContextField::Attribute(name) => ctx.attributes.get(name).map(String::as_str),
        }
    }
}

/// The values of `IN` and `NOT_IN`. A short list is scanned (a few string comparisons beat hashing the
/// value); a long one, such as a segment of thousands of customer keys, is a hash set: one lookup.
#[derive(Debug, Clone)]
enum OneOf {
    Few(Vec<String>),
    Many(HashSet<String, foldhash::fast::RandomState>),
}

impl OneOf {
    /// Up to this many values are scanned.
    const SCAN: usize = 8;

    fn new(values: Vec<String>) -> Self {
        if values.len() <= Self::SCAN {
            Self::Few(values)
        } else {
            Self::Many(values.into_iter().collect())
        }
    }

    fn contains(&self, value: &str) -> bool {
        match self {
            Self::Few(values) => values.iter().any(|v| v == value),
            Self::Many(set) => set.contains(value),
        }
    }
}

/// A semantic version with no pre-release and no build metadata, which orders as its three numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct PlainVersion(u64, u64, u64);

impl PlainVersion {
    fn of(version: &semver::Version) -> Option<Self> {
        (version.pre.is_empty() && version.build.is_empty()).then_some(Self(
            version.major,
            version.minor,
            version.patch,
        ))
    }

    /// `MAJOR.MINOR.PATCH` exactly as SemVer writes it (digits, no leading zero), else `None`: anything else,
    /// a pre-release included, goes through the full parser.
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let mut number = || -> Option<u64> {
            let part = parts.next()?;
            let valid = !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part.len() == 1 || !part.starts_with('0'));
            if valid {
                part.parse().ok()
            } else {
                None
            }
        };
        let version = Self(number()?, number()?, number()?);
        parts.next().is_none().then_some(version)
    }
}

/// A number as applications send it: decimal, with an optional sign, fraction and exponent. `NaN` and the
/// infinities are not numbers here.
fn parse_number(raw: &str) -> Option<f64> {
    raw.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// An address range, or one address as the range holding only it.
fn parse_range(raw: &str) -> Option<ipnet::IpNet> {
    raw.parse::<ipnet::IpNet>().ok().or_else(|| raw.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

fn first_line(message: &str) -> String {
    // The regex crate's errors draw the pattern with a caret under the error over several lines; the last
    // line says what is wrong.
    message.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(message).trim().to_owned()
}
