//! Webhooks as the settings page and the webhooks service exchange them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

crate::domain::text_enum!(
    /// What a webhook's body looks like: Slack's incoming-webhook format or Rollgate's generic JSON.
    WebhookKind, "kind", {
        Slack => "slack",
        Generic => "generic",
    }
);

crate::domain::text_enum!(
    /// Where a delivery stands: waiting for its next attempt, delivered, or failed for good.
    DeliveryStatus, "status", {
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
);

/// A webhook as listed. The secret is never sent to the page after creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookView {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub kind: WebhookKind,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    /// The status of the latest delivery: pending, delivered or failed.
    pub last_status: Option<DeliveryStatus>,
    pub last_at: Option<DateTime<Utc>>,
}

/// One delivery and its attempts so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: i64,
    pub webhook: String,
    pub event: String,
    pub status: DeliveryStatus,
    pub attempt: i32,
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A webhook just created; `secret` is set when Rollgate generated it, the only time it is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedWebhookView {
    pub id: i64,
    pub name: String,
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhooksPageData {
    pub webhooks: Vec<WebhookView>,
    pub deliveries: Vec<DeliveryView>,
    pub just_created: Option<CreatedWebhookView>,
}
