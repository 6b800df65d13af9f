//! A private PostgreSQL cluster in a data folder, used when no DATABASE_URL is given.
//!
//! The first start runs `initdb`; later starts reuse the cluster. A server that another `rollgate`
//! process already runs is attached to, not started again, and only the process that started it
//! (or took it over from a process that died) stops it.
//!
//! Three roles, so that history cannot be rewritten by the process that serves (see `db_roles.rs`): the
//! bootstrap superuser `rollgate` sets the cluster up and is used for nothing else; `rollgate_owner` owns
//! the database, its schemas and tables and applies the migrations; `rollgate_app`, which owns nothing,
//! is what the server connects as. Every start makes sure of this layout, so a cluster made by an older
//! version, where the superuser owned everything, is moved to it.

use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Gid, Group, Uid, User};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rand::distributions::Alphanumeric;
use rand::Rng;
use sqlx::Connection;

const DB_USER: &str = "rollgate";
const DB_NAME: &str = "rollgate";
/// Owns the schema and applies the migrations.
pub const OWNER_ROLE: &str = "rollgate_owner";
/// What the server connects as: owns nothing, holds only the grants it needs.
pub const APP_ROLE: &str = "rollgate_app";
const CREDENTIALS_FILE: &str = "rollgate_credentials";
/// Holds the PID of the rollgate process responsible for stopping the server.
const OWNER_FILE: &str = "rollgate_owner.pid";
/// sun_path holds 108 bytes including the terminating NUL.
const SUN_PATH_MAX: usize = 107;

// Sync, so that a future holding them (every command's start) may move between threads.
type Args<'a> = [&'a (dyn AsRef<OsStr> + Sync)];

/// Where and how to run the private cluster.
#[derive(Debug, Clone)]
pub struct EmbeddedPgConfig {
    /// The cluster's data folder; created (with its parents) if missing.
    pub data_dir: PathBuf,
    /// Folder holding `initdb`, `pg_ctl` and `postgres`; searched for when `None`.
    pub bin_dir: Option<PathBuf>,
    /// OS user to run PostgreSQL as when we are root. Default "postgres".
    pub run_as: String,
}

/// Why the private cluster could not be set up, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    /// No folder with all of `initdb`, `pg_ctl` and `postgres` was found.
    #[error("PostgreSQL server programs (initdb, pg_ctl, postgres) not found (looked in: {searched}). Install them with `apt-get install postgresql` (Debian/Ubuntu) or `brew install postgresql` (macOS), or set DATABASE_URL to use an existing PostgreSQL server")]
    BinariesNotFound { searched: String },
    /// We run as root, and the user meant to run PostgreSQL does not exist.
    #[error("running as root, so PostgreSQL (which refuses to run as root) must run as user `{user}`, but there is no such user: create it (installing the postgresql package does), configure another user, or set DATABASE_URL")]
    UserNotFound { user: String },
    /// The configured run-as user is root itself.
    #[error("PostgreSQL refuses to run as root, so it cannot run as user `{user}`: configure an unprivileged user")]
    RootUser { user: String },
    /// The run-as user cannot reach the data folder.
    #[error("PostgreSQL runs as user `{user}`, which cannot enter {}: put the data folder where that user can reach it (e.g. under /var/lib or /srv), or set DATABASE_URL", dir.display())]
    NotTraversable { user: String, dir: PathBuf },
    /// The data folder holds something we cannot use as it is.
    #[error("unusable PostgreSQL data folder {}: {reason}", dir.display())]
    BadCluster { dir: PathBuf, reason: String },
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// A PostgreSQL program exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr_tail}")]
    CommandFailed { command: String, status: String, stderr_tail: String },
    /// Talking to the started server failed.
    #[error("{context}: {source}")]
    Database { context: String, source: sqlx::Error },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EmbeddedPgError {
    let context = context.into();
    move |source| EmbeddedPgError::Io { context, source }
}

/// A running private cluster: started by this process, or attached to.
/// Dropping an owned, unstopped one stops the server (blocking), so a panic does not orphan it.
pub struct EmbeddedPg {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    /// uid and gid to run the programs as; `None` runs them as ourselves.
    owner: Option<(u32, u32)>,
    port: u16,
    password: String,
    owner_password: String,
    app_password: String,
    fresh: bool,
    owned: bool,
    stopped: bool,
}

