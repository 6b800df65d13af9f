//! The import itself: parse off the async threads, then in one transaction bulk-load the rows into a
//! temporary staging table with COPY, classify every row against the account's metadata with one
//! set-based query (new, changed, unchanged, over the cap), and write the history, the metadata, the
//! report and the batch record. A failure anywhere rolls the whole of it back.

use super::parse::{self, FileError, Format, ParsedFile, ReportRow};
use super::{ImportError, ImportLimits, Progress};
use crate::domain::priority::FLAG_KEY;
use crate::model::priority::ImportSummary;
use crate::server::audit::{self, Actor, NewEvent};
use crate::server::ServiceError;
use axum::body::Bytes;
use sqlx::{PgConnection, PgPool, Row};
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
pub async fn import(
    pool: &PgPool,
    actor: &Actor,
    limits: &ImportLimits,
    request: ImportRequest,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    actor.require_editor()?;
    let org_id = sqlx::query_scalar!("select id from organizations where key = $1", request.account)
        .fetch_optional(pool)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(|| ServiceError::NotFound(format!("account {:?}", request.account)))?;
    let file_name = clean_file_name(&request.file_name);
    let guessed_format = request.format.unwrap_or_else(|| {
        Format::detect(&file_name, std::str::from_utf8(&request.bytes[..request.bytes.len().min(64)]).unwrap_or(""))
    });
    let failed = |error: String, rows_read: u32| Failure {
        org_id,
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
    let (bytes, name, format) = (request.bytes.clone(), file_name.clone(), request.format);
    let parsed = tokio::task::spawn_blocking(move || parse::parse(&bytes, &name, format))
        .await
        .map_err(|e| ServiceError::Other(format!("the parser stopped: {e}")))?;
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            failed(err.to_string(), 0).record(pool).await;
            return Err(err.into());
        }
    };
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, rows = parsed.rows_read, "import: parsed");
    progress(Progress::Parsed { rows_read: parsed.rows_read, valid: parsed.rows.len() });

    match write(pool, actor, limits, org_id, &request, &file_name, &parsed, started, progress).await {
        Ok(summary) => {
            progress(Progress::Committed);
            Ok(summary)
        }
        Err(err) => {
            let shown = match &err {
                ServiceError::Database(_) | ServiceError::Other(_) => {
                    "the import failed on the server and changed nothing; the cause has been logged".to_owned()
                }
                other => other.to_string(),
            };
            Failure { format: parsed.format, ..failed(shown, parsed.rows_read) }.record(pool).await;
            Err(err.into())
        }
    }
}

