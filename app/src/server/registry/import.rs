//! Importing customers into the registry from CSV (`key,name,organization`). Read and checked like a
//! priority-URL file (the same CSV rules, the same kinds of report rows: rejected, and duplicate when a
//! later row has the same key and wins); then every valid row is inserted or updated in one transaction,
//! with the batch record, its report and the audit event.

use crate::domain::target::parse_name;
use crate::domain::{Role, TargetKind};
use crate::model::targets::{CustomerImportReport, CustomerImportView, ReportLine};
use crate::server::audit::{self, Actor, NewEvent};
use crate::server::csv_file::{self, clip, FileError};
use crate::server::priority_urls::import::clean_file_name;
use crate::server::priority_urls::ImportError;
use crate::server::ServiceError;
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Instant;

/// The columns every customer file must have.
pub const REQUIRED: [&str; 3] = ["key", "name", "organization"];

/// A row that passed its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCustomer {
    pub line: u32,
    pub key: String,
    pub name: String,
    pub organization: String,
}

/// A file read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCustomers {
    /// Data rows read; each ends as exactly one applied, rejected or duplicate row.
    pub rows_read: u32,
    /// The winning row for each key, in file order.
    pub rows: Vec<ValidCustomer>,
    /// Rejected and duplicate rows, in line order.
    pub report: Vec<ReportLine>,
    pub warnings: Vec<String>,
}

fn validate(line: u32, key: &str, name: &str, organization: &str) -> Result<ValidCustomer, String> {
    let key = TargetKind::Customer.parse_key(key, "key").map_err(|e| e.message)?;
    // A customer may go without a name: pages then show its key.
    let name = if name.trim().is_empty() { String::new() } else { parse_name(name, "name").map_err(|e| e.message)? };
    let organization = TargetKind::Organization.parse_key(organization, "organization").map_err(|e| e.message)?;
    Ok(ValidCustomer { line, key, name, organization })
}

/// Reads and checks a whole customer file. Pure, so it is tested without a database.
pub fn parse(bytes: &[u8]) -> Result<ParsedCustomers, FileError> {
    let text = csv_file::decode(bytes)?;
    let mut rows: Vec<Option<ValidCustomer>> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut report = Vec::new();
    let mut rows_read = 0u32;
    let reject = |report: &mut Vec<ReportLine>, line: u32, raw: &str, reason: String| {
        report.push(ReportLine { line, kind: "rejected".into(), key: clip(raw, 4096), reason: clip(&reason, 500) });
    };
    let ignored = csv_file::read(text, &REQUIRED, &mut |line, row| {
        rows_read += 1;
        match row {
            Ok([key, name, organization]) => match validate(line, key, name, organization) {
                Ok(valid) => {
                    let index = rows.len();
                    if let Some(previous) = by_key.insert(valid.key.clone(), index) {
                        if let Some(earlier) = rows[previous].take() {
                            report.push(ReportLine {
                                line: earlier.line,
                                kind: "duplicate".into(),
                                key: earlier.key,
                                reason: format!("line {line} has the same key; the last one wins"),
                            });
                        }
                    }
                    rows.push(Some(valid));
                }
                Err(reason) => reject(&mut report, line, key, reason),
            },
            Ok(_) => {}
            Err((raw, reason)) => reject(&mut report, line, raw, reason),
        }
    })?;
    if rows_read == 0 {
        return Err(FileError::NoRows);
    }
    report.sort_by_key(|r| r.line);
    let warnings = if ignored.is_empty() {
        Vec::new()
    } else {
        let names: Vec<String> = ignored.into_iter().map(|c| format!("{c:?}")).collect();
        vec![format!("ignored the extra columns {}", names.join(", "))]
    };
    Ok(ParsedCustomers { rows_read, rows: rows.into_iter().flatten().collect(), report, warnings })
}

/// Imports a customer file: every valid row is inserted or, when its key is registered, updated (name
/// and organization). A file refused as a whole changes nothing and is recorded as a failed batch.
pub async fn import(
    pool: &PgPool,
    actor: &Actor,
    file_name: &str,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<CustomerImportReport, ImportError> {
    let started = Instant::now();
    actor.require(Role::Editor, "import customers")?;
    let file_name = clean_file_name(file_name);
    let parsed = if bytes.len() > max_bytes {
        Err(FileError::TooLarge { size: bytes.len(), limit: max_bytes })
    } else {
        parse(bytes)
    };
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            if let Err(db) = record_failure(pool, actor, &file_name, &err.to_string(), started).await {
                tracing::error!(error = %db, "could not record a failed customer import");
            }
            return Err(err.into());
        }
    };
    Ok(write(pool, actor, &file_name, parsed, started).await?)
}