impl std::fmt::Debug for EmbeddedPg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not derived: the password must not reach a log.
        f.debug_struct("EmbeddedPg")
            .field("data_dir", &self.data_dir)
            .field("port", &self.port)
            .field("owned", &self.owned)
            .finish_non_exhaustive()
    }
}

impl EmbeddedPg {
    /// Ensure the cluster exists and runs; start it if needed.
    pub async fn start(config: &EmbeddedPgConfig) -> Result<EmbeddedPg, EmbeddedPgError> {
        let data_dir = std::path::absolute(&config.data_dir).map_err(io_err("resolving the data folder"))?;
        let bin_dir = find_bin_dir(config.bin_dir.as_deref(), &data_dir)?;
        let owner = resolve_owner(&config.run_as)?;
        prepare_data_dir(&data_dir, owner, &config.run_as)?;
        // Concurrent starts (rollgate serve plus a CLI command, say) would race to initdb and start.
        let _lock = lock_dir(&data_dir).await?;
        let mut pg = EmbeddedPg {
            data_dir,
            bin_dir,
            owner,
            port: 0,
            password: String::new(),
            owner_password: String::new(),
            app_password: String::new(),
            fresh: false,
            owned: false,
            stopped: false,
        };
        if !pg.data_dir.join("PG_VERSION").exists() {
            tracing::info!("initialising PostgreSQL cluster in {}", pg.data_dir.display());
            pg.initdb().await?;
            pg.fresh = true;
        }
        pg.read_passwords()?;
        create_private_dir(&pg.data_dir.join("log"), owner)?;
        match pg.running_port().await? {
            Some(port) => pg.attach(port)?,
            None => pg.start_server().await?,
        }
        // Also on later starts: a crash between initdb and here must not leave the database missing.
        if pg.ensure_database().await? {
            pg.fresh = true;
        }
        pg.ensure_roles().await?;
        Ok(pg)
    }

    /// The application role's URL: what the server and the commands use.
    pub fn database_url(&self) -> String {
        url(APP_ROLE, &self.app_password, self.port, DB_NAME)
    }

    /// The migration role's URL: for the migrations and the grants only.
    pub fn migration_url(&self) -> String {
        url(OWNER_ROLE, &self.owner_password, self.port, DB_NAME)
    }

    /// The bootstrap superuser's URL for a database of the cluster (tests use "postgres").
    pub fn url_for_database(&self, db: &str) -> String {
        url(DB_USER, &self.password, self.port, db)
    }

    /// True if initdb ran during this start, or the `rollgate` database had to be (re)created:
    /// either way the caller loads the demo data.
    pub fn freshly_initialized(&self) -> bool {
        self.fresh
    }

    /// True if this process started the server, or took over one whose starter has exited
    /// (and so must stop it).
    pub fn owned(&self) -> bool {
        self.owned
    }

    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stop the server if this process started it. Idempotent.
    pub async fn stop(&mut self) -> Result<(), EmbeddedPgError> {
        if !self.owned || self.stopped {
            return Ok(());
        }
        let args: &Args = &[&"stop", &"-D", &self.data_dir, &"-m", &"fast", &"-w"];
        let out = self.output("pg_ctl", args, false).await?;
        // pg_ctl stop also fails when the server is already gone (crashed, stopped by hand): fine.
        if !out.status.success() && self.status_code().await? == Some(0) {
            return Err(command_failed("pg_ctl", args, &out, ""));
        }
        self.stopped = true;
        let _ = std::fs::remove_file(self.data_dir.join(OWNER_FILE));
        tracing::info!("stopped PostgreSQL on port {}", self.port);
        Ok(())
    }

