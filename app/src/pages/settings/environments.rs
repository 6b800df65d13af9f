//! `/admin/settings/environments`: the team's environments. Everyone sees them; admins add, rename,
//! reorder and archive. A key never changes and is never reused; archiving is refused while evaluate
//! tokens, live rollouts or scheduled changes still use the environment, naming them. Plain forms: the
//! page works without JavaScript.

use crate::components::status::{ErrorBox, Loading};
use crate::error::AppError;
use crate::model::environments::{EnvironmentRow, EnvironmentsPageData};
use crate::pages::format_time;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "list_environments")]
pub async fn list_environments() -> Result<EnvironmentsPageData, AppError> {
    use crate::server::{environments, to_app_error, AppState};
    let me = crate::server::auth::require_user().await?;
    let state = expect_context::<AppState>();
    let environments = environments::list(&state.pool).await.map_err(to_app_error)?;
    Ok(EnvironmentsPageData { environments, can_manage: me.role.can_manage_users() })
}

#[cfg(feature = "ssr")]
fn parse_key(key: &str) -> Result<crate::domain::EnvKey, AppError> {
    // The form names the field `key`; the type reports it as `environment`.
    crate::domain::EnvKey::parse(key)
        .map_err(|e| crate::server::respond_with(AppError::Invalid { field: "key".into(), message: e.message }))
}

#[server(endpoint = "create_environment")]
pub async fn create_environment(key: String, name: String) -> Result<String, AppError> {
    use crate::server::{audit::Actor, environments, respond_with, to_app_error, AppState};
    let me = crate::server::auth::require_role(crate::domain::Role::Admin, "manage environments").await?;
    let key = parse_key(&key)?;
    let name = crate::domain::EnvName::parse(&name).map_err(|e| respond_with(e.into()))?;
    let state = expect_context::<AppState>();
    environments::create(&state.pool, &Actor::user(&me), &key, &name).await.map_err(to_app_error)?;
    Ok(key.to_string())
}

#[server(endpoint = "rename_environment")]
pub async fn rename_environment(key: String, name: String) -> Result<(), AppError> {
    use crate::server::{audit::Actor, environments, respond_with, to_app_error, AppState};
    let me = crate::server::auth::require_role(crate::domain::Role::Admin, "manage environments").await?;
    let key = parse_key(&key)?;
    let name = crate::domain::EnvName::parse(&name).map_err(|e| respond_with(e.into()))?;
    let state = expect_context::<AppState>();
    environments::rename(&state.pool, &Actor::user(&me), &key, &name).await.map_err(to_app_error)
}

/// Moves an environment one place `up` or `down` in the list.
#[server(endpoint = "move_environment")]
pub async fn move_environment(key: String, direction: String) -> Result<(), AppError> {
    use crate::server::{audit::Actor, environments, to_app_error, AppState};
    let me = crate::server::auth::require_role(crate::domain::Role::Admin, "manage environments").await?;
    let state = expect_context::<AppState>();
    let live: Vec<String> = environments::list(&state.pool)
        .await
        .map_err(to_app_error)?
        .into_iter()
        .filter(|e| e.archived_at.is_none())
        .map(|e| e.key)
        .collect();
    let order = crate::pages::phases::moved(&live, &key, &direction).map_err(crate::server::respond_with)?;
    let keys = order.iter().map(|k| parse_key(k)).collect::<Result<Vec<_>, _>>()?;
    environments::reorder(&state.pool, &Actor::user(&me), &keys).await.map_err(to_app_error)
}

#[server(endpoint = "archive_environment")]
pub async fn archive_environment(key: String, reason: Option<String>) -> Result<(), AppError> {
    use crate::server::{audit::Actor, environments, to_app_error, AppState};
    let me = crate::server::auth::require_role(crate::domain::Role::Admin, "manage environments").await?;
    let key = parse_key(&key)?;
    let reason = reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let state = expect_context::<AppState>();
    environments::archive(&state.pool, &Actor::user(&me), &key, reason).await.map_err(to_app_error)
}

