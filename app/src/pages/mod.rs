//! One module per page, each with the server functions it calls.

pub mod account;
pub mod audit;
pub mod flags;
pub mod login;
pub mod not_found;
pub mod organizations;
pub mod phases;
pub mod priority_urls;
pub mod rollouts;
pub mod schedule;
pub mod segments;
pub mod settings;
pub mod setup;
pub mod targeting_form;
pub mod tokens;
pub mod user;
pub mod users;

/// Formats a timestamp the same way on every page.
pub fn format_time(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "off → on" for a toggle, otherwise the changed JSON, compactly.
pub fn describe_change(before: Option<&serde_json::Value>, after: Option<&serde_json::Value>) -> String {
    let enabled = |v: Option<&serde_json::Value>| v.and_then(|v| v.get("enabled")).and_then(serde_json::Value::as_bool);
    match (enabled(before), enabled(after)) {
        (Some(b), Some(a)) => format!("{} → {}", on_off(b), on_off(a)),
        _ => match (before, after) {
            (Some(b), Some(a)) => format!("{b} → {a}"),
            (None, Some(a)) => a.to_string(),
            (Some(b), None) => format!("{b} → (removed)"),
            (None, None) => String::new(),
        },
    }
}

fn on_off(enabled: bool) -> &'static str {
    if enabled {
        "on"
    } else {
        "off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_toggle_is_described_as_off_to_on() {
        let text = describe_change(
            Some(&json!({"enabled": false, "version": 1})),
            Some(&json!({"enabled": true, "version": 2})),
        );
        assert_eq!(text, "off → on");
    }

    #[test]
    fn other_changes_show_their_json() {
        assert_eq!(describe_change(None, Some(&json!({"key": "x"}))), r#"{"key":"x"}"#);
        assert_eq!(describe_change(None, None), "");
    }
}
