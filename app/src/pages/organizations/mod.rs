//! `/admin/organizations`: the registry of organizations (accounts) and customers, which gives the keys
//! applications send names for people. Search, register and rename organizations, name a key already in
//! use, and import customers from CSV. Overrides, allow-lists and priority URLs take any key, named or not.

pub mod import;

use crate::components::status::{ErrorBox, Loading, ViewOnlyNotice};
use crate::domain::{thousands, TargetKind};
use crate::error::AppError;
use crate::model::targets::{CustomerRow, OrganizationRow, RegistryPage, RegistryQuery};
use crate::pages::priority_urls::urlencode;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "registry_page", input = server_fn::codec::Json)]
pub async fn load_registry(query: RegistryQuery) -> Result<RegistryPage, AppError> {
    use crate::server::{registry, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see the registry").await?;
    let state = expect_context::<AppState>();
    registry::page(&state.pool, &query, user.role.can_edit_flags()).await.map_err(to_app_error)
}

#[cfg(feature = "ssr")]
async fn require_editor() -> Result<crate::server::audit::Actor, AppError> {
    let user = crate::server::auth::require(crate::domain::Role::Editor, "change the registry").await?;
    Ok(crate::server::audit::Actor::user(&user))
}

/// Registers a name for an organization key (new, or already in use by overrides or imports).
#[server(endpoint = "organization_create")]
pub async fn create_organization(key: String, name: String) -> Result<String, AppError> {
    use crate::server::{registry, to_app_error, AppState};
    let actor = require_editor().await?;
    let state = expect_context::<AppState>();
    let row = registry::create_organization(&state.pool, &actor, &key, &name).await.map_err(to_app_error)?;
    Ok(format!("{} is now registered as {}.", row.key, row.name.unwrap_or_default()))
}

#[server(endpoint = "organization_rename")]
pub async fn rename_organization(key: String, name: String) -> Result<String, AppError> {
    use crate::server::{registry, to_app_error, AppState};
    let actor = require_editor().await?;
    let state = expect_context::<AppState>();
    let row = registry::rename_organization(&state.pool, &actor, &key, &name).await.map_err(to_app_error)?;
    Ok(format!("{} is now called {}.", row.key, row.name.unwrap_or_default()))
}

fn query_from(params: &leptos_router::params::ParamsMap) -> RegistryQuery {
    RegistryQuery {
        q: params.get("q").filter(|q| !q.trim().is_empty()),
        import: params.get("import").and_then(|i| i.parse().ok()),
    }
}

#[component]
pub fn OrganizationsPage() -> impl IntoView {
    let query = use_query_map();
    let create = ServerAction::<CreateOrganization>::new();
    let rename = ServerAction::<RenameOrganization>::new();
    let data = Resource::new(
        move || (query.with(query_from), create.version().get(), rename.version().get()),
        |(query, _, _)| load_registry(query),
    );
    let import_error = move || query.with(|q| q.get("import_error").filter(|e| !e.is_empty()));
    view! {
        <Title text="Organizations and customers" />
        <div class="page-head">
            <h1>"Organizations and customers"</h1>
            <p class="muted">
                "Names for the keys your applications send. Overrides, rollout allow-lists and priority URLs take any "
                "organization or customer key, registered or not; a name here only helps people read it."
            </p>
        </div>
        {move || rename.value().get().map(|result| match result {
            Ok(message) => view! { <p class="state state-info" role="status" data-testid="registry-outcome">{message}</p> }.into_any(),
            Err(error) => view! { <ErrorBox error /> }.into_any(),
        })}
        <Transition fallback=|| view! { <Loading what="the registry" /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <RegistryBody data create rename import_error=import_error() /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn RegistryBody(
    data: RegistryPage,
    create: ServerAction<CreateOrganization>,
    rename: ServerAction<RenameOrganization>,
    import_error: Option<String>,
) -> impl IntoView {
    let RegistryPage {
        q,
        organizations,
        more_organizations,
        customers,
        customers_total,
        unregistered,
        can_edit,
        import,
        imports,
    } = data;
    let search = view! {
        <form method="get" action="/admin/organizations" class="filters" role="search" aria-label="Search organizations and customers">
            <div class="field field-grow">
                <label for="registry-q">"Key or name contains"</label>
                <input id="registry-q" name="q" type="search" value=q.clone() placeholder="acme, cust-1042…" />
            </div>
            <button type="submit" class="btn">"Search"</button>
            {(!q.is_empty()).then(|| view! { <a class="btn btn-quiet" href="/admin/organizations">"Clear"</a> })}
        </form>
    }
    .into_any();
    let unregistered_org = unregistered.iter().find(|t| t.kind == TargetKind::Organization).map(|t| t.key.clone());
    let notices = unregistered
        .into_iter()
        .map(|target| match target.kind {
            TargetKind::Organization => view! {
                <p class="state state-info" data-testid="unregistered-organization">
                    {format!("No organization is registered as {:?}. It can be targeted as it is; ", target.key)}
                    {if can_edit { "name it below, or " } else { "" }}
                    <a href=format!("/admin/priority-urls/{}", urlencode(&target.key))>"open its priority URLs"</a>"."
                </p>
            }
            .into_any(),
            TargetKind::Customer => view! {
                <p class="state state-info" data-testid="unregistered-customer">
                    {format!(
                        "No customer is registered as {:?}. Overrides and allow-lists take it as it is; import customers to give it a name.",
                        target.key
                    )}
                </p>
            }
            .into_any(),
        })
        .collect_view();
    let forms = can_edit.then(|| {
        view! {
            <div class="grid-2">
                <RegisterForm create prefill=unregistered_org />
                <import::CustomerImport shown=import error=import_error />
            </div>
        }
        .into_any()
    });
    view! {
        {(!can_edit).then(|| view! { <ViewOnlyNotice /> })}
        {search}
        {notices}
        {forms}
        <OrganizationsTable rows=organizations more=more_organizations can_edit create rename />
        <CustomersTable rows=customers total=customers_total />
        <import::ImportHistory imports />
    }
}

#[component]
fn OrganizationsTable(
    rows: Vec<OrganizationRow>,
    more: bool,
    can_edit: bool,
    create: ServerAction<CreateOrganization>,
    rename: ServerAction<RenameOrganization>,
) -> impl IntoView {
    let body = if rows.is_empty() {
        view! { <p class="state state-empty">"No organizations match."</p> }.into_any()
    } else {
        let rows = rows
            .into_iter()
            .map(|o| view! { <OrganizationRowView o can_edit create rename /> }.into_any())
            .collect_view();
        view! {
            <div class="table-wrap">
                <table class="table registry-table stack-table" data-testid="organizations-table">
                    <thead><tr>
                        <th scope="col">"Organization"</th>
                        <th scope="col" class="num">"Customers"</th>
                        <th scope="col" class="num">"Overrides"</th>
                        <th scope="col" class="num">"Priority URLs"</th>
                        {can_edit.then(|| view! { <th scope="col">"Name"</th> })}
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        <section class="card" aria-labelledby="organizations-h">
            <h2 id="organizations-h">"Organizations"</h2>
            <p class="muted small">"Every organization key that is registered or in use (by customers, overrides, allow-lists or priority URLs)."</p>
            {body}
            {more.then(|| view! { <p class="muted small">"More organizations match than are listed: narrow the search."</p> })}
        </section>
    }
}

#[component]
fn OrganizationRowView(
    o: OrganizationRow,
    can_edit: bool,
    create: ServerAction<CreateOrganization>,
    rename: ServerAction<RenameOrganization>,
) -> impl IntoView {
    let key = o.key.clone();
    let shown = o.name.clone().unwrap_or_else(|| key.clone());
    let name_form = can_edit.then(|| {
        let key = key.clone();
        let input_id = format!("org-name-{key}");
        match o.name.clone() {
            Some(name) => view! {
                <td>
                    <ActionForm action=rename attr:class="inline-name-form">
                        <input type="hidden" name="key" value=key.clone() />
                        <input id=input_id name="name" type="text" required maxlength="200" value=name
                            aria-label=format!("Name of {key}") />
                        <button type="submit" class="btn btn-small" aria-label=format!("Rename {key}")>"Rename"</button>
                    </ActionForm>
                </td>
            }
            .into_any(),
            None => view! {
                <td>
                    <ActionForm action=create attr:class="inline-name-form">
                        <input type="hidden" name="key" value=key.clone() />
                        <input id=input_id name="name" type="text" required maxlength="200" placeholder="a name for people"
                            aria-label=format!("Name of {key}") />
                        <button type="submit" class="btn btn-small" aria-label=format!("Name {key}")>"Name it"</button>
                    </ActionForm>
                </td>
            }
            .into_any(),
        }
    });
    view! {
        <tr data-testid=format!("organization-{key}")>
            <th scope="row">
                <span data-testid="organization-name">{shown}</span>
                <div class="flag-desc">
                    <span class="mono">{key.clone()}</span>
                    {o.name.is_none().then(|| view! { " · " <span data-testid="no-name">"no name yet"</span> })}
                </div>
            </th>
            <td class="num" data-label="Customers">{thousands(o.customers)}</td>
            <td class="num" data-label="Overrides">{thousands(o.overrides)}</td>
            <td class="num" data-label="Priority URLs"><a href=format!("/admin/priority-urls/{}", urlencode(&key))>{thousands(o.urls)}</a></td>
            {name_form}
        </tr>
    }
}

#[component]
fn RegisterForm(create: ServerAction<CreateOrganization>, prefill: Option<String>) -> impl IntoView {
    let error =
        move |field: &'static str| create.value().get().and_then(Result::err).and_then(|e| e.field_message(field));
    let other_error = move || {
        create
            .value()
            .get()
            .and_then(Result::err)
            .filter(|e| e.field_message("key").is_none() && e.field_message("name").is_none())
    };
    view! {
        <section class="card" aria-labelledby="register-h">
            <h2 id="register-h">"Register an organization"</h2>
            {move || other_error().map(|error| view! { <ErrorBox error /> })}
            {move || create.value().get().and_then(Result::ok).map(|message| view! {
                <p class="state state-info" role="status" data-testid="organization-created">{message}</p>
            })}
            <ActionForm action=create attr:class="form-grid" attr:aria-label="Register an organization">
                <div class="field">
                    <label for="new-org-key">"Key"</label>
                    <input id="new-org-key" name="key" type="text" required maxlength="100" autocomplete="off" value=prefill
                        placeholder="acme" aria-describedby="new-org-key-hint new-org-key-error"
                        aria-invalid=move || error("key").is_some().to_string() />
                    <p class="hint" id="new-org-key-hint">
                        {format!("As your application sends it: {}, up to 100.", TargetKind::Organization.alphabet())}
                    </p>
                    <p id="new-org-key-error" class="field-error" role="alert">{move || error("key")}</p>
                </div>
                <div class="field">
                    <label for="new-org-name">"Name"</label>
                    <input id="new-org-name" name="name" type="text" required maxlength="200" placeholder="Acme Corporation"
                        aria-describedby="new-org-name-error" aria-invalid=move || error("name").is_some().to_string() />
                    <p id="new-org-name-error" class="field-error" role="alert">{move || error("name")}</p>
                </div>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>"Register"</button>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn CustomersTable(rows: Vec<CustomerRow>, total: i64) -> impl IntoView {
    let shown = rows.len() as i64;
    let body = if rows.is_empty() {
        view! { <p class="state state-empty">"No registered customers match."</p> }.into_any()
    } else {
        view! {
            <div class="table-wrap">
                <table class="table registry-table stack-table" data-testid="customers-table">
                    <thead><tr>
                        <th scope="col">"Customer"</th><th scope="col">"Name"</th><th scope="col">"Organization"</th>
                    </tr></thead>
                    <tbody>
                        {rows.into_iter().map(|c| {
                            let org = c.organization_name.clone().unwrap_or_else(|| c.organization.clone());
                            view! {
                                <tr data-testid=format!("customer-{}", c.key)>
                                    <th scope="row" class="mono">{c.key.clone()}</th>
                                    <td data-label="Name">{if c.name.is_empty() { "—".to_owned() } else { c.name.clone() }}</td>
                                    <td data-label="Organization">
                                        <a href=format!("/admin/organizations?q={}", urlencode(&c.organization))>{org}</a>
                                        {c.organization_name.is_some().then(|| view! { <div class="flag-desc mono">{c.organization.clone()}</div> })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        <section class="card" aria-labelledby="customers-h">
            <h2 id="customers-h">"Customers"</h2>
            <p class="muted small" data-testid="customers-count">
                {if total > shown {
                    format!("{} registered customers match; the first {} are listed.", thousands(total), thousands(shown))
                } else {
                    format!("{} registered customers match.", thousands(total))
                }}
            </p>
            {body}
        </section>
    }
}
