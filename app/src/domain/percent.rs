//! Percentages of a rollout, exact to the 0.01% step that bucketing can tell apart.

use super::InvalidValue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A percentage from 0% to 100% in steps of 0.01%, held exactly as basis points (1 = 0.01%).
///
/// Integers rather than a float, so that what an admin typed is what is stored (the `basis_points` column
/// of `rollout_stages`) and compared against a bucket, with no rounding anywhere in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Percent(u16);

impl Percent {
    /// Nobody.
    pub const ZERO: Percent = Percent(0);
    /// Everybody.
    pub const HUNDRED: Percent = Percent(Self::MAX_BASIS_POINTS);
    /// 100%, in basis points.
    pub const MAX_BASIS_POINTS: u16 = 10_000;

    /// Builds a percentage from basis points (`1250` is 12.5%), refusing more than 100%.
    pub fn from_basis_points(basis_points: u16) -> Result<Self, InvalidValue> {
        if basis_points > Self::MAX_BASIS_POINTS {
            return Err(InvalidValue::new(
                "percentage",
                format!("{basis_points} basis points is more than 100% (10000 basis points)"),
            ));
        }
        Ok(Self(basis_points))
    }

    /// Parses what a person types: `12.5`, `0.01`, `100`, optionally followed by `%`. At most two
    /// decimals, because 0.01% is the finest step bucketing resolves; anything finer would be silently
    /// rounded, and an admin who asked for 0.005% should hear that it cannot be done.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let text = raw.trim();
        let text = text.strip_suffix('%').map_or(text, str::trim_end);
        if text.is_empty() {
            return Err(InvalidValue::new("percentage", "the percentage is required"));
        }
        if text.starts_with('-') {
            return Err(InvalidValue::new("percentage", format!("{text}% is negative; use 0 to 100")));
        }
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !all_digits(whole)
            || !all_digits(fraction)
            || (text.contains('.') && fraction.is_empty())
        {
            return Err(InvalidValue::new("percentage", format!("{text:?} is not a percentage such as 12.5")));
        }
        if fraction.len() > 2 {
            return Err(InvalidValue::new(
                "percentage",
                format!("{text}% has more than two decimals; the finest step is 0.01%"),
            ));
        }
        // Leading zeros aside, more than three digits is over 100 whatever they are; checking the length
        // first keeps the arithmetic below from overflowing on a pasted 30-digit number.
        let whole = whole.trim_start_matches('0');
        if whole.len() > 3 {
            return Err(Self::over_100(text));
        }
        let whole: u32 = whole.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0'));
        // "5" means 50 hundredths: pad the fraction to two digits.
        let hundredths: u32 =
            fraction.bytes().chain(std::iter::repeat(b'0')).take(2).fold(0, |n, b| n * 10 + u32::from(b - b'0'));
        let basis_points = whole * 100 + hundredths;
        if basis_points > u32::from(Self::MAX_BASIS_POINTS) {
            return Err(Self::over_100(text));
        }
        // In range just above, so the narrowing cannot lose anything.
        Ok(Self(basis_points as u16))
    }

    /// The percentage as a number, e.g. `12.5` for 12.5%; exact for every value this type can hold.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// The percentage in basis points, e.g. `1250` for 12.5%.
    pub fn basis_points(self) -> u16 {
        self.0
    }

    fn over_100(text: &str) -> InvalidValue {
        InvalidValue::new("percentage", format!("{text}% is more than 100%"))
    }
}

impl TryFrom<f64> for Percent {
    type Error = InvalidValue;

    /// Accepts a number such as `12.5` from JSON. A float cannot hold 0.07 exactly (it holds
    /// 0.07000000000000001), so "two decimals" means "within a millionth of a 0.01% step".
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        if !value.is_finite() {
            return Err(InvalidValue::new("percentage", format!("{value} is not a percentage")));
        }
        if value < 0.0 {
            return Err(InvalidValue::new("percentage", format!("{value}% is negative; use 0 to 100")));
        }
        if value > 100.0 {
            return Err(InvalidValue::new("percentage", format!("{value}% is more than 100%")));
        }
        let scaled = value * 100.0;
        let basis_points = scaled.round();
        if (scaled - basis_points).abs() > 1e-6 {
            return Err(InvalidValue::new(
                "percentage",
                format!("{value}% has more than two decimals; the finest step is 0.01%"),
            ));
        }
        // 0 <= basis_points <= 10000 by the range checks above.
        Ok(Self(basis_points as u16))
    }
}

impl std::str::FromStr for Percent {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `12.5%`, `0.01%`, `100%`: no trailing zeros, so it reads the way people write percentages.
impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        match hundredths {
            0 => write!(f, "{whole}%"),
            h if h % 10 == 0 => write!(f, "{whole}.{}%", h / 10),
            h => write!(f, "{whole}.{h:02}%"),
        }
    }
}

/// Serialized as a JSON number of percent (`12.5`), the form people and API clients read.
impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

