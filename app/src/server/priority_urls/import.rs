//! The import itself: the file is parsed off the async threads while its valid rows are bulk-loaded, as
//! they are checked, into a temporary staging table with COPY; then, in the same transaction, one
//! statement classifies every row against the account's metadata (new, changed, unchanged, over the cap)
//! and writes the metadata, the history and the overflow report, and the batch record follows. A failure
//! anywhere rolls the whole of it back.

use super::parse::{self, FileError, Format, ParsedFile, ReportRow, ValidRow};
use super::Account;
use super::{ImportError, ImportLimits, Progress};
use crate::domain::priority::FLAG_KEY;
use crate::domain::Role;
use crate::model::priority::ImportSummary;
use crate::server::audit::{self, Actor, NewEvent};
use crate::server::ServiceError;
use axum::body::Bytes;
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};
use std::time::Instant;

/// Rows per COPY message: big enough to keep the round trips few, small enough to report progress.
const COPY_CHUNK_ROWS: usize = 5_000;

/// One file to import into one account.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The organization's key.
    pub account: String,
    pub file_name: String,
    /// `None`: from the file name, else from the content.
    pub format: Option<Format>,
    pub dry_run: bool,
    pub bytes: Bytes,
}

/// Imports a file, or for a dry run works out exactly what an import would do and records only that.
#[tracing::instrument(name = "priority_urls::import::import", skip_all, fields(actor = %actor.label))]
pub async fn import(
    pool: &PgPool,
    actor: &Actor,
    limits: &ImportLimits,
    request: ImportRequest,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    actor.require(Role::Editor, "import priority URLs")?;
    // Any organization key: an account need not be registered to hold URLs.
    let account = Account::ensure(pool, &request.account).await?;
    let file_name = clean_file_name(&request.file_name);
    let guessed_format = request.format.unwrap_or_else(|| {
        Format::detect(&file_name, std::str::from_utf8(&request.bytes[..request.bytes.len().min(64)]).unwrap_or(""))
    });
    let failed = |error: String, rows_read: u32| Failure {
        account: &account,
        actor,
        file_name: &file_name,
        format: guessed_format,
        dry_run: request.dry_run,
        rows_read,
        error,
        started,
    };

    if request.bytes.len() > limits.max_file_bytes {
        let err = FileError::TooLarge { size: request.bytes.len(), limit: limits.max_file_bytes };
        failed(err.to_string(), 0).record(pool).await;
        return Err(err.into());
    }
    // The parser hands the valid rows over in COPY chunks as it checks them, and they are loaded into the
    // staging table while it reads on. A first chunk also means that the file as a whole passed its
    // checks (they come before any row), so the transaction starts only then.
    let (bytes, name, format) = (request.bytes.clone(), file_name.clone(), request.format);
    let (chunks, mut received) = tokio::sync::mpsc::channel::<Chunk>(4);
    let parser = tokio::task::spawn_blocking(move || parse_into_chunks(&bytes, &name, format, &chunks));
    let loaded = match received.recv().await {
        Some(first) => Some(load(pool, &account, first, &mut received, progress).await),
        None => None,
    };
    // Closed before waiting, so that a parser still handing rows to a failed load never waits on it.
    drop(received);
    let parsed = parser.await.map_err(|e| ServiceError::internal("parsing the import file", e))?;
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            drop(loaded);
            failed(err.to_string(), 0).record(pool).await;
            return Err(err.into());
        }
    };
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, rows = parsed.rows_read, "import: parsed");
    progress(Progress::Parsed { rows_read: parsed.rows_read, valid: parsed.rows.len() });

    let written = match loaded {
        Some(Ok(tx)) => Ok(tx),
        Some(Err(err)) => Err(err),
        // No valid row at all: every row goes to the report.
        None => begin(pool, &account).await,
    };
    let written = match written {
        Ok(tx) => write(tx, actor, limits, &account, &request, &file_name, &parsed, started, progress).await,
        Err(err) => Err(err),
    };
    match written {
        Ok(summary) => {
            progress(Progress::Committed);
            Ok(summary)
        }
        Err(err) => {
            let shown = if err.is_internal() {
                "the import failed on the server and changed nothing; the cause has been logged".to_owned()
            } else {
                err.to_string()
            };
            Failure { format: parsed.format, ..failed(shown, parsed.rows_read) }.record(pool).await;
            Err(err.into())
        }
    }
}

