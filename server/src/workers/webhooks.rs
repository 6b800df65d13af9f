//! Sends queued webhook deliveries: wakes on `NOTIFY rollgate_webhooks` (sent at the commit of a change
//! that queued one) and also polls, for retries coming due and notifications missed.
//!
//! Any number of replicas may run this. A pass claims due rows with `for update skip locked` and pushes
//! their `next_attempt_at` a lease into the future in the same statement, then sends without holding a
//! transaction open across the HTTP calls. A replica that dies mid-send leaves its rows to be claimed again
//! when the lease ends, so a receiver may (rarely) see one delivery twice: the `X-Rollgate-Delivery`
//! header is the same on every attempt so it can drop duplicates.
//!
//! A 2xx answer delivers; anything else (another status, a timeout, a refused connection) schedules the
//! next attempt after `backoff_base × 3^(attempts − 1)`: 10 s, 30 s, 90 s, 4.5 min, 13.5 min with the
//! default base, and after the sixth attempt the delivery is `failed`.

use app::server::webhooks::signature::{sign, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER};
use app::server::webhooks::CHANNEL;
use clap::Args;
use futures_util::future::join_all;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::time::Duration;

/// Settings of the webhook sender (`rollgate serve`).
#[derive(Debug, Clone, Args)]
pub struct SenderArgs {
    /// Seconds between checks for webhook deliveries coming due (besides NOTIFY).
    #[arg(long, env = "ROLLGATE_WEBHOOK_POLL_SECONDS", default_value_t = 5)]
    pub webhook_poll_seconds: u64,
    /// Milliseconds before the first webhook retry; each later one waits three times longer.
    #[arg(long, env = "ROLLGATE_WEBHOOK_BACKOFF_MS", default_value_t = 10_000)]
    pub webhook_backoff_ms: u64,
    /// Seconds a receiver has to answer a webhook delivery.
    #[arg(long, env = "ROLLGATE_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 5)]
    pub webhook_timeout_seconds: u64,
}

impl SenderArgs {
    pub fn config(&self) -> SenderConfig {
        SenderConfig {
            poll_every: Duration::from_secs(self.webhook_poll_seconds.max(1)),
            backoff_base: Duration::from_millis(self.webhook_backoff_ms.max(1)),
            timeout: Duration::from_secs(self.webhook_timeout_seconds.clamp(1, 60)),
            ..SenderConfig::default()
        }
    }
}

/// How the sender behaves; the defaults are the production ones.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub poll_every: Duration,
    pub backoff_base: Duration,
    pub timeout: Duration,
    /// Attempts before a delivery is `failed`.
    pub max_attempts: i32,
    /// Deliveries claimed (and sent concurrently) per pass.
    pub batch: i64,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            poll_every: Duration::from_secs(5),
            backoff_base: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            max_attempts: 6,
            batch: 20,
        }
    }
}

impl SenderConfig {
    /// How long a claimed delivery is kept from other replicas: well past one request's timeout.
    fn lease(&self) -> Duration {
        self.timeout * 3 + Duration::from_secs(5)
    }
}

/// The wait before the next attempt after `attempts_made` failed ones, or `None` when they are used up.
pub fn retry_delay(attempts_made: i32, max_attempts: i32, base: Duration) -> Option<Duration> {
    if attempts_made >= max_attempts {
        return None;
    }
    let exponent = u32::try_from(attempts_made.max(1) - 1).unwrap_or(0).min(20);
    Some(base.saturating_mul(3u32.saturating_pow(exponent)))
}

/// The HTTP client: no redirects (a webhook URL is exact; following one would re-send the signed body
/// to wherever it points) and the configured timeout for the whole exchange. A client that cannot be built
/// stops start-up: a default client would follow redirects and wait forever.
pub fn client(config: &SenderConfig) -> anyhow::Result<reqwest::Client> {
    use anyhow::Context;
    reqwest::Client::builder()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Rollgate-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the webhook HTTP client (TLS roots, timeout)")
}

struct Claimed {
    id: i64,
    webhook_id: i64,
    event: String,
    payload: serde_json::Value,
    attempt: i32,
    url: String,
    secret: String,
}

/// What one attempt came to.
struct Outcome {
    delivered: bool,
    response_status: Option<i32>,
    error: Option<String>,
}

/// One pass: claims up to `config.batch` due deliveries of enabled webhooks, sends them concurrently and
/// records each result. Returns how many were attempted.
pub async fn send_due(pool: &PgPool, client: &reqwest::Client, config: &SenderConfig) -> Result<usize, sqlx::Error> {
    let lease_ms = i64::try_from(config.lease().as_millis()).unwrap_or(i64::MAX);
    let claimed = sqlx::query_as!(
        Claimed,
        r#"with due as (
               select d.id from webhook_deliveries d join webhooks w on w.id = d.webhook_id
               where d.status = 'pending' and d.next_attempt_at <= now() and w.enabled
               order by d.next_attempt_at, d.id
               limit $1
               for update of d skip locked)
           update webhook_deliveries d
           set next_attempt_at = now() + make_interval(secs => $2::bigint / 1000.0)
           from due, webhooks w
           where d.id = due.id and w.id = d.webhook_id
           returning d.id, d.webhook_id, d.event, d.payload, d.attempt, w.url, w.secret"#,
        config.batch,
        lease_ms,
    )
    .fetch_all(pool)
    .await?;
    let count = claimed.len();
    join_all(claimed.into_iter().map(|delivery| async move {
        let outcome = attempt(client, &delivery).await;
        if let Err(err) = record(pool, config, &delivery, &outcome).await {
            tracing::warn!(delivery = delivery.id, error = %err, "could not record a webhook attempt");
        }
    }))
    .await;
    Ok(count)
}

