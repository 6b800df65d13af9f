//! `/admin/priority-urls`: every account, its URL count and last import, and where the flag is on for it.

use super::thousands;
use crate::components::status::{Empty, ErrorBox, Loading};
use crate::error::AppError;
use crate::model::priority::AccountRow;
use crate::pages::format_time;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "list_priority_accounts")]
pub async fn list_priority_accounts() -> Result<Vec<AccountRow>, AppError> {
    use crate::server::{priority_urls::queries, to_app_error, AppState};
    crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    queries::accounts(&state.pool).await.map_err(to_app_error)
}

#[component]
pub fn AccountsPage() -> impl IntoView {
    let accounts = Resource::new(|| (), |_| list_priority_accounts());
    // "Open an account by key": a plain GET form, sent on to the account's page (any organization key).
    let query = leptos_router::hooks::use_query_map();
    let asked = move || query.with(|q| q.get("account")).map(|k| k.trim().to_owned()).filter(|k| !k.is_empty());
    let open = move || {
        asked().map(|key| match crate::domain::Target::organization(&key) {
            Ok(target) => {
                let path = format!("/admin/priority-urls/{}", super::urlencode(&target.key));
                view! { <leptos_router::components::Redirect path /> }.into_any()
            }
            Err(err) => view! { <p class="state state-error" role="alert">{err.message}</p> }.into_any(),
        })
    };
    view! {
        <Title text="Priority URLs" />
        <div class="page-head">
            <h1>"Priority URLs"</h1>
            <p class="muted">
                "Each account's imported URL metadata, shown as priority badges while "
                <code>"priority_urls_enabled"</code>
                " is on for the account. Open an account to import, preview the badges against the heuristic, and turn the flag on."
            </p>
        </div>
        {open}
        <form method="get" action="/admin/priority-urls" class="filters" aria-label="Open an account by key">
            <div class="field">
                <label for="open-account">"Organization key"</label>
                <input id="open-account" name="account" type="text" required autocomplete="off" placeholder="acme"
                    aria-describedby="open-account-hint" />
            </div>
            <button type="submit" class="btn">"Open"</button>
            <p class="hint" id="open-account-hint">"Any organization key your application sends, registered or not."</p>
        </form>
        <Transition fallback=|| view! { <Loading what="accounts" /> }>
            {move || Suspend::new(async move {
                match accounts.await {
                    Ok(rows) if rows.is_empty() => view! { <Empty message="No accounts yet." /> }.into_any(),
                    Ok(rows) => view! { <AccountsTable rows /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AccountsTable(rows: Vec<AccountRow>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="accounts-table">
                <thead><tr>
                    <th scope="col">"Account"</th>
                    <th scope="col" class="num">"URLs"</th>
                    <th scope="col">"Last import"</th>
                    <th scope="col">"Flag on for the account in"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|a| view! {
                        <tr data-testid=format!("account-row-{}", a.key)>
                            <td>
                                <a class="flag-key" href=format!("/admin/priority-urls/{}", a.key)>{a.name.clone().unwrap_or_else(|| a.key.clone())}</a>
                                <div class="flag-desc mono">
                                    {a.key.clone()}
                                    {a.name.is_none().then(|| view! { " · " <span class="muted">"no name yet"</span> })}
                                </div>
                            </td>
                            <td class="num">{thousands(a.url_count)}</td>
                            <td class="nowrap">{a.last_import_at.map_or_else(|| "never".to_owned(), |at| format_time(&at))}</td>
                            <td>{if a.on_in.is_empty() { "—".to_owned() } else { a.on_in.join(", ") }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
