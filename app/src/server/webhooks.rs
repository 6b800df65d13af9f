//! Outgoing webhooks: what happened (a rollout advanced, a guardrail fired...) sent to Slack or to any
//! program, signed, retried and recorded.
//!
//! A change that notifies calls [`enqueue`] inside its own transaction: one `pending` delivery per enabled
//! webhook subscribed to the event, so a change that rolls back notifies nobody and one that commits is
//! never lost. The sender (`server::workers::webhooks`) is woken by `NOTIFY rollgate_webhooks`, which
//! Postgres delivers at commit, and also polls.
//!
//! The secrets sign deliveries, so they are stored readable; they are shown once, when created, and never
//! logged or audited. Webhook URLs often carry a secret of their own (Slack's do), so logs and the audit
//! trail show only their origin ([`redact_url`]).

pub mod payload;
pub mod rollouts;
pub mod signature;

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::{Role, WebhookEvent};
use crate::model::webhooks::{CreatedWebhookView, DeliveryStatus, DeliveryView, WebhookKind, WebhookView};
use chrono::{DateTime, Utc};
use rand::distributions::{Alphanumeric, DistString};
use sqlx::{PgConnection, PgPool};

/// The channel the sender listens on.
pub const CHANNEL: &str = "rollgate_webhooks";

/// A notification to queue alongside a change, in its transaction (see [`enqueue`]).
#[derive(Debug, Clone)]
pub struct Notice {
    pub event: WebhookEvent,
    pub summary: String,
    pub data: serde_json::Value,
}

/// Queues `event` for every enabled webhook subscribed to it, inside the caller's transaction, and
/// returns how many deliveries were queued. `summary` is one human sentence ("new-checkout in production
/// advanced 10% → 50% by alice@example.com"); `data` is the machine-readable detail, sent as is in the
/// generic body. The sender is notified at commit.
pub async fn enqueue(
    conn: &mut PgConnection,
    event: WebhookEvent,
    summary: &str,
    data: serde_json::Value,
) -> Result<u64, sqlx::Error> {
    let now = Utc::now();
    let event = event.as_str();
    let generic = payload::generic(event, now, summary, &data);
    let slack = payload::slack(event, now, summary);
    // The generic body names its delivery, so the id is drawn before the insert.
    let queued = sqlx::query!(
        r#"with targets as (
               select w.id as webhook_id, w.kind,
                      nextval(pg_get_serial_sequence('webhook_deliveries', 'id')) as delivery_id
               from webhooks w where w.enabled and $1 = any (w.events))
           insert into webhook_deliveries (id, webhook_id, event, payload)
           overriding system value
           select t.delivery_id, t.webhook_id, $1,
                  case when t.kind = 'slack' then $2::jsonb
                       else jsonb_build_object('id', t.delivery_id::text) || $3::jsonb end
           from targets t"#,
        event,
        slack,
        generic,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if queued > 0 {
        sqlx::query!("select pg_notify('rollgate_webhooks', '')").execute(&mut *conn).await?;
    }
    Ok(queued)
}

/// A webhook to create, as typed in the form or sent by a script.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    pub name: String,
    pub url: String,
    /// `generic` or `slack`.
    pub kind: String,
    pub events: Vec<String>,
    /// Blank: one is generated (and shown once).
    pub secret: Option<String>,
}

/// A URL with only its scheme, host and port: safe for logs and the audit trail.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}/…", u.origin().ascii_serialization()),
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// A [`NewWebhook`] that passed [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidWebhook {
    pub name: String,
    pub url: String,
    pub kind: &'static str,
    /// Known events, in the order of [`WebhookEvent::ALL`].
    pub events: Vec<WebhookEvent>,
    /// `None`: generate one.
    pub secret: Option<String>,
}

/// Checks a new webhook and returns it cleaned, or the first problem with the form field it belongs to.
pub fn validate(new: &NewWebhook) -> Result<ValidWebhook, ServiceError> {
    let invalid = |field: &'static str, message: &str| ServiceError::Invalid { field, message: message.to_owned() };
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid("name", "a name is required (up to 100 characters)"));
    }
    let url = new.url.trim();
    let parsed = url::Url::parse(url)
        .map_err(|_| invalid("url", "enter a full URL, e.g. https://hooks.example.com/rollgate"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("url", "the URL must start with https:// (or http://) and name a host"));
    }
    if url.len() > 2048 {
        return Err(invalid("url", "the URL is longer than 2048 characters"));
    }
    let kind = match new.kind.trim() {
        "" | "generic" => "generic",
        "slack" => "slack",
        _ => return Err(invalid("kind", "the format is generic JSON or Slack")),
    };
    let chosen = new.events.iter().map(|e| e.parse::<WebhookEvent>()).collect::<Result<Vec<_>, _>>()?;
    let events: Vec<WebhookEvent> = WebhookEvent::ALL.iter().copied().filter(|e| chosen.contains(e)).collect();
    if events.is_empty() {
        return Err(invalid("events", "choose at least one event"));
    }
    let secret = new.secret.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(secret) = secret {
        let len = secret.chars().count();
        if !(16..=256).contains(&len) {
            return Err(invalid(
                "secret",
                "the secret must be 16 to 256 characters; leave it blank to have one generated",
            ));
        }
    }
    Ok(ValidWebhook { name: name.to_owned(), url: url.to_owned(), kind, events, secret: secret.map(str::to_owned) })
}