    fn command(&self, program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(self.bin_dir.join(program));
        // Our own working folder may be one the run-as user cannot enter (e.g. /root).
        cmd.current_dir("/").stdin(Stdio::null());
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    async fn output(&self, program: &str, args: &Args<'_>, own_group: bool) -> Result<Output, EmbeddedPgError> {
        let mut cmd = self.command(program);
        cmd.args(args.iter().map(|a| a.as_ref())).stdout(Stdio::piped()).stderr(Stdio::piped());
        if own_group {
            // The server inherits pg_ctl's process group: keep it out of the terminal's, so a Ctrl-C
            // reaches only us and we stop the server in order.
            cmd.process_group(0);
        }
        let context = format!("running {}", self.bin_dir.join(program).display());
        tokio::process::Command::from(cmd).output().await.map_err(io_err(context))
    }

    /// `pg_ctl status` exit code: 0 running, 3 not running, 4 no usable data folder.
    async fn status_code(&self) -> Result<Option<i32>, EmbeddedPgError> {
        Ok(self.output("pg_ctl", &[&"status", &"-D", &self.data_dir], false).await?.status.code())
    }

    /// Initialises the cluster with the bootstrap superuser, whose password it keeps in the credentials file.
    async fn initdb(&self) -> Result<(), EmbeddedPgError> {
        let password = random_password();
        // initdb wants an empty folder, so the password file lives elsewhere until initdb is done.
        let pwfile = std::env::temp_dir().join(format!("rollgate-pwfile-{}", random_alphanumeric(12)));
        write_private(&pwfile, &format!("{password}\n"), self.owner)?;
        let pwarg = format!("--pwfile={}", pwfile.display());
        // macOS has no C.UTF-8 locale.
        let locale = if cfg!(target_os = "linux") { "--locale=C.UTF-8" } else { "--locale=C" };
        let args: &Args =
            &[&"-D", &self.data_dir, &"-U", &DB_USER, &"--auth=scram-sha-256", &pwarg, &"-E", &"UTF8", &locale];
        let out = self.output("initdb", args, false).await;
        let _ = std::fs::remove_file(&pwfile);
        let out = out?;
        if !out.status.success() {
            return Err(command_failed("initdb", args, &out, ""));
        }
        let credentials = format!("user={DB_USER}\npassword={password}\n");
        write_private(&self.data_dir.join(CREDENTIALS_FILE), &credentials, self.owner)
    }

    /// Reads the roles' passwords; a cluster from before the role split gets its two new passwords now.
    fn read_passwords(&mut self) -> Result<(), EmbeddedPgError> {
        let path = self.data_dir.join(CREDENTIALS_FILE);
        let bad = |reason: String| EmbeddedPgError::BadCluster { dir: self.data_dir.clone(), reason };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            bad(format!(
                "cannot read {} ({e}); if the cluster holds nothing you need, delete the folder",
                path.display()
            ))
        })?;
        let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
        self.password = field("password=").ok_or_else(|| bad(format!("{} has no password= line", path.display())))?;
        let mut added = String::new();
        for (name, slot) in [("owner_password=", &mut self.owner_password), ("app_password=", &mut self.app_password)] {
            *slot = match field(name) {
                Some(password) => password,
                None => {
                    let password = random_password();
                    added.push_str(&format!("{name}{password}\n"));
                    password
                }
            };
        }
        if !added.is_empty() {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io_err(format!("adding the roles' passwords to {}", path.display())))?;
            file.write_all(added.as_bytes()).map_err(io_err(format!("writing {}", path.display())))?;
        }
        Ok(())
    }

    /// Makes sure of the role layout described at the top: creates the two roles (or resets their
    /// passwords and attributes), and hands the database and everything in it that the superuser still
    /// owns to the migration role. Idempotent; runs on every start.
    async fn ensure_roles(&self) -> Result<(), EmbeddedPgError> {
        let db_err =
            |context: &'static str| move |source| EmbeddedPgError::Database { context: context.into(), source };
        let mut conn = sqlx::PgConnection::connect(&self.url_for_database(DB_NAME))
            .await
            .map_err(db_err("connecting to the private PostgreSQL as its superuser"))?;
        for (role, password) in [(OWNER_ROLE, &self.owner_password), (APP_ROLE, &self.app_password)] {
            let exists = sqlx::query_scalar::<_, bool>("select exists (select 1 from pg_roles where rolname = $1)")
                .bind(role)
                .fetch_one(&mut conn)
                .await
                .map_err(db_err("reading the roles"))?;
            // The passwords are alphanumeric (random_password), so they need no quoting beyond the quotes.
            let verb = if exists { "alter" } else { "create" };
            let statement =
                format!("{verb} role {role} login nosuperuser nocreaterole nocreatedb password '{password}'");
            sqlx::query(&statement).execute(&mut conn).await.map_err(db_err("setting up the roles"))?;
        }
        for statement in [
            format!("alter database {DB_NAME} owner to {OWNER_ROLE}"),
            format!("alter schema public owner to {OWNER_ROLE}"),
            HAND_OVER.replace("{owner}", OWNER_ROLE),
        ] {
            sqlx::query(&statement).execute(&mut conn).await.map_err(db_err("handing the schema to its owner role"))?;
        }
        let _ = conn.close().await;
        Ok(())
    }

    /// The port of a server already running on this cluster, once it accepts connections.
    async fn running_port(&self) -> Result<Option<u16>, EmbeddedPgError> {
        let pid_file = self.data_dir.join("postmaster.pid");
        for _ in 0..600 {
            let Ok(text) = std::fs::read_to_string(&pid_file) else { return Ok(None) };
            let lines: Vec<&str> = text.lines().collect();
            if lines.first().is_some_and(|pid| pid_is_stale(pid)) {
                // After a crash and reboot (containers especially) the old PID may now be another
                // program, or the dead server may linger as a zombie nobody reaps: either would make
                // pg_ctl and postgres believe the server still runs.
                tracing::warn!("removing stale {}", pid_file.display());
                std::fs::remove_file(&pid_file).map_err(io_err(format!("removing {}", pid_file.display())))?;
                return Ok(None);
            }
            if self.status_code().await? != Some(0) {
                return Ok(None);
            }
            // Line 8 (status) came with PostgreSQL 10; without it assume ready.
            if matches!(lines.get(7).map(|s| s.trim()), None | Some("ready" | "standby")) {
                if let Some(port) = lines.get(3).and_then(|p| p.trim().parse().ok()) {
                    return Ok(Some(port));
                }
            }
            // Starting up, or shutting down (then the file goes away and we start it ourselves).
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(EmbeddedPgError::BadCluster {
            dir: self.data_dir.clone(),
            reason: "a server runs on it but did not become ready in 60 s".into(),
        })
    }

    fn attach(&mut self, port: u16) -> Result<(), EmbeddedPgError> {
        self.port = port;
        let owner_pid = std::fs::read_to_string(self.data_dir.join(OWNER_FILE)).unwrap_or_default();
        // A rollgate that was killed could not stop its server; whoever comes next takes that duty
        // over, else nobody ever would. Only where /proc can tell that the starter is gone (or a zombie).
        if !owner_pid.trim().is_empty()
            && Path::new("/proc/self").exists()
            && proc_stat(&owner_pid).is_none_or(|(_, state)| state == 'Z')
        {
            tracing::info!("taking over PostgreSQL on port {port}, left running by a rollgate process that exited");
            self.take_ownership()
        } else {
            tracing::info!("using PostgreSQL already running on port {port} (started by another rollgate process)");
            Ok(())
        }
    }

    fn take_ownership(&mut self) -> Result<(), EmbeddedPgError> {
        self.owned = true;
        let path = self.data_dir.join(OWNER_FILE);
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .map_err(io_err(format!("writing {}", path.display())))
    }

    async fn start_server(&mut self) -> Result<(), EmbeddedPgError> {
        let log = self.data_dir.join("log").join("postgres.log");
        let socket_dir = if self.data_dir.as_os_str().len() + "/.s.PGSQL.65535".len() <= SUN_PATH_MAX {
            // pg_ctl hands -o to /bin/sh.
            format!("'{}'", self.data_dir.to_string_lossy().replace('\'', r"'\''"))
        } else {
            "''".to_owned() // too long for a unix socket; TCP alone will do
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let port = free_port()?;
            let opts = format!("-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1");
            let args: &Args = &[&"start", &"-w", &"-s", &"-D", &self.data_dir, &"-l", &log, &"-o", &opts];
            let out = self.output("pg_ctl", args, true).await?;
            if out.status.success() {
                self.port = port;
                tracing::info!("started PostgreSQL on port {port}");
                return self.take_ownership();
            }
            // Another rollgate process may have won a race to start it.
            if let Some(port) = self.running_port().await? {
                return self.attach(port);
            }
            let log_tail = tail(&std::fs::read_to_string(&log).unwrap_or_default(), 10);
            // Someone may have taken the port between our probe and the server's bind.
            if attempts == 3 || !log_tail.contains("already in use") {
                return Err(command_failed("pg_ctl", args, &out, &format!("\nend of {}:\n{log_tail}", log.display())));
            }
        }
    }

    /// Creates the `rollgate` database unless it exists; true if it was created.
    async fn ensure_database(&self) -> Result<bool, EmbeddedPgError> {
        let db_err = |context: &str| {
            let context = context.to_owned();
            move |source| EmbeddedPgError::Database { context, source }
        };
        let mut conn = sqlx::PgConnection::connect(&self.url_for_database("postgres"))
            .await
            .map_err(db_err("connecting to the private PostgreSQL"))?;
        let created = match sqlx::query(&format!("create database {DB_NAME}")).execute(&mut conn).await {
            Ok(_) => true,
            // 42P04: it exists; 23505: a concurrent create won the race.
            Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P04" | "23505")) => false,
            Err(e) => return Err(db_err("creating database rollgate")(e)),
        };
        let _ = conn.close().await;
        Ok(created)
    }
}

