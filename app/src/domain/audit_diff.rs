//! The before/after of an audit event as a field-by-field diff, for the audit page and the CLI.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One field of an audited entity: what it was and what it became (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl FieldDiff {
    /// Whether the two sides differ.
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// Every field of `before` and `after`, in name order, changed or not (the page highlights the changed
/// ones and keeps the rest for context). Objects are compared field by field; any other value (or a
/// side that is absent) counts as one field named `value`.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldDiff> {
    let as_fields = |v: Option<&Value>| -> Vec<(String, String)> {
        match v {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), show(v))).collect(),
            Some(other) => vec![("value".to_owned(), show(other))],
        }
    };
    let (before, after) = (as_fields(before), as_fields(after));
    let mut names: Vec<&String> = before.iter().chain(after.iter()).map(|(k, _)| k).collect();
    names.sort();
    names.dedup();
    let find = |side: &[(String, String)], name: &str| side.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    names
        .into_iter()
        .map(|name| FieldDiff { field: name.clone(), before: find(&before, name), after: find(&after, name) })
        .collect()
}

/// Strings without their JSON quotes; everything else as compact JSON.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_toggle_shows_the_changed_field_and_the_unchanged_ones_for_context() {
        let lines =
            diff(Some(&json!({ "enabled": false, "version": 3 })), Some(&json!({ "enabled": true, "version": 4 })));
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            FieldDiff { field: "enabled".into(), before: Some("false".into()), after: Some("true".into()) }
        );
        assert!(lines.iter().all(FieldDiff::changed));
        let same = diff(Some(&json!({ "a": 1 })), Some(&json!({ "a": 1 })));
        assert!(!same[0].changed());
    }

    #[test]
    fn a_creation_has_only_after_values_and_strings_lose_their_quotes() {
        let lines = diff(None, Some(&json!({ "key": "checkout", "kind": "release" })));
        assert_eq!(lines[0], FieldDiff { field: "key".into(), before: None, after: Some("checkout".into()) });
        assert_eq!(lines[1].field, "kind");
    }

    #[test]
    fn a_field_only_on_one_side_is_absent_on_the_other() {
        let lines = diff(Some(&json!({ "old": 1 })), Some(&json!({ "new": [1, 2] })));
        assert_eq!(lines[0], FieldDiff { field: "new".into(), before: None, after: Some("[1,2]".into()) });
        assert_eq!(lines[1], FieldDiff { field: "old".into(), before: Some("1".into()), after: None });
    }

    #[test]
    fn a_value_that_is_not_an_object_is_one_field() {
        let lines = diff(Some(&json!(true)), Some(&json!(false)));
        assert_eq!(
            lines,
            vec![FieldDiff { field: "value".into(), before: Some("true".into()), after: Some("false".into()) }]
        );
    }
}
