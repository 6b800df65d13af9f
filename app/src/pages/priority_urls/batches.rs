//! Import batches: the result of one, the account's history, and rolling a batch back.

use super::thousands;
use crate::error::AppError;
use crate::model::priority::BatchView;
use crate::model::ImportStatus;
use crate::pages::format_time;
use leptos::prelude::*;

/// Rolls an import batch back: the URLs it added are removed and the ones it changed get their previous
/// values back. Refused while a newer batch holds any of its URLs.
#[server(endpoint = "rollback_import")]
pub async fn rollback_import(batch: i64, reason: Option<String>) -> Result<String, AppError> {
    use crate::server::{audit::Actor, priority_urls::rollback, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Editor, "roll imports back").await?;
    let state = expect_context::<AppState>();
    let reason = reason.filter(|r| !r.trim().is_empty());
    let done =
        rollback::rollback(&state.pool, &Actor::user(&user), batch, reason.as_deref()).await.map_err(to_app_error)?;
    Ok(format!(
        "Rolled back batch #{}: removed {} URLs it had added and restored {} to their previous values.",
        done.batch_id,
        thousands(done.removed),
        thousands(done.restored)
    ))
}

fn report_href(account: &str, batch: i64) -> String {
    format!("/admin/priority-urls/{account}/batches/{batch}/report.csv")
}

/// What one import did (or, for a dry run, would do), shown after an upload.
#[component]
pub fn BatchResult(account: String, batch: BatchView) -> impl IntoView {
    let heading = match (batch.status, batch.dry_run) {
        (ImportStatus::Failed, _) => format!("Batch #{} failed", batch.id),
        (_, true) => format!("Dry run #{}: nothing was changed. A real import would do this:", batch.id),
        (ImportStatus::RolledBack, _) => format!("Batch #{} (since rolled back)", batch.id),
        _ => format!("Batch #{} imported", batch.id),
    };
    let class = if batch.status == ImportStatus::Failed { "state state-error" } else { "state state-info" };
    let report = (batch.report_rows() > 0).then(|| report_href(&account, batch.id));
    view! {
        <div class=class role="status" data-testid="import-result">
            <strong>{heading}</strong>
            {batch.error.clone().map(|e| view! { <p>{e}</p> })}
            <dl class="counts">
                <div><dt>"Read"</dt><dd data-testid="count-read">{thousands(batch.rows_read)}</dd></div>
                <div><dt>"Inserted"</dt><dd data-testid="count-inserted">{thousands(batch.inserted)}</dd></div>
                <div><dt>"Updated"</dt><dd data-testid="count-updated">{thousands(batch.updated)}</dd></div>
                <div><dt>"Unchanged"</dt><dd data-testid="count-unchanged">{thousands(batch.unchanged)}</dd></div>
                <div><dt>"Rejected"</dt><dd data-testid="count-rejected">{thousands(batch.rejected)}</dd></div>
                <div><dt>"Duplicates"</dt><dd data-testid="count-duplicates">{thousands(batch.duplicates)}</dd></div>
                <div><dt>"Over the cap"</dt><dd data-testid="count-overflow">{thousands(batch.overflow)}</dd></div>
            </dl>
            {batch.duration_ms.map(|ms| view! { <p class="small">{format!("{} in {ms} ms, from the file received to committed.", batch.file_name)}</p> })}
            {report.map(|href| view! { <a href=href download="">"Download the report of rejected, duplicate and overflow rows (CSV)"</a> })}
        </div>
    }
}

#[component]
pub fn BatchHistory(
    account: String,
    batches: Vec<BatchView>,
    action: ServerAction<RollbackImport>,
    can_edit: bool,
) -> impl IntoView {
    let pending = action.pending();
    view! {
        <section class="card" aria-labelledby="batches-h">
            <h2 id="batches-h">"Import history"</h2>
            {move || action.value().get().map(|result| match result {
                Ok(message) => view! { <p class="state state-info" role="status" data-testid="rollback-result">{message}</p> }.into_any(),
                Err(error) => view! { <div class="state state-error" role="alert" data-testid="rollback-error">{error.to_string()}</div> }.into_any(),
            })}
            {if batches.is_empty() {
                view! { <p class="state state-empty">"No imports yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                    <table class="table batches-table" data-testid="batch-history">
                        <thead><tr>
                            <th scope="col">"Batch"</th><th scope="col">"When"</th><th scope="col">"Who"</th>
                            <th scope="col">"File"</th><th scope="col">"Status"</th>
                            <th scope="col" class="num">"Read"</th><th scope="col" class="num">"Inserted"</th>
                            <th scope="col" class="num">"Updated"</th><th scope="col" class="num">"Unchanged"</th>
                            <th scope="col" class="num">"Rejected"</th><th scope="col" class="num">"Dupl."</th>
                            <th scope="col" class="num">"Overflow"</th><th scope="col" class="num">"ms"</th>
                            <th scope="col">"Report"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {batches.into_iter().map(|b| {
                                let status = if b.dry_run { format!("{} (dry run)", b.status.label()) } else { b.status.label().to_owned() };
                                let report = (b.report_rows() > 0).then(|| report_href(&account, b.id));
                                let can_roll_back = can_edit && b.can_roll_back();
                                view! {
                                    <tr data-testid=format!("batch-{}", b.id)>
                                        <td class="mono">{format!("#{}", b.id)}</td>
                                        <td class="nowrap">{format_time(&b.started_at)}</td>
                                        <td>{b.actor.clone()}</td>
                                        <td class="mono small">{b.file_name.clone()}</td>
                                        <td data-testid="batch-status" title=b.error.clone().unwrap_or_default()>{status}</td>
                                        <td class="num">{thousands(b.rows_read)}</td>
                                        <td class="num">{thousands(b.inserted)}</td>
                                        <td class="num">{thousands(b.updated)}</td>
                                        <td class="num">{thousands(b.unchanged)}</td>
                                        <td class="num">{thousands(b.rejected)}</td>
                                        <td class="num">{thousands(b.duplicates)}</td>
                                        <td class="num">{thousands(b.overflow)}</td>
                                        <td class="num">{b.duration_ms.map(|ms| ms.to_string()).unwrap_or_default()}</td>
                                        <td>{report.map(|href| view! { <a href=href download="">"CSV"</a> })}</td>
                                        <td>{can_roll_back.then(|| view! {
                                            <ActionForm action attr:class="inline-form">
                                                <input type="hidden" name="batch" value=b.id.to_string() />
                                                <button type="submit" class="btn btn-small" disabled=move || pending.get()
                                                    aria-label=format!("Roll back batch #{}", b.id)>"Roll back"</button>
                                            </ActionForm>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
