//! Keeps this process's evaluation snapshot current: reloads it on every `NOTIFY rollgate_config`, and
//! checks `config_state.version` every `check_every` in case a notification was missed (a dropped
//! connection loses the ones sent meanwhile). When Postgres is unreachable it keeps the last snapshot and
//! retries; readiness then reports the snapshot as stale.
//!
//! Listening and reloading are two loops: a reload (several queries over the whole configuration) never
//! holds up the next notification, so a token's news, taken in by the listener itself, is applied within
//! milliseconds of its commit even while a burst of changes is being reloaded.

use app::server::snapshot::{self, SnapshotHolder};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The channel every configuration change notifies.
pub const CHANNEL: &str = "rollgate_config";

/// Loads the snapshot if Postgres has a newer version than the one held (or none is held).
pub async fn refresh(pool: &PgPool, holder: &SnapshotHolder) -> Result<(), sqlx::Error> {
    let latest = snapshot::stored_version(pool).await?;
    if holder.version() == Some(latest) {
        holder.confirm();
        return Ok(());
    }
    let loaded = snapshot::load(pool).await?;
    tracing::debug!(version = loaded.version, "loaded the configuration snapshot");
    holder.replace(loaded);
    Ok(())
}

/// What a notification says about an API token (`{"entity": "api_token", "key": PREFIX, "revoked"?}`),
/// applied at once, before the reload: a revocation refuses the token (the news is enough), and a new
/// token is read so that it is usable before the reload is done.
async fn token_news(pool: &PgPool, holder: &SnapshotHolder, payload: &str) {
    #[derive(serde::Deserialize)]
    struct News<'a> {
        entity: &'a str,
        key: String,
        #[serde(default)]
        revoked: bool,
    }
    let Ok(news) = serde_json::from_str::<News<'_>>(payload) else { return };
    if news.entity != "api_token" {
        return;
    }
    if news.revoked {
        holder.revoke_token(&news.key);
        return;
    }
    match app::server::tokens::find(pool, &news.key).await {
        Ok(Some(row)) => {
            holder.learn_token(&row);
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(error = %err, token = %news.key, "could not read a new token; the reload will"),
    }
}

/// Runs until the process ends.
pub async fn run(pool: PgPool, holder: Arc<SnapshotHolder>, check_every: Duration) {
    // One permit at most: a burst of notifications (a 100-flag rollback) while a reload runs makes one
    // more reload, which reads them all.
    let wanted = Notify::new();
    tokio::join!(listen(&pool, &holder, &wanted, check_every), reload(&pool, &holder, &wanted));
}

async fn reload(pool: &PgPool, holder: &SnapshotHolder, wanted: &Notify) {
    loop {
        wanted.notified().await;
        if let Err(err) = refresh(pool, holder).await {
            tracing::warn!(error = %err, "could not load the configuration snapshot; serving the last one");
        }
    }
}

async fn listen(pool: &PgPool, holder: &SnapshotHolder, wanted: &Notify, check_every: Duration) {
    loop {
        let mut listener = match PgListener::connect_with(pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for configuration changes; retrying");
                tokio::time::sleep(check_every).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %err, "LISTEN failed; retrying");
            tokio::time::sleep(check_every).await;
            continue;
        }
        // Anything changed before LISTEN took effect is picked up here.
        wanted.notify_one();
        let mut tick = tokio::time::interval(check_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => {
                        token_news(pool, holder, notification.payload()).await;
                        wanted.notify_one();
                    }
                    // The connection dropped; `try_recv` reconnects on the next call. Notifications sent
                    // in between are lost, so check the version once it is back.
                    Ok(None) => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        wanted.notify_one();
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "lost the configuration listener; reconnecting");
                        tokio::time::sleep(check_every).await;
                        break;
                    }
                },
                _ = tick.tick() => wanted.notify_one(),
            }
        }
    }
}
