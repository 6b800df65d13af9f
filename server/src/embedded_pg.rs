//! A private PostgreSQL cluster in a data folder, used when no DATABASE_URL is given.
//!
//! The first start runs `initdb`; later starts reuse the cluster. A cluster that another
//! `rollgate` process already runs is attached to, not started again, and only the process that
//! started the server stops it.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use nix::unistd::{Gid, Group, Uid, User};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rand::distributions::Alphanumeric;
use rand::Rng;
use sqlx::Connection;

const DB_USER: &str = "rollgate";
const DB_NAME: &str = "rollgate";
const CREDENTIALS_FILE: &str = "rollgate_credentials";
const BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
/// sun_path holds 108 bytes including the terminating NUL.
const SUN_PATH_MAX: usize = 107;

/// Where and how to run the private cluster.
#[derive(Debug, Clone)]
pub struct EmbeddedPgConfig {
    /// The cluster's data folder; created if missing.
    pub data_dir: PathBuf,
    /// Folder holding `initdb`, `pg_ctl` and `postgres`; searched for when `None`.
    pub bin_dir: Option<PathBuf>,
    /// OS user to run PostgreSQL as when we are root. Default "postgres".
    pub run_as: String,
}

impl Default for EmbeddedPgConfig {
    fn default() -> Self {
        EmbeddedPgConfig { data_dir: ".rollgate/pg".into(), bin_dir: None, run_as: "postgres".into() }
    }
}

/// Why the private cluster could not be set up, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    /// No folder with all of `initdb`, `pg_ctl` and `postgres` was found.
    #[error("PostgreSQL server programs (initdb, pg_ctl, postgres) not found (looked in: {searched}). Install them with `apt-get install postgresql` (Debian/Ubuntu) or `brew install postgresql` (macOS), or set DATABASE_URL to use an existing PostgreSQL server")]
    BinariesNotFound { searched: String },
    /// We run as root, and the user meant to run PostgreSQL does not exist.
    #[error("running as root, so PostgreSQL (which refuses to run as root) must run as user `{user}`, but no such user exists: create it (installing the postgresql package does), configure another user, or set DATABASE_URL")]
    UserNotFound { user: String },
    /// The configured run-as user is root itself.
    #[error("PostgreSQL refuses to run as root, so it cannot run as user `{user}`: configure an unprivileged user")]
    RootUser { user: String },
    /// The run-as user cannot reach the data folder.
    #[error("PostgreSQL runs as user `{user}`, which cannot enter {}: put the data folder somewhere that user can reach (e.g. under /var/lib or /srv), or set DATABASE_URL", dir.display())]
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
pub struct EmbeddedPg {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    /// uid and gid to run the programs as; `None` runs them as ourselves.
    owner: Option<(u32, u32)>,
    port: u16,
    password: String,
    fresh: bool,
    owned: bool,
    stopped: bool,
}

