//! `/admin/schedule`: changes set to run at a given time (an advance, a toggle, a rollback), pending and
//! recently finished, with a form to schedule one and a button to cancel. When a change runs it passes
//! every gate, or ends `failed` with the reason shown here.

use crate::components::status::{Empty, ErrorBox, Loading};
use crate::error::AppError;
use crate::model::schedule::ScheduleStatus;
use crate::model::schedule::{SchedulePageData, ScheduledAction, ScheduledChangeView};
use crate::pages::format_time;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "list_schedule")]
pub async fn list_schedule() -> Result<SchedulePageData, AppError> {
    use crate::server::{flags, schedule, to_app_error, AppState};
    let me = crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    let changes = schedule::list(&state.pool, &Default::default()).await.map_err(to_app_error)?;
    let flags = schedule::flag_keys(&state.pool).await.map_err(to_app_error)?;
    let environments = flags::environments(&state.pool).await.map_err(to_app_error)?;
    Ok(SchedulePageData { changes, flags, environments, can_edit: me.role.can_edit_flags() })
}

/// Schedules a change; `run_at` as a browser's `datetime-local` field sends it, read as UTC.
#[server(endpoint = "schedule_change")]
pub async fn schedule_change(
    flag: String,
    environment: String,
    action: String,
    to_stage: Option<String>,
    run_at: String,
    reason: Option<String>,
) -> Result<i64, AppError> {
    use crate::domain::{EnvKey, FlagKey, InvalidValue};
    use crate::server::{audit::Actor, schedule, to_app_error, AppState, ServiceError};
    let me = crate::server::auth::require(crate::domain::Role::Editor, "schedule changes").await?;
    let invalid = |e: InvalidValue| to_app_error(e.into());
    let to_stage = match to_stage.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => Some(text.parse::<u32>().map_err(|_| {
            to_app_error(ServiceError::invalid("to_stage", format!("{text:?} is not a stage number (0, 1, 2...)")))
        })?),
        None => None,
    };
    let new = schedule::NewScheduledChange {
        flag: FlagKey::parse(&flag).map_err(|e| invalid(InvalidValue { field: "flag", ..e }))?,
        environment: EnvKey::parse(&environment).map_err(|e| invalid(InvalidValue { field: "environment", ..e }))?,
        action: action.parse::<ScheduledAction>().map_err(invalid)?,
        to_stage,
        run_at: schedule::parse_run_at(&run_at).map_err(invalid)?,
        reason: reason.unwrap_or_default(),
    };
    let state = expect_context::<AppState>();
    schedule::create(&state.pool, &Actor::user(&me), &new, chrono::Utc::now()).await.map_err(to_app_error)
}

#[server(endpoint = "cancel_scheduled_change")]
pub async fn cancel_scheduled_change(id: String) -> Result<(), AppError> {
    use crate::server::{audit::Actor, schedule, to_app_error, AppState, ServiceError};
    let me = crate::server::auth::require(crate::domain::Role::Editor, "schedule changes").await?;
    let id =
        id.trim().parse::<i64>().map_err(|_| to_app_error(ServiceError::invalid("id", "not a scheduled change")))?;
    let state = expect_context::<AppState>();
    schedule::cancel(&state.pool, &Actor::user(&me), id).await.map_err(to_app_error)
}