/// Valid rows in COPY's text format.
struct Chunk {
    text: Vec<u8>,
    rows: usize,
}

impl Chunk {
    fn new() -> Self {
        Chunk { text: Vec::with_capacity(COPY_CHUNK_ROWS * 96), rows: 0 }
    }

    fn push(&mut self, row: &ValidRow) {
        self.text.extend_from_slice(row.line.to_string().as_bytes());
        self.text.push(b'\t');
        push_copy_text(&mut self.text, &row.url);
        self.text.push(b'\t');
        self.text.extend_from_slice(row.tier.as_str().as_bytes());
        self.text.push(b'\t');
        self.text.extend_from_slice(row.page_type.as_str().as_bytes());
        self.text.push(b'\n');
        self.rows += 1;
    }
}

/// Parses the file (on a blocking thread), sending the valid rows on in chunks as they are checked. Rows
/// that a later row with the same URL outdoes are sent too; they are the report's duplicates.
fn parse_into_chunks(
    bytes: &[u8],
    name: &str,
    format: Option<Format>,
    chunks: &tokio::sync::mpsc::Sender<Chunk>,
) -> Result<ParsedFile, FileError> {
    let mut chunk = Chunk::new();
    // A closed channel means the load has failed: the parse still runs to the end, for the batch record.
    let parsed = parse::parse_with(bytes, name, format, &mut |row| {
        chunk.push(row);
        if chunk.rows == COPY_CHUNK_ROWS {
            let _ = chunks.blocking_send(std::mem::replace(&mut chunk, Chunk::new()));
        }
    })?;
    if chunk.rows > 0 {
        let _ = chunks.blocking_send(chunk);
    }
    Ok(parsed)
}

/// Starts the import's transaction: the account locked (one import or rollback per account at a time,
/// as the cap and the history depend on what is stored) and `url_stage`, a temporary table dropped at
/// commit, created.
async fn begin(pool: &PgPool, account: &Account) -> Result<Transaction<'static, Postgres>, ServiceError> {
    let mut tx = pool.begin().await?;
    account.lock(&mut tx).await?;
    // The sorts and hashes of 60,000 rows fit in memory rather than spilling to disk.
    sqlx::query("set local work_mem = '64MB'").execute(&mut *tx).await?;
    sqlx::query(
        r#"create temp table url_stage (line integer not null, url text collate "C" not null,
               update_priority text not null, page_type text not null) on commit drop"#,
    )
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// Starts the transaction and bulk-loads the chunks into `url_stage` with COPY as the parser sends them.
async fn load(
    pool: &PgPool,
    account: &Account,
    first: Chunk,
    received: &mut tokio::sync::mpsc::Receiver<Chunk>,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Transaction<'static, Postgres>, ServiceError> {
    let mut tx = begin(pool, account).await?;
    let mut copy = tx.copy_in_raw("copy url_stage (line, url, update_priority, page_type) from stdin").await?;
    let mut sent = 0;
    let mut next = Some(first);
    while let Some(chunk) = next {
        copy.send(chunk.text).await?;
        sent += chunk.rows;
        // The total is not known yet: the file is still being read.
        progress(Progress::Loading { sent, total: sent });
        next = received.recv().await;
    }
    copy.finish().await?;
    Ok(tx)
}

/// The batch record of an import that did not happen, written in its own transaction (the import's was
/// rolled back). Failing to write it is logged, not raised: the caller reports the import's own error.
struct Failure<'a> {
    account: &'a Account,
    actor: &'a Actor,
    file_name: &'a str,
    format: Format,
    dry_run: bool,
    rows_read: u32,
    error: String,
    started: Instant,
}

