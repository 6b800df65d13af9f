//! `/admin/audit`: every audit event, newest first, filterable by actor, flag and action.

use crate::components::status::{Empty, ErrorBox, Loading};
use crate::error::AppError;
use crate::model::{AuditPage as AuditPageData, AuditQuery};
use crate::pages::{describe_change, format_time};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

#[server(endpoint = "list_audit", input = server_fn::codec::Json)]
pub async fn list_audit(query: AuditQuery) -> Result<AuditPageData, AppError> {
    use crate::server::{audit, to_app_error, AppState};
    const PAGE_SIZE: i64 = 50;
    crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    audit::list(&state.pool, &query, PAGE_SIZE).await.map_err(to_app_error)
}

fn query_from(params: &ParamsMap) -> AuditQuery {
    let text = |k: &str| params.get(k).filter(|v| !v.trim().is_empty());
    AuditQuery {
        actor: text("actor"),
        flag: text("flag"),
        action: text("action"),
        before: params.get("before").and_then(|b| b.parse().ok()),
        since: params.get("since").and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.to_utc()),
    }
}

/// The filters in use, as query-string parts.
fn filter_parts(query: &AuditQuery) -> Vec<String> {
    let escape =
        |v: &str| v.replace('%', "%25").replace('&', "%26").replace(' ', "%20").replace('+', "%2B").replace('#', "%23");
    let mut parts: Vec<String> = [("actor", &query.actor), ("flag", &query.flag), ("action", &query.action)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", escape(v))))
        .collect();
    if let Some(since) = query.since {
        parts.push(format!("since={}", escape(&since.to_rfc3339())));
    }
    parts
}

fn older_href(query: &AuditQuery, before: i64) -> String {
    let mut parts = filter_parts(query);
    parts.push(format!("before={before}"));
    format!("/admin/audit?{}", parts.join("&"))
}

/// The CSV download of the filtered view: every page of it, from the newest event.
fn csv_href(query: &AuditQuery) -> String {
    let parts = filter_parts(query);
    if parts.is_empty() {
        "/api/admin/audit.csv".to_owned()
    } else {
        format!("/api/admin/audit.csv?{}", parts.join("&"))
    }
}

/// Before and after of one event, field by field, the changed fields marked.
#[component]
fn EventDiff(before: Option<serde_json::Value>, after: Option<serde_json::Value>) -> impl IntoView {
    let lines = crate::domain::audit_diff::diff(before.as_ref(), after.as_ref());
    (!lines.is_empty()).then(|| {
        view! {
            <details class="audit-diff">
                <summary>"Before / after"</summary>
                // A list rather than a nested table: each event is already a row of the audit table.
                <dl class="diff-list" data-testid="audit-diff">
                    {lines.into_iter().map(|line| {
                        let changed = line.changed();
                        view! {
                            <div class="diff-line" class:diff-changed=changed>
                                <dt class="mono">{line.field}</dt>
                                <dd class="mono diff-before"><span class="visually-hidden">"before: "</span>{line.before.unwrap_or_else(|| "—".to_owned())}</dd>
                                <dd class="mono diff-after"><span class="visually-hidden">"after: "</span>{line.after.unwrap_or_else(|| "—".to_owned())}</dd>
                            </div>
                        }
                    }).collect_view()}
                </dl>
            </details>
        }
    })
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let params = use_query_map();
    let page = Resource::new(move || params.with(query_from), list_audit);
    view! {
        <Title text="Audit log" />
        <div class="page-head">
            <h1>"Audit log"</h1>
            <p class="muted">"Every change, newest first. The log is append-only: nobody can edit or delete an entry."</p>
        </div>
        <Transition fallback=|| view! { <Loading what="the audit log" /> }>
            {move || Suspend::new(async move {
                let query = params.with_untracked(query_from);
                match page.await {
                    Ok(data) => view! { <AuditBody data query /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AuditBody(data: AuditPageData, query: AuditQuery) -> impl IntoView {
    let AuditPageData { events, next_before, actions } = data;
    view! {
        <form method="get" action="/admin/audit" class="filters" role="search" aria-label="Filter the audit log">
            <div class="field">
                <label for="audit-actor">"Actor"</label>
                <input id="audit-actor" name="actor" type="search" placeholder="Email or system:…" value=query.actor.clone().unwrap_or_default() />
            </div>
            <div class="field">
                <label for="audit-flag">"Flag"</label>
                <input id="audit-flag" name="flag" type="search" placeholder="Flag key" value=query.flag.clone().unwrap_or_default() />
            </div>
            <div class="field">
                <label for="audit-action">"Action"</label>
                <select id="audit-action" name="action">
                    <option value="">"All actions"</option>
                    {actions.into_iter().map(|a| {
                        let selected = query.action.as_deref() == Some(a.as_str());
                        let label = a.clone();
                        view! { <option value=a selected=selected>{label}</option> }
                    }).collect_view()}
                </select>
            </div>
            <button type="submit" class="btn">"Apply"</button>
            <a class="btn btn-quiet" href="/admin/audit">"Clear"</a>
            <a class="btn btn-quiet" href=csv_href(&query) download="rollgate-audit.csv" data-testid="audit-csv">"Export CSV"</a>
        </form>
        {if events.is_empty() {
            view! { <Empty message="No audit events match these filters." /> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                <table class="table" data-testid="audit-table">
                    <thead><tr>
                        <th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Action"</th>
                        <th scope="col">"Entity"</th><th scope="col">"Change"</th><th scope="col">"Reason"</th>
                    </tr></thead>
                    <tbody>
                        {events.into_iter().map(|ev| view! {
                            <tr>
                                <td class="nowrap">{format_time(&ev.occurred_at)}</td>
                                <td>{ev.actor.clone()}</td>
                                <td><code>{ev.action.clone()}</code></td>
                                <td>
                                    {match ev.flag_key.clone() {
                                        Some(flag) => view! { <a class="mono" href=format!("/admin/feature-flags/{flag}")>{ev.entity_key.clone()}</a> }.into_any(),
                                        None => view! { <span class="mono">{ev.entity_key.clone()}</span> }.into_any(),
                                    }}
                                </td>
                                <td class="change">
                                    {describe_change(ev.before.as_ref(), ev.after.as_ref())}
                                    <EventDiff before=ev.before.clone() after=ev.after.clone() />
                                </td>
                                <td>{ev.reason.clone().unwrap_or_default()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
            }.into_any()
        }}
        <nav class="pager" aria-label="Pages">
            {query.before.is_some().then(|| view! { <a class="btn" href="/admin/audit">"↑ Newest"</a> })}
            {next_before.map(|b| view! { <a class="btn" href=older_href(&query, b) rel="next">"Older →"</a> })}
        </nav>
    }
}
