//! Webhooks as the settings page and the webhooks service exchange them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A webhook as listed. The secret is never sent to the page after creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookView {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub kind: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    /// The status of the latest delivery: pending, delivered or failed.
    pub last_status: Option<String>,
    pub last_at: Option<DateTime<Utc>>,
}

/// One delivery and its attempts so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: i64,
    pub webhook: String,
    pub event: String,
    pub status: String,
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
