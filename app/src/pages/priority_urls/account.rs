//! `/admin/priority-urls/{account}`: one account's URLs with their badges on and off, the flag for the
//! account, the import form, the distribution and the batch history.

use super::batches::{BatchHistory, BatchResult, RollbackImport};
use super::flag_panel::{FlagPanel, SetAccountFlag};
use super::import_form::ImportForm;
use super::thousands;
use super::url_table::{ComparisonPanel, DistributionPanel, UrlTable};
use crate::components::status::{ErrorBox, Loading, ViewOnlyNotice};
use crate::error::AppError;
use crate::model::priority::{AccountPage as AccountData, UrlQuery};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use leptos_router::params::ParamsMap;

/// The account's page: one page of URLs for the filters, and everything around it.
#[server(endpoint = "get_priority_account", input = server_fn::codec::Json)]
pub async fn get_priority_account(account: String, query: UrlQuery) -> Result<AccountData, AppError> {
    use crate::server::{priority_urls::queries, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    queries::account_page(&state.pool, &state.priority_urls, &account, &query, user.role.can_edit_flags())
        .await
        .map_err(to_app_error)
}

pub(crate) fn query_from(params: &ParamsMap) -> UrlQuery {
    let text = |k: &str| params.get(k).filter(|v| !v.trim().is_empty());
    UrlQuery {
        tier: text("tier"),
        page_type: text("page_type"),
        q: text("q"),
        after: text("after"),
        batch: params.get("batch").and_then(|b| b.parse().ok()),
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let account = move || params.with(|p| p.get("account").unwrap_or_default());
    let rollback = ServerAction::<RollbackImport>::new();
    let set_flag = ServerAction::<SetAccountFlag>::new();
    let data = Resource::new(
        move || (account(), query.with(query_from), rollback.version().get(), set_flag.version().get()),
        |(account, query, _, _)| get_priority_account(account, query),
    );
    let import_error = move || query.with(|q| q.get("import_error").filter(|e| !e.is_empty()));
    view! {
        <Title text=move || format!("Priority URLs: {}", account()) />
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href="/admin/priority-urls">"Priority URLs"</a>
            " / "
            <span aria-current="page">{account}</span>
        </nav>
        <script src="/priority-urls-upload.js" defer=true></script>
        <Transition fallback=|| view! { <Loading what="the account" /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <AccountBody data rollback set_flag import_error=import_error() /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AccountBody(
    data: AccountData,
    rollback: ServerAction<RollbackImport>,
    set_flag: ServerAction<SetAccountFlag>,
    import_error: Option<String>,
) -> impl IntoView {
    let query = use_query_map().with_untracked(query_from);
    let AccountData {
        key,
        name,
        can_edit,
        cap,
        url_count,
        flag,
        rows,
        matching,
        next_after,
        distribution,
        comparison,
        batches,
        shown_batch,
    } = data;
    // Each part is type-erased: the page as one nested type is too deep for the compiler.
    let head = view! {
        <div class="page-head">
            <h1>{name.clone().unwrap_or_else(|| key.clone())}</h1>
            <p class="muted">
                <span class="mono">{key.clone()}</span>
                {format!(" · {} of {} URLs stored (the per-account cap)", thousands(url_count), thousands(cap))}
            </p>
            {name.is_none().then(|| view! {
                <p class="state state-info" data-testid="account-unnamed">
                    "This organization key has no name yet: applications and imports use it as it is. "
                    <a href=format!("/admin/organizations?q={}", super::urlencode(&key))>"Give it a name"</a>
                    " on the organizations page."
                </p>
            })}
            {(!can_edit).then(|| view! { <ViewOnlyNotice /> })}
        </div>
    }
    .into_any();
    let import = view! {
        <section class="card" aria-labelledby="import-h" id="import">
            <h2 id="import-h">"Import"</h2>
            {import_error.map(|message| view! {
                <div class="state state-error" role="alert" data-testid="import-error">
                    <strong>"The import was refused: "</strong>{message}
                </div>
            })}
            {shown_batch.map(|batch| view! { <BatchResult account=key.clone() batch /> }.into_any())}
            {if can_edit {
                view! { <ImportForm account=key.clone() /> }.into_any()
            } else {
                view! { <p class="muted">"Viewers cannot import."</p> }.into_any()
            }}
        </section>
    }
    .into_any();
    let flag = view! { <FlagPanel account=key.clone() states=flag action=set_flag can_edit /> }.into_any();
    let panels = view! {
        <div class="grid-2">
            <DistributionPanel distribution />
            <ComparisonPanel comparison />
        </div>
    }
    .into_any();
    let table = view! { <UrlTable account=key.clone() query rows matching next_after /> }.into_any();
    let history = view! { <BatchHistory account=key batches action=rollback can_edit /> }.into_any();
    view! {
        {head}
        <div class="grid-2">{flag}{import}</div>
        {panels}
        {table}
        {history}
    }
}
