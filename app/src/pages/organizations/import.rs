//! Importing customers on the registry page. The form posts `multipart/form-data` to
//! `/admin/organizations/customers/import`, which answers a browser with a redirect back here showing the
//! batch (or the error), so it works with and without JavaScript; the result and the history show the same
//! counts and downloadable report of rejected and duplicate rows as a priority-URL import.

use crate::domain::thousands;
use crate::model::targets::CustomerImportView;
use crate::pages::format_time;
use leptos::prelude::*;

fn report_href(id: i64) -> String {
    format!("/admin/organizations/customers/imports/{id}/report.csv")
}

/// The import form (editors) with the result of the import just made, or why it was refused.
#[component]
pub fn CustomerImport(shown: Option<CustomerImportView>, error: Option<String>) -> impl IntoView {
    let form = view! {
            <form method="post" action="/admin/organizations/customers/import" enctype="multipart/form-data"
                class="import-form" aria-label="Import customers">
                <div class="field">
                    <label for="customers-file">"File (CSV)"</label>
                    <input id="customers-file" type="file" name="file" required accept=".csv,text/csv"
                        aria-describedby="customers-file-hint" />
                    <p class="hint" id="customers-file-hint">
                        "Columns " <code>"key"</code> ", " <code>"name"</code> " and " <code>"organization"</code>
                        " (the organization's key; it need not be registered). UTF-8, a header row; other columns are ignored. "
                        "A key already registered gets the file's name and organization."
                    </p>
                </div>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary">"Import customers"</button>
                </div>
            </form>
    };
    view! {
        <section class="card" aria-labelledby="customer-import-h" id="import">
            <h2 id="customer-import-h">"Import customers"</h2>
            {error.map(|message| view! {
                <div class="state state-error" role="alert" data-testid="customer-import-error">
                    <strong>"The import was refused: "</strong>{message}
                </div>
            })}
            {shown.map(|batch| view! { <ImportResult batch /> })}
            {form}
        </section>
    }
}

#[component]
fn ImportResult(batch: CustomerImportView) -> impl IntoView {
    let failed = batch.status == crate::model::ImportStatus::Failed;
    let heading = if failed { format!("Import #{} failed", batch.id) } else { format!("Import #{} done", batch.id) };
    let report = (batch.report_rows() > 0).then(|| report_href(batch.id));
    view! {
        <div class=if failed { "state state-error" } else { "state state-info" } role="status" data-testid="customer-import-result">
            <strong>{heading}</strong>
            {batch.error.clone().map(|e| view! { <p>{e}</p> })}
            <dl class="counts">
                <div><dt>"Read"</dt><dd data-testid="count-read">{thousands(batch.rows_read)}</dd></div>
                <div><dt>"Inserted"</dt><dd data-testid="count-inserted">{thousands(batch.inserted)}</dd></div>
                <div><dt>"Updated"</dt><dd data-testid="count-updated">{thousands(batch.updated)}</dd></div>
                <div><dt>"Unchanged"</dt><dd data-testid="count-unchanged">{thousands(batch.unchanged)}</dd></div>
                <div><dt>"Rejected"</dt><dd data-testid="count-rejected">{thousands(batch.rejected)}</dd></div>
                <div><dt>"Duplicates"</dt><dd data-testid="count-duplicates">{thousands(batch.duplicates)}</dd></div>
            </dl>
            {batch.duration_ms.map(|ms| view! { <p class="small">{format!("{} in {ms} ms.", batch.file_name)}</p> })}
            {report.map(|href| view! { <a href=href download="">"Download the report of rejected and duplicate rows (CSV)"</a> })}
        </div>
    }
}

/// The latest customer imports, each linking to its result and report.
#[component]
pub fn ImportHistory(imports: Vec<CustomerImportView>) -> impl IntoView {
    if imports.is_empty() {
        return ().into_any();
    }
    view! {
        <section class="card" aria-labelledby="customer-imports-h">
        <h2 id="customer-imports-h">"Recent customer imports"</h2>
        <div class="table-wrap">
            <table class="table batches-table" data-testid="customer-imports">
                <thead><tr>
                    <th scope="col">"Import"</th><th scope="col">"When"</th><th scope="col">"Who"</th>
                    <th scope="col">"File"</th><th scope="col">"Status"</th>
                    <th scope="col" class="num">"Read"</th><th scope="col" class="num">"Inserted"</th>
                    <th scope="col" class="num">"Updated"</th><th scope="col" class="num">"Unchanged"</th>
                    <th scope="col" class="num">"Rejected"</th><th scope="col" class="num">"Dupl."</th>
                    <th scope="col">"Report"</th>
                </tr></thead>
                <tbody>
                    {imports.into_iter().map(|b| {
                        let report = (b.report_rows() > 0).then(|| report_href(b.id));
                        view! {
                            <tr>
                                <td class="mono"><a href=format!("/admin/organizations?import={}#import", b.id)>{format!("#{}", b.id)}</a></td>
                                <td class="nowrap">{format_time(&b.started_at)}</td>
                                <td>{b.actor.clone()}</td>
                                <td class="mono small">{b.file_name.clone()}</td>
                                <td title=b.error.clone().unwrap_or_default()>{b.status.label()}</td>
                                <td class="num">{thousands(b.rows_read)}</td>
                                <td class="num">{thousands(b.inserted)}</td>
                                <td class="num">{thousands(b.updated)}</td>
                                <td class="num">{thousands(b.unchanged)}</td>
                                <td class="num">{thousands(b.rejected)}</td>
                                <td class="num">{thousands(b.duplicates)}</td>
                                <td>{report.map(|href| view! { <a href=href download="">"CSV"</a> })}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        </section>
    }
    .into_any()
}
