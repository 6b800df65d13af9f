//! `/admin/priority-urls`: the accounts, and a page per account with its URLs' badges (imported against
//! heuristic), the flag for the account, imports and their rollback.

pub mod account;
pub mod accounts;
pub mod batches;
pub mod flag_panel;
pub mod import_form;
pub mod url_table;

/// Percent-encodes a query-string value.
pub(crate) fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) use crate::domain::thousands;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(60_000), "60,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-4200), "-4,200");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(urlencode("https://a.example/x y"), "https%3A%2F%2Fa.example%2Fx%20y");
    }
}