impl Failure<'_> {
    async fn record(self, pool: &PgPool) {
        if let Err(err) = self.write(pool).await {
            tracing::error!(error = %err, "could not record a failed import batch");
        }
    }

    /// The batch row and the `import.failed` notification, in one transaction.
    async fn write(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let duration_ms = i32::try_from(self.started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let error: String = self.error.chars().take(2000).collect();
        let mut tx = pool.begin().await?;
        let batch = sqlx::query_scalar!(
            r#"insert into url_import_batches
                 (account_id, created_by, actor_label, file_name, format, dry_run, status, rows_read,
                  duration_ms, error, finished_at)
               values ($1, $2, $3, $4, $5, $6, 'failed', $7, $8, $9, now()) returning id"#,
            self.account.id,
            self.actor.user_id,
            self.actor.label,
            self.file_name,
            self.format.as_str(),
            self.dry_run,
            i32::try_from(self.rows_read).unwrap_or(i32::MAX),
            duration_ms,
            error,
        )
        .fetch_one(&mut *tx)
        .await?;
        let account = self.account.key.as_str();
        let summary =
            format!("Priority-URL import of {} into {account} by {} failed: {error}", self.file_name, self.actor.label);
        crate::server::webhooks::enqueue(
            &mut tx,
            crate::domain::WebhookEvent::ImportFailed,
            &summary,
            serde_json::json!({
                "account": account, "batch": batch, "file_name": self.file_name, "dry_run": self.dry_run,
                "rows_read": self.rows_read, "error": error, "actor": self.actor.label,
                "links": { "account": format!("/admin/priority-urls/{account}") },
            }),
        )
        .await?;
        tx.commit().await
    }
}

/// The name as shown in the history: the last path component, no control characters, at most 255
/// characters, `upload` when nothing is left.
pub fn clean_file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    let name = name.trim();
    if name.is_empty() {
        "upload".to_owned()
    } else {
        name.to_owned()
    }
}

#[allow(clippy::too_many_arguments)]
async fn write(
    mut tx: Transaction<'static, Postgres>,
    actor: &Actor,
    limits: &ImportLimits,
    account: &Account,
    request: &ImportRequest,
    file_name: &str,
    parsed: &ParsedFile,
    started: Instant,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<ImportSummary, ServiceError> {
    // Rows loaded before a later row with the same URL outdid them: the report's duplicates.
    let outdone: Vec<i32> = parsed
        .report
        .iter()
        .filter(|r| r.kind == parse::ReportKind::Duplicate)
        .map(|r| i32::try_from(r.line).unwrap_or(i32::MAX))
        .collect();
    if !outdone.is_empty() {
        sqlx::query("delete from url_stage where line = any($1)").bind(&outdone).execute(&mut *tx).await?;
    }
    let batch_id = sqlx::query_scalar!(
        r#"insert into url_import_batches (account_id, created_by, actor_label, file_name, format, dry_run)
           values ($1, $2, $3, $4, $5, $6) returning id"#,
        account.id,
        actor.user_id,
        actor.label,
        file_name,
        parsed.format.as_str(),
        request.dry_run,
    )
    .fetch_one(&mut *tx)
    .await?;

    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "import: staged");
    progress(Progress::Merging);
    let existing =
        sqlx::query_scalar!(r#"select count(*) as "n!" from url_metadata where account_id = $1"#, account.id)
            .fetch_one(&mut *tx)
            .await?;
    let room = (limits.max_urls_per_account - existing).max(0);
    copy_report(&mut tx, batch_id, &parsed.report).await?;
    let overflow_reason = format!(
        "over the account's cap of {} URLs: it held {existing}, and earlier rows of this file filled the rest",
        limits.max_urls_per_account
    );
    let merge = Merge { batch_id, account_id: account.id, room, staged: parsed.rows.len(), apply: !request.dry_run };
    let counts = merge.run(&mut tx, &overflow_reason).await?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, dry_run = request.dry_run, "import: merged");

    let duplicates = parsed.report.iter().filter(|r| r.kind == parse::ReportKind::Duplicate).count();
    let rejected = parsed.report.len() - duplicates;
    let mut summary = ImportSummary {
        batch_id,
        account: account.key.clone(),
        dry_run: request.dry_run,
        format: parsed.format.as_str().to_owned(),
        rows_read: i64::from(parsed.rows_read),
        inserted: counts.inserted,
        updated: counts.updated,
        unchanged: counts.unchanged,
        rejected: rejected as i64,
        duplicates: duplicates as i64,
        overflow: counts.overflow,
        duration_ms: 0,
        warnings: parsed.warnings.clone(),
    };
    let to_i32 = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
    sqlx::query!(
        r#"update url_import_batches
           set status = 'completed', rows_read = $2, inserted = $3, updated = $4, unchanged = $5, rejected = $6,
               duplicates = $7, overflow = $8, duration_ms = $9, finished_at = now()
           where id = $1"#,
        batch_id,
        to_i32(summary.rows_read),
        to_i32(summary.inserted),
        to_i32(summary.updated),
        to_i32(summary.unchanged),
        to_i32(summary.rejected),
        to_i32(summary.duplicates),
        to_i32(summary.overflow),
        i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
    )
    .execute(&mut *tx)
    .await?;
    if !request.dry_run {
        let account = account.key.as_str();
        audit::record(
            &mut tx,
            actor,
            NewEvent {
                action: "priority_urls.imported",
                entity_kind: "url_import_batch",
                entity_key: &format!("{account}/batch-{batch_id}"),
                flag_key: Some(FLAG_KEY),
                after: Some(serde_json::json!({
                    "account": account, "batch": batch_id, "file": file_name, "rows_read": summary.rows_read,
                    "inserted": summary.inserted, "updated": summary.updated, "unchanged": summary.unchanged,
                    "rejected": summary.rejected, "duplicates": summary.duplicates, "overflow": summary.overflow,
                })),
                ..NewEvent::default()
            },
        )
        .await?;
    }
    tx.commit().await?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "import: committed");
    summary.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    Ok(summary)
}

