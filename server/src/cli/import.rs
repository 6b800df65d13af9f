//! `rollgate import urls | batches | report | rollback`: priority-URL imports from a shell, with a
//! progress bar on a terminal (none when stderr is not one) and a summary on stdout.

use crate::config::{DbArgs, ImportCommand};
use crate::db::Database;
use anyhow::Context;
use app::model::priority::ImportSummary;
use app::server::audit::Actor;
use app::server::priority_urls::{self, queries, rollback, Format, ImportRequest, Progress};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncReadExt;

pub async fn run(db_args: &DbArgs, command: ImportCommand) -> anyhow::Result<()> {
    // Check the arguments and read the file before opening the database.
    let prepared = match &command {
        ImportCommand::Urls { file, account, dry_run, format, limits } => {
            let format = format
                .as_deref()
                .map(|f| Format::parse(f).ok_or_else(|| anyhow::anyhow!("--format: {f:?} is neither csv nor jsonl")))
                .transpose()?;
            let limits = limits.limits();
            let bytes = read_with_progress(file, limits.max_file_bytes).await?;
            let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Some((
                ImportRequest { account: account.clone(), file_name, format, dry_run: *dry_run, bytes: bytes.into() },
                limits,
            ))
        }
        _ => None,
    };
    let mut db = Database::open(db_args).await?;
    let actor = Actor::system("cli");
    let result = match (command, prepared) {
        (ImportCommand::Urls { .. }, Some((request, limits))) => {
            let bar = bar(0, "checking the file");
            let shown = bar.clone();
            let progress = move |step: Progress| match step {
                Progress::Parsed { rows_read, valid } => {
                    shown.set_message(format!("{rows_read} rows read, {valid} valid; loading"));
                    shown.set_length(valid as u64);
                }
                Progress::Loading { sent, .. } => shown.set_position(sent as u64),
                Progress::Merging => shown.set_message("merging"),
                Progress::Committed => shown.set_message("committed"),
            };
            let outcome = priority_urls::import(&db.pool, &actor, &limits, request, &progress).await;
            bar.finish_and_clear();
            outcome.map(|summary| print_summary(&summary)).map_err(|e| anyhow::anyhow!(e.into_client_message()))
        }
        (ImportCommand::Batches { account }, _) => list_batches(&db, &account).await,
        (ImportCommand::Report { batch, account }, _) => {
            queries::report_csv(&db.pool, &account, batch).await.map_err(anyhow::Error::from).and_then(|csv| {
                use std::io::Write;
                std::io::stdout().write_all(&csv).context("writing the report")
            })
        }
        (ImportCommand::Rollback { batch, reason }, _) => {
            rollback::rollback(&db.pool, &actor, batch, reason.as_deref())
                .await
                .map(|done| {
                    println!(
                    "rolled back batch #{} of {}: {} URLs it added removed, {} URLs restored to their previous values",
                    done.batch_id, done.account, done.removed, done.restored
                );
                })
                .map_err(anyhow::Error::from)
        }
        (ImportCommand::Urls { .. }, None) => Ok(()),
    };
    db.close().await;
    result
}

fn bar(length: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    let style = ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message);
    bar
}

/// Reads the file, showing bytes read; refuses one over the limit before reading it.
async fn read_with_progress(path: &std::path::Path, limit: usize) -> anyhow::Result<Vec<u8>> {
    let mut file = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().await.with_context(|| format!("reading {}", path.display()))?.len();
    if size > limit as u64 {
        anyhow::bail!(
            "{} is {size} bytes; the limit is {limit} bytes ({} MiB, --import-max-mb)",
            path.display(),
            limit / (1024 * 1024)
        );
    }
    let bar = bar(size, "reading");
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut chunk).await.with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(bytes)
}

fn print_summary(s: &ImportSummary) {
    let what = if s.dry_run { "dry run (nothing changed)" } else { "import" };
    println!("{what} of {} rows into {}: batch #{} in {} ms", s.rows_read, s.account, s.batch_id, s.duration_ms);
    println!(
        "  inserted {}  updated {}  unchanged {}  rejected {}  duplicates {}  overflow {}",
        s.inserted, s.updated, s.unchanged, s.rejected, s.duplicates, s.overflow
    );
    for warning in &s.warnings {
        println!("  warning: {warning}");
    }
    if s.rejected + s.duplicates + s.overflow > 0 {
        println!("  report: rollgate import report {} --account {}", s.batch_id, s.account);
    }
}

async fn list_batches(db: &Database, account: &str) -> anyhow::Result<()> {
    let rows = match app::server::priority_urls::Account::find(&db.pool, account).await? {
        Some(found) => queries::batches(&db.pool, found.id, 1000).await?,
        None => Vec::new(),
    };
    if rows.is_empty() {
        println!("no imports into {account:?} yet");
        return Ok(());
    }
    println!(
        "{:<7} {:<20} {:<12} {:<24} {:>8} {:>8} {:>8} {:>9} {:>8} {:>5} {:>8} {:>7}",
        "BATCH",
        "STARTED",
        "STATUS",
        "FILE",
        "READ",
        "INSERTED",
        "UPDATED",
        "UNCHANGED",
        "REJECTED",
        "DUPS",
        "OVERFLOW",
        "MS"
    );
    for b in rows {
        let status = if b.dry_run { format!("{} (dry)", b.status) } else { b.status.to_string() };
        println!(
            "{:<7} {:<20} {:<12} {:<24} {:>8} {:>8} {:>8} {:>9} {:>8} {:>5} {:>8} {:>7}",
            b.id,
            b.started_at.format("%Y-%m-%d %H:%M:%S"),
            status,
            b.file_name,
            b.rows_read,
            b.inserted,
            b.updated,
            b.unchanged,
            b.rejected,
            b.duplicates,
            b.overflow,
            b.duration_ms.map_or_else(|| "-".to_owned(), |ms| ms.to_string())
        );
        if let Some(error) = &b.error {
            println!("        error: {error}");
        }
    }
    Ok(())
}