impl fmt::Debug for EmbeddedPg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written so the password never reaches a log.
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
        let mut pg = EmbeddedPg { data_dir, bin_dir, owner, port: 0, password: String::new(), fresh: false, owned: false, stopped: false };
        if pg.data_dir.join("PG_VERSION").exists() {
            pg.password = pg.read_password()?;
        } else {
            tracing::info!("initialising PostgreSQL cluster in {}", pg.data_dir.display());
            pg.password = pg.initdb().await?;
            pg.fresh = true;
        }
        pg.make_private_dir(&pg.data_dir.join("log"))?;
        match pg.running_port().await? {
            Some(port) => {
                pg.port = port;
                tracing::info!("using PostgreSQL already running on port {port} (started by another rollgate process)");
            }
            None => pg.start_server().await?,
        }
        // Also on later starts: a crash between initdb and this step must not leave the database missing.
        if pg.ensure_database().await? {
            pg.fresh = true;
        }
        Ok(pg)
    }

    /// `postgres://rollgate:PW@127.0.0.1:PORT/rollgate` (password URL-encoded).
    pub fn database_url(&self) -> String {
        self.url_for_database(DB_NAME)
    }

    /// Same server, another database name (tests use "postgres").
    pub fn url_for_database(&self, db: &str) -> String {
        let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        format!("postgres://{DB_USER}:{}@127.0.0.1:{}/{}", enc(&self.password), self.port, enc(db))
    }

    /// True if the cluster (initdb) or the `rollgate` database was created during this start:
    /// the caller then loads the demo data.
    pub fn freshly_initialized(&self) -> bool {
        self.fresh
    }

    /// True if this process started the server (and so must stop it).
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
        let args: [&dyn AsRef<std::ffi::OsStr>; 6] = [&"stop", &"-D", &self.data_dir, &"-m", &"fast", &"-w"];
        let out = self.output("pg_ctl", &args, false).await?;
        // pg_ctl stop also fails when the server is already gone (crashed, stopped by hand): that's fine.
        if !out.status.success() && self.status_code().await? == Some(0) {
            return Err(command_failed("pg_ctl", &args, &out, ""));
        }
        self.stopped = true;
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

    async fn output(&self, program: &str, args: &[&dyn AsRef<std::ffi::OsStr>], own_group: bool) -> Result<Output, EmbeddedPgError> {
        let mut cmd = self.command(program);
        cmd.args(args.iter().map(|a| a.as_ref())).stdout(Stdio::piped()).stderr(Stdio::piped());
        if own_group {
            // The server inherits pg_ctl's process group; keep it out of the terminal's so that a
            // Ctrl-C reaches only us and we stop the server in order.
            cmd.process_group(0);
        }
        tokio::process::Command::from(cmd).output().await.map_err(io_err(format!("running {}", self.bin_dir.join(program).display())))
    }

    async fn run(&self, program: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Result<Output, EmbeddedPgError> {
        let out = self.output(program, args, false).await?;
        if out.status.success() { Ok(out) } else { Err(command_failed(program, args, &out, "")) }
    }

    /// `pg_ctl status` exit code: 0 running, 3 not running, 4 no usable data folder.
    async fn status_code(&self) -> Result<Option<i32>, EmbeddedPgError> {
        Ok(self.output("pg_ctl", &[&"status", &"-D", &self.data_dir], false).await?.status.code())
    }

    async fn initdb(&self) -> Result<String, EmbeddedPgError> {
        let password: String = rand::thread_rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect();
        // initdb wants an empty folder, so the password file lives outside it until initdb is done.
        let suffix: String = rand::thread_rng().sample_iter(&Alphanumeric).take(12).map(char::from).collect();
        let pwfile = std::env::temp_dir().join(format!("rollgate-pwfile-{suffix}"));
        write_private(&pwfile, &format!("{password}\n"), self.owner)?;
        let locale = if cfg!(target_os = "linux") { "--locale=C.UTF-8" } else { "--locale=C" };
        let pwarg = format!("--pwfile={}", pwfile.display());
        let result = self
            .run("initdb", &[&"-D", &self.data_dir, &"-U", &DB_USER, &"--auth=scram-sha-256", &pwarg, &"-E", &"UTF8", &locale])
            .await;
        let _ = std::fs::remove_file(&pwfile);
        result?;
        write_private(&self.data_dir.join(CREDENTIALS_FILE), &format!("user={DB_USER}\npassword={password}\n"), self.owner)?;
        Ok(password)
    }

    fn read_password(&self) -> Result<String, EmbeddedPgError> {
        let path = self.data_dir.join(CREDENTIALS_FILE);
        let bad = |reason: String| EmbeddedPgError::BadCluster { dir: self.data_dir.clone(), reason };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            bad(format!("cannot read {} ({e}); if it was never used, delete the folder to start afresh", path.display()))
        })?;
        text.lines()
            .find_map(|l| l.strip_prefix("password="))
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{} has no password= line", path.display())))
    }

    fn make_private_dir(&self, dir: &Path) -> Result<(), EmbeddedPgError> {
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => chown_to(dir, self.owner),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io_err(format!("creating {}", dir.display()))(e)),
        }
    }

    /// The port of a server already running on this cluster, once it accepts connections.
    async fn running_port(&self) -> Result<Option<u16>, EmbeddedPgError> {
        let pid_file = self.data_dir.join("postmaster.pid");
        for _ in 0..600 {
            let Ok(text) = std::fs::read_to_string(&pid_file) else { return Ok(None) };
            let lines: Vec<&str> = text.lines().collect();
            if pid_is_foreign(lines.first().copied()) {
                // After a crash and reboot (containers especially) the old PID may now be some
                // other program, which would make PostgreSQL think the server still runs.
                tracing::warn!("removing stale {} (its PID now belongs to another program)", pid_file.display());
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
        Err(EmbeddedPgError::BadCluster { dir: self.data_dir.clone(), reason: "a server runs on it but did not become ready within 60 s".into() })
    }

    async fn start_server(&mut self) -> Result<(), EmbeddedPgError> {
        let log = self.data_dir.join("log").join("postgres.log");
        let socket_dir = if self.data_dir.as_os_str().len() + "/.s.PGSQL.65535".len() <= SUN_PATH_MAX {
            shell_quote(&self.data_dir.to_string_lossy())
        } else {
            // Too long for a unix socket path; TCP alone will do.
            "''".to_owned()
        };
        for attempt in 1..=3 {
            let port = free_port()?;
            let opts = format!("-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1");
            let args: [&dyn AsRef<std::ffi::OsStr>; 9] = [&"start", &"-w", &"-D", &self.data_dir, &"-l", &log, &"-o", &opts, &"-s"];
            let out = self.output("pg_ctl", &args, true).await?;
            if out.status.success() {
                self.port = port;
                self.owned = true;
                tracing::info!("started PostgreSQL on port {port}");
                return Ok(());
            }
            // Another rollgate process may have won a race to start it.
            if let Some(port) = self.running_port().await? {
                self.port = port;
                return Ok(());
            }
            let log_tail = tail(&std::fs::read_to_string(&log).unwrap_or_default(), 10);
            // Someone may have taken the port between our probe and the server's bind.
            if attempt == 3 || !log_tail.contains("already in use") {
                return Err(command_failed("pg_ctl", &args, &out, &format!("\nend of {}:\n{log_tail}", log.display())));
            }
        }
        unreachable!("the last attempt returns")
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
            // 42P04: exists; 23505: a concurrent create won the race.
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
            cmd.args([Path::new("stop"), Path::new("-D"), &self.data_dir, Path::new("-m"), Path::new("fast"), Path::new("-w")]);
            let _ = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

fn command_failed(program: &str, args: &[&dyn AsRef<std::ffi::OsStr>], out: &Output, extra: &str) -> EmbeddedPgError {
    let mut command = program.to_owned();
    for a in args {
        command.push(' ');
        command.push_str(&a.as_ref().to_string_lossy());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    EmbeddedPgError::CommandFailed { command, status: out.status.to_string(), stderr_tail: format!("{}{extra}", tail(&stderr, 20)) }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn shell_quote(s: &str) -> String {
    // pg_ctl hands -o to /bin/sh.
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn free_port() -> Result<u16, EmbeddedPgError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io_err("finding a free TCP port"))?;
    Ok(listener.local_addr().map_err(io_err("finding a free TCP port"))?.port())
}

fn pid_is_foreign(pid_line: Option<&str>) -> bool {
    let Some(pid) = pid_line.and_then(|p| p.trim().parse::<u32>().ok()) else { return false };
    // Only where /proc tells us for sure; otherwise pg_ctl and postgres judge.
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) => !matches!(comm.trim(), "postgres" | "postmaster"),
        Err(_) => false,
    }
}

fn find_bin_dir(explicit: Option<&Path>, data_dir: &Path) -> Result<PathBuf, EmbeddedPgError> {
    let complete = |dir: &Path| {
        BINARIES.iter().all(|b| std::fs::metadata(dir.join(b)).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
    };
    if let Some(dir) = explicit {
        // An explicit choice that doesn't work is a mistake to report, not to paper over.
        return if complete(dir) { Ok(dir.to_path_buf()) } else { Err(EmbeddedPgError::BinariesNotFound { searched: dir.display().to_string() }) };
    }
    let mut candidates = Vec::new();
    // An existing cluster needs its own major version, which Debian keeps installed alongside newer ones.
    if let Ok(version) = std::fs::read_to_string(data_dir.join("PG_VERSION")) {
        candidates.push(PathBuf::from(format!("/usr/lib/postgresql/{}/bin", version.trim())));
    }
    candidates.extend(std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default());
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.split('.').map(|n| n.parse().ok()).collect::<Option<Vec<u32>>>()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versioned.sort_by(|a, b| b.0.cmp(&a.0));
    candidates.extend(versioned.into_iter().map(|(_, dir)| dir));
    candidates.iter().find(|d| complete(d)).cloned().ok_or_else(|| EmbeddedPgError::BinariesNotFound {
        searched: "PATH, /usr/lib/postgresql/*/bin".into(),
    })
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
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io_err(context()))?;
    chown_to(path, owner)?;
    file.write_all(contents.as_bytes()).map_err(io_err(context()))
}

fn prepare_data_dir(dir: &Path, owner: Option<(u32, u32)>, run_as: &str) -> Result<(), EmbeddedPgError> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(format!("creating {}", dir.display()))(e)),
    }
    let meta = std::fs::metadata(dir).map_err(io_err(format!("reading {}", dir.display())))?;
    if let Some((uid, gid)) = owner {
        for ancestor in dir.ancestors().skip(1) {
            if !can_enter(ancestor, uid, gid, run_as)? {
                return Err(EmbeddedPgError::NotTraversable { user: run_as.into(), dir: ancestor.to_path_buf() });
            }
        }
        if meta.uid() != uid {
            if dir.join("PG_VERSION").exists() {
                let reason = format!("it belongs to uid {}, but PostgreSQL runs as `{run_as}`; run `chown -R {run_as}: {}`", meta.uid(), dir.display());
                return Err(EmbeddedPgError::BadCluster { dir: dir.to_path_buf(), reason });
            }
            chown_to(dir, owner)?;
        }
    }
    // PostgreSQL refuses a data folder that others can read.
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io_err(format!("making {} private", dir.display())))?;
    }
    Ok(())
}

