//! `rollgate export` and `rollgate apply`: configuration as code, through the admin API (the same
//! endpoints a script would call), so that an apply is checked and audited under the token's user.
//!
//! `apply` first asks for a dry run and prints its diff, then (without `--dry-run`) applies. The server
//! applies the whole file in one transaction, so a file with a mistake changes nothing; the changes it
//! reports are the ones it made, which can differ from the diff if someone changed something in between.

use super::client::{segment, ApiClient};
use crate::config::{ApplyArgs, ExportArgs};
use anyhow::Context;
use app::server::config_as_code::{ApplyReport, Change};
use reqwest::Method;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

/// Reads the configuration as YAML, as the server writes it.
pub async fn export(client: &ApiClient, env: Option<&str>, as_env: Option<&str>) -> anyhow::Result<String> {
    let path = match (env, as_env) {
        (Some(env), Some(as_env)) => format!("/api/admin/export?env={}&as={}", segment(env), segment(as_env)),
        (Some(env), None) => format!("/api/admin/export?env={}", segment(env)),
        (None, Some(_)) => anyhow::bail!("--as renames one environment's part: give --env too"),
        (None, None) => "/api/admin/export".to_owned(),
    };
    Ok(client.text(Method::GET, &path, None).await?)
}

/// Sends a configuration file; with `dry_run`, only reports what it would change.
pub async fn apply(client: &ApiClient, yaml: &str, dry_run: bool) -> anyhow::Result<ApplyReport> {
    let path = format!("/api/admin/apply?dry_run={dry_run}");
    let text = client.text(Method::POST, &path, Some((yaml.to_owned(), "application/yaml"))).await?;
    serde_json::from_str(&text).with_context(|| format!("POST {path}: unexpected answer"))
}

pub async fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    let client =
        ApiClient::new(&args.remote.url, Some(args.remote.token), Duration::from_secs(args.remote.timeout_seconds))?;
    let yaml = export(&client, args.env.as_deref(), args.as_env.as_deref()).await?;
    match &args.output {
        Some(file) => std::fs::write(file, &yaml).with_context(|| format!("writing {}", file.display()))?,
        None => super::write_stdout(&yaml)?,
    }
    Ok(())
}

pub async fn run_apply(args: ApplyArgs) -> anyhow::Result<()> {
    let client =
        ApiClient::new(&args.remote.url, Some(args.remote.token), Duration::from_secs(args.remote.timeout_seconds))?;
    let yaml = std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let plan = apply(&client, &yaml, true).await.with_context(|| format!("{}", args.file.display()))?;
    if plan.changes.is_empty() {
        super::write_stdout("no changes: the configuration already matches the file\n")?;
        return Ok(());
    }
    super::write_stdout(&format!("{}{} change(s)\n", format_changes(&plan.changes), plan.changes.len()))?;
    if args.dry_run {
        super::write_stdout("dry run: nothing was changed\n")?;
        return Ok(());
    }
    let done = apply(&client, &yaml, false).await.with_context(|| format!("{}", args.file.display()))?;
    if done.changes != plan.changes {
        super::write_stdout(&format!(
            "the configuration changed since the diff above; what was applied:\n{}",
            format_changes(&done.changes)
        ))?;
    }
    super::write_stdout(&format!("applied {} change(s) in one transaction\n", done.changes.len()))?;
    Ok(())
}

/// A diff, one block per change: `+` created, `-` removed, `~` changed with one line per field.
pub fn format_changes(changes: &[Change]) -> String {
    let mut out = String::new();
    for change in changes {
        let what = format!("{} {} ({})", change.entity_kind, change.entity_key, change.action);
        match (&change.before, &change.after) {
            (None, Some(after)) => {
                let _ = writeln!(out, "+ {what}");
                for (field, value) in fields(after) {
                    let _ = writeln!(out, "    {field}: {value}");
                }
            }
            (Some(_), None) => {
                let _ = writeln!(out, "- {what}");
            }
            (before, after) => {
                let _ = writeln!(out, "~ {what}");
                let (before, after) = (before.clone().unwrap_or(Value::Null), after.clone().unwrap_or(Value::Null));
                for line in field_diff(&before, &after) {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
    }
    out
}

fn fields(value: &Value) -> Vec<(String, String)> {
    match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
        other => vec![("value".to_owned(), other.to_string())],
    }
}

/// `field: before -> after` for each field that differs.
fn field_diff(before: &Value, after: &Value) -> Vec<String> {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .filter_map(|k| {
                    let (old, new) = (b.get(k).unwrap_or(&Value::Null), a.get(k).unwrap_or(&Value::Null));
                    (old != new).then(|| format!("{k}: {old} -> {new}"))
                })
                .collect()
        }
        _ => vec![format!("{before} -> {after}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(before: Option<Value>, after: Option<Value>) -> Change {
        Change {
            action: "flag.toggled".into(),
            entity_kind: "flag_environment".into(),
            entity_key: "checkout/production".into(),
            environment: Some("production".into()),
            before,
            after,
        }
    }

    #[test]
    fn a_change_shows_only_the_fields_that_differ() {
        let text = format_changes(&[change(
            Some(json!({ "enabled": false, "version": 1 })),
            Some(json!({ "enabled": true, "version": 1 })),
        )]);
        assert_eq!(text, "~ flag_environment checkout/production (flag.toggled)\n    enabled: false -> true\n");
    }

    #[test]
    fn creations_and_removals_are_marked_plus_and_minus() {
        let text = format_changes(&[change(None, Some(json!({ "key": "x" }))), change(Some(json!({})), None)]);
        assert!(text.starts_with("+ flag_environment"), "{text}");
        assert!(text.contains("    key: \"x\"\n"), "{text}");
        assert!(text.contains("\n- flag_environment"), "{text}");
    }
}
