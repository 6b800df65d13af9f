//! The command line and its environment-variable fallbacks: one typed configuration for every command.

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Rollgate: feature flags and staged rollouts, self-hosted.
#[derive(Debug, Parser)]
#[command(name = "rollgate", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives. Every command takes these, so every command uses the same database as `serve`.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// PostgreSQL URL. Without it, Rollgate runs a private PostgreSQL cluster in --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// With DATABASE_URL: the URL of the role that owns the schema. Migrations and grants run as it, and
    /// DATABASE_URL's role, which should own nothing, only serves (see docs/database.md).
    #[arg(long, env = "ROLLGATE_MIGRATION_DATABASE_URL", global = true, hide_env_values = true)]
    pub migration_database_url: Option<String>,
    /// Folder of the private PostgreSQL cluster used when no DATABASE_URL is given.
    #[arg(long, env = "ROLLGATE_DATA_DIR", default_value = ".rollgate/pg", global = true)]
    pub data_dir: PathBuf,
    /// Folder holding initdb, pg_ctl and postgres (default: PATH, then /usr/lib/postgresql/*/bin).
    #[arg(long, env = "ROLLGATE_PG_BIN_DIR", global = true)]
    pub pg_bin_dir: Option<PathBuf>,
    /// OS user that runs the private cluster when Rollgate is started as root.
    #[arg(long, env = "ROLLGATE_PG_USER", default_value = "postgres", global = true)]
    pub pg_user: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the admin UI and the APIs.
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Load the demo data (environments, phases, flags, organizations, customers, users). Idempotent.
    Demo,
    /// Apply the database migrations and exit.
    Migrate,
    /// Check a running Rollgate over its API: health, database, snapshot, flag states, evaluation latency,
    /// guardrail worker, stuck rollouts. Exits non-zero if any check FAILs.
    Verify(VerifyArgs),
    /// Roll flags back in one environment through the admin API: shows the plan, asks, then acts.
    #[command(long_about = ROLLBACK_ABOUT)]
    Rollback(RollbackArgs),
    /// Write the configuration (phases, flags, states, overrides, rollout definitions) as YAML.
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(ExportArgs),
    /// Make the configuration match a YAML file: shows the diff, then applies it in one audited transaction.
    #[command(long_about = APPLY_ABOUT)]
    Apply(ApplyArgs),
    /// The audit trail since a time, oldest first.
    Audit(AuditArgs),
    /// Flag hygiene.
    #[command(subcommand)]
    Flags(FlagsCommand),
    /// Environments of a running Rollgate, through its admin API: list, add, rename, reorder, archive
    /// (admins; keys never change and are never reused).
    #[command(subcommand)]
    Env(EnvCommand),
    /// Phases of a running Rollgate, through its admin API: list, add, edit, reorder, delete an empty one,
    /// move a flag to another phase (editors).
    #[command(subcommand)]
    Phase(PhaseCommand),
    /// Priority-URL imports: import a file, list batches, print a report, roll a batch back.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Generate traffic for a flag through the evaluation API and report its metrics per cohort (treatment,
    /// control), with the error rate and latency chosen per cohort: for demonstrating and testing guardrails.
    Simulate(crate::cli::simulate::SimulateArgs),
}

/// Limits on priority-URL imports; `serve` and `import urls` read the same ones.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The most priority URLs one account may hold; rows that would add more go to the overflow report.
    #[arg(long, env = "ROLLGATE_PRIORITY_URL_CAP", default_value_t = 60_000)]
    pub priority_url_cap: u32,
    /// The largest import file accepted, in MiB; a bigger upload gets 413.
    #[arg(long, env = "ROLLGATE_IMPORT_MAX_MB", default_value_t = 32)]
    pub import_max_mb: u32,
}