impl Drop for EmbeddedPg {
    fn drop(&mut self) {
        if self.owned && !self.stopped {
            // stop() was skipped (an early return or a panic): don't leave an orphaned server behind.
            let mut cmd = self.command("pg_ctl");
            cmd.arg("stop").arg("-D").arg(&self.data_dir).args(["-m", "fast", "-w"]);
            let _ = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

/// Gives every table, view, sequence and function of Rollgate's schemas that is not yet the owner role's
/// (the superuser's, in a cluster made before the role split) to it. Sequences that belong to a column
/// follow their table; functions of extensions (pg_trgm) stay with the extension.
const HAND_OVER: &str = r#"
do $$
declare
    item record;
begin
    for item in
        select format('alter table %I.%I owner to {owner}', n.nspname, c.relname) as statement
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in ('public', 'tower_sessions') and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
          and c.relowner <> '{owner}'::regrole
          and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid
                          and d.deptype in ('a', 'i', 'e'))
    loop
        execute item.statement;
    end loop;
    for item in
        select format('alter function %s owner to {owner}', p.oid::regprocedure) as statement
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'public' and p.proowner <> '{owner}'::regrole
          and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                          and d.deptype = 'e')
    loop
        execute item.statement;
    end loop;
    if exists (select 1 from pg_namespace where nspname = 'tower_sessions') then
        alter schema tower_sessions owner to {owner};
    end if;
end
$$"#;

fn url(user: &str, password: &str, port: u16, db: &str) -> String {
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    format!("postgres://{user}:{}@127.0.0.1:{port}/{}", enc(password), enc(db))
}

fn random_alphanumeric(n: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(n).map(char::from).collect()
}

/// 32 letters and digits: nothing to quote in SQL or a URL.
fn random_password() -> String {
    random_alphanumeric(32)
}

fn command_failed(program: &str, args: &Args, out: &Output, extra: &str) -> EmbeddedPgError {
    let mut command = program.to_owned();
    for a in args {
        command.push(' ');
        command.push_str(&a.as_ref().to_string_lossy());
    }
    let stderr_tail = format!("{}{extra}", tail(&String::from_utf8_lossy(&out.stderr), 20));
    EmbeddedPgError::CommandFailed { command, status: out.status.to_string(), stderr_tail }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Held until dropped; a blocking flock would stall the runtime thread, hence the polling.
async fn lock_dir(dir: &Path) -> Result<Flock<std::fs::File>, EmbeddedPgError> {
    let context = || format!("locking {}", dir.display());
    let mut file = std::fs::File::open(dir).map_err(io_err(context()))?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((f, Errno::EWOULDBLOCK)) => file = f,
            Err((_, e)) => return Err(io_err(context())(e.into())),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> Result<u16, EmbeddedPgError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io_err("finding a free TCP port"))?;
    Ok(listener.local_addr().map_err(io_err("finding a free TCP port"))?.port())
}

/// COMM and STATE of a process, from /proc; `None` if there is no such process (or no /proc).
fn proc_stat(pid: &str) -> Option<(String, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).ok()?;
    // "PID (COMM) STATE ..."; COMM may itself hold parentheses.
    let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
    Some((comm.to_owned(), rest.chars().next()?))
}

