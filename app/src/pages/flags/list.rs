//! `/admin/feature-flags`: flags grouped by phase, with their state in every environment.

use super::new_flag::{CreateFlag, NewFlagForm};
use crate::components::badges::KindBadge;
use crate::components::status::{Empty, ErrorBox, Loading, ViewOnlyNotice};
use crate::components::toggle::{FlagToggle, ToggleFlag};
use crate::error::AppError;
use crate::model::RolloutChip;
use crate::model::{FlagListPage, FlagListQuery, FlagRow, StateFilter};
use crate::pages::rollouts::actions::RolloutAct;
use crate::pages::rollouts::charts::{rollout_sparklines, Sparkline};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;
use std::collections::HashMap;
use std::sync::Arc;

/// One page of flags matching the filters. Filtering and paging happen in the database.
#[server(endpoint = "list_flags", input = server_fn::codec::Json)]
pub async fn list_flags(query: FlagListQuery) -> Result<FlagListPage, AppError> {
    use crate::server::{flags, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    flags::list(&state.pool, &query, user.role.can_edit_flags()).await.map_err(to_app_error)
}

fn query_from(params: &ParamsMap) -> FlagListQuery {
    let text = |k: &str| params.get(k).filter(|v| !v.trim().is_empty());
    FlagListQuery {
        q: text("q"),
        phase: text("phase"),
        env: text("env"),
        state: match params.get("state").as_deref() {
            Some("on") => Some(StateFilter::On),
            Some("off") => Some(StateFilter::Off),
            _ => None,
        },
        stale: (params.get("stale").as_deref() == Some("true")).then_some(true),
        page: params.get("page").and_then(|p| p.parse().ok()),
        per_page: params.get("per_page").and_then(|p| p.parse().ok()),
    }
}

/// The query string for another page of the same filters.
fn page_href(query: &FlagListQuery, page: u32) -> String {
    let mut parts = Vec::new();
    for (k, v) in [("q", &query.q), ("phase", &query.phase), ("env", &query.env)] {
        if let Some(v) = v {
            parts.push(format!("{k}={}", urlencode(v)));
        }
    }
    if let Some(state) = query.state {
        parts.push(format!("state={}", if state == StateFilter::On { "on" } else { "off" }));
    }
    if query.stale == Some(true) {
        parts.push("stale=true".to_owned());
    }
    if let Some(per_page) = query.per_page {
        parts.push(format!("per_page={per_page}"));
    }
    parts.push(format!("page={page}"));
    format!("/admin/feature-flags?{}", parts.join("&"))
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
pub fn FlagListPage() -> impl IntoView {
    let params = use_query_map();
    let toggle = ServerAction::<ToggleFlag>::new();
    let create = ServerAction::<CreateFlag>::new();
    let act = ServerAction::<RolloutAct>::new();
    let flags = Resource::new(
        move || (params.with(query_from), toggle.version().get(), create.version().get(), act.version().get()),
        |(query, _, _, _)| async move {
            let page = list_flags(query).await?;
            // One more call for the sparklines of every live rollout on the page; the list shows without them.
            let ids: Vec<i64> = page
                .flags
                .iter()
                .flat_map(|f| f.states.iter().filter_map(|s| s.rollout.as_ref().map(|r| r.id)))
                .collect();
            let sparklines =
                if ids.is_empty() { HashMap::new() } else { rollout_sparklines(ids).await.unwrap_or_default() };
            Ok::<_, AppError>((page, sparklines))
        },
    );

    view! {
        <Title text="Feature flags" />
        <div class="page-head">
            <h1>"Feature flags"</h1>
            <p class="muted">
                "Grouped by rollout phase. A switch is the flag's kill switch in that environment. "
                <a href="/admin/phases">"Manage phases"</a>" · "<a href="/admin/settings/environments">"Environments"</a>
            </p>
        </div>
        {move || toggle.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        {move || act.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        <Transition fallback=|| view! { <Loading what="flags" /> }>
            {move || Suspend::new(async move {
                match flags.await {
                    Ok((page, sparklines)) => view! { <FlagListBody page sparklines toggle create act params=params.get_untracked() /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn FlagListBody(
    page: FlagListPage,
    sparklines: HashMap<i64, String>,
    toggle: ServerAction<ToggleFlag>,
    create: ServerAction<CreateFlag>,
    act: ServerAction<RolloutAct>,
    params: ParamsMap,
) -> impl IntoView {
    let query = query_from(&params);
    let FlagListPage { environments, phases, flags, total, page: page_no, per_page, can_edit } = page;
    let pages = u32::try_from((total + i64::from(per_page) - 1) / i64::from(per_page)).unwrap_or(1).max(1);
    let selected = |current: &Option<String>, value: &str| current.as_deref() == Some(value);
    let state_value = match query.state {
        Some(StateFilter::On) => "on",
        Some(StateFilter::Off) => "off",
        None => "",
    };
    let groups = group_by_phase(flags);
    let first = (u64::from(page_no) - 1) * u64::from(per_page) + 1;
    let shown = groups.iter().map(|(_, _, rows)| rows.len()).sum::<usize>() as u64;
    let phases_for_form = phases.clone();
    let sparklines = Arc::new(sparklines);

    view! {
        {if can_edit {
            view! { <NewFlagForm action=create phases=phases_for_form /> }.into_any()
        } else {
            view! { <ViewOnlyNotice /> }.into_any()
        }}
        <form method="get" action="/admin/feature-flags" class="filters" role="search" aria-label="Filter flags">
            <div class="field field-grow">
                <label for="filter-q">"Search"</label>
                <input id="filter-q" type="search" name="q" placeholder="Key, name or description" value=query.q.clone().unwrap_or_default() />
            </div>
            <div class="field">
                <label for="filter-phase">"Phase"</label>
                <select id="filter-phase" name="phase">
                    <option value="">"All phases"</option>
                    {phases.iter().map(|p| view! {
                        <option value=p.key.clone() selected=selected(&query.phase, &p.key)>{p.name.clone()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-env">"Environment"</label>
                <select id="filter-env" name="env">
                    <option value="">"All environments"</option>
                    {environments_all_options(&environments, &query)}
                </select>
            </div>
            <div class="field">
                <label for="filter-state">"State"</label>
                <select id="filter-state" name="state">
                    <option value="" selected=state_value.is_empty()>"Any state"</option>
                    <option value="on" selected=state_value == "on">"On"</option>
                    <option value="off" selected=state_value == "off">"Off"</option>
                </select>
            </div>
            <div class="field">
                <label for="filter-stale">"Hygiene"</label>
                <select id="filter-stale" name="stale">
                    <option value="" selected=query.stale != Some(true)>"All flags"</option>
                    <option value="true" selected=query.stale == Some(true)>"Stale only"</option>
                </select>
            </div>
            <button type="submit" class="btn">"Apply"</button>
            <a class="btn btn-quiet" href="/admin/feature-flags">"Clear"</a>
        </form>
        <p class="result-count" data-testid="flag-count">
            {if total == 0 { "No flags match.".to_owned() } else {
                format!("Showing {}–{} of {} flags", first, first + shown - 1, total)
            }}
        </p>
        {if groups.is_empty() && total == 0 && query == FlagListQuery::default() {
            view! { <GettingStarted can_edit /> }.into_any()
        } else if groups.is_empty() {
            view! { <Empty message="No flags match these filters. Clear the filters, or create a flag." /> }.into_any()
        } else {
            groups.into_iter().map(|(phase_key, phase_name, rows)| {
                let envs = environments.clone();
                let heading_id = format!("phase-{}", phase_key.clone().unwrap_or_else(|| "none".into()));
                let labelled_by = heading_id.clone();
                let test_id = heading_id.clone();
                view! {
                    <section class="phase" aria-labelledby=labelled_by data-testid=test_id>
                        <h2 id=heading_id>{phase_name.unwrap_or_else(|| "No phase".to_owned())}</h2>
                        <div class="table-wrap">
                            <table class="table flags-table">
                                <thead>
                                    <tr>
                                        <th scope="col">"Flag"</th>
                                        <th scope="col">"Kind"</th>
                                        {envs.iter().map(|e| view! { <th scope="col" class="col-env">{e.name.clone()}</th> }).collect_view()}
                                    </tr>
                                </thead>
                                <tbody>
                                    {rows.into_iter().map(|row| view! { <FlagListRow row sparklines=Arc::clone(&sparklines) toggle act can_edit /> }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    </section>
                }
            }).collect_view().into_any()
        }}
        {(pages > 1).then(|| view! {
            <nav class="pager" aria-label="Pages">
                {(page_no > 1).then(|| view! { <a class="btn" href=page_href(&query, page_no - 1) rel="prev">"← Previous"</a> })}
                <span>{format!("Page {page_no} of {pages}")}</span>
                {(page_no < pages).then(|| view! { <a class="btn" href=page_href(&query, page_no + 1) rel="next">"Next →"</a> })}
            </nav>
        })}
    }
}

/// What a fresh install shows instead of an empty list: the steps to a first rollout.
#[component]
fn GettingStarted(can_edit: bool) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="getting-started-h" data-testid="getting-started">
            <h2 id="getting-started-h">"No flags yet"</h2>
            <ol class="steps">
                <li><a href="/admin/settings/environments">"Environments"</a>": development and production are there; add staging or your own (admins)."</li>
                <li><a href="/admin/phases">"Phases"</a>": group flags that ship together, in order."</li>
                <li>{if can_edit { "Create a flag with the New flag button above." } else { "An editor creates the flags." }}</li>
                <li><a href="/admin/users">"Users"</a>": add your team, with the sign-off roles your rollouts need (admins)."</li>
                <li><a href="/admin/tokens">"API tokens"</a>": an evaluate token per application and environment (admins)."</li>
            </ol>
        </section>
    }
}

fn environments_all_options(environments: &[crate::model::EnvironmentView], query: &FlagListQuery) -> impl IntoView {
    environments
        .iter()
        .map(|e| {
            view! { <option value=e.key.clone() selected=query.env.as_deref() == Some(e.key.as_str())>{e.name.clone()}</option> }
        })
        .collect_view()
}

#[component]
fn FlagListRow(
    row: FlagRow,
    sparklines: Arc<HashMap<i64, String>>,
    toggle: ServerAction<ToggleFlag>,
    act: ServerAction<RolloutAct>,
    can_edit: bool,
) -> impl IntoView {
    let href = format!("/admin/feature-flags/{}", row.key);
    let test_id = format!("flag-row-{}", row.key);
    let key = row.key.clone();
    view! {
        <tr data-testid=test_id>
            <td class="col-flag">
                <a class="flag-key" href=href>{row.key.clone()}</a>
                {row.visible_to_frontends.then(|| view! {
                    " "<span class="badge badge-frontend" data-testid="frontend-badge"
                        title="Visible to frontends: browser pages and apps with a frontend token evaluate it">"frontend"</span>
                })}
                <div class="flag-name">{row.name}</div>
                {(!row.description.is_empty()).then(|| view! { <div class="flag-desc">{row.description}</div> })}
                {row.stale.map(|why| view! {
                    <div class="flag-stale" data-testid="stale-badge">
                        <span class="badge badge-stale">"Stale"</span>" "<span class="muted">{why}</span>
                    </div>
                })}
            </td>
            <td><KindBadge kind=row.kind /></td>
            {row.states.into_iter().map(|state| {
                let key = key.clone();
                let rollout = state.rollout.clone();
                let env = state.environment.clone();
                let sparkline = rollout.as_ref().and_then(|chip| Some((chip.id, sparklines.get(&chip.id)?.clone())));
                view! {
                    <td class="col-env">
                        <FlagToggle action=toggle flag=key.clone() state can_edit />
                        {rollout.map(|chip| view! { <RolloutCompact chip flag=key env act can_edit /> })}
                        {sparkline.map(|(rollout_id, svg)| view! { <Sparkline rollout_id svg /> })}
                    </td>
                }
            }).collect_view()}
        </tr>
    }
}

/// A live rollout in a flag-list cell: where it stands, a link to its page and, for editors, a compact
/// form to advance it or roll it back to 0% (the same server function and confirmations as its page).
#[component]
fn RolloutCompact(
    chip: RolloutChip,
    flag: String,
    env: String,
    act: ServerAction<RolloutAct>,
    can_edit: bool,
) -> impl IntoView {
    let href = format!("/admin/rollouts/{}", chip.id);
    let label = format!("Rollout of {flag} in {env}: {} at {}", chip.status, chip.percent);
    let test_id = format!("rollout-chip-{flag}-{env}");
    let form_label = format!("Rollout of {flag} in {env}");
    let advance = (chip.status == crate::domain::rollout::RolloutStatus::Active)
        .then_some(chip.next_percent.clone())
        .flatten()
        .map(|next| {
            (
                format!("Advance {flag} in {env} from {} to {next}?", chip.percent),
                format!("Advance {flag} in {env} to {next}"),
                format!("→ {next}"),
            )
        });
    let rollback = (chip.status != crate::domain::rollout::RolloutStatus::Planned).then(|| {
        (format!("Roll {flag} in {env} back to 0%? The rollout ends."), format!("Roll back {flag} in {env} to 0%"))
    });
    let (id, version) = (chip.id.to_string(), chip.version.to_string());
    view! {
        <div class="rollout-compact" data-testid=test_id>
            <a class="badge rollout-chip" href=href aria-label=label>{format!("{} {}", chip.status, chip.percent)}</a>
            {can_edit.then(move || view! {
                <ActionForm action=act attr:class="rollout-compact-form" attr:aria-label=form_label attr:onsubmit=crate::pages::rollouts::buttons::CONFIRM>
                    <input type="hidden" name="rollout" value=id />
                    <input type="hidden" name="expected_version" value=version />
                    {advance.map(|(confirm, aria, text)| view! {
                        <button type="submit" name="action" value="advance" class="btn" data-confirm=confirm aria-label=aria>{text}</button>
                    })}
                    {rollback.map(|(confirm, aria)| view! {
                        <button type="submit" name="action" value="rollback" class="btn btn-danger" data-confirm=confirm aria-label=aria>"Roll back"</button>
                    })}
                </ActionForm>
            })}
        </div>
    }
}

/// Consecutive rows of the same phase, in the order the database returned them (phase order).
fn group_by_phase(rows: Vec<FlagRow>) -> Vec<(Option<String>, Option<String>, Vec<FlagRow>)> {
    let mut groups: Vec<(Option<String>, Option<String>, Vec<FlagRow>)> = Vec::new();
    for row in rows {
        match groups.last_mut() {
            Some((key, _, rows)) if *key == row.phase_key => rows.push(row),
            _ => groups.push((row.phase_key.clone(), row.phase_name.clone(), vec![row])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FlagKind;

    fn row(key: &str, phase: Option<&str>) -> FlagRow {
        FlagRow {
            key: key.into(),
            name: key.into(),
            description: String::new(),
            kind: FlagKind::Release,
            phase_key: phase.map(Into::into),
            phase_name: phase.map(Into::into),
            states: vec![],
            stale: None,
            visible_to_frontends: false,
        }
    }

    #[test]
    fn rows_are_grouped_by_consecutive_phase() {
        let groups =
            group_by_phase(vec![row("a", Some("p1")), row("b", Some("p1")), row("c", Some("p2")), row("d", None)]);
        let shape: Vec<(Option<String>, usize)> = groups.iter().map(|(k, _, r)| (k.clone(), r.len())).collect();
        assert_eq!(shape, vec![(Some("p1".into()), 2), (Some("p2".into()), 1), (None, 1)]);
    }

    #[test]
    fn page_links_keep_the_filters() {
        let query = FlagListQuery {
            q: Some("tab sync".into()),
            env: Some("staging".into()),
            state: Some(StateFilter::On),
            ..Default::default()
        };
        assert_eq!(page_href(&query, 2), "/admin/feature-flags?q=tab%20sync&env=staging&state=on&page=2");
    }
}
