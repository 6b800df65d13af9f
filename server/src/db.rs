//! Opens the database every command uses: DATABASE_URL when given, otherwise the private cluster.
//!
//! Two steps, so that a server can start while PostgreSQL does not answer: [`Database::start`] starts the
//! private cluster if there is one and makes a pool that connects on first use, and [`Preparation::run`]
//! applies pending migrations as the migration role and gives the application role its grants
//! (`db_roles.rs`). One-shot commands do both at once ([`Database::open`]); `serve` retries the second
//! until PostgreSQL answers (`startup.rs`).

use crate::config::DbArgs;
use crate::embedded_pg::{EmbeddedPg, EmbeddedPgConfig};
use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

/// How long a request may wait for a database connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// The migrations, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// An open database, and the private cluster behind it when there is one.
pub struct Database {
    pub pool: PgPool,
    embedded: Option<EmbeddedPg>,
    freshly_initialized: bool,
    preparation: Preparation,
}

/// Applies the migrations and the grants; cheap to clone into a task that retries it.
#[derive(Clone)]
pub struct Preparation {
    pool: PgPool,
    /// The migration role's URL; `None` when the server's own role migrates (a single-role set-up).
    migration_url: Option<String>,
}

/// Why preparing the database failed.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// PostgreSQL does not answer (yet): worth trying again.
    #[error("the database is unreachable: {0}")]
    Unreachable(sqlx::Error),
    /// Anything else (a migration that fails, missing rights): trying again will not help.
    #[error(transparent)]
    Fatal(anyhow::Error),
}

impl PrepareError {
    fn of(err: sqlx::Error, context: &'static str) -> Self {
        if app::server::service_error::unreachable(&err) || is_migrate_io(&err) {
            PrepareError::Unreachable(err)
        } else {
            PrepareError::Fatal(anyhow::Error::new(err).context(context))
        }
    }
}

fn is_migrate_io(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Migrate(inner) if matches!(&**inner,
        sqlx::migrate::MigrateError::Execute(e) if app::server::service_error::unreachable(e)))
}

impl Database {
    /// Connects (starting the private cluster if needed) and prepares it: for commands that run once and
    /// should fail at once when PostgreSQL does not answer.
    pub async fn open(args: &DbArgs) -> anyhow::Result<Database> {
        let mut db = Self::start(args).await?;
        if let Err(err) = db.preparation().run().await {
            db.close().await;
            return Err(match err {
                PrepareError::Unreachable(source) => anyhow::Error::new(source)
                    .context("connecting to PostgreSQL (check DATABASE_URL, or unset it to use the private cluster)"),
                PrepareError::Fatal(err) => err,
            });
        }
        Ok(db)
    }

    /// Starts the private cluster if needed and makes the pool, which connects on first use: nothing here
    /// waits for an external PostgreSQL.
    pub async fn start(args: &DbArgs) -> anyhow::Result<Database> {
        let (url, migration_url, embedded) = match &args.database_url {
            Some(url) => (url.clone(), args.migration_database_url.clone(), None),
            None => {
                let config = EmbeddedPgConfig {
                    data_dir: args.data_dir.clone(),
                    bin_dir: args.pg_bin_dir.clone(),
                    run_as: args.pg_user.clone(),
                };
                let pg = EmbeddedPg::start(&config).await?;
                (pg.database_url(), Some(pg.migration_url()), Some(pg))
            }
        };
        let freshly_initialized = embedded.as_ref().is_some_and(EmbeddedPg::freshly_initialized);
        let options = PgConnectOptions::from_str(&url).context("reading DATABASE_URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // While PostgreSQL does not answer, a request waits this long for a connection, then answers
            // 503 with Retry-After; a healthy pool hands one out in microseconds.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        let preparation = Preparation { pool: pool.clone(), migration_url };
        Ok(Database { pool, embedded, freshly_initialized, preparation })
    }

    /// What applies the migrations and grants, to run (again) when PostgreSQL answers.
    pub fn preparation(&self) -> Preparation {
        self.preparation.clone()
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

impl Preparation {
    /// Applies the pending migrations and the application role's grants.
    ///
    /// With a migration role, it migrates as that role and then grants the role the server connects as
    /// (the private cluster always has one). Without one, the server's own role must migrate: done only when
    /// a migration is pending, so a role that may not (the application role of a two-role set-up) starts
    /// fine as long as `rollgate migrate` ran with the migration role. Either way it warns when the server's
    /// role could rewrite history.
    pub async fn run(&self) -> Result<(), PrepareError> {
        let mut app = self.pool.acquire().await.map_err(|e| PrepareError::of(e, "connecting to PostgreSQL"))?;
        let app_role: String = sqlx::query_scalar("select current_user::text")
            .fetch_one(&mut *app)
            .await
            .map_err(|e| PrepareError::of(e, "reading the database role"))?;
        match &self.migration_url {
            Some(url) => {
                // A pool of one rather than a connection: Migrator::run on a bare connection does not make
                // a future that can move between threads.
                let owner = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await
                    .map_err(|e| PrepareError::of(e, "connecting as the migration role"))?;
                let prepared = async {
                    MIGRATOR.run(&owner).await.map_err(|e| PrepareError::of(e.into(), "applying the migrations"))?;
                    let mut conn =
                        owner.acquire().await.map_err(|e| PrepareError::of(e, "connecting as the migration role"))?;
                    crate::db_roles::grant_app_role(&mut conn, &app_role)
                        .await
                        .map_err(|e| PrepareError::of(e, "granting the application role its rights"))
                }
                .await;
                owner.close().await;
                prepared?;
            }
            None => {
                if pending(&mut app).await.map_err(|e| PrepareError::of(e, "reading the applied migrations"))? {
                    MIGRATOR.run(&self.pool).await.map_err(|e| {
                        PrepareError::of(
                            e.into(),
                            "applying the migrations as the server's role (give the migration role in \
                             ROLLGATE_MIGRATION_DATABASE_URL, see docs/database.md)",
                        )
                    })?;
                }
            }
        }
        match crate::db_roles::rewrite_power(&mut app).await {
            Ok(Some(why)) => tracing::warn!(
                "the audit trail is not tamper-proof: {why}; run the server as a role that owns nothing \
                 (docs/database.md)"
            ),
            Ok(None) => {}
            Err(err) => return Err(PrepareError::of(err, "reading the database role's rights")),
        }
        Ok(())
    }
}

/// Whether any migration compiled into this binary is not applied yet.
async fn pending(conn: &mut sqlx::PgConnection) -> Result<bool, sqlx::Error> {
    let table: Option<String> =
        sqlx::query_scalar("select to_regclass('public._sqlx_migrations')::text").fetch_one(&mut *conn).await?;
    if table.is_none() {
        return Ok(true);
    }
    let applied: BTreeSet<i64> = sqlx::query_scalar("select version from public._sqlx_migrations where success")
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    Ok(MIGRATOR.iter().any(|m| !applied.contains(&m.version)))
}
