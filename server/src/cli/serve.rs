//! `rollgate serve`.

use crate::config::{DbArgs, ServeArgs};
use crate::db::Database;
use crate::startup::Readiness;
use anyhow::Context;
use app::server::retention::Policy;
use std::net::SocketAddr;
use tokio::signal::unix::{signal, SignalKind};

pub async fn run(db_args: &DbArgs, args: ServeArgs) -> anyhow::Result<()> {
    // Settings are checked before the database is touched.
    let retention = args.retention.policy().map_err(|e| anyhow::anyhow!("retention settings: {e}"))?;
    // So are the outgoing HTTP clients: one that cannot be built stops start-up with the reason.
    let clients = Clients {
        webhooks: crate::workers::webhooks::client(&args.webhooks.config())?,
        prometheus: crate::workers::guardrails::Prometheus::new(std::time::Duration::from_secs(
            args.guardrails.prometheus_timeout_seconds.clamp(1, 60),
        ))?,
    };
    // Starts the private cluster if there is one; an external PostgreSQL is not waited for.
    let mut db = Database::start(db_args).await?;
    let result = serve(&db, db_args, &args, retention, clients).await;
    // Stop the private cluster however serving ended.
    db.close().await;
    result
}

/// The workers' HTTP clients, built before anything else starts.
struct Clients {
    webhooks: reqwest::Client,
    prometheus: crate::workers::guardrails::Prometheus,
}

async fn serve(
    db: &Database,
    db_args: &DbArgs,
    args: &ServeArgs,
    retention: Policy,
    clients: Clients,
) -> anyhow::Result<()> {
    let shown = if args.addr.ip().is_unspecified() || args.addr.ip().is_loopback() {
        format!("http://localhost:{}", args.addr.port())
    } else {
        format!("http://{}", args.addr)
    };
    let (state, trusted) = crate::build_state(db.pool.clone(), args);
    let readiness = Readiness::default();
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<()>();
    // The database is prepared (and the demo loaded, and the workers started) once it answers; meanwhile
    // the server listens and answers 503 where it needs the database.
    let startup = {
        let (pool, snapshot, readiness) = (db.pool.clone(), state.snapshot.clone(), readiness.clone());
        let pulse = state.guardrail_worker.clone();
        let (preparation, load_demo, data_dir) =
            (db.preparation(), db.freshly_initialized() && !args.no_demo, db_args.data_dir.clone());
        let (args, retention, shown) = (args.clone(), retention, shown.clone());
        tokio::spawn(async move {
            let started = async {
                crate::startup::prepare_until_ready(preparation).await?;
                if load_demo {
                    let logins = crate::demo::load(&pool).await.context("loading the demo data")?;
                    crate::demo::announce(&logins, &data_dir);
                }
                // An empty database (no demo, or any DATABASE_URL) gets what every install needs, once.
                let created =
                    app::server::setup::ensure_environments(&pool).await.context("creating the first environments")?;
                if !created.is_empty() {
                    crate::say!(
                        "First start: created the environments {}. Rename them or add your own at \
                         /admin/settings/environments.",
                        created.join(" and ")
                    );
                }
                let workers = start_workers(&pool, &snapshot, &pulse, &args, retention, clients, shown);
                readiness.set_ready();
                anyhow::Ok(workers)
            }
            .await;
            if started.is_err() {
                let _ = failed_tx.send(());
            }
            started
        })
    };
    let router =
        crate::app(state, trusted).layer(axum::middleware::from_fn_with_state(readiness, crate::startup::gate));
    let listener =
        tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("listening on {}", args.addr))?;
    tracing::info!("Rollgate is serving {shown}");
    crate::say!("Rollgate is serving {shown}/admin/feature-flags  (Ctrl-C stops it)");
    let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal(failed_rx, startup.abort_handle()));
    let (served, workers) = tokio::join!(served, startup);
    let workers = match workers {
        Ok(Ok(workers)) => workers,
        // Stopped before the database answered.
        Err(join) if join.is_cancelled() => Vec::new(),
        Err(join) => return Err(anyhow::anyhow!("the start-up task failed: {join}")),
        Ok(Err(err)) => return Err(err.context("preparing the database")),
    };
    for worker in workers {
        worker.abort();
    }
    tracing::info!("stopped serving");
    served.context("serving HTTP")
}

/// The background workers, started once the database is prepared; `shown` is the address the set-up link
/// is printed with.
fn start_workers(
    pool: &sqlx::PgPool,
    snapshot: &std::sync::Arc<app::server::snapshot::SnapshotHolder>,
    pulse: &std::sync::Arc<app::server::guardrails::worker::Pulse>,
    args: &ServeArgs,
    retention: Policy,
    clients: Clients,
    shown: String,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(crate::workers::retention::run(
            pool.clone(),
            retention,
            std::time::Duration::from_secs(args.retention.retention_interval_minutes.max(1) * 60),
        )),
        tokio::spawn(crate::workers::snapshot::run(
            pool.clone(),
            snapshot.clone(),
            std::time::Duration::from_secs(args.snapshot_check_seconds.max(1)),
        )),
        tokio::spawn(crate::workers::webhooks::run(pool.clone(), args.webhooks.config(), clients.webhooks)),
        tokio::spawn(crate::workers::guardrails::run(
            pool.clone(),
            args.guardrails.clone(),
            clients.prometheus,
            pulse.clone(),
        )),
        tokio::spawn(crate::workers::schedule::run(pool.clone(), std::time::Duration::from_secs(5))),
        tokio::spawn(crate::workers::activity::run(pool.clone(), snapshot.clone(), std::time::Duration::from_secs(60))),
        // With no user yet, a one-time link to create the first admin (and a fresh one while nobody has).
        tokio::spawn(crate::workers::setup_link::run(pool.clone(), shown)),
    ]
}

/// Resolves on Ctrl-C or SIGTERM, or when preparing the database failed for good (the start-up task
/// ended with an error); stops the start-up task if it is still waiting for the database.
async fn shutdown_signal(failed: tokio::sync::oneshot::Receiver<()>, startup: tokio::task::AbortHandle) {
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
    // Resolves only if start-up failed; a start-up that succeeded drops the sender, which is no reason to stop.
    let failed = async {
        if failed.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
        () = failed => {},
    }
    startup.abort();
    tracing::info!("shutting down");
}