async fn record_failure(
    pool: &PgPool,
    actor: &Actor,
    file_name: &str,
    error: &str,
    started: Instant,
) -> Result<(), sqlx::Error> {
    let error: String = error.chars().take(2000).collect();
    sqlx::query!(
        "insert into customer_import_batches (created_by, actor_label, file_name, status, duration_ms, error)
         values ($1, $2, $3, 'failed', $4, $5)",
        actor.user_id,
        actor.label,
        file_name,
        i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
        error,
    )
    .execute(pool)
    .await?;
    Ok(())
}

async fn write(
    pool: &PgPool,
    actor: &Actor,
    file_name: &str,
    parsed: ParsedCustomers,
    started: Instant,
) -> Result<CustomerImportReport, ServiceError> {
    let mut tx = pool.begin().await?;
    let keys: Vec<&str> = parsed.rows.iter().map(|r| r.key.as_str()).collect();
    let names: Vec<&str> = parsed.rows.iter().map(|r| r.name.as_str()).collect();
    let organizations: Vec<&str> = parsed.rows.iter().map(|r| r.organization.as_str()).collect();
    // `xmax = 0` tells a freshly inserted row from one the conflict clause updated; rows whose name and
    // organization are already as in the file are neither, and come out as unchanged.
    let counts = sqlx::query!(
        r#"with upserted as (
               insert into customers (key, name, organization_key)
               select * from unnest($1::text[], $2::text[], $3::text[])
               on conflict (key) do update set name = excluded.name, organization_key = excluded.organization_key
               where (customers.name, customers.organization_key) is distinct from (excluded.name, excluded.organization_key)
               returning xmax = 0 as inserted)
           select count(*) filter (where inserted) as "inserted!", count(*) filter (where not inserted) as "updated!"
           from upserted"#,
        &keys as &[&str],
        &names as &[&str],
        &organizations as &[&str],
    )
    .fetch_one(&mut *tx)
    .await?;
    let to_i32 = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let duplicates = parsed.report.iter().filter(|r| r.kind == "duplicate").count();
    let rejected = parsed.report.len() - duplicates;
    let (inserted, updated) = (counts.inserted, counts.updated);
    let unchanged = i64::try_from(parsed.rows.len()).unwrap_or(i64::MAX) - inserted - updated;
    let view = sqlx::query_as!(
        CustomerImportView,
        r#"insert into customer_import_batches
             (created_by, actor_label, file_name, status, rows_read, inserted, updated, unchanged, rejected,
              duplicates, duration_ms)
           values ($1, $2, $3, 'completed', $4, $5, $6, $7, $8, $9, $10)
           returning id, started_at as "started_at: chrono::DateTime<chrono::Utc>", actor_label as actor, file_name,
                     status as "status: crate::model::ImportStatus", rows_read, inserted, updated, unchanged, rejected, duplicates, duration_ms, error"#,
        actor.user_id,
        actor.label,
        file_name,
        i32::try_from(parsed.rows_read).unwrap_or(i32::MAX),
        i32::try_from(inserted).unwrap_or(i32::MAX),
        i32::try_from(updated).unwrap_or(i32::MAX),
        i32::try_from(unchanged).unwrap_or(i32::MAX),
        to_i32(rejected),
        to_i32(duplicates),
        i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
    )
    .fetch_one(&mut *tx)
    .await?;
    let lines: Vec<i32> = parsed.report.iter().map(|r| i32::try_from(r.line.max(1)).unwrap_or(i32::MAX)).collect();
    let kinds: Vec<&str> = parsed.report.iter().map(|r| r.kind.as_str()).collect();
    let report_keys: Vec<&str> = parsed.report.iter().map(|r| r.key.as_str()).collect();
    let reasons: Vec<&str> = parsed.report.iter().map(|r| r.reason.as_str()).collect();
    sqlx::query!(
        "insert into customer_import_report_rows (batch_id, line_number, kind, key, reason)
         select $1, * from unnest($2::int[], $3::text[], $4::text[], $5::text[])",
        view.id,
        &lines,
        &kinds as &[&str],
        &report_keys as &[&str],
        &reasons as &[&str],
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "customers.imported",
            entity_kind: "customer_import",
            entity_key: &format!("batch-{}", view.id),
            after: Some(serde_json::json!({
                "batch": view.id, "file": file_name, "rows_read": view.rows_read, "inserted": view.inserted,
                "updated": view.updated, "unchanged": view.unchanged, "rejected": view.rejected,
                "duplicates": view.duplicates,
            })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CustomerImportReport { batch: view, report: parsed.report, warnings: parsed.warnings })
}