/// True if /proc shows the PID is not a live postgres; without /proc, pg_ctl and postgres judge.
fn pid_is_stale(pid: &str) -> bool {
    matches!(proc_stat(pid), Some((comm, state)) if !matches!(comm.as_str(), "postgres" | "postmaster") || state == 'Z')
}

fn find_bin_dir(explicit: Option<&Path>, data_dir: &Path) -> Result<PathBuf, EmbeddedPgError> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| std::fs::metadata(dir.join(b)).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
    };
    if let Some(dir) = explicit {
        // An explicit choice that doesn't work is a mistake to report, not to paper over.
        return complete(dir)
            .then(|| dir.to_path_buf())
            .ok_or_else(|| EmbeddedPgError::BinariesNotFound { searched: dir.display().to_string() });
    }
    let mut candidates = Vec::new();
    // An existing cluster needs its own major version, which Debian keeps installed beside newer ones.
    if let Ok(version) = std::fs::read_to_string(data_dir.join("PG_VERSION")) {
        candidates.push(PathBuf::from(format!("/usr/lib/postgresql/{}/bin", version.trim())));
    }
    candidates
        .extend(std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default());
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            Some((
                e.file_name().to_str()?.split('.').map(|n| n.parse().ok()).collect::<Option<_>>()?,
                e.path().join("bin"),
            ))
        })
        .collect();
    versioned.sort_by(|a, b| b.0.cmp(&a.0));
    candidates.extend(versioned.into_iter().map(|(_, dir)| dir));
    let searched = "PATH, /usr/lib/postgresql/*/bin".to_owned();
    candidates.into_iter().find(|d| complete(d)).ok_or(EmbeddedPgError::BinariesNotFound { searched })
}