impl ImportArgs {
    pub fn limits(&self) -> app::server::priority_urls::ImportLimits {
        app::server::priority_urls::ImportLimits {
            max_urls_per_account: i64::from(self.priority_url_cap),
            max_file_bytes: usize::try_from(self.import_max_mb).unwrap_or(usize::MAX).saturating_mul(1024 * 1024),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import one account's priority-URL metadata from a CSV or JSON Lines file, in one transaction.
    Urls {
        /// The file: CSV with a header naming url, update_priority and page_type, or JSON Lines.
        file: PathBuf,
        /// The account (organization key).
        #[arg(long)]
        account: String,
        /// Report exactly what the import would do, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// csv or jsonl (default: from the file name, else from the content).
        #[arg(long)]
        format: Option<String>,
        #[command(flatten)]
        limits: ImportArgs,
    },
    /// List an account's import batches, newest first.
    Batches {
        #[arg(long)]
        account: String,
    },
    /// Print a batch's report (rejected, duplicate and overflow rows) as CSV.
    Report {
        batch: i64,
        #[arg(long)]
        account: String,
    },
    /// Roll a batch back: restore the values it replaced and remove the URLs it added.
    Rollback {
        batch: i64,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: Option<String>,
    },
}

// A running Rollgate and the admin token to use with it. The operator commands go through the API
// only, so every change they make is checked and audited under the token's user. (Plain comments on
// flattened argument structs: clap could take a doc comment for the command's description.)
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Rollgate server")]
pub struct RemoteArgs {
    /// Base URL of the running Rollgate.
    #[arg(long, env = "ROLLGATE_URL", default_value = "http://localhost:3000")]
    pub url: String,
    /// An admin token (`rollgate token create --scope admin --user EMAIL`). Prefer the environment
    /// variable: other users of the machine can read command-line arguments.
    #[arg(long, env = "ROLLGATE_TOKEN", hide_env_values = true)]
    pub token: crate::cli::client::Secret,
    /// Seconds to wait for each HTTP request before giving up on it.
    #[arg(long, env = "ROLLGATE_HTTP_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = VERIFY_EXAMPLES)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// An evaluate token, for the evaluation latency check (skipped, with a WARN, without one).
    #[arg(long, env = "ROLLGATE_EVAL_TOKEN", hide_env_values = true, help_heading = "Checks")]
    pub eval_token: Option<crate::cli::client::Secret>,
    /// YAML file of the states expected: `{environment: {flag_key: on|off}}`. A flag in another state,
    /// or missing, FAILs.
    #[arg(long, value_name = "FILE", help_heading = "Checks")]
    pub expect: Option<PathBuf>,
    /// How many evaluation requests to time (one after the other, after one warm-up request).
    #[arg(long, default_value_t = 200, help_heading = "Checks",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub requests: u32,
    /// The median evaluation round trip above which the latency check FAILs, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 20.0, help_heading = "Checks")]
    pub p50_ms: f64,
    /// The 99th-percentile evaluation round trip above which the latency check FAILs, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100.0, help_heading = "Checks")]
    pub p99_ms: f64,
    /// Print the report as JSON (for scripts) instead of one line per check.
    #[arg(long, help_heading = "Checks")]
    pub json: bool,
}

const VERIFY_EXAMPLES: &str = "\
Each check prints one line: OK, WARN or FAIL. The exit code is 1 if any check FAILs (WARNs alone exit 0).

Examples:
  export ROLLGATE_URL=https://flags.example.com ROLLGATE_TOKEN=rgt_... ROLLGATE_EVAL_TOKEN=rgt_...
  rollgate verify
  rollgate verify --expect expected-states.yaml --json
  rollgate verify --requests 1000 --p50-ms 10 --p99-ms 50

An expected-state file:
  production:
    checkout_v2: on
    legacy_search: off
  staging:
    checkout_v2: on";

// `rollgate rollback`. No doc comment here: clap would take it over the subcommand's own about line.
#[derive(Debug, Clone, Args)]
#[command(after_help = ROLLBACK_EXAMPLES)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub selection: RollbackSelection,
    /// The environment to roll back in (e.g. production).
    #[arg(long = "env", value_name = "ENV", help_heading = "Rollback")]
    pub environment: String,
    /// Why: recorded in the audit trail and on each rollout's timeline.
    #[arg(long, value_name = "TEXT", help_heading = "Rollback")]
    pub reason: String,
    /// Print the plan and change nothing.
    #[arg(long, help_heading = "Rollback")]
    pub dry_run: bool,
    /// Do not ask for confirmation. Required when standard input is not a terminal (scripts, CI).
    #[arg(long, help_heading = "Rollback")]
    pub yes: bool,
    /// How many API requests to have in flight at once.
    #[arg(long, default_value_t = 8, help_heading = "Rollback",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

// Which flags to roll back: exactly one of these.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
#[command(next_help_heading = "Which flags (exactly one)")]
pub struct RollbackSelection {
    /// Every flag that is on in ENV or has a live rollout there.
    #[arg(long)]
    pub full: bool,
    /// These flags (keys, separated by spaces or commas). An unknown key stops the command before anything changes.
    #[arg(long, value_name = "FLAG", num_args = 1.., value_delimiter = ',')]
    pub partial: Vec<String>,
    /// Every flag of this phase (its key, as in the flag list's phase filter).
    #[arg(long, value_name = "PHASE")]
    pub phase: Option<String>,
}

const ROLLBACK_ABOUT: &str = "\
Roll flags back in one environment, through the admin API (so every change is audited under the token's
user, with --reason).

Rolling a flag back means both of:
  - its live rollout (planned, active or paused), if it has one, is rolled back: 0%, status rolled_back,
    finished (a rolled-back rollout never lets anyone in again; start a new one to try again);
  - its kill switch is turned off in the environment, so every evaluation answers DISABLED at once.
A flag already off with no live rollout has nothing to do. A completed rollout is history and is left as it
is; turning the flag off is what stops it serving.

The command first lists exactly what it will change, then asks for confirmation (type \"yes\") unless
--yes is given; without a terminal on standard input it refuses to go on without --yes. Every change
carries the version the plan was read at: anything changed by someone else in between is reported FAILED
(409 CONFLICT) and left alone; run the command again to roll back the new state. The changes are sent
concurrently (8 requests in flight by default); each is reported OK or FAILED with the API's message, and
the exit code is 1 if any failed.";

const ROLLBACK_EXAMPLES: &str = "\
Examples:
  export ROLLGATE_URL=https://flags.example.com ROLLGATE_TOKEN=rgt_...
  rollgate rollback --partial checkout_v2 --env production --reason \"error rate 4%\" --dry-run
  rollgate rollback --partial checkout_v2,new_search --env production --reason \"INC-231\"
  rollgate rollback --phase phase-2-api --env production --reason \"INC-231: API errors\" --yes
  rollgate rollback --full --env staging --reason \"bad deploy\"";

// `rollgate export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Only this environment's states, overrides and rollouts (e.g. to promote staging to production).
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// With --env: write that environment's part under this environment's key instead, to promote it
    /// (`--env staging --as production`, then `rollgate apply --dry-run` against production's server).
    #[arg(long = "as", value_name = "ENV", requires = "env")]
    pub as_env: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

const EXPORT_EXAMPLES: &str = "\
Admins only. Flags, phases and per-environment states in a stable order, so that two exports of the same
configuration are identical and diff well in version control. Rollouts are exported as definitions
(stages, stickiness, allow-list), not as progress; guardrails are included for reference.

Examples:
  export ROLLGATE_URL=https://flags.example.com ROLLGATE_TOKEN=rgt_...
  rollgate export > rollgate.yaml
  rollgate export --env staging -o staging.yaml
  rollgate export --env staging --as production -o promote.yaml   # staging's states, for production";

// `rollgate apply`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The YAML file, as written by `rollgate export`.
    pub file: PathBuf,
    /// Print the diff and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

const APPLY_ABOUT: &str = "\
Make the configuration match a YAML file written by `rollgate export` (admins only).

The file is sent to the server, which applies all of it in one transaction, every change with its audit
event under the token's user: a file with a mistake changes nothing, and the error names the line and field
or the entry (e.g. flags[3] (checkout).environments.production.overrides[0]). The command first prints the
diff (+ created, - removed, ~ changed), then applies; running it again reports \"no changes\".

What apply changes: phases (created at the end, or renamed); flags (created, their fields, archived);
for each environment listed under a flag, its on/off state, its default value, its overrides (the file's
list is the whole set: others are removed) and its live rollout's definition (a planned rollout is created,
or the live one is edited, which voids its sign-offs). What it leaves alone: anything not in the file, the
order of existing phases, a rollout's progress (start, advance, roll back stay behind their gates) and
guardrails. Archived flags stay archived.

To promote staging to production: rollgate export --env staging, rename the environment key under each
flag, review, then rollgate apply.";

// `rollgate audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// From when: an RFC 3339 time (2026-11-21T09:00:00Z) or an age such as 30m, 24h or 7d.
    #[arg(long, value_name = "WHEN")]
    pub since: String,
    /// Only the events of this flag.
    #[arg(long)]
    pub flag: Option<String>,
    /// Only this action, e.g. flag.toggled.
    #[arg(long)]
    pub action: Option<String>,
    /// Only actors whose label contains this text.
    #[arg(long)]
    pub actor: Option<String>,
    /// Print JSON (one array) instead of one line per event.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum FlagsCommand {
    /// List the stale flags: fully rolled out or untouched for long enough for their kind, or archived but
    /// still evaluated.
    Stale {
        #[command(flatten)]
        remote: RemoteArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List the environments: in use first, in order, then archived ones.
    List {
        #[command(flatten)]
        remote: RemoteArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add an environment at the end of the list; every flag is off in it.
    Add {
        #[command(flatten)]
        remote: RemoteArgs,
        /// Its key: lowercase letters, digits, `_` and `-`. Never changes, never reused.
        key: String,
        /// Its name, as pages show it.
        #[arg(long)]
        name: String,
    },
    /// Rename an environment (the key stays).
    Rename {
        #[command(flatten)]
        remote: RemoteArgs,
        key: String,
        #[arg(long)]
        name: String,
    },
    /// Put the environments in use in this order (name each exactly once).
    Reorder {
        #[command(flatten)]
        remote: RemoteArgs,
        #[arg(required = true, num_args = 1.., value_delimiter = ',')]
        keys: Vec<String>,
    },
    /// Archive an environment: no longer served or shown; its key stays reserved. Refused while evaluate
    /// tokens, live rollouts or scheduled changes use it (they are named).
    Archive {
        #[command(flatten)]
        remote: RemoteArgs,
        key: String,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PhaseCommand {
    /// List the phases in order, with how many flags each holds.
    List {
        #[command(flatten)]
        remote: RemoteArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add a phase after the last one.
    Add {
        #[command(flatten)]
        remote: RemoteArgs,
        /// Its key: lowercase letters, digits, `_`, `.` and `-`.
        key: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Keep its flags at 0% in an environment until every flag of the phase before is fully rolled out.
        #[arg(long)]
        requires_previous: bool,
    },
    /// Change a phase's name, description or "requires the previous phase" (what is not given stays).
    Edit {
        #[command(flatten)]
        remote: RemoteArgs,
        key: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// true or false.
        #[arg(long, value_parser = BoolishValueParser::new())]
        requires_previous: Option<bool>,
    },
    /// Put the phases in this order (name each exactly once).
    Reorder {
        #[command(flatten)]
        remote: RemoteArgs,
        #[arg(required = true, num_args = 1.., value_delimiter = ',')]
        keys: Vec<String>,
    },
    /// Delete an empty phase (one with flags is refused, saying how many).
    Delete {
        #[command(flatten)]
        remote: RemoteArgs,
        key: String,
    },
    /// Move a flag into a phase, or out of every phase with --none.
    Move {
        #[command(flatten)]
        remote: RemoteArgs,
        /// The flag's key.
        flag: String,
        /// The phase to move it to.
        #[arg(long, required_unless_present = "none", conflicts_with = "none")]
        to: Option<String>,
        /// Take it out of every phase.
        #[arg(long)]
        none: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ROLLGATE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Folder with the built browser assets (pkg/rollgate.js, .wasm, .css).
    #[arg(long, env = "ROLLGATE_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// Mark session cookies Secure. Turn on whenever Rollgate is reached over HTTPS.
    #[arg(long, env = "ROLLGATE_SECURE_COOKIES", default_value_t = false, value_parser = BoolishValueParser::new())]
    pub secure_cookies: bool,
    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "ROLLGATE_SESSION_IDLE_MINUTES", default_value_t = 480)]
    pub session_idle_minutes: u64,
    /// Hours after login after which a session ends, however active.
    #[arg(long, env = "ROLLGATE_SESSION_MAX_HOURS", default_value_t = 24)]
    pub session_max_hours: u64,
    /// Failed logins per account in the throttle window before further attempts get 429.
    #[arg(long, env = "ROLLGATE_LOGIN_MAX_FAILURES", default_value_t = 10)]
    pub login_max_failures: i32,
    /// Failed logins per client address in the throttle window before further attempts get 429.
    #[arg(long, env = "ROLLGATE_LOGIN_MAX_FAILURES_PER_IP", default_value_t = 50)]
    pub login_max_failures_per_ip: i32,
    /// Length of the login throttle window, in minutes.
    #[arg(long, env = "ROLLGATE_LOGIN_WINDOW_MINUTES", default_value_t = 15)]
    pub login_window_minutes: u64,
    /// Take the client address from X-Forwarded-For (only behind a proxy that sets it).
    #[arg(long, env = "ROLLGATE_TRUST_FORWARDED_FOR", default_value_t = false, value_parser = BoolishValueParser::new())]
    pub trust_forwarded_for: bool,
    /// Extra origins allowed to send state-changing requests (e.g. https://flags.example.com when a proxy
    /// rewrites the Host header). Comma-separated.
    #[arg(long, env = "ROLLGATE_TRUSTED_ORIGINS", value_delimiter = ',')]
    pub trusted_origins: Vec<String>,
    /// Seconds between checks that the evaluation snapshot is current (besides NOTIFY).
    #[arg(long, env = "ROLLGATE_SNAPSHOT_CHECK_SECONDS", default_value_t = 5)]
    pub snapshot_check_seconds: u64,
    /// Do not load the demo data on the first start of the private cluster. (Like every on/off setting
    /// read from the environment, ROLLGATE_NO_DEMO takes 1/0, true/false, yes/no or on/off.)
    #[arg(long, env = "ROLLGATE_NO_DEMO", default_value_t = false, value_parser = BoolishValueParser::new())]
    pub no_demo: bool,
    #[command(flatten)]
    pub imports: ImportArgs,
    #[command(flatten)]
    pub webhooks: crate::workers::webhooks::SenderArgs,
    #[command(flatten)]
    pub guardrails: crate::workers::guardrails::GuardrailArgs,
    #[command(flatten)]
    pub retention: crate::workers::retention::RetentionArgs,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user, or update the one with this email. The password comes from ROLLGATE_PASSWORD or a prompt.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// viewer, editor or admin.
        #[arg(long)]
        role: String,
        /// Sign-off roles, comma-separated: dev_lead, ops_oncall, product_owner, qa.
        #[arg(long, default_value = "")]
        signoff: String,
    },
    /// List the users.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once. Evaluate tokens serve one environment to servers; frontend tokens
    /// serve the flags visible to frontends of one environment to browser pages and apps; admin tokens act
    /// as a user.
    Create {
        #[arg(long)]
        name: String,
        /// evaluate, frontend or admin.
        #[arg(long)]
        scope: String,
        /// The environment an evaluate or frontend token serves.
        #[arg(long)]
        env: Option<String>,
        /// The user an admin token acts as (with exactly that user's permissions and sign-off roles).
        #[arg(long)]
        user: Option<String>,
        /// A web origin whose pages may use a frontend token (`https://app.example`; `*` for any); repeat
        /// for several. None: apps only (they send no Origin).
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// A frontend token's requests per second, per server process (default 100).
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// List the tokens (prefix, scope, last use; never the secret).
    List,
    /// Revoke a token by its prefix (rgt_XXXXXXXX).
    Revoke { prefix: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{ArgAction, CommandFactory};

    #[test]
    fn every_on_off_setting_read_from_the_environment_takes_the_usual_spellings() {
        // Every switch of `serve` that has an environment variable, found from the command itself so that
        // a new one is covered without touching this test.
        let command = Cli::command();
        let serve = command.find_subcommand("serve").expect("a serve command");
        let switches: Vec<(String, String)> = serve
            .get_arguments()
            .filter(|a| matches!(a.get_action(), ArgAction::SetTrue))
            .filter_map(|a| Some((a.get_id().to_string(), a.get_env()?.to_str()?.to_owned())))
            .collect();
        assert!(switches.len() >= 3, "{switches:?}");
        let spellings = [
            ("1", true),
            ("0", false),
            ("true", true),
            ("false", false),
            ("yes", true),
            ("no", false),
            ("on", true),
            ("off", false),
            ("YES", true),
            ("False", false),
        ];
        for (id, variable) in &switches {
            for (text, expected) in spellings {
                // No other test of this binary parses the command line, so setting the variable is safe.
                std::env::set_var(variable, text);
                let matches = Cli::command().try_get_matches_from(["rollgate", "serve"]);
                std::env::remove_var(variable);
                let matches = matches.unwrap_or_else(|e| panic!("{variable}={text} refused: {e}"));
                let serve = matches.subcommand_matches("serve").expect("serve");
                assert_eq!(serve.get_flag(id), expected, "{variable}={text}");
            }
            std::env::set_var(variable, "maybe");
            let refused = Cli::command().try_get_matches_from(["rollgate", "serve"]);
            std::env::remove_var(variable);
            let message = refused.expect_err("an unknown spelling is refused").to_string();
            assert!(message.contains("maybe"), "{message}");
        }
    }
}
