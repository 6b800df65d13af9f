//! Opens the database every command uses: DATABASE_URL when given, otherwise the private cluster.

use crate::config::DbArgs;
use crate::embedded_pg::{EmbeddedPg, EmbeddedPgConfig};
use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;

/// The migrations, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// An open database, and the private cluster behind it when there is one.
pub struct Database {
    pub pool: PgPool,
    embedded: Option<EmbeddedPg>,
    freshly_initialized: bool,
}

impl Database {
    /// Connects (starting the private cluster if needed) and applies the migrations.
    pub async fn open(args: &DbArgs) -> anyhow::Result<Database> {
        let (url, embedded) = match &args.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let config = EmbeddedPgConfig {
                    data_dir: args.data_dir.clone(),
                    bin_dir: args.pg_bin_dir.clone(),
                    run_as: args.pg_user.clone(),
                };
                let pg = EmbeddedPg::start(&config).await?;
                (pg.database_url(), Some(pg))
            }
        };
        let freshly_initialized = embedded.as_ref().is_some_and(EmbeddedPg::freshly_initialized);
        let pool = match connect(&url).await {
            Ok(pool) => pool,
            Err(err) => {
                if let Some(mut pg) = embedded {
                    let _ = pg.stop().await;
                }
                return Err(err);
            }
        };
        let mut db = Database { pool, embedded, freshly_initialized };
        if let Err(err) = MIGRATOR.run(&db.pool).await {
            db.close().await;
            return Err(err).context("applying the database migrations");
        }
        Ok(db)
    }

    /// True on the very first start of the private cluster (the caller loads the demo data).
    pub fn freshly_initialized(&self) -> bool {
        self.freshly_initialized
    }

    /// Closes the pool and stops the private cluster if this process started it.
    pub async fn close(&mut self) {
        self.pool.close().await;
        if let Some(pg) = self.embedded.as_mut() {
            if let Err(err) = pg.stop().await {
                tracing::error!(error = %err, "could not stop the private PostgreSQL cleanly");
            }
        }
    }
}

async fn connect(url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .context("connecting to PostgreSQL (check DATABASE_URL, or unset it to use the private cluster)")
}
