//! Rolling an import batch back: the URLs it changed get back exactly the values (and the batch) they had
//! before, from `url_metadata_history`; then the rows still carrying the batch are the URLs it added, and
//! are removed.

use crate::domain::priority::FLAG_KEY;
use crate::domain::Role;
use crate::server::audit::{self, Actor, NewEvent};
use crate::server::ServiceError;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackSummary {
    pub batch_id: i64,
    pub account: String,
    /// URLs the batch had added, now gone.
    pub removed: i64,
    /// URLs the batch had changed, now back to their previous values.
    pub restored: i64,
}

fn refuse(message: String) -> ServiceError {
    ServiceError::Invalid { field: "batch", message }
}

/// Rolls back one batch, in one transaction with its audit event. Refused for a dry run, a failed or an
/// already rolled-back batch, and while a newer batch still holds any of the URLs it wrote.
pub async fn rollback(
    pool: &PgPool,
    actor: &Actor,
    batch_id: i64,
    reason: Option<&str>,
) -> Result<RollbackSummary, ServiceError> {
    actor.require(Role::Editor, "roll imports back")?;
    let reason = crate::domain::ChangeReason::parse_optional(reason)?;
    let mut tx = pool.begin().await?;
    let batch = sqlx::query!(
        "select b.account_id, a.organization_key as account, b.status, b.dry_run, b.file_name
         from url_import_batches b join url_accounts a on a.id = b.account_id where b.id = $1",
        batch_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("import batch #{batch_id}")))?;
    // The same lock as an import of this account: neither runs while the other does.
    super::Account { id: batch.account_id, key: batch.account.clone() }.lock(&mut tx).await?;
    let status = sqlx::query_scalar!("select status from url_import_batches where id = $1 for update", batch_id)
        .fetch_one(&mut *tx)
        .await?;
    if batch.dry_run {
        return Err(refuse(format!(
            "batch #{batch_id} was a dry run: it changed nothing, so there is nothing to roll back"
        )));
    }
    match status.as_str() {
        "completed" => {}
        "rolled_back" => return Err(refuse(format!("batch #{batch_id} has already been rolled back"))),
        "failed" => {
            return Err(refuse(format!("batch #{batch_id} failed and changed nothing; there is nothing to roll back")))
        }
        other => {
            return Err(refuse(format!("batch #{batch_id} is {other}; only a completed import can be rolled back")))
        }
    }

    // The batch's URLs now held by another batch: ones it changed (its history), and ones it added or
    // changed that a later batch changed since (that batch's history names it as the previous one).
    let newer = sqlx::query!(
        r#"select m.batch_id, b.file_name, count(*) as "urls!"
           from (select url from url_metadata_history where batch_id = $1
                 union
                 select url from url_metadata_history where previous_batch_id = $1 and account_id = $2) w
           join url_metadata m on m.account_id = $2 and m.url = w.url
           join url_import_batches b on b.id = m.batch_id
           where m.batch_id <> $1
           group by m.batch_id, b.file_name
           order by m.batch_id desc"#,
        batch_id,
        batch.account_id
    )
    .fetch_all(&mut *tx)
    .await?;
    if !newer.is_empty() {
        let holders: Vec<String> = newer
            .iter()
            .map(|n| format!("batch #{} ({}) changed {} of them", n.batch_id, n.file_name, n.urls))
            .collect();
        let latest = newer.first().map_or(0, |n| n.batch_id);
        return Err(refuse(format!(
            "batch #{batch_id} cannot be rolled back while a newer import is still in place on the same URLs: {}. Roll back batch #{latest} first.",
            holders.join("; ")
        )));
    }

    let restored = sqlx::query!(
        r#"update url_metadata m
           set update_priority = h.previous_priority, page_type = h.previous_page_type, batch_id = h.previous_batch_id
           from url_metadata_history h
           where h.batch_id = $1 and h.existed and m.account_id = h.account_id and m.url = h.url"#,
        batch_id
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let removed =
        sqlx::query!("delete from url_metadata where account_id = $1 and batch_id = $2", batch.account_id, batch_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    sqlx::query!(
        "update url_import_batches set status = 'rolled_back', rolled_back_at = now(), rolled_back_by = $2 where id = $1",
        batch_id,
        actor.user_id
    )
    .execute(&mut *tx)
    .await?;
    let summary = RollbackSummary {
        batch_id,
        account: batch.account,
        removed: i64::try_from(removed).unwrap_or(i64::MAX),
        restored: i64::try_from(restored).unwrap_or(i64::MAX),
    };
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "priority_urls.rolled_back",
            entity_kind: "url_import_batch",
            entity_key: &format!("{}/batch-{batch_id}", summary.account),
            flag_key: Some(FLAG_KEY),
            before: Some(serde_json::json!({ "status": "completed", "file": batch.file_name })),
            after: Some(serde_json::json!({
                "status": "rolled_back", "removed": summary.removed, "restored": summary.restored,
            })),
            reason: reason.as_ref(),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(summary)
}