/// What the merge decided, row by row, counted.
struct PlanCounts {
    inserted: i64,
    updated: i64,
    unchanged: i64,
    overflow: i64,
}

/// The merge of the staged rows into the account's metadata, as one statement.
struct Merge {
    batch_id: i64,
    account_id: i64,
    /// How many new URLs the account can still take.
    room: i64,
    /// Rows in `url_stage`.
    staged: usize,
    /// False for a dry run: classify, count and report the overflow, write no metadata.
    apply: bool,
}

impl Merge {
    /// Classifies every staged row against the account's metadata: `insert` (a new URL within the cap),
    /// `overflow` (a new URL past it, counted in file order), `update` or `unchanged`; then, in the same
    /// statement, inserts the new URLs, records what every changed URL held before in
    /// `url_metadata_history` (added URLs need no history, see the migration `20261121000003`) and
    /// updates the changed ones, and reports the overflow. The classification is materialized once and
    /// read by each part; the account is locked, so which URL is new and which is stored cannot change
    /// underneath. New rows go in URL order, the order of the indexes they land in.
    ///
    /// When every staged row fits within the room left (all of a first import of up to the cap), no row
    /// can overflow, and the running count of new URLs in file order (a sort of every row by line) is
    /// left out: it could only ever answer `insert`.
    async fn run(&self, conn: &mut PgConnection, overflow_reason: &str) -> Result<PlanCounts, ServiceError> {
        // A nested loop here (the staging table has no statistics) would probe per row or, worse, scan
        // the staged rows per stored row; hash joins make one pass over each. Ends with the transaction.
        sqlx::query("set local enable_nestloop = off").execute(&mut *conn).await?;
        let fits = i64::try_from(self.staged).unwrap_or(i64::MAX) <= self.room;
        let new_action = if fits {
            "'insert'"
        } else {
            "case when sum(is_new::int) over (order by line) <= $3 then 'insert' else 'overflow' end"
        };
        let mut sql = format!(
            r#"with planned as materialized (
                 select line, url, update_priority, page_type, old_priority, old_page_type, old_batch_id,
                        case when is_new then {new_action}
                             when old_priority = update_priority and old_page_type = page_type then 'unchanged'
                             else 'update' end as action
                 from (select s.line, s.url, s.update_priority, s.page_type, m.update_priority as old_priority,
                              m.page_type as old_page_type, m.batch_id as old_batch_id, m.url is null as is_new
                       from url_stage s
                       left join url_metadata m on m.account_id = $1 and m.url = s.url) joined
               ), overflow as (
                 insert into url_import_report_rows (batch_id, line_number, kind, url, reason)
                 select $2, line, 'overflow', url, $4 from planned where action = 'overflow'
               )"#
        );
        if self.apply {
            sql.push_str(
                r#", inserted as (
                 insert into url_metadata (account_id, url, update_priority, page_type, batch_id)
                 select $1, url, update_priority, page_type, $2 from planned where action = 'insert' order by url
               ), history as (
                 insert into url_metadata_history
                   (batch_id, account_id, url, existed, previous_priority, previous_page_type, previous_batch_id)
                 select $2, $1, url, true, old_priority, old_page_type, old_batch_id
                 from planned where action = 'update' order by url
               ), updated as (
                 update url_metadata m set update_priority = p.update_priority, page_type = p.page_type, batch_id = $2
                 from planned p where p.action = 'update' and m.account_id = $1 and m.url = p.url
               )"#,
            );
        }
        sql.push_str(" select action, count(*) as n from planned group by action");
        let rows = sqlx::query(&sql)
            .bind(self.account_id)
            .bind(self.batch_id)
            .bind(self.room)
            .bind(overflow_reason)
            .fetch_all(&mut *conn)
            .await?;
        let mut counts = PlanCounts { inserted: 0, updated: 0, unchanged: 0, overflow: 0 };
        for row in rows {
            let n: i64 = row.try_get("n")?;
            match row.try_get::<String, _>("action")?.as_str() {
                "insert" => counts.inserted = n,
                "update" => counts.updated = n,
                "unchanged" => counts.unchanged = n,
                _ => counts.overflow = n,
            }
        }
        Ok(counts)
    }
}

