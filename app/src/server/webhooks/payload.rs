//! The bodies a notification is sent as: generic JSON for programs, or Slack's incoming-webhook format
//! (which Mattermost, Rocket.Chat and Discord's `/slack` endpoint also take).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// The generic body, without its `id` (the delivery's, added when the row is inserted):
/// `{"id", "event", "occurred_at", "summary", "data"}`.
pub fn generic(event: &str, occurred_at: DateTime<Utc>, summary: &str, data: &Value) -> Value {
    json!({
        "event": event,
        "occurred_at": occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "summary": summary,
        "data": data,
    })
}

/// The Slack body: `text` (shown in notifications and by clients without blocks) and two blocks, the
/// summary and a line naming the event and the time.
pub fn slack(event: &str, occurred_at: DateTime<Utc>, summary: &str) -> Value {
    let when = occurred_at.format("%Y-%m-%d %H:%M:%S UTC");
    let text = escape_mrkdwn(summary);
    json!({
        "text": text,
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": text } },
            { "type": "context", "elements": [
                { "type": "mrkdwn", "text": format!("Rollgate · `{}` · {when}", escape_mrkdwn(event)) }
            ] }
        ]
    })
}

/// Slack reads `<...>` as links and mentions and `&` as the start of an entity; user text (reasons, flag
/// names) must not be able to ping `<!channel>`. Slack shows the escaped text as typed.
pub fn escape_mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 30, 0).single().unwrap_or_default()
    }

    #[test]
    fn the_generic_body_carries_event_time_summary_and_data() {
        let body = generic("rollout.advanced", at(), "x advanced", &json!({ "flag": "x" }));
        assert_eq!(body["event"], "rollout.advanced");
        assert_eq!(body["occurred_at"], "2026-11-21T12:30:00.000Z");
        assert_eq!(body["summary"], "x advanced");
        assert_eq!(body["data"]["flag"], "x");
    }

    #[test]
    fn the_slack_body_has_text_and_blocks_with_mentions_escaped() {
        let body = slack("rollout.paused", at(), "paused by <!channel> & co");
        assert_eq!(body["text"], "paused by &lt;!channel&gt; &amp; co");
        assert_eq!(body["blocks"][0]["text"]["text"], "paused by &lt;!channel&gt; &amp; co");
        assert_eq!(body["blocks"][1]["elements"][0]["text"], "Rollgate · `rollout.paused` · 2026-11-21 12:30:00 UTC");
    }
}
