//! `rollgate flags stale [--json]`: the stale flags, through `GET /api/admin/stale-flags`.

use super::client::ApiClient;
use crate::config::FlagsCommand;
use app::model::StaleFlag;
use std::fmt::Write as _;

pub fn format_stale(flags: &[StaleFlag]) -> String {
    if flags.is_empty() {
        return "no stale flags\n".to_owned();
    }
    let width = flags.iter().map(|f| f.key.len()).max().unwrap_or(0).max(4);
    let mut out = format!("{:<width$}  {:<12}  why\n", "flag", "kind");
    for f in flags {
        let _ = writeln!(out, "{:<width$}  {:<12}  {}", f.key, f.kind.as_str(), f.reason);
    }
    out
}

pub async fn run(command: FlagsCommand) -> anyhow::Result<()> {
    match command {
        FlagsCommand::Stale { remote, json } => {
            let client = ApiClient::new(
                &remote.url,
                Some(remote.token),
                std::time::Duration::from_secs(remote.timeout_seconds),
            )?;
            let flags: Vec<StaleFlag> = client.get("/api/admin/stale-flags").await?;
            let text = if json { format!("{}\n", serde_json::to_string_pretty(&flags)?) } else { format_stale(&flags) };
            super::write_stdout(&text).map_err(Into::into)
        }
    }
}
