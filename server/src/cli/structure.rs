//! `rollgate env ...` and `rollgate phase ...`: environments and phases of a running Rollgate, through its
//! admin API (so every change is checked and audited under the token's user, as in the browser).

use super::client::{segment, ApiClient};
use crate::config::{EnvCommand, PhaseCommand, RemoteArgs};
use app::model::environments::{EnvironmentRow, PhaseRow};
use reqwest::Method;
use serde_json::json;
use std::fmt::Write as _;
use std::time::Duration;

fn client(remote: RemoteArgs) -> anyhow::Result<ApiClient> {
    ApiClient::new(&remote.url, Some(remote.token), Duration::from_secs(remote.timeout_seconds))
}

/// The environments as a table: key, name, what uses each, archived last.
pub fn format_environments(rows: &[EnvironmentRow]) -> String {
    let width = rows.iter().map(|r| r.key.len()).max().unwrap_or(0).max(3);
    let name_width = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0).max(4);
    let mut out = format!(
        "{:<width$}  {:<name_width$}  {:>8}  {:>6}  {:>8}  status\n",
        "key", "name", "flags on", "tokens", "rollouts"
    );
    for r in rows {
        let status = match r.archived_at {
            Some(at) => format!("archived {}", at.format("%Y-%m-%d")),
            None => "in use".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:<name_width$}  {:>8}  {:>6}  {:>8}  {status}",
            r.key, r.name, r.flags_on, r.evaluate_tokens, r.live_rollouts
        );
    }
    out
}

/// The phases as a table, in order.
pub fn format_phases(rows: &[PhaseRow]) -> String {
    if rows.is_empty() {
        return "no phases\n".to_owned();
    }
    let width = rows.iter().map(|r| r.key.len()).max().unwrap_or(0).max(3);
    let mut out = format!("{:<width$}  {:>5}  {:<17}  name\n", "key", "flags", "requires previous");
    for r in rows {
        let _ = writeln!(
            out,
            "{:<width$}  {:>5}  {:<17}  {}",
            r.key,
            r.flags,
            if r.requires_previous { "yes" } else { "no" },
            r.name
        );
    }
    out
}

pub async fn run_env(command: EnvCommand) -> anyhow::Result<()> {
    let text = match command {
        EnvCommand::List { remote, json } => {
            let rows: Vec<EnvironmentRow> = client(remote)?.get("/api/admin/environments").await?;
            if json {
                format!("{}\n", serde_json::to_string_pretty(&rows)?)
            } else {
                format_environments(&rows)
            }
        }
        EnvCommand::Add { remote, key, name } => {
            let row: EnvironmentRow = client(remote)?
                .send(Method::POST, "/api/admin/environments", Some(&json!({ "key": key, "name": name })))
                .await?;
            format!("added {} ({}); every flag is off in it\n", row.key, row.name)
        }
        EnvCommand::Rename { remote, key, name } => {
            let path = format!("/api/admin/environments/{}", segment(&key));
            let row: EnvironmentRow = client(remote)?.send(Method::PUT, &path, Some(&json!({ "name": name }))).await?;
            format!("{} is now named {}\n", row.key, row.name)
        }
        EnvCommand::Reorder { remote, keys } => {
            let rows: Vec<EnvironmentRow> = client(remote)?
                .send(Method::POST, "/api/admin/environments/reorder", Some(&json!({ "keys": keys })))
                .await?;
            format_environments(&rows)
        }
        EnvCommand::Archive { remote, key, reason } => {
            let path = format!("/api/admin/environments/{}/archive", segment(&key));
            let row: EnvironmentRow =
                client(remote)?.send(Method::POST, &path, Some(&json!({ "reason": reason }))).await?;
            format!("archived {}; its key stays reserved\n", row.key)
        }
    };
    super::write_stdout(&text).map_err(Into::into)
}

pub async fn run_phase(command: PhaseCommand) -> anyhow::Result<()> {
    let text = match command {
        PhaseCommand::List { remote, json } => {
            let rows: Vec<PhaseRow> = client(remote)?.get("/api/admin/phases").await?;
            if json {
                format!("{}\n", serde_json::to_string_pretty(&rows)?)
            } else {
                format_phases(&rows)
            }
        }
        PhaseCommand::Add { remote, key, name, description, requires_previous } => {
            let body =
                json!({ "key": key, "name": name, "description": description, "requires_previous": requires_previous });
            let row: PhaseRow = client(remote)?.send(Method::POST, "/api/admin/phases", Some(&body)).await?;
            format!("added the phase {} ({})\n", row.key, row.name)
        }
        PhaseCommand::Edit { remote, key, name, description, requires_previous } => {
            let mut body = serde_json::Map::new();
            if let Some(name) = name {
                body.insert("name".into(), json!(name));
            }
            if let Some(description) = description {
                body.insert("description".into(), json!(description));
            }
            if let Some(requires_previous) = requires_previous {
                body.insert("requires_previous".into(), json!(requires_previous));
            }
            let path = format!("/api/admin/phases/{}", segment(&key));
            let row: PhaseRow =
                client(remote)?.send(Method::PUT, &path, Some(&serde_json::Value::Object(body))).await?;
            format!("saved the phase {} (version {})\n", row.key, row.version)
        }
        PhaseCommand::Reorder { remote, keys } => {
            let rows: Vec<PhaseRow> =
                client(remote)?.send(Method::POST, "/api/admin/phases/reorder", Some(&json!({ "keys": keys }))).await?;
            format_phases(&rows)
        }
        PhaseCommand::Delete { remote, key } => {
            let path = format!("/api/admin/phases/{}", segment(&key));
            client(remote)?.text(Method::DELETE, &path, None).await?;
            format!("deleted the phase {key}\n")
        }
        PhaseCommand::Move { remote, flag, to, none: _ } => {
            let path = format!("/api/admin/feature-flags/{}/phase", segment(&flag));
            let _: app::model::FlagDetail =
                client(remote)?.send(Method::PUT, &path, Some(&json!({ "phase": to }))).await?;
            match to {
                Some(phase) => format!("moved {flag} to the phase {phase}\n"),
                None => format!("took {flag} out of every phase\n"),
            }
        }
    };
    super::write_stdout(&text).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_table_lists_what_uses_each_and_marks_archived_ones() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let row = |key: &str, archived: bool| EnvironmentRow {
            key: key.into(),
            name: key.to_uppercase(),
            archived_at: archived.then_some(at),
            created_at: at,
            flags_on: 3,
            evaluate_tokens: 1,
            live_rollouts: 0,
        };
        let text = format_environments(&[row("production", false), row("old", true)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].starts_with("production  PRODUCTION") && lines[1].ends_with("in use"), "{text}");
        assert!(lines[2].ends_with("archived 2026-12-01"), "{text}");
    }
}