fn resolve_owner(run_as: &str) -> Result<Option<(u32, u32)>, EmbeddedPgError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    match User::from_name(run_as) {
        Ok(Some(user)) if user.uid.is_root() => Err(EmbeddedPgError::RootUser { user: run_as.into() }),
        Ok(Some(user)) => Ok(Some((user.uid.as_raw(), user.gid.as_raw()))),
        Ok(None) => Err(EmbeddedPgError::UserNotFound { user: run_as.into() }),
        Err(e) => Err(io_err(format!("looking up user {run_as}"))(e.into())),
    }
}

fn chown_to(path: &Path, owner: Option<(u32, u32)>) -> Result<(), EmbeddedPgError> {
    let Some((uid, gid)) = owner else { return Ok(()) };
    nix::unistd::chown(path, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
        .map_err(|e| io_err(format!("giving {} to uid {uid}", path.display()))(e.into()))
}

fn write_private(path: &Path, contents: &str, owner: Option<(u32, u32)>) -> Result<(), EmbeddedPgError> {
    let context = || format!("writing {}", path.display());
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io_err(context()))?;
    chown_to(path, owner)?;
    file.write_all(contents.as_bytes()).map_err(io_err(context()))
}

fn create_private_dir(dir: &Path, owner: Option<(u32, u32)>) -> Result<(), EmbeddedPgError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => chown_to(dir, owner),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err(format!("creating {}", dir.display()))(e)),
    }
}

