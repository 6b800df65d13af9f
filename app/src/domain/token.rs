//! API token scopes, and what a frontend token is allowed: the web origins that may use it and its rate.

use super::{text_enum, InvalidValue};

text_enum!(
    /// What an API token may do.
    TokenScope, "scope", {
        /// Evaluate flags in one environment, from a server; also report metrics for the guardrails.
        Evaluate => "evaluate",
        /// Call the admin API as the user the token was made for.
        Admin => "admin",
        /// Evaluate the flags visible to frontends in one environment, from browser pages and apps: public
        /// by design, limited to its origins and its rate.
        Frontend => "frontend",
    }
);

impl TokenScope {
    /// Whether the token evaluates flags (and so names an environment).
    pub fn evaluates(self) -> bool {
        matches!(self, Self::Evaluate | Self::Frontend)
    }
}

/// A web origin allowed to use a frontend token, as browsers send it in `Origin`: `scheme://host[:port]`,
/// lowercase, no path. `*` (any origin) only when someone typed exactly that.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowedOrigin(String);

impl AllowedOrigin {
    /// The most origins one token lists.
    pub const MAX_PER_TOKEN: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let invalid = |why: &str| InvalidValue::new("origins", format!("{raw:?} is not a web origin: {why}"));
        let trimmed = raw.trim();
        if trimmed == "*" {
            return Ok(Self("*".to_owned()));
        }
        // A pasted page address keeps only its origin's own slash; anything after it is a mistake to show.
        let text = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let (scheme, authority) =
            text.split_once("://").ok_or_else(|| invalid("write it as https://app.example (scheme, host, port)"))?;
        let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(invalid("the scheme (before ://) is not one"));
        }
        if authority.is_empty() || authority.len() > 253 {
            return Err(invalid("the host is missing or too long"));
        }
        if authority.contains(['/', '?', '#', '@', ' ']) || authority.chars().any(char::is_control) {
            return Err(invalid("an origin has no path, query, user or spaces: https://app.example"));
        }
        if authority.contains('*') {
            return Err(invalid("wildcards are not supported; list each origin, or `*` alone for any"));
        }
        let port = match authority.strip_prefix('[') {
            // An IPv6 literal: `[::1]` or `[::1]:8080`.
            Some(rest) => rest
                .split_once(']')
                .map(|(_, after)| after.strip_prefix(':'))
                .ok_or_else(|| invalid("the IPv6 address has no closing ]"))?,
            None => authority.split_once(':').map(|(_, port)| port),
        };
        if port.is_some_and(|p| p.parse::<u16>().is_err()) {
            return Err(invalid("the port is not a number from 0 to 65535"));
        }
        Ok(Self(format!("{}://{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this entry lets every origin through.
    pub fn is_any(&self) -> bool {
        self.0 == "*"
    }

    /// Whether a request's `Origin` header matches. Browsers send the origin in lowercase already (the
    /// host is normalised), so only the scheme and host case of a hand-made header needs folding.
    pub fn matches(&self, origin: &str) -> bool {
        self.is_any() || self.0.eq_ignore_ascii_case(origin)
    }

    /// Parses a list as typed (one per line, or separated by commas or spaces), without duplicates.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, InvalidValue> {
        let mut origins: Vec<Self> = Vec::new();
        for item in raw.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()) {
            let origin = Self::parse(item)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        if origins.len() > Self::MAX_PER_TOKEN {
            return Err(InvalidValue::new(
                "origins",
                format!("a token lists at most {} origins; this has {}", Self::MAX_PER_TOKEN, origins.len()),
            ));
        }
        Ok(origins)
    }
}

/// A frontend token's rate: requests per second, per server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit(u32);

impl RateLimit {
    /// What a frontend token gets unless told otherwise: a busy single-page app's visitors share one token.
    pub const DEFAULT: Self = Self(100);
    pub const MAX: u32 = 100_000;

    pub fn new(per_second: u32) -> Result<Self, InvalidValue> {
        if (1..=Self::MAX).contains(&per_second) {
            Ok(Self(per_second))
        } else {
            Err(InvalidValue::new(
                "rate_limit",
                format!("the rate limit is from 1 to {} requests per second, not {per_second}", Self::MAX),
            ))
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(Self::DEFAULT);
        }
        let n = trimmed.parse::<u32>().map_err(|_| {
            InvalidValue::new(
                "rate_limit",
                format!("the rate limit is a whole number of requests per second, not {trimmed:?}"),
            )
        })?;
        Self::new(n)
    }

    pub fn per_second(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_kept_as_browsers_send_them() {
        for (typed, kept) in [
            ("https://app.example", "https://app.example"),
            ("HTTPS://App.Example/", "https://app.example"),
            ("http://localhost:5173", "http://localhost:5173"),
            ("capacitor://localhost", "capacitor://localhost"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("  https://app.example  ", "https://app.example"),
            ("*", "*"),
        ] {
            assert_eq!(AllowedOrigin::parse(typed).map(|o| o.as_str().to_owned()), Ok(kept.to_owned()), "{typed}");
        }
    }

    #[test]
    fn anything_but_an_origin_is_refused_with_a_reason() {
        for bad in [
            "app.example",
            "https://",
            "https://app.example/path",
            "https://app.example?x=1",
            "https://user@app.example",
            "https://*.example.com",
            "https://app.example:99999",
            "https://app.example:",
            "1http://app.example",
            "",
        ] {
            let err = AllowedOrigin::parse(bad).expect_err(bad);
            assert_eq!(err.field, "origins");
            assert!(err.message.contains("is not a web origin"), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn a_wildcard_matches_every_origin_and_an_origin_only_itself() {
        let any = AllowedOrigin::parse("*").unwrap();
        let app = AllowedOrigin::parse("https://app.example").unwrap();
        assert!(any.matches("https://evil.example"));
        assert!(app.matches("https://app.example"));
        assert!(app.matches("https://APP.example"));
        assert!(!app.matches("https://app.example.evil"));
        assert!(!app.matches("http://app.example"));
    }

    #[test]
    fn a_typed_list_splits_on_lines_commas_and_spaces_without_duplicates() {
        let list = AllowedOrigin::parse_list("https://a.example\nhttps://b.example, https://a.example/").unwrap();
        let kept: Vec<&str> = list.iter().map(AllowedOrigin::as_str).collect();
        assert_eq!(kept, ["https://a.example", "https://b.example"]);
        assert_eq!(AllowedOrigin::parse_list("").unwrap(), vec![]);
    }

    #[test]
    fn rate_limits_are_whole_numbers_within_range_and_blank_means_the_default() {
        assert_eq!(RateLimit::parse(""), Ok(RateLimit::DEFAULT));
        assert_eq!(RateLimit::parse("20").map(RateLimit::per_second), Ok(20));
        for bad in ["0", "-1", "1.5", "many", "100001"] {
            assert_eq!(RateLimit::parse(bad).expect_err(bad).field, "rate_limit");
        }
    }
}
