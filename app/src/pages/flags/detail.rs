//! `/admin/feature-flags/{key}`: one flag's details, its state in each environment and its history.

use super::evaluate_for::EvaluateFor;
use super::frontend_visibility::{FrontendVisibility, SetFrontendVisibility};
use super::move_phase::{MoveFlagToPhase, MoveToPhase};
use crate::components::badges::KindBadge;
use crate::components::status::{ErrorBox, Loading, ViewOnlyNotice};
use crate::components::toggle::{FlagToggle, ToggleFlag};
use crate::error::AppError;
use crate::model::{FlagDetail, FlagState};
use crate::pages::rollouts::panel::{RolloutEnvironment, RolloutsPanel};
use crate::pages::{describe_change, format_time};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[server(endpoint = "get_flag")]
pub async fn get_flag(key: String) -> Result<FlagDetail, AppError> {
    use crate::server::{flags, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    flags::detail(&state.pool, &key, user.role.can_edit_flags()).await.map_err(to_app_error)
}

#[component]
pub fn FlagPage() -> impl IntoView {
    let params = use_params_map();
    let toggle = ServerAction::<ToggleFlag>::new();
    let move_phase = ServerAction::<MoveFlagToPhase>::new();
    let visibility = ServerAction::<SetFrontendVisibility>::new();
    let flag = Resource::new(
        move || {
            let key = params.with(|p| p.get("key").unwrap_or_default());
            (key, toggle.version().get(), move_phase.version().get(), visibility.version().get())
        },
        |(key, _, _, _)| get_flag(key),
    );
    view! {
        <Title text=move || params.with(|p| p.get("key").unwrap_or_default()) />
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href="/admin/feature-flags">"Feature flags"</a>
            " / "
            <span aria-current="page">{move || params.with(|p| p.get("key").unwrap_or_default())}</span>
        </nav>
        {move || toggle.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        {move || move_phase.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        {move || visibility.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        <Transition fallback=|| view! { <Loading what="the flag" /> }>
            {move || Suspend::new(async move {
                match flag.await {
                    Ok(detail) => view! { <FlagDetailView detail toggle move_phase visibility /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn FlagDetailView(
    detail: FlagDetail,
    toggle: ServerAction<ToggleFlag>,
    move_phase: ServerAction<MoveFlagToPhase>,
    visibility: ServerAction<SetFrontendVisibility>,
) -> impl IntoView {
    let key = detail.key.clone();
    let can_edit = detail.can_edit && !detail.archived;
    let environments: Vec<(String, String)> =
        detail.environments.iter().map(|e| (e.environment.clone(), e.environment_name.clone())).collect();
    let rollout_envs: Vec<RolloutEnvironment> = detail
        .environments
        .iter()
        .map(|e| RolloutEnvironment {
            key: e.environment.clone(),
            name: e.environment_name.clone(),
            enabled: e.enabled,
        })
        .collect();
    view! {
        <div class="page-head">
            <h1 class="mono">{detail.key.clone()}</h1>
            <p class="lead">{detail.name.clone()}</p>
            {detail.archived.then(|| view! { <p class="state state-error">"Archived: this flag is no longer served and its key is never reused."</p> })}
            {(!detail.can_edit).then(|| view! { <ViewOnlyNotice /> })}
        </div>
        <div class="grid-2">
            <section class="card" aria-labelledby="details-h">
                <h2 id="details-h">"Details"</h2>
                <dl class="details">
                    <dt>"Description"</dt><dd>{if detail.description.is_empty() { "—".to_owned() } else { detail.description.clone() }}</dd>
                    <dt>"Phase"</dt>
                    <dd data-testid="flag-phase">
                        {detail.phase_name.clone().unwrap_or_else(|| "No phase".into())}
                        {can_edit.then(|| view! {
                            <MoveToPhase action=move_phase flag=key.clone() current=detail.phase_key.clone() version=detail.version />
                        })}
                    </dd>
                    <dt>"Kind"</dt><dd><KindBadge kind=detail.kind /></dd>
                    <dt>"Value type"</dt><dd>{detail.value_type.clone()}</dd>
                    <dt>"Visible to frontends"</dt>
                    <dd>
                        <FrontendVisibility action=visibility flag=key.clone() visible=detail.visible_to_frontends
                            version=detail.version can_edit />
                    </dd>
                    <dt>"Owner"</dt><dd>{detail.owner.clone().unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Tags"</dt><dd>{if detail.tags.is_empty() { "—".to_owned() } else { detail.tags.join(", ") }}</dd>
                    <dt>"Created"</dt><dd>{format_time(&detail.created_at)}</dd>
                </dl>
            </section>
            <section class="card" aria-labelledby="envs-h">
                <h2 id="envs-h">"Environments"</h2>
                <table class="table">
                    <thead><tr><th scope="col">"Environment"</th><th scope="col">"State"</th><th scope="col">"Last change"</th></tr></thead>
                    <tbody>
                        {detail.environments.iter().map(|e| {
                            let state = FlagState { environment: e.environment.clone(), enabled: e.enabled, version: e.version, rollout: None };
                            view! {
                                <tr data-testid=format!("env-row-{}", e.environment)>
                                    <th scope="row">
                                        {e.environment_name.clone()}
                                        // What "on" means here when no override, allow-list or rollout applies.
                                        <div class="muted small" title="Served when the flag is on and no override, allow-list or rollout applies">
                                            "on serves " <code>{e.default_value.to_string()}</code>
                                        </div>
                                    </th>
                                    <td><FlagToggle action=toggle flag=key.clone() state can_edit with_reason=true /></td>
                                    <td class="muted small">
                                        {format_time(&e.updated_at)}
                                        {e.updated_by.clone().map(|u| format!(" by {u}"))}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        </div>
        <RolloutsPanel flag=key.clone() environments=rollout_envs archived=detail.archived />
        <crate::pages::schedule::FlagSchedule flag=key.clone() />
        <super::overrides::FlagOverridesCard flag=key.clone() />
        <super::targeting::FlagTargetingCard flag=key.clone() />
        <EvaluateFor flag=key.clone() environments />
        <section class="card" aria-labelledby="history-h">
            <h2 id="history-h">"History"</h2>
            {if detail.history.is_empty() {
                view! { <p class="state state-empty">"No changes recorded yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                    <table class="table" data-testid="flag-history">
                        <thead><tr>
                            <th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Action"</th>
                            <th scope="col">"Environment"</th><th scope="col">"Change"</th><th scope="col">"Reason"</th>
                        </tr></thead>
                        <tbody>
                            {detail.history.iter().map(|ev| view! {
                                <tr>
                                    <td class="nowrap">{format_time(&ev.occurred_at)}</td>
                                    <td>{ev.actor.clone()}</td>
                                    <td><code>{ev.action.clone()}</code></td>
                                    <td>{ev.environment_key.clone().unwrap_or_default()}</td>
                                    <td class="change">{describe_change(ev.before.as_ref(), ev.after.as_ref())}</td>
                                    <td>{ev.reason.clone().unwrap_or_default()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