/// The batch record of an import that did not happen, written in its own transaction (the import's was
/// rolled back). Failing to write it is logged, not raised: the caller reports the import's own error.
struct Failure<'a> {
    org_id: i64,
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
        let duration_ms = i32::try_from(self.started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let error: String = self.error.chars().take(2000).collect();
        let written = sqlx::query!(
            r#"insert into url_import_batches
                 (organization_id, created_by, actor_label, file_name, format, dry_run, status, rows_read,
                  duration_ms, error, finished_at)
               values ($1, $2, $3, $4, $5, $6, 'failed', $7, $8, $9, now())"#,
            self.org_id,
            self.actor.user_id,
            self.actor.label,
            self.file_name,
            self.format.as_str(),
            self.dry_run,
            i32::try_from(self.rows_read).unwrap_or(i32::MAX),
            duration_ms,
            error,
        )
        .execute(pool)
        .await;
        if let Err(err) = written {
            tracing::error!(error = %err, "could not record a failed import batch");
        }
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
    pool: &PgPool,
    actor: &Actor,
    limits: &ImportLimits,
    org_id: i64,
    request: &ImportRequest,
    file_name: &str,
    parsed: &ParsedFile,
    started: Instant,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<ImportSummary, ServiceError> {
    let mut tx = pool.begin().await?;
    // One import or rollback per account at a time: the cap and the history depend on what is stored.
    sqlx::query!("select id from organizations where id = $1 for no key update", org_id).fetch_one(&mut *tx).await?;
    // The sorts and hashes of 60,000 rows fit in memory rather than spilling to disk.
    sqlx::query("set local work_mem = '64MB'").execute(&mut *tx).await?;
    let batch_id = sqlx::query_scalar!(
        r#"insert into url_import_batches (organization_id, created_by, actor_label, file_name, format, dry_run)
           values ($1, $2, $3, $4, $5, $6) returning id"#,
        org_id,
        actor.user_id,
        actor.label,
        file_name,
        parsed.format.as_str(),
        request.dry_run,
    )
    .fetch_one(&mut *tx)
    .await?;

    stage_rows(&mut tx, parsed, progress).await?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "import: staged");
    progress(Progress::Merging);
    let existing =
        sqlx::query_scalar!(r#"select count(*) as "n!" from url_metadata where organization_id = $1"#, org_id)
            .fetch_one(&mut *tx)
            .await?;
    let room = (limits.max_urls_per_account - existing).max(0);
    let counts = plan(&mut tx, org_id, room).await?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "import: planned");
    copy_report(&mut tx, batch_id, &parsed.report).await?;
    let overflow_reason = format!(
        "over the account's cap of {} URLs: it held {existing}, and earlier rows of this file filled the rest",
        limits.max_urls_per_account
    );
    sqlx::query(
        "insert into url_import_report_rows (batch_id, line_number, kind, url, reason)
         select $1, line, 'overflow', url, $2 from url_plan where action = 'overflow'",
    )
    .bind(batch_id)
    .bind(&overflow_reason)
    .execute(&mut *tx)
    .await?;
    if !request.dry_run {
        apply(&mut tx, batch_id, org_id, &counts).await?;
        tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "import: applied");
    }

    let duplicates = parsed.report.iter().filter(|r| r.kind == parse::ReportKind::Duplicate).count();
    let rejected = parsed.report.len() - duplicates;
    let mut summary = ImportSummary {
        batch_id,
        account: request.account.clone(),
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
        let account = request.account.as_str();
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

/// Bulk-loads the valid rows into `url_stage`, a temporary table dropped at commit.
async fn stage_rows(
    conn: &mut PgConnection,
    parsed: &ParsedFile,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<(), ServiceError> {
    sqlx::query(
        r#"create temp table url_stage (line integer not null, url text collate "C" not null,
               update_priority text not null, page_type text not null) on commit drop"#,
    )
    .execute(&mut *conn)
    .await?;
    let total = parsed.rows.len();
    let mut copy = conn.copy_in_raw("copy url_stage (line, url, update_priority, page_type) from stdin").await?;
    let mut buffer = Vec::with_capacity(COPY_CHUNK_ROWS * 96);
    for (index, chunk) in parsed.rows.chunks(COPY_CHUNK_ROWS).enumerate() {
        buffer.clear();
        for row in chunk {
            buffer.extend_from_slice(row.line.to_string().as_bytes());
            buffer.push(b'\t');
            push_copy_text(&mut buffer, &row.url);
            buffer.push(b'\t');
            buffer.extend_from_slice(row.tier.as_str().as_bytes());
            buffer.push(b'\t');
            buffer.extend_from_slice(row.page_type.as_str().as_bytes());
            buffer.push(b'\n');
        }
        copy.send(buffer.as_slice()).await?;
        progress(Progress::Loading { sent: (index * COPY_CHUNK_ROWS + chunk.len()).min(total), total });
    }
    copy.finish().await?;
    // Statistics let the planner hash-join the staging rows against the account's metadata.
    sqlx::query("analyze url_stage").execute(&mut *conn).await?;
    Ok(())
}

/// What the merge decided, row by row, counted.
struct PlanCounts {
    inserted: i64,
    updated: i64,
    unchanged: i64,
    overflow: i64,
}

/// Classifies every staged row into `url_plan`: `insert` (a new URL within the cap), `overflow` (a new
/// URL past it, counted in file order), `update` or `unchanged`, with the values it replaces.
async fn plan(conn: &mut PgConnection, org_id: i64, room: i64) -> Result<PlanCounts, ServiceError> {
    sqlx::query(
        r#"create temp table url_plan (line integer not null, url text collate "C" not null,
               update_priority text not null, page_type text not null, old_priority text, old_page_type text,
               old_batch_id bigint, action text not null) on commit drop"#,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        r#"insert into url_plan
           select line, url, update_priority, page_type, old_priority, old_page_type, old_batch_id,
                  case when is_new then
                           case when sum(is_new::int) over (order by line) <= $2 then 'insert' else 'overflow' end
                       when old_priority = update_priority and old_page_type = page_type then 'unchanged'
                       else 'update' end
           from (select s.line, s.url, s.update_priority, s.page_type, m.update_priority as old_priority,
                        m.page_type as old_page_type, m.batch_id as old_batch_id, m.url is null as is_new
                 from url_stage s
                 left join url_metadata m on m.organization_id = $1 and m.url = s.url) joined"#,
    )
    .bind(org_id)
    .bind(room)
    .execute(&mut *conn)
    .await?;
    // Without statistics the planner can take url_plan for a few rows and loop over it per stored row.
    sqlx::query("analyze url_plan").execute(&mut *conn).await?;
    let rows = sqlx::query("select action, count(*) as n from url_plan group by action").fetch_all(&mut *conn).await?;
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

/// Writes the history of the changed rows (what each held before, so a rollback restores it exactly;
/// added rows need none, see the migration `20261121000003`), then the metadata itself: new URLs with a
/// plain insert and changed ones with an update (the account is locked, so which is which cannot change
/// underneath). Rows go in URL order, the order of the indexes they land in. A statement with nothing to
/// do is skipped.
async fn apply(conn: &mut PgConnection, batch_id: i64, org_id: i64, counts: &PlanCounts) -> Result<(), ServiceError> {
    if counts.inserted > 0 {
        sqlx::query(
            "insert into url_metadata (organization_id, url, update_priority, page_type, batch_id)
             select $2, url, update_priority, page_type, $1 from url_plan where action = 'insert' order by url",
        )
        .bind(batch_id)
        .bind(org_id)
        .execute(&mut *conn)
        .await?;
    }
    if counts.updated == 0 {
        return Ok(());
    }
    sqlx::query(
        "insert into url_metadata_history
           (batch_id, organization_id, url, existed, previous_priority, previous_page_type, previous_batch_id)
         select $1, $2, url, true, old_priority, old_page_type, old_batch_id
         from url_plan where action = 'update' order by url",
    )
    .bind(batch_id)
    .bind(org_id)
    .execute(&mut *conn)
    .await?;
    // A nested loop here (one estimate off) means every stored row scanning url_plan; a hash join is one
    // pass over each. The setting ends with the transaction.
    sqlx::query("set local enable_nestloop = off").execute(&mut *conn).await?;
    sqlx::query(
        "update url_metadata m set update_priority = p.update_priority, page_type = p.page_type, batch_id = $1
         from url_plan p where p.action = 'update' and m.organization_id = $2 and m.url = p.url",
    )
    .bind(batch_id)
    .bind(org_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
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