fn prepare_data_dir(dir: &Path, owner: Option<(u32, u32)>, run_as: &str) -> Result<(), EmbeddedPgError> {
    let meta = |p: &Path| std::fs::metadata(p).map_err(io_err(format!("reading {}", p.display())));
    let check_reachable = || {
        let Some((uid, gid)) = owner else { return Ok(()) };
        for ancestor in dir.ancestors().skip(1).filter(|a| a.exists()) {
            let m = meta(ancestor)?;
            let in_group = m.gid() == gid
                || Group::from_gid(Gid::from_raw(m.gid()))
                    .ok()
                    .flatten()
                    .is_some_and(|g| g.mem.iter().any(|u| u == run_as));
            let bit = if m.uid() == uid {
                0o100
            } else if in_group {
                0o010
            } else {
                0o001
            };
            if m.mode() & bit == 0 {
                return Err(EmbeddedPgError::NotTraversable { user: run_as.into(), dir: ancestor.to_path_buf() });
            }
        }
        Ok(())
    };
    // Before creating anything, so a hopeless path leaves no folders behind; again after, for the umask.
    check_reachable()?;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    }
    create_private_dir(dir, owner)?;
    check_reachable()?;
    let dir_meta = meta(dir)?;
    if let Some((uid, _)) = owner.filter(|(uid, _)| dir_meta.uid() != *uid) {
        if dir.join("PG_VERSION").exists() {
            let reason = format!(
                "it belongs to uid {}, but PostgreSQL runs as `{run_as}` (uid {uid}): run `chown -R {run_as}: {}`",
                dir_meta.uid(),
                dir.display()
            );
            return Err(EmbeddedPgError::BadCluster { dir: dir.to_path_buf(), reason });
        }
        chown_to(dir, owner)?;
    }
    // PostgreSQL refuses a data folder that others can read.
    if dir_meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(format!("making {} private", dir.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp folder the run-as user can enter. Declare it before the EmbeddedPg, so the server
    /// (stopped by EmbeddedPg's Drop even when an assertion fails) goes first.
    fn temp_root() -> tempfile::TempDir {
        let dir = tempfile::Builder::new().prefix("epg-test-").tempdir_in("/tmp").expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        dir
    }

    fn config(data_dir: PathBuf) -> EmbeddedPgConfig {
        EmbeddedPgConfig { data_dir, bin_dir: None, run_as: "postgres".into() }
    }

    /// Runs the statements in one connection; returns the last one's first text column, if any.
    async fn sql(url: &str, statements: &[&str]) -> Option<String> {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        let mut last = None;
        for s in statements {
            last = sqlx::query_scalar::<_, String>(s).fetch_optional(&mut conn).await.expect(s);
        }
        conn.close().await.expect("close");
        last
    }

    #[tokio::test]
    async fn first_start_initialises_and_data_survives_restart() {
        let tmp = temp_root();
        let cfg = config(tmp.path().join("nested/pg"));
        let mut pg = EmbeddedPg::start(&cfg).await.expect("first start");
        assert!(pg.freshly_initialized() && pg.owned());
        assert_eq!(sql(&pg.database_url(), &["select 1::text"]).await.as_deref(), Some("1"));
        sql(&pg.migration_url(), &["create table kept (v text)", "insert into kept values ('still here')"]).await;
        let mode = |p: PathBuf| std::fs::metadata(p).expect("metadata").mode() & 0o777;
        assert_eq!(mode(cfg.data_dir.join(CREDENTIALS_FILE)), 0o600);
        assert_eq!(mode(cfg.data_dir.clone()), 0o700);
        pg.stop().await.expect("stop");
        pg.stop().await.expect("a second stop is a no-op");
        assert!(!cfg.data_dir.join("postmaster.pid").exists());

        let mut again = EmbeddedPg::start(&cfg).await.expect("second start");
        assert!(!again.freshly_initialized() && again.owned());
        assert_eq!(sql(&again.migration_url(), &["select v from kept"]).await.as_deref(), Some("still here"));
        again.stop().await.expect("stop");
    }

    #[tokio::test]
    async fn the_server_connects_as_a_role_that_is_no_superuser_and_owns_nothing() {
        let tmp = temp_root();
        let mut pg = EmbeddedPg::start(&config(tmp.path().join("pg"))).await.expect("start");
        sql(&pg.migration_url(), &["create table history (v text)"]).await;

        let who = sql(
            &pg.database_url(),
            &["select current_user || ' ' || rolsuper::text || ' ' || rolcreaterole::text || ' ' ||
                      (select count(*) from pg_class where relowner = r.oid)::text
               from pg_roles r where rolname = current_user"],
        )
        .await;
        let owner = sql(
            &pg.url_for_database("postgres"),
            &["select pg_get_userbyid(datdba)::text from pg_database where datname = 'rollgate'"],
        )
        .await;

        assert_eq!(who.as_deref(), Some("rollgate_app false false 0"));
        assert_eq!(owner.as_deref(), Some("rollgate_owner"));
        pg.stop().await.expect("stop");
    }

    #[tokio::test]
    async fn a_cluster_from_before_the_role_split_is_moved_to_it_on_the_next_start_with_its_data() {
        let tmp = temp_root();
        let cfg = config(tmp.path().join("pg"));
        let mut old = EmbeddedPg::start(&cfg).await.expect("first start");
        // The layout of an older version: everything the superuser's, no other role, two-line credentials.
        sql(
            &old.url_for_database(DB_NAME),
            &[
                "create table flags (key text primary key)",
                "insert into flags values ('kept')",
                "create function f() returns int language sql as 'select 1'",
                "reassign owned by rollgate_owner to rollgate",
                "alter database rollgate owner to rollgate",
                "drop owned by rollgate_app",
                "drop role rollgate_app",
                "drop role rollgate_owner",
            ],
        )
        .await;
        let credentials = cfg.data_dir.join(CREDENTIALS_FILE);
        let text = std::fs::read_to_string(&credentials).expect("credentials");
        let two_lines: String = text.lines().filter(|l| !l.contains("_password=")).map(|l| format!("{l}\n")).collect();
        std::fs::write(&credentials, two_lines).expect("rewrite credentials");
        old.stop().await.expect("stop");

        let mut pg = EmbeddedPg::start(&cfg).await.expect("start after the upgrade");

        let owners = sql(
            &pg.migration_url(),
            &["select string_agg(pg_get_userbyid(relowner), ',') from pg_class where relname in ('flags', 'flags_pkey')"],
        )
        .await;
        assert_eq!(owners.as_deref(), Some("rollgate_owner,rollgate_owner"));
        let function_owner =
            sql(&pg.migration_url(), &["select pg_get_userbyid(proowner)::text from pg_proc where proname = 'f'"])
                .await;
        assert_eq!(function_owner.as_deref(), Some("rollgate_owner"));
        assert_eq!(sql(&pg.migration_url(), &["select key from flags"]).await.as_deref(), Some("kept"));
        assert!(std::fs::read_to_string(&credentials).expect("credentials").contains("app_password="));
        assert_eq!(sql(&pg.database_url(), &["select current_user::text"]).await.as_deref(), Some("rollgate_app"));
        pg.stop().await.expect("stop");
    }

    #[tokio::test]
    async fn second_start_attaches_and_does_not_stop_the_server() {
        let tmp = temp_root();
        let cfg = config(tmp.path().join("pg"));
        let mut first = EmbeddedPg::start(&cfg).await.expect("first start");
        let mut second = EmbeddedPg::start(&cfg).await.expect("attach");
        assert!(!second.owned() && !second.freshly_initialized());
        assert_eq!(second.database_url(), first.database_url());
        second.stop().await.expect("stop of an attached server");
        drop(second);
        assert_eq!(sql(&first.url_for_database("postgres"), &["select 'up'"]).await.as_deref(), Some("up"));

        // The starter died without stopping the server: the next start takes it over.
        let mut gone = std::process::Command::new("true").spawn().expect("spawn");
        gone.wait().expect("wait");
        std::fs::write(cfg.data_dir.join(OWNER_FILE), gone.id().to_string()).expect("owner file");
        let mut heir = EmbeddedPg::start(&cfg).await.expect("take over");
        assert!(heir.owned() && heir.port() == first.port());
        heir.stop().await.expect("heir stops it");
        first.stop().await.expect("already stopped is fine");
    }

    #[tokio::test]
    async fn missing_binaries_give_an_install_hint() {
        let tmp = temp_root();
        let cfg = EmbeddedPgConfig { bin_dir: Some("/nonexistent".into()), ..config(tmp.path().join("pg")) };
        let err = EmbeddedPg::start(&cfg).await.expect_err("must fail");
        assert!(matches!(err, EmbeddedPgError::BinariesNotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("apt-get install postgresql"), "{err}");
        assert!(!cfg.data_dir.exists());
    }

    #[tokio::test]
    async fn root_needs_a_usable_run_as_user_and_path() {
        if !Uid::effective().is_root() {
            return;
        }
        let tmp = temp_root();
        let cfg = EmbeddedPgConfig { run_as: "no-such-user-rg".into(), ..config(tmp.path().join("pg")) };
        let err = EmbeddedPg::start(&cfg).await.expect_err("unknown user");
        assert!(matches!(err, EmbeddedPgError::UserNotFound { .. }), "{err:?}");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let err = EmbeddedPg::start(&config(tmp.path().join("pg"))).await.expect_err("hidden parent");
        assert!(matches!(&err, EmbeddedPgError::NotTraversable { dir, .. } if dir == tmp.path()), "{err:?}");
    }

    #[tokio::test]
    async fn long_path_and_crash_recovery() {
        let tmp = temp_root();
        let cfg = config(tmp.path().join("x".repeat(100)).join("pg"));
        let mut crashed = EmbeddedPg::start(&cfg).await.expect("start on a path too long for a socket");
        let pid_text = std::fs::read_to_string(cfg.data_dir.join("postmaster.pid")).expect("pid file");
        let pid = pid_text.lines().next().expect("pid line").to_owned();
        assert!(std::process::Command::new("kill").args(["-9", &pid]).status().expect("kill").success());
        for _ in 0..200 {
            if !Path::new(&format!("/proc/{pid}")).exists() || pid_is_stale(&pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        crashed.stop().await.expect("stop after a crash is fine");
        assert!(cfg.data_dir.join("postmaster.pid").exists(), "the stale pid file stays");

        let mut pg = EmbeddedPg::start(&cfg).await.expect("start over a stale pid file");
        assert!(pg.owned() && !pg.freshly_initialized());
        assert_eq!(sql(&pg.database_url(), &["select 'up'"]).await.as_deref(), Some("up"));
        pg.stop().await.expect("stop");
    }
}
