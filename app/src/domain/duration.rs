//! Durations as people write them: `90s`, `30m`, `24h`, `7d`, `1h30m`, `1h 30m`, `500ms`, or a bare number
//! of seconds. One reading for every place that takes one (stage soaks, `rollgate audit --since`,
//! `rollgate simulate --duration` and `--flush`), so that a duration accepted in one is accepted in all.

use std::time::Duration;

/// What a refusal tells the user to write.
const HOW: &str = "use a number with a unit (ms, s, m, h, d, w), e.g. 90s, 30m, 24h, 7d or 1h30m";

/// Parses a duration; `what` names the field or flag in the message, e.g. "soak" or "--since".
pub fn parse(what: &str, text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{what}: {HOW}"));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().map(Duration::from_secs).map_err(|_| format!("{what} {text:?} is too long"));
    }
    humantime::parse_duration(text).map_err(|_| format!("{what} {text:?}: {HOW}"))
}

/// Parses a duration in whole seconds that fit a `u32` (about 136 years), as soaks are stored.
pub fn parse_seconds(what: &str, text: &str) -> Result<u32, String> {
    let duration = parse(what, text)?;
    if duration.subsec_nanos() != 0 {
        return Err(format!("{what} {:?}: give whole seconds", text.trim()));
    }
    u32::try_from(duration.as_secs()).map_err(|_| format!("{what} {:?} is too long", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_the_product_documents_is_read_the_same() {
        let cases = [
            ("90s", 90),
            ("30m", 1_800),
            ("24h", 86_400),
            ("7d", 604_800),
            ("1h30m", 5_400),
            ("1h 30m", 5_400),
            ("2", 2),
            ("0", 0),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse("soak", text), Ok(Duration::from_secs(seconds)), "{text}");
        }
        assert_eq!(parse("--flush", "500ms"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn a_bad_duration_says_which_field_and_what_to_write() {
        for text in ["", "soon", "5x", "-5h", "h"] {
            let err = parse("--since", text).expect_err(text);
            assert!(err.starts_with("--since"), "{err}");
            assert!(err.contains("30m"), "{err}");
        }
    }

    #[test]
    fn soaks_are_whole_seconds_that_fit_the_column() {
        assert_eq!(parse_seconds("soak", "1d"), Ok(86_400));
        assert!(parse_seconds("soak", "1500ms").is_err());
        assert!(parse_seconds("soak", "200years").is_err());
    }
}