/// Creates a webhook. Admins only; audited without the secret or the URL's path.
#[tracing::instrument(name = "webhooks::create", skip_all, fields(actor = %actor.label))]
pub async fn create(pool: &PgPool, actor: &Actor, new: &NewWebhook) -> Result<CreatedWebhookView, ServiceError> {
    actor.require(Role::Admin, "manage webhooks")?;
    let ValidWebhook { name, url, kind, events, secret } = validate(new)?;
    let generated = secret.is_none();
    let events: Vec<String> = events.iter().map(|e| e.as_str().to_owned()).collect();
    let secret = secret.unwrap_or_else(|| format!("whsec_{}", Alphanumeric.sample_string(&mut rand::thread_rng(), 40)));
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "insert into webhooks (name, url, kind, secret, events, created_by) values ($1, $2, $3, $4, $5, $6)
         returning id",
        name,
        url,
        kind,
        secret,
        &events,
        actor.user_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "webhook.created",
            entity_kind: "webhook",
            entity_key: &id.to_string(),
            after: Some(serde_json::json!({
                "name": name, "url": redact_url(&url), "kind": kind, "events": events, "enabled": true,
            })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(webhook = id, kind, "webhook created");
    // An entered secret is the admin's already; only a generated one needs showing.
    Ok(CreatedWebhookView { id, name, secret: generated.then_some(secret) })
}

/// The webhook's name, locked for the change; `NotFound` if there is none.
async fn lock(conn: &mut PgConnection, id: i64) -> Result<(String, String, bool), ServiceError> {
    let row = sqlx::query!("select name, url, enabled from webhooks where id = $1 for update", id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("webhook {id}")))?;
    Ok((row.name, row.url, row.enabled))
}

