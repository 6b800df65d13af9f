//! `rollgate serve`.

use crate::config::{DbArgs, ServeArgs};
use crate::db::Database;
use anyhow::Context;
use app::server::retention::Policy;
use std::net::SocketAddr;
use tokio::signal::unix::{signal, SignalKind};

pub async fn run(db_args: &DbArgs, args: ServeArgs) -> anyhow::Result<()> {
    // Settings are checked before the database is touched.
    let retention = args.retention.policy().map_err(|e| anyhow::anyhow!("retention settings: {e}"))?;
    let mut db = Database::open(db_args).await?;
    let result = serve(&db, db_args, &args, retention).await;
    // Stop the private cluster however serving ended.
    db.close().await;
    result
}

async fn serve(db: &Database, db_args: &DbArgs, args: &ServeArgs, retention: Policy) -> anyhow::Result<()> {
    if db.freshly_initialized() && !args.no_demo {
        let logins = crate::demo::load(&db.pool).await.context("loading the demo data")?;
        crate::demo::announce(&logins, &db_args.data_dir);
    }
    // An empty database (no demo, or any DATABASE_URL) gets what every install needs, once.
    let created = app::server::setup::ensure_environments(&db.pool).await.context("creating the first environments")?;
    if !created.is_empty() {
        println!(
            "First start: created the environments {}. Rename them or add your own at /admin/settings/environments.",
            created.join(" and ")
        );
    }
    let shown = if args.addr.ip().is_unspecified() || args.addr.ip().is_loopback() {
        format!("http://localhost:{}", args.addr.port())
    } else {
        format!("http://{}", args.addr)
    };
    let (state, trusted) = crate::build_state(db.pool.clone(), args);
    let retention_worker = tokio::spawn(crate::workers::retention::run(
        db.pool.clone(),
        retention,
        std::time::Duration::from_secs(args.retention.retention_interval_minutes.max(1) * 60),
    ));
    let snapshot_worker = tokio::spawn(crate::workers::snapshot::run(
        db.pool.clone(),
        state.snapshot.clone(),
        std::time::Duration::from_secs(args.snapshot_check_seconds.max(1)),
    ));
    let webhook_sender = tokio::spawn(crate::workers::webhooks::run(db.pool.clone(), args.webhooks.config()));
    let guardrail_worker = tokio::spawn(crate::workers::guardrails::run(db.pool.clone(), args.guardrails.clone()));
    let schedule_worker =
        tokio::spawn(crate::workers::schedule::run(db.pool.clone(), std::time::Duration::from_secs(5)));
    let activity_worker = tokio::spawn(crate::workers::activity::run(
        db.pool.clone(),
        state.snapshot.clone(),
        std::time::Duration::from_secs(60),
    ));
    let router = crate::app(state, trusted);
    let listener =
        tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("listening on {}", args.addr))?;
    tracing::info!("Rollgate is serving {shown}");
    println!("Rollgate is serving {shown}/admin/feature-flags  (Ctrl-C stops it)");
    // With no user yet, a one-time link to create the first admin (and a fresh one while nobody has).
    let setup_link = tokio::spawn(crate::workers::setup_link::run(db.pool.clone(), shown.clone()));
    let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP");
    retention_worker.abort();
    snapshot_worker.abort();
    webhook_sender.abort();
    guardrail_worker.abort();
    schedule_worker.abort();
    activity_worker.abort();
    setup_link.abort();
    tracing::info!("stopped serving");
    served
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