/// Deserialized from a number (`12.5`) or a string (`"12.5"`, `"12.5%"`), with the same checks as [`Percent::parse`].
impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Percent::try_from(n),
            Raw::Text(s) => Percent::parse(&s),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bp(raw: &str) -> Result<u16, String> {
        Percent::parse(raw).map(Percent::basis_points).map_err(|e| e.message)
    }

    #[test]
    fn whole_and_decimal_percentages_parse_to_exact_basis_points() {
        assert_eq!(bp("0"), Ok(0));
        assert_eq!(bp("0.01"), Ok(1));
        assert_eq!(bp("1"), Ok(100));
        assert_eq!(bp("12.5"), Ok(1250));
        assert_eq!(bp("12.50"), Ok(1250));
        assert_eq!(bp("33.33"), Ok(3333));
        assert_eq!(bp("99.99"), Ok(9999));
        assert_eq!(bp("100"), Ok(10_000));
        assert_eq!(bp("100.00"), Ok(10_000));
        assert_eq!(bp("007"), Ok(700));
    }

    #[test]
    fn a_percent_sign_and_surrounding_spaces_are_accepted() {
        assert_eq!(bp(" 12.5% "), Ok(1250));
        assert_eq!(bp("10 %"), Ok(1000));
    }

    #[test]
    fn negative_percentages_are_refused_as_negative() {
        let message = bp("-1").unwrap_err();
        assert!(message.contains("negative"), "{message}");
        assert!(bp("-0.01").unwrap_err().contains("negative"));
    }

    #[test]
    fn percentages_over_100_are_refused_even_when_huge() {
        for raw in ["100.01", "101", "1000", "123456789012345678901234567890"] {
            let message = bp(raw).unwrap_err();
            assert!(message.contains("more than 100%"), "{raw}: {message}");
        }
    }

    #[test]
    fn more_than_two_decimals_is_refused_naming_the_finest_step() {
        let message = bp("0.005").unwrap_err();
        assert!(message.contains("more than two decimals") && message.contains("0.01%"), "{message}");
        assert!(bp("12.500").is_err(), "a third decimal is refused even when it is a zero");
    }

    #[test]
    fn text_that_is_not_a_plain_decimal_is_refused() {
        for raw in ["", "  ", "%", "abc", "NaN", "inf", "1e2", "+5", ".5", "5.", "1.2.3", "1,5", "½"] {
            assert!(bp(raw).is_err(), "{raw:?} should be refused");
        }
        assert_eq!(bp("").unwrap_err(), "the percentage is required");
    }

    #[test]
    fn numbers_convert_when_they_are_whole_hundredths_of_a_percent() {
        let from = |x: f64| Percent::try_from(x).map(Percent::basis_points).map_err(|e| e.message);
        assert_eq!(from(12.5), Ok(1250));
        assert_eq!(from(0.07), Ok(7), "0.07 is not exact in binary but is two decimals");
        assert_eq!(from(0.0), Ok(0));
        assert_eq!(from(-0.0), Ok(0));
        assert_eq!(from(100.0), Ok(10_000));
        assert!(from(f64::NAN).unwrap_err().contains("not a percentage"));
        assert!(from(f64::INFINITY).is_err());
        assert!(from(-0.01).unwrap_err().contains("negative"));
        assert!(from(100.001).unwrap_err().contains("more than 100%"));
        assert!(from(0.001).unwrap_err().contains("two decimals"));
    }

    #[test]
    fn basis_points_above_10000_are_refused() {
        assert_eq!(Percent::from_basis_points(10_000), Ok(Percent::HUNDRED));
        assert!(Percent::from_basis_points(10_001).is_err());
    }

    #[test]
    fn display_drops_trailing_zeros() {
        let shown = |bp: u16| Percent::from_basis_points(bp).map(|p| p.to_string());
        assert_eq!(shown(1250), Ok("12.5%".to_owned()));
        assert_eq!(shown(1), Ok("0.01%".to_owned()));
        assert_eq!(shown(1205), Ok("12.05%".to_owned()));
        assert_eq!(shown(0), Ok("0%".to_owned()));
        assert_eq!(shown(10_000), Ok("100%".to_owned()));
    }

    #[test]
    fn every_percentage_round_trips_through_display_and_json() {
        for bp in 0..=Percent::MAX_BASIS_POINTS {
            let percent = Percent::from_basis_points(bp).unwrap();
            assert_eq!(Percent::parse(&percent.to_string()), Ok(percent));
            let json = serde_json::to_string(&percent).unwrap();
            assert_eq!(serde_json::from_str::<Percent>(&json).unwrap(), percent, "{json}");
        }
    }

    #[test]
    fn json_accepts_numbers_and_strings_and_refuses_bad_ones() {
        assert_eq!(serde_json::from_str::<Percent>("12.5").unwrap().basis_points(), 1250);
        assert_eq!(serde_json::from_str::<Percent>("\"0.01%\"").unwrap().basis_points(), 1);
        assert!(serde_json::from_str::<Percent>("-3").is_err());
        assert!(serde_json::from_str::<Percent>("\"lots\"").is_err());
    }
}
