//! `rollgate audit --since WHEN [--json]`: the audit trail since a time, oldest first, through
//! `GET /api/admin/audit` (all pages).

use super::client::{segment, ApiClient};
use crate::config::AuditArgs;
use anyhow::bail;
use app::model::{AuditEventView, AuditPage};
use chrono::{DateTime, Duration, Utc};
use std::fmt::Write as _;

/// An RFC 3339 time, or an age before `now` such as `90s`, `30m`, `24h` or `7d` (`domain::duration`).
pub fn parse_since(raw: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let text = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.to_utc());
    }
    let age = app::domain::duration::parse("--since", text)
        .map_err(|why| anyhow::anyhow!("{why}, or an RFC 3339 time (2026-11-21T09:00:00Z)"))?;
    let age = Duration::from_std(age).ok();
    match age.and_then(|age| now.checked_sub_signed(age)) {
        Some(at) => Ok(at),
        None => bail!("--since {text:?}: too far in the past"),
    }
}

/// Every event matching the filters since `since`, oldest first.
pub async fn fetch(client: &ApiClient, args: &AuditArgs, since: DateTime<Utc>) -> anyhow::Result<Vec<AuditEventView>> {
    let mut filters = format!("since={}", segment(&since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)));
    for (name, value) in [("flag", &args.flag), ("action", &args.action), ("actor", &args.actor)] {
        if let Some(value) = value {
            let _ = write!(filters, "&{name}={}", segment(value));
        }
    }
    let mut events = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let cursor = before.map(|b| format!("&before={b}")).unwrap_or_default();
        let page: AuditPage = client.get(&format!("/api/admin/audit?{filters}{cursor}")).await?;
        events.extend(page.events);
        match page.next_before {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    events.reverse();
    Ok(events)
}

/// One line per event: when, who, what, which, the changed fields and the reason.
pub fn format_events(events: &[AuditEventView]) -> String {
    let mut out = String::new();
    for e in events {
        let changes = app::domain::audit_diff::diff(e.before.as_ref(), e.after.as_ref())
            .into_iter()
            .filter(|d| d.changed())
            .map(|d| {
                format!("{}: {} -> {}", d.field, d.before.as_deref().unwrap_or("-"), d.after.as_deref().unwrap_or("-"))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            out,
            "{}  {}  {}  {}",
            e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            e.actor,
            e.action,
            e.entity_key
        );
        if !changes.is_empty() {
            let _ = write!(out, "  [{changes}]");
        }
        if let Some(reason) = e.reason.as_deref().filter(|r| !r.is_empty()) {
            let _ = write!(out, "  reason: {reason}");
        }
        out.push('\n');
    }
    out
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let since = parse_since(&args.since, Utc::now())?;
    let client = ApiClient::new(
        &args.remote.url,
        Some(args.remote.token.clone()),
        std::time::Duration::from_secs(args.remote.timeout_seconds),
    )?;
    let events = fetch(&client, &args, since).await?;
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&events)?)
    } else if events.is_empty() {
        format!("no audit events since {}\n", since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    } else {
        format_events(&events)
    };
    super::write_stdout(&text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn since_takes_an_age_or_a_time_and_names_what_is_wrong() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        assert_eq!(parse_since("24h", now).unwrap(), now - Duration::hours(24));
        assert_eq!(parse_since("7d", now).unwrap(), now - Duration::days(7));
        assert_eq!(parse_since("30m", now).unwrap(), now - Duration::minutes(30));
        assert_eq!(
            parse_since("2026-11-20T08:00:00+01:00", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 20, 7, 0, 0).unwrap()
        );
        let err = parse_since("yesterday", now).unwrap_err().to_string();
        assert!(err.contains("RFC 3339") && err.contains("\"yesterday\""), "{err}");
        assert_eq!(parse_since("2w", now).unwrap(), now - Duration::weeks(2));
        assert!(parse_since("3x", now).unwrap_err().to_string().contains("30m"));
        assert!(parse_since("-5h", now).is_err());
    }
}