#[component]
pub fn SchedulePage() -> impl IntoView {
    let create = ServerAction::<ScheduleChange>::new();
    let cancel = ServerAction::<CancelScheduledChange>::new();
    let page = Resource::new(move || (create.version().get(), cancel.version().get()), |_| list_schedule());
    view! {
        <Title text="Scheduled changes" />
        <div class="page-head">
            <h1>"Scheduled changes"</h1>
            <p class="muted">
                "An advance, a toggle or a rollback set to run at a given time. When it runs it still passes every gate "
                "(sign-offs, soak, guardrails); if one is not met it fails, shown here, and the "<code>"schedule.failed"</code>
                " webhook is sent. Times are UTC."
            </p>
        </div>
        {move || cancel.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
        <Transition fallback=|| view! { <Loading what="scheduled changes" /> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(data) => view! { <ScheduleBody data create cancel /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ScheduleBody(
    data: SchedulePageData,
    create: ServerAction<ScheduleChange>,
    cancel: ServerAction<CancelScheduledChange>,
) -> impl IntoView {
    let SchedulePageData { changes, flags, environments, can_edit } = data;
    let form = can_edit.then(|| view! { <ScheduleForm flags environments create /> });
    view! {
        {form}
        <section class="card" aria-labelledby="schedule-h">
            <h2 id="schedule-h">"Pending and recent"</h2>
            {if changes.is_empty() {
                view! { <Empty message="Nothing scheduled." /> }.into_any()
            } else {
                view! { <ScheduleTable changes can_edit cancel /> }.into_any()
            }}
        </section>
    }
}

#[component]
fn ScheduleForm(
    flags: Vec<String>,
    environments: Vec<crate::model::EnvironmentView>,
    create: ServerAction<ScheduleChange>,
) -> impl IntoView {
    const FIELDS: [&str; 6] = ["flag", "environment", "action", "to_stage", "run_at", "reason"];
    let error =
        move |field: &'static str| create.value().get().and_then(Result::err).and_then(|e| e.field_message(field));
    let other_error = move || {
        create.value().get().and_then(Result::err).filter(|e| !FIELDS.iter().any(|f| e.field_message(f).is_some()))
    };
    view! {
        <section class="card" aria-labelledby="new-schedule-h">
            <h2 id="new-schedule-h">"Schedule a change"</h2>
            {move || other_error().map(|error| view! { <ErrorBox error /> })}
            {move || create.value().get().and_then(Result::ok).map(|id| view! {
                <p class="notice" role="status">{format!("Scheduled change #{id} created.")}</p>
            })}
            <ActionForm action=create attr:class="form-grid" attr:aria-label="Schedule a change">
                <div class="field">
                    <label for="schedule-flag">"Flag"</label>
                    <select id="schedule-flag" name="flag" required aria-describedby="schedule-flag-error">
                        {flags.into_iter().map(|f| view! { <option value=f.clone()>{f.clone()}</option> }).collect_view()}
                    </select>
                    <p id="schedule-flag-error" class="field-error" role="alert">{move || error("flag")}</p>
                </div>
                <div class="field">
                    <label for="schedule-env">"Environment"</label>
                    <select id="schedule-env" name="environment" required aria-describedby="schedule-env-error">
                        {environments.into_iter().map(|e| view! { <option value=e.key.clone()>{e.name}</option> }).collect_view()}
                    </select>
                    <p id="schedule-env-error" class="field-error" role="alert">{move || error("environment")}</p>
                </div>
                <div class="field">
                    <label for="schedule-action">"Action"</label>
                    <select id="schedule-action" name="action" required aria-describedby="schedule-action-error">
                        {ScheduledAction::ALL.iter().map(|a| view! { <option value=a.as_str()>{a.label()}</option> }).collect_view()}
                    </select>
                    <p id="schedule-action-error" class="field-error" role="alert">{move || error("action")}</p>
                </div>
                <div class="field">
                    <label for="schedule-stage">"Stage (advance: the one to enter; rollback: the one to return to; blank: next, or 0%)"</label>
                    <input id="schedule-stage" name="to_stage" type="number" min="0" step="1"
                        aria-invalid=move || error("to_stage").is_some().to_string() aria-describedby="schedule-stage-error" />
                    <p id="schedule-stage-error" class="field-error" role="alert">{move || error("to_stage")}</p>
                </div>
                <div class="field">
                    <label for="schedule-at">"When (UTC)"</label>
                    <input id="schedule-at" name="run_at" type="datetime-local" step="1" required
                        aria-invalid=move || error("run_at").is_some().to_string() aria-describedby="schedule-at-error" />
                    <p id="schedule-at-error" class="field-error" role="alert">{move || error("run_at")}</p>
                </div>
                <div class="field">
                    <label for="schedule-reason">"Reason"</label>
                    <input id="schedule-reason" name="reason" type="text" maxlength="2000" placeholder="launch window"
                        aria-describedby="schedule-reason-error" />
                    <p id="schedule-reason-error" class="field-error" role="alert">{move || error("reason")}</p>
                </div>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>"Schedule"</button>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn ScheduleTable(
    changes: Vec<ScheduledChangeView>,
    can_edit: bool,
    cancel: ServerAction<CancelScheduledChange>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
        <table class="table" data-testid="schedule-table">
            <thead><tr>
                <th scope="col">"#"</th><th scope="col">"When"</th><th scope="col">"Flag"</th>
                <th scope="col">"Environment"</th><th scope="col">"Action"</th><th scope="col">"Reason"</th>
                <th scope="col">"By"</th><th scope="col">"Status"</th><th scope="col">"Result"</th>
            </tr></thead>
            <tbody>
                {changes.into_iter().map(|c| {
                    let action = match (c.action, c.to_stage) {
                        (a, Some(stage)) => format!("{} (stage {stage})", a.label()),
                        (a, None) => a.label().to_owned(),
                    };
                    let pending = c.status == ScheduleStatus::Pending;
                    let id = c.id;
                    let badge = match c.status {
                        ScheduleStatus::Done => "badge state-on",
                        ScheduleStatus::Failed => "badge state-failed",
                        _ => "badge state-off",
                    };
                    let confirm = format!("return confirm('Cancel scheduled change #{id}?')");
                    let cancel_form = (pending && can_edit).then(|| view! {
                        " "
                        <ActionForm action=cancel attr:class="inline-form" attr:onsubmit=confirm>
                            <input type="hidden" name="id" value=id.to_string() />
                            <button type="submit" class="btn btn-danger" aria-label=format!("Cancel scheduled change {id}")>"Cancel"</button>
                        </ActionForm>
                    });
                    view! {
                        <tr data-testid=format!("scheduled-{id}")>
                            <td class="mono">{id}</td>
                            <td class="nowrap">{format_time(&c.run_at)}</td>
                            <td><a href=format!("/admin/feature-flags/{}", c.flag)>{c.flag.clone()}</a></td>
                            <td>{c.environment.clone()}</td>
                            <td>{action}</td>
                            <td>{c.reason.clone()}</td>
                            <td>{c.created_by.clone().unwrap_or_default()}</td>
                            <td>
                                <span class=badge title=c.finished_at.as_ref().map(format_time)>{c.status.as_str()}</span>
                                {cancel_form}
                            </td>
                            <td>{c.result.clone().unwrap_or_default()}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}

/// One flag's scheduled changes (pending, and finished in the last week), for the flag's page.
#[server(endpoint = "scheduled_for_flag")]
pub async fn scheduled_for_flag(flag: String) -> Result<Vec<ScheduledChangeView>, AppError> {
    use crate::model::schedule::ScheduleFilter;
    use crate::server::{schedule, to_app_error, AppState};
    crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    let filter = ScheduleFilter { flag: Some(flag), ..ScheduleFilter::default() };
    schedule::list(&state.pool, &filter).await.map_err(to_app_error)
}

/// The "Scheduled changes" card of a flag's page: what will run, what ran and how it ended.
#[component]
pub fn FlagSchedule(flag: String) -> impl IntoView {
    let changes = Resource::new(move || flag.clone(), scheduled_for_flag);
    view! {
        <section class="card" aria-labelledby="flag-schedule-h" data-testid="flag-schedule">
            <h2 id="flag-schedule-h">"Scheduled changes"</h2>
            <Transition fallback=|| view! { <Loading what="scheduled changes" /> }>
                {move || Suspend::new(async move {
                    match changes.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted small">"Nothing scheduled. " <a href="/admin/schedule">"Schedule a change"</a></p>
                        }.into_any(),
                        Ok(list) => view! {
                            <table class="table">
                                <thead><tr>
                                    <th scope="col">"When (UTC)"</th><th scope="col">"Environment"</th>
                                    <th scope="col">"Action"</th><th scope="col">"Status"</th><th scope="col">"Result"</th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|c| view! {
                                        <tr>
                                            <td class="nowrap">{format_time(&c.run_at)}</td>
                                            <td>{c.environment.clone()}</td>
                                            <td>{c.action.label()}</td>
                                            <td>{c.status.as_str()}</td>
                                            <td class="small">{c.result.clone().unwrap_or_default()}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <p class="small"><a href="/admin/schedule">"All scheduled changes"</a></p>
                        }.into_any(),
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