/// The rejected and duplicate rows of the report, with COPY (a file of bad rows can be as long as a good one).
async fn copy_report(conn: &mut PgConnection, batch_id: i64, report: &[ReportRow]) -> Result<(), ServiceError> {
    if report.is_empty() {
        return Ok(());
    }
    let mut copy =
        conn.copy_in_raw("copy url_import_report_rows (batch_id, line_number, kind, url, reason) from stdin").await?;
    let mut buffer = Vec::with_capacity(COPY_CHUNK_ROWS * 128);
    for chunk in report.chunks(COPY_CHUNK_ROWS) {
        buffer.clear();
        for row in chunk {
            buffer.extend_from_slice(format!("{batch_id}\t{}\t{}\t", row.line.max(1), row.kind.as_str()).as_bytes());
            push_copy_text(&mut buffer, &row.url);
            buffer.push(b'\t');
            push_copy_text(&mut buffer, &row.reason);
            buffer.push(b'\n');
        }
        copy.send(buffer.as_slice()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// Appends `text` escaped for COPY's text format. NUL, which PostgreSQL text cannot hold, becomes U+FFFD.
fn push_copy_text(out: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice("\u{fffd}".as_bytes()),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_the_characters_copy_gives_meaning_to() {
        let mut out = Vec::new();
        push_copy_text(&mut out, "a\\b\tc\nd\re\0f");
        assert_eq!(String::from_utf8(out).unwrap(), "a\\\\b\\tc\\nd\\re\u{fffd}f");
    }

    #[test]
    fn file_names_keep_only_their_last_component_without_control_characters() {
        assert_eq!(clean_file_name("C:\\Users\\me\\urls.csv"), "urls.csv");
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("bad\u{7}name.csv"), "badname.csv");
        assert_eq!(clean_file_name("  "), "upload");
        assert_eq!(clean_file_name(&"x".repeat(300)).len(), 255);
    }
}