/// The latest customer imports, newest first.
pub async fn recent(pool: &PgPool, limit: i64) -> Result<Vec<CustomerImportView>, ServiceError> {
    Ok(sqlx::query_as!(
        CustomerImportView,
        r#"select id, started_at as "started_at: chrono::DateTime<chrono::Utc>", actor_label as actor, file_name,
                  status as "status: crate::model::ImportStatus", rows_read, inserted, updated, unchanged, rejected, duplicates, duration_ms, error
           from customer_import_batches order by id desc limit $1"#,
        limit
    )
    .fetch_all(pool)
    .await?)
}

/// One customer import.
pub async fn batch(pool: &PgPool, id: i64) -> Result<CustomerImportView, ServiceError> {
    sqlx::query_as!(
        CustomerImportView,
        r#"select id, started_at as "started_at: chrono::DateTime<chrono::Utc>", actor_label as actor, file_name,
                  status as "status: crate::model::ImportStatus", rows_read, inserted, updated, unchanged, rejected, duplicates, duration_ms, error
           from customer_import_batches where id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("customer import #{id}")))
}

/// The report of one import as CSV: `line,kind,key,reason`, in line order.
pub async fn report_csv(pool: &PgPool, id: i64) -> Result<Vec<u8>, ServiceError> {
    batch(pool, id).await?;
    let rows = sqlx::query!(
        "select line_number, kind, key, reason from customer_import_report_rows where batch_id = $1 order by line_number",
        id
    )
    .fetch_all(pool)
    .await?;
    csv_file::write_report(
        "key",
        rows.iter().map(|r| (r.line_number, r.kind.as_str(), r.key.as_str(), r.reason.as_str())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> ParsedCustomers {
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn valid_rows_are_read_with_the_organization_by_key() {
        let p = parsed("key,name,organization\nc-1,Ada,acme\nc-2,,globex\n");
        assert_eq!(p.rows_read, 2);
        assert_eq!(
            p.rows,
            [
                ValidCustomer { line: 2, key: "c-1".into(), name: "Ada".into(), organization: "acme".into() },
                ValidCustomer { line: 3, key: "c-2".into(), name: String::new(), organization: "globex".into() },
            ]
        );
        assert!(p.report.is_empty());
    }

    #[test]
    fn bad_rows_are_reported_with_their_line_and_reason_and_the_rest_kept() {
        let p = parsed("key,name,organization\nbad key,X,acme\nc-2,Y,\nc-3,Z,acme\n");
        assert_eq!(p.rows_read, 3);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.report.len(), 2);
        assert_eq!((p.report[0].line, p.report[0].kind.as_str(), p.report[0].key.as_str()), (2, "rejected", "bad key"));
        assert!(p.report[0].reason.contains("is not a customer key"), "{}", p.report[0].reason);
        assert_eq!(p.report[1].line, 3);
        assert_eq!(p.report[1].reason, "the organization key is required");
    }

    #[test]
    fn a_key_given_twice_keeps_the_last_row_and_reports_the_first_as_duplicate() {
        let p = parsed("key,name,organization\nc-1,Old,acme\nc-1,New,globex\n");
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].name, "New");
        assert_eq!(p.report[0].kind, "duplicate");
        assert_eq!(p.report[0].reason, "line 3 has the same key; the last one wins");
    }

    #[test]
    fn counts_partition_the_rows_read() {
        let p = parsed("key,name,organization\nc-1,A,acme\nc-1,B,acme\nnot ok,C,acme\nc-2,D,acme\n");
        assert_eq!(p.rows.len() + p.report.len(), p.rows_read as usize);
    }

    #[test]
    fn a_file_without_the_three_columns_is_refused_whole() {
        let err = parse(b"key,name\nc-1,A\n").unwrap_err();
        assert!(err.to_string().contains("key, name and organization; organization missing"), "{err}");
        assert_eq!(parse(b"key,name,organization\n"), Err(FileError::NoRows));
    }

    #[test]
    fn extra_columns_are_ignored_with_a_warning() {
        let p = parsed("key,name,organization,plan\nc-1,A,acme,pro\n");
        assert_eq!(p.warnings, ["ignored the extra columns \"plan\""]);
    }
}