/// Turns a webhook on or off. Admins only; audited. A disabled webhook is sent nothing new; deliveries
/// already queued wait until it is enabled again.
#[tracing::instrument(name = "webhooks::set_enabled", skip_all, fields(actor = %actor.label, id = id))]
pub async fn set_enabled(pool: &PgPool, actor: &Actor, id: i64, enabled: bool) -> Result<(), ServiceError> {
    actor.require(Role::Admin, "manage webhooks")?;
    let mut tx = pool.begin().await?;
    let (name, _, was) = lock(&mut tx, id).await?;
    if was == enabled {
        return Ok(());
    }
    sqlx::query!("update webhooks set enabled = $2 where id = $1", id, enabled).execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: if enabled { "webhook.enabled" } else { "webhook.disabled" },
            entity_kind: "webhook",
            entity_key: &id.to_string(),
            before: Some(serde_json::json!({ "name": name, "enabled": was })),
            after: Some(serde_json::json!({ "name": name, "enabled": enabled })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a webhook and its delivery records. Admins only; audited (the audit event is what remains).
#[tracing::instrument(name = "webhooks::delete", skip_all, fields(actor = %actor.label, id = id))]
pub async fn delete(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), ServiceError> {
    actor.require(Role::Admin, "manage webhooks")?;
    let mut tx = pool.begin().await?;
    let (name, url, enabled) = lock(&mut tx, id).await?;
    sqlx::query!("delete from webhooks where id = $1", id).execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "webhook.deleted",
            entity_kind: "webhook",
            entity_key: &id.to_string(),
            before: Some(serde_json::json!({ "name": name, "url": redact_url(&url), "enabled": enabled })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Queues a `webhook.test` delivery to this one webhook, whatever it subscribes to. Admins only;
/// audited. Refused while the webhook is disabled (the sender would hold it back). Returns the delivery.
#[tracing::instrument(name = "webhooks::send_test", skip_all, fields(actor = %actor.label, id = id))]
pub async fn send_test(pool: &PgPool, actor: &Actor, id: i64) -> Result<i64, ServiceError> {
    actor.require(Role::Admin, "manage webhooks")?;
    let mut tx = pool.begin().await?;
    let (name, _, enabled) = lock(&mut tx, id).await?;
    if !enabled {
        return Err(ServiceError::Refused {
            code: "WEBHOOK_DISABLED",
            message: format!("webhook {name:?} is disabled; enable it to send a test"),
        });
    }
    let now = Utc::now();
    let summary = format!("Test notification from Rollgate to {name}, sent by {}", actor.label);
    let data = serde_json::json!({ "webhook": name, "requested_by": actor.label });
    let delivery = sqlx::query_scalar!(
        r#"with d as (select nextval(pg_get_serial_sequence('webhook_deliveries', 'id')) as id)
           insert into webhook_deliveries (id, webhook_id, event, payload)
           overriding system value
           select d.id, w.id, $4,
                  case when w.kind = 'slack' then $2::jsonb else jsonb_build_object('id', d.id::text) || $3::jsonb end
           from webhooks w, d where w.id = $1
           returning id"#,
        id,
        payload::slack(WebhookEvent::WebhookTest.as_str(), now, &summary),
        payload::generic(WebhookEvent::WebhookTest.as_str(), now, &summary, &data),
        WebhookEvent::WebhookTest.as_str(),
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!("select pg_notify('rollgate_webhooks', '')").execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "webhook.tested",
            entity_kind: "webhook",
            entity_key: &id.to_string(),
            after: Some(serde_json::json!({ "name": name, "delivery": delivery })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(delivery)
}

/// Every webhook with the status of its latest delivery, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<WebhookView>, ServiceError> {
    Ok(sqlx::query_as!(
        WebhookView,
        r#"select w.id, w.name, w.url, w.kind as "kind: WebhookKind", w.events, w.enabled,
                  w.created_at as "created_at: DateTime<Utc>",
                  last.status as "last_status?: DeliveryStatus", last.at as "last_at?: DateTime<Utc>"
           from webhooks w
           left join lateral (select d.status, d.updated_at as at from webhook_deliveries d
                              where d.webhook_id = w.id order by d.id desc limit 1) last on true
           order by w.id"#
    )
    .fetch_all(pool)
    .await?)
}

/// The latest deliveries to any webhook, newest first.
pub async fn recent_deliveries(pool: &PgPool, limit: i64) -> Result<Vec<DeliveryView>, ServiceError> {
    Ok(sqlx::query_as!(
        DeliveryView,
        r#"select d.id, w.name as webhook, d.event, d.status as "status: DeliveryStatus", d.attempt, d.response_status, d.last_error,
                  d.created_at as "created_at: DateTime<Utc>", d.updated_at as "updated_at: DateTime<Utc>",
                  d.next_attempt_at as "next_attempt_at: DateTime<Utc>"
           from webhook_deliveries d join webhooks w on w.id = d.webhook_id
           order by d.id desc limit $1"#,
        limit
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(url: &str, events: &[&str], secret: Option<&str>) -> NewWebhook {
        NewWebhook {
            name: "ops".into(),
            url: url.into(),
            kind: "slack".into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            secret: secret.map(str::to_owned),
        }
    }

    fn field(result: Result<impl std::fmt::Debug, ServiceError>) -> &'static str {
        match result {
            Err(ServiceError::Invalid { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_webhook_keeps_its_events_in_the_documented_order() {
        let ValidWebhook { url, kind, events, secret, .. } =
            validate(&new(" https://hooks.example.com/x ", &["rollout.completed", "rollout.started"], None))
                .expect("valid");
        assert_eq!(url, "https://hooks.example.com/x");
        assert_eq!(kind, "slack");
        assert_eq!(events, [WebhookEvent::RolloutStarted, WebhookEvent::RolloutCompleted]);
        assert_eq!(secret, None);
    }

    #[test]
    fn bad_urls_no_events_unknown_events_and_short_secrets_are_refused_on_their_field() {
        assert_eq!(field(validate(&new("hooks.example.com", &["rollout.started"], None))), "url");
        assert_eq!(field(validate(&new("ftp://example.com/x", &["rollout.started"], None))), "url");
        assert_eq!(field(validate(&new("https://example.com/x", &[], None))), "events");
        assert_eq!(field(validate(&new("https://example.com/x", &["rollout.exploded"], None))), "events");
        assert_eq!(field(validate(&new("https://example.com/x", &["rollout.started"], Some("short")))), "secret");
    }

    #[test]
    fn redacted_urls_keep_only_the_origin() {
        assert_eq!(redact_url("https://hooks.slack.com/services/T000/B000/XXXX"), "https://hooks.slack.com/…");
        assert_eq!(redact_url("http://127.0.0.1:9000/hook?token=abc"), "http://127.0.0.1:9000/…");
    }
}