fn can_enter(dir: &Path, uid: u32, gid: u32, user: &str) -> Result<bool, EmbeddedPgError> {
    let meta = std::fs::metadata(dir).map_err(io_err(format!("reading {}", dir.display())))?;
    let in_group = meta.gid() == gid
        || Group::from_gid(Gid::from_raw(meta.gid())).ok().flatten().is_some_and(|g| g.mem.iter().any(|m| m == user));
    let bit = if meta.uid() == uid { 0o100 } else if in_group { 0o010 } else { 0o001 };
    Ok(meta.mode() & bit != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp folder the run-as user can enter. Declare it before the EmbeddedPg so that the
    /// server (stopped by EmbeddedPg's Drop, even on a failed assertion) goes first.
    fn temp_root() -> tempfile::TempDir {
        let dir = tempfile::Builder::new().prefix("epg-test-").tempdir_in("/tmp").expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        dir
    }

    fn config(data_dir: PathBuf) -> EmbeddedPgConfig {
        EmbeddedPgConfig { data_dir, ..EmbeddedPgConfig::default() }
    }

    async fn connect(url: &str) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(url).await.expect("connect")
    }

    #[tokio::test]
    async fn first_start_initialises_and_data_survives_restart() {
        let tmp = temp_root();
        let cfg = config(tmp.path().join("nested/pg"));
        let mut pg = EmbeddedPg::start(&cfg).await.expect("first start");
        assert!(pg.freshly_initialized() && pg.owned());
        let mut conn = connect(&pg.database_url()).await;
        let one: i32 = sqlx::query_scalar("select 1").fetch_one(&mut conn).await.expect("select 1");
        assert_eq!(one, 1);
        sqlx::query("create table kept (v text)").execute(&mut conn).await.expect("create table");
        sqlx::query("insert into kept values ('still here')").execute(&mut conn).await.expect("insert");
        conn.close().await.expect("close");
        let creds = std::fs::metadata(cfg.data_dir.join(CREDENTIALS_FILE)).expect("credentials");
        assert_eq!(creds.mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&cfg.data_dir).expect("data dir").mode() & 0o777, 0o700);
        pg.stop().await.expect("stop");
        pg.stop().await.expect("second stop is a no-op");
        assert!(!cfg.data_dir.join("postmaster.pid").exists());

        let mut again = EmbeddedPg::start(&cfg).await.expect("second start");
        assert!(!again.freshly_initialized() && again.owned());
        let mut conn = connect(&again.database_url()).await;
        let v: String = sqlx::query_scalar("select v from kept").fetch_one(&mut conn).await.expect("row");
        assert_eq!(v, "still here");
        conn.close().await.expect("close");
        again.stop().await.expect("stop");
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
        let mut conn = connect(&first.url_for_database("postgres")).await;
        sqlx::query("select 1").execute(&mut conn).await.expect("server still up");
        conn.close().await.expect("close");
        first.stop().await.expect("stop");
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
    async fn long_path_and_crash_recovery() {
        let tmp = temp_root();
        let cfg = config(tmp.path().join("x".repeat(100)).join("pg"));
        let mut crashed = EmbeddedPg::start(&cfg).await.expect("start on a long path");
        let pid_text = std::fs::read_to_string(cfg.data_dir.join("postmaster.pid")).expect("pid file");
        let pid = pid_text.lines().next().expect("pid line").to_owned();
        let killed = std::process::Command::new("kill").args(["-9", &pid]).status().expect("kill");
        assert!(killed.success());
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        crashed.stop().await.expect("stop after a crash is fine");
        assert!(cfg.data_dir.join("postmaster.pid").exists(), "the stale pid file stays");

        let mut pg = EmbeddedPg::start(&cfg).await.expect("start over a stale pid file");
        assert!(pg.owned() && !pg.freshly_initialized());
        let mut conn = connect(&pg.database_url()).await;
        sqlx::query("select 1").execute(&mut conn).await.expect("select 1");
        conn.close().await.expect("close");
        pg.stop().await.expect("stop");
    }
}