#[component]
pub fn EnvironmentsPage() -> AnyView {
    let create = ServerAction::<CreateEnvironment>::new();
    let rename = ServerAction::<RenameEnvironment>::new();
    let reorder = ServerAction::<MoveEnvironment>::new();
    let archive = ServerAction::<ArchiveEnvironment>::new();
    let page = Resource::new(
        move || (create.version().get(), rename.version().get(), reorder.version().get(), archive.version().get()),
        |_| list_environments(),
    );
    view! {
        <Title text="Environments" />
        <div class="page-head">
            <h1>"Environments"</h1>
            <p class="muted">
                "Every flag has a state in every environment. A new environment starts with every flag off. "
                "A key never changes and is never reused, even once archived; the name is free to change."
            </p>
        </div>
        {move || rename.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        {move || reorder.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        {move || archive.value().get().and_then(Result::err).map(|error| view! {
            <div data-testid="archive-error"><ErrorBox error /></div>
        })}
        <Transition fallback=|| view! { <Loading what="environments" /> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(data) => view! { <EnvironmentsBody data create rename reorder archive /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

#[component]
fn EnvironmentsBody(
    data: EnvironmentsPageData,
    create: ServerAction<CreateEnvironment>,
    rename: ServerAction<RenameEnvironment>,
    reorder: ServerAction<MoveEnvironment>,
    archive: ServerAction<ArchiveEnvironment>,
) -> AnyView {
    let EnvironmentsPageData { environments, can_manage } = data;
    let (live, archived): (Vec<EnvironmentRow>, Vec<EnvironmentRow>) =
        environments.into_iter().partition(|e| e.archived_at.is_none());
    let count = live.len();
    view! {
        {can_manage.then(|| view! { <NewEnvironmentForm create /> })}
        {(!can_manage).then(|| view! {
            <p class="state state-info" data-testid="view-only">"Only admins change environments; ask one to add or rename an environment."</p>
        })}
        <section class="card" aria-labelledby="envs-h">
            <h2 id="envs-h">"In use"</h2>
            <div class="table-wrap">
            <table class="table table-middle" data-testid="environment-table">
                <thead><tr>
                    <th scope="col">"Order"</th><th scope="col">"Key"</th><th scope="col">"Name"</th>
                    <th scope="col">"Flags on"</th><th scope="col">"Evaluate tokens"</th><th scope="col">"Live rollouts"</th>
                    {can_manage.then(|| view! { <th scope="col">"Archive"</th> })}
                </tr></thead>
                <tbody>
                    {live.into_iter().enumerate().map(|(i, env)| view! {
                        <EnvironmentRowView env first=i == 0 last=i + 1 == count can_manage rename reorder archive />
                    }).collect_view()}
                </tbody>
            </table>
            </div>
        </section>
        {(!archived.is_empty()).then(|| view! {
            <section class="card" aria-labelledby="archived-envs-h">
                <h2 id="archived-envs-h">"Archived"</h2>
                <p class="muted small">"No longer served or shown. Their keys stay reserved."</p>
                <ul class="plain-list" data-testid="archived-environments">
                    {archived.into_iter().map(|e| view! {
                        <li><code>{e.key}</code>" "{e.name}" · archived "{e.archived_at.as_ref().map(format_time)}</li>
                    }).collect_view()}
                </ul>
            </section>
        })}
    }
    .into_any()
}

#[component]
fn NewEnvironmentForm(create: ServerAction<CreateEnvironment>) -> AnyView {
    let result = create.value();
    let error = move |field: &'static str| result.get().and_then(Result::err).and_then(|e| e.field_message(field));
    let other_error = move || {
        result
            .get()
            .and_then(Result::err)
            .filter(|e| e.field_message("key").is_none() && e.field_message("name").is_none())
    };
    view! {
        <section class="card" aria-labelledby="new-env-h">
            <h2 id="new-env-h">"Add an environment"</h2>
            {move || result.get().and_then(Result::ok).map(|key| view! {
                <p class="state state-info" role="status">{format!("Added {key}. Every flag is off in it.")}</p>
            })}
            {move || other_error().map(|error| view! { <ErrorBox error /> })}
            <ActionForm action=create attr:class="form-grid" attr:aria-label="Add an environment">
                <div class="field">
                    <label for="env-key">"Key"</label>
                    <input id="env-key" name="key" type="text" required maxlength="50" pattern="[a-z0-9][a-z0-9_\\-]{0,49}"
                        autocomplete="off" spellcheck="false" placeholder="staging"
                        aria-invalid=move || error("key").is_some().to_string() aria-describedby="env-key-hint env-key-error" />
                    <p class="hint" id="env-key-hint">"Lowercase letters, digits, _ and -. What tokens and the API name it; never changes."</p>
                    <p id="env-key-error" class="field-error" role="alert">{move || error("key")}</p>
                </div>
                <div class="field">
                    <label for="env-name">"Name"</label>
                    <input id="env-name" name="name" type="text" required maxlength="100" placeholder="Staging"
                        aria-invalid=move || error("name").is_some().to_string() aria-describedby="env-name-error" />
                    <p id="env-name-error" class="field-error" role="alert">{move || error("name")}</p>
                </div>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>"Add environment"</button>
                </div>
            </ActionForm>
        </section>
    }
    .into_any()
}

#[component]
fn EnvironmentRowView(
    env: EnvironmentRow,
    first: bool,
    last: bool,
    can_manage: bool,
    rename: ServerAction<RenameEnvironment>,
    reorder: ServerAction<MoveEnvironment>,
    archive: ServerAction<ArchiveEnvironment>,
) -> AnyView {
    let key = env.key.clone();
    let in_use = env.evaluate_tokens > 0 || env.live_rollouts > 0;
    let confirm =
        format!("return confirm('Archive {key}? It is no longer served, and its key can never be used again.')");
    let test_id = format!("environment-{key}");
    let (key_rename, key_archive) = (key.clone(), key.clone());
    view! {
        <tr data-testid=test_id>
            <td class="nowrap">
                {can_manage.then(|| {
                    let (k1, k2) = (key.clone(), key.clone());
                    view! {
                        <ActionForm action=reorder attr:class="inline-form">
                            <input type="hidden" name="key" value=k1.clone() />
                            <input type="hidden" name="direction" value="up" />
                            <button type="submit" class="btn btn-quiet" disabled=first aria-label=format!("Move {k1} up")>"↑"</button>
                        </ActionForm>
                        <ActionForm action=reorder attr:class="inline-form">
                            <input type="hidden" name="key" value=k2.clone() />
                            <input type="hidden" name="direction" value="down" />
                            <button type="submit" class="btn btn-quiet" disabled=last aria-label=format!("Move {k2} down")>"↓"</button>
                        </ActionForm>
                    }
                })}
            </td>
            <td><code>{key.clone()}</code></td>
            <td>
                {if can_manage {
                    view! {
                        <ActionForm action=rename attr:class="inline-form rename-form">
                            <input type="hidden" name="key" value=key_rename.clone() />
                            <input name="name" type="text" required maxlength="100" value=env.name.clone()
                                aria-label=format!("Name of {key_rename}") />
                            <button type="submit" class="btn" aria-label=format!("Rename {key_rename}")>"Rename"</button>
                        </ActionForm>
                    }.into_any()
                } else {
                    view! { <span>{env.name.clone()}</span> }.into_any()
                }}
            </td>
            <td>{env.flags_on}</td>
            <td>{env.evaluate_tokens}</td>
            <td>{env.live_rollouts}</td>
            {can_manage.then(|| view! {
                <td>
                    <ActionForm action=archive attr:class="inline-form" attr:onsubmit=confirm>
                        <input type="hidden" name="key" value=key_archive.clone() />
                        <button type="submit" class="btn btn-danger" aria-label=format!("Archive {key_archive}")
                            title=in_use.then_some("In use: revoke its tokens and finish its rollouts first")>"Archive"</button>
                    </ActionForm>
                </td>
            })}
        </tr>
    }
    .into_any()
}