async fn attempt(client: &reqwest::Client, delivery: &Claimed) -> Outcome {
    let body = match serde_json::to_vec(&delivery.payload) {
        Ok(body) => body,
        Err(err) => {
            return Outcome { delivered: false, response_status: None, error: Some(format!("bad payload: {err}")) }
        }
    };
    let signature = sign(&delivery.secret, chrono::Utc::now().timestamp(), &body);
    let sent = client
        .post(&delivery.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_HEADER, &delivery.event)
        .header(DELIVERY_HEADER, delivery.id.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            let code = Some(i32::from(status.as_u16()));
            if status.is_success() {
                return Outcome { delivered: true, response_status: code, error: None };
            }
            // A little of the answer helps whoever debugs the receiver; the rest is not kept.
            let text = response.text().await.unwrap_or_default();
            let excerpt: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
            let error = if excerpt.trim().is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {}", excerpt.trim())
            };
            Outcome { delivered: false, response_status: code, error: Some(error) }
        }
        Err(err) => Outcome { delivered: false, response_status: None, error: Some(describe(err)) },
    }
}

/// A short error without the URL (which may carry a secret, as Slack's do).
fn describe(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_redirect() {
        "redirected (not followed)"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let err = err.without_url();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

async fn record(
    pool: &PgPool,
    config: &SenderConfig,
    delivery: &Claimed,
    outcome: &Outcome,
) -> Result<(), sqlx::Error> {
    let attempts = delivery.attempt + 1;
    let (status, delay) = if outcome.delivered {
        ("delivered", None)
    } else {
        match retry_delay(attempts, config.max_attempts, config.backoff_base) {
            Some(delay) => ("pending", Some(delay)),
            None => ("failed", None),
        }
    };
    let delay_ms = delay.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    sqlx::query!(
        "update webhook_deliveries
         set status = $2, attempt = $3, response_status = $4, last_error = $5,
             next_attempt_at = case when $2 = 'pending' then now() + make_interval(secs => $6::bigint / 1000.0) end,
             delivered_at = case when $2 = 'delivered' then now() end
         where id = $1 and status = 'pending'",
        delivery.id,
        status,
        attempts,
        outcome.response_status,
        outcome.error.as_deref(),
        delay_ms,
    )
    .execute(pool)
    .await?;
    match status {
        "delivered" => {
            tracing::debug!(delivery = delivery.id, webhook = delivery.webhook_id, event = %delivery.event, "webhook delivered")
        }
        "failed" => tracing::warn!(
            delivery = delivery.id, webhook = delivery.webhook_id, event = %delivery.event, attempts,
            error = outcome.error.as_deref().unwrap_or(""), "webhook delivery failed for good"
        ),
        _ => tracing::info!(
            delivery = delivery.id, webhook = delivery.webhook_id, event = %delivery.event, attempts,
            error = outcome.error.as_deref().unwrap_or(""), "webhook delivery failed; will retry"
        ),
    }
    Ok(())
}

/// Runs until the process ends.
pub async fn run(pool: PgPool, config: SenderConfig, client: reqwest::Client) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for webhook deliveries; retrying");
                tokio::time::sleep(config.poll_every).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %err, "LISTEN for webhook deliveries failed; retrying");
            tokio::time::sleep(config.poll_every).await;
            continue;
        }
        let mut tick = tokio::time::interval(config.poll_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Send until a pass finds less than a full batch, so a burst drains without waiting.
            loop {
                match send_due(&pool, &client, &config).await {
                    Ok(n) if usize::try_from(config.batch).is_ok_and(|batch| n >= batch) => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "could not send webhook deliveries");
                        break;
                    }
                }
            }
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(_) => while listener.next_buffered().is_some() {},
                    Err(err) => {
                        tracing::warn!(error = %err, "lost the webhook listener; reconnecting");
                        tokio::time::sleep(config.poll_every).await;
                        break;
                    }
                },
                _ = tick.tick() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_ten_thirty_ninety_seconds_and_so_on_and_stop_after_six_attempts() {
        let base = Duration::from_secs(10);
        let delays: Vec<_> = (1..=6).map(|n| retry_delay(n, 6, base).map(|d| d.as_secs())).collect();
        assert_eq!(delays, [Some(10), Some(30), Some(90), Some(270), Some(810), None]);
    }
}
