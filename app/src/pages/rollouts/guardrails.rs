//! The "Guardrails" section of a rollout's page: each guardrail's rule and what the worker last saw
//! (healthy, breached, insufficient data, source down, with the figures), a form to add one, a button to
//! remove one, and the auto-advance switch. Plain forms: all of it works without JavaScript.
// Server functions take one argument per form field (a plain HTML form posts them by name).
#![allow(clippy::too_many_arguments)]

use super::widgets::Outcome;
use crate::components::status::{ErrorBox, Loading};
use crate::domain::guardrail::{GuardrailKind, GuardrailStatus};
use crate::error::AppError;
use crate::model::StageView;
use crate::pages::format_time;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One guardrail as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailLine {
    pub id: i64,
    pub rule: String,
    /// The stage it watches (its position), or None for every stage.
    pub stage: Option<u32>,
    /// None until the worker has looked at it.
    pub status: Option<GuardrailStatus>,
    pub message: Option<String>,
    pub evaluated_at: Option<DateTime<Utc>>,
    pub healthy_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailsData {
    pub lines: Vec<GuardrailLine>,
    pub auto_advance: bool,
    pub can_edit: bool,
}

/// The guardrails and the auto-advance switch; the stages and the current one come with the page.
#[server(endpoint = "rollout_guardrails")]
pub async fn rollout_guardrails(rollout: i64) -> Result<GuardrailsData, AppError> {
    use crate::server::guardrails::store;
    use crate::server::{to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    let (auto_advance, rows) = store::for_rollout(&state.pool, rollout).await.map_err(to_app_error)?;
    let lines = rows
        .into_iter()
        .map(|row| GuardrailLine {
            id: row.id,
            rule: row.spec.describe(),
            stage: row.spec.stage,
            status: row.evaluation.as_ref().map(|e| e.status),
            message: row.evaluation.as_ref().and_then(|e| e.decision.as_ref().map(|d| d.message.clone())),
            evaluated_at: row.evaluation.as_ref().map(|e| e.evaluated_at),
            healthy_since: row.evaluation.as_ref().and_then(|e| e.healthy_since),
        })
        .collect();
    Ok(GuardrailsData { lines, auto_advance, can_edit: user.role.can_edit_flags() })
}

#[cfg(feature = "ssr")]
use crate::server::invalid;

/// Adds a guardrail from the form's fields.
#[server(endpoint = "guardrail_add")]
pub async fn add_guardrail(
    rollout: i64,
    kind: String,
    threshold: String,
    window_minutes: String,
    min_samples: String,
    action: String,
    baseline: Option<String>,
    stage: Option<String>,
    gauge_name: Option<String>,
    prometheus_url: Option<String>,
    promql: Option<String>,
) -> Result<String, AppError> {
    use crate::domain::guardrail::{Baseline, GuardrailAction, GuardrailSpec, PrometheusQuery};
    use crate::server::{audit::Actor, guardrails::store, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Editor, "change guardrails").await?;
    let blank = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let kind: GuardrailKind = kind.parse().map_err(|e: crate::domain::InvalidValue| invalid("kind", e.message))?;
    let threshold: f64 = threshold
        .trim()
        .parse()
        .map_err(|_| invalid("threshold", format!("{:?} is not a number", threshold.trim())))?;
    let window: u32 = window_minutes.trim().parse().map_err(|_| {
        invalid("window_minutes", format!("{:?} is not a whole number of minutes", window_minutes.trim()))
    })?;
    let samples: u64 = min_samples
        .trim()
        .parse()
        .map_err(|_| invalid("min_samples", format!("{:?} is not a whole number", min_samples.trim())))?;
    let mut spec = GuardrailSpec::new(kind, threshold, window, samples);
    spec.action = action.parse::<GuardrailAction>().map_err(|e| invalid("action", e.message))?;
    spec.baseline = if kind.needs_baseline() {
        Some(
            blank(baseline)
                .unwrap_or_else(|| "control".to_owned())
                .parse::<Baseline>()
                .map_err(|e| invalid("baseline", e.message))?,
        )
    } else {
        None
    };
    spec.stage = match blank(stage) {
        None => None,
        Some(text) => Some(text.parse().map_err(|_| invalid("stage", format!("{text:?} is not a stage")))?),
    };
    spec.gauge_name = if kind == GuardrailKind::Gauge { blank(gauge_name) } else { None };
    spec.prometheus = match (blank(prometheus_url), blank(promql)) {
        (None, None) => None,
        (Some(url), Some(promql)) => Some(PrometheusQuery { url, promql }),
        (Some(_), None) => return Err(invalid("promql", "a Prometheus source needs a PromQL query")),
        (None, Some(_)) => return Err(invalid("prometheus_url", "a PromQL query needs the Prometheus URL")),
    };
    // store::add validates the spec and answers a bad one with its field, as `invalid` would.
    let state = expect_context::<AppState>();
    store::add(&state.pool, &Actor::user(&user), rollout, &spec).await.map_err(to_app_error)?;
    Ok(format!("Added: {}.", spec.describe()))
}

#[server(endpoint = "guardrail_remove")]
pub async fn remove_guardrail(rollout: i64, guardrail: i64) -> Result<String, AppError> {
    use crate::server::{audit::Actor, guardrails::store, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Editor, "change guardrails").await?;
    let state = expect_context::<AppState>();
    store::remove(&state.pool, &Actor::user(&user), rollout, guardrail).await.map_err(to_app_error)?;
    Ok("Removed the guardrail.".to_owned())
}

#[server(endpoint = "guardrail_auto_advance")]
pub async fn set_auto_advance(rollout: i64, on: String) -> Result<String, AppError> {
    use crate::server::{audit::Actor, guardrails::store, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Editor, "change guardrails").await?;
    let on = on == "true";
    let state = expect_context::<AppState>();
    store::set_auto_advance(&state.pool, &Actor::user(&user), rollout, on).await.map_err(to_app_error)?;
    Ok(if on {
        "Auto-advance is on: the rollout advances by itself once the soak is over, the sign-offs are in and every guardrail has been healthy throughout.".to_owned()
    } else {
        "Auto-advance is off.".to_owned()
    })
}

fn status_text(status: Option<GuardrailStatus>) -> (&'static str, &'static str) {
    match status {
        None => ("not checked yet", "pending"),
        Some(GuardrailStatus::Healthy) => ("healthy", "healthy"),
        Some(GuardrailStatus::Breached) => ("breached", "breached"),
        Some(GuardrailStatus::InsufficientData) => ("insufficient data", "insufficient"),
        Some(GuardrailStatus::SourceDown) => ("source down", "down"),
    }
}

#[component]
pub fn GuardrailsPanel(rollout_id: i64, stages: Vec<StageView>, current_stage: Option<u32>) -> impl IntoView {
    let add = ServerAction::<AddGuardrail>::new();
    let remove = ServerAction::<RemoveGuardrail>::new();
    let auto = ServerAction::<SetAutoAdvance>::new();
    let data = Resource::new(
        move || (add.version().get(), remove.version().get(), auto.version().get()),
        move |_| rollout_guardrails(rollout_id),
    );
    let outcome =
        Signal::derive(move || add.value().get().or_else(|| remove.value().get()).or_else(|| auto.value().get()));
    view! {
        <section class="card" aria-labelledby="guardrails-h" data-testid="guardrails">
            <h2 id="guardrails-h">"Guardrails"</h2>
            <p class="muted small">
                "Checked every few seconds against what applications report to POST /api/v1/metrics (or a Prometheus query). "
                "A breach rolls back or pauses the rollout as system:guardrail; a source that cannot be read holds it where it is."
            </p>
            <Outcome value=outcome test_id="guardrail-outcome" />
            <Transition fallback=|| view! { <Loading what="the guardrails" /> }>
                {move || Suspend::new({
                    let stages = stages.clone();
                    async move {
                        match data.await {
                            Ok(data) => view! { <GuardrailTable data rollout_id stages current_stage remove auto add /> }.into_any(),
                            Err(error) => view! { <ErrorBox error /> }.into_any(),
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn GuardrailTable(
    data: GuardrailsData,
    rollout_id: i64,
    stages: Vec<StageView>,
    current_stage: Option<u32>,
    remove: ServerAction<RemoveGuardrail>,
    auto: ServerAction<SetAutoAdvance>,
    add: ServerAction<AddGuardrail>,
) -> impl IntoView {
    let GuardrailsData { lines, auto_advance, can_edit } = data;
    let rows = lines
        .into_iter()
        .map(|line| {
            let (label, class) = status_text(line.status);
            let scope = match line.stage {
                None => "every stage".to_owned(),
                Some(stage) => stages
                    .iter()
                    .find(|s| s.position == stage)
                    .map_or_else(|| format!("stage {stage}"), |s| format!("stage {}", s.name)),
            };
            let watches_now = crate::domain::guardrail::watches_stage(line.stage, current_stage);
            let since = line.healthy_since.map(|at| format!("healthy since {}", format_time(&at)));
            view! {
                <tr data-testid=format!("guardrail-{}", line.id) class=if watches_now { "" } else { "muted" }>
                    <td>{line.rule.clone()}</td>
                    <td>{scope}</td>
                    <td>
                        <span class=format!("badge guardrail-status guardrail-{class}") data-testid="guardrail-status">{label}</span>
                        {since.map(|s| view! { <span class="small muted">" " {s}</span> })}
                    </td>
                    <td class="small">{line.message.clone().unwrap_or_else(|| "—".into())}</td>
                    <td class="small">{line.evaluated_at.as_ref().map_or_else(|| "—".into(), format_time)}</td>
                    {can_edit.then(|| view! {
                        <td>
                            <ActionForm action=remove attr:onsubmit="return window.confirm('Remove this guardrail? The rollout will no longer be watched on it.');">
                                <input type="hidden" name="rollout" value=rollout_id.to_string() />
                                <input type="hidden" name="guardrail" value=line.id.to_string() />
                                <button type="submit" class="btn btn-small btn-danger-outline" aria-label=format!("Remove guardrail: {}", line.rule)>"Remove"</button>
                            </ActionForm>
                        </td>
                    })}
                </tr>
            }
        })
        .collect_view();
    let stage_options = stages
        .iter()
        .map(|s| view! { <option value=s.position.to_string()>{format!("{} ({})", s.name, s.percent)}</option> })
        .collect_view();
    view! {
        // Scrolls on its own on a narrow screen, rather than widening the page.
        <div class="table-wrap guardrail-table-wrap">
        <table class="table">
            <caption class="sr-only">"Guardrails of this rollout and their latest check"</caption>
            <thead>
                <tr>
                    <th scope="col">"Rule"</th>
                    <th scope="col">"Watches"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Last figures"</th>
                    <th scope="col">"Checked"</th>
                    {can_edit.then(|| view! { <th scope="col"><span class="sr-only">"Remove"</span></th> })}
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        </div>
        <p class="small" data-testid="auto-advance">
            {if auto_advance { "Auto-advance is on." } else { "Auto-advance is off: a person presses Advance." }}
        </p>
        {can_edit.then(|| view! {
            <ActionForm action=auto attr:class="inline-form">
                <input type="hidden" name="rollout" value=rollout_id.to_string() />
                <input type="hidden" name="on" value=if auto_advance { "false" } else { "true" } />
                <button type="submit" class="btn btn-small">{if auto_advance { "Turn auto-advance off" } else { "Turn auto-advance on" }}</button>
            </ActionForm>
            <details>
                <summary>"Add a guardrail"</summary>
                <ActionForm action=add attr:class="form-grid" attr:aria-label="Add a guardrail">
                    <input type="hidden" name="rollout" value=rollout_id.to_string() />
                    <div class="field">
                        <label for="g-kind">"Figure"</label>
                        <select id="g-kind" name="kind">
                            {GuardrailKind::ALL.iter().map(|k| view! {
                                <option value=k.as_str()>{format!("{} ({})", k.label(), k.unit().trim())}</option>
                            }).collect_view()}
                        </select>
                    </div>
                    <div class="field">
                        <label for="g-threshold">"Limit (breach above)"</label>
                        <input id="g-threshold" name="threshold" inputmode="decimal" required placeholder="1" />
                    </div>
                    <div class="field">
                        <label for="g-window">"Window, minutes"</label>
                        <input id="g-window" name="window_minutes" inputmode="numeric" value="5" required />
                    </div>
                    <div class="field">
                        <label for="g-samples">"Minimum requests (gauge: points)"</label>
                        <input id="g-samples" name="min_samples" inputmode="numeric" value="100" required />
                    </div>
                    <div class="field">
                        <label for="g-action">"On breach"</label>
                        <select id="g-action" name="action">
                            <option value="rollback">"roll back"</option>
                            <option value="pause">"pause"</option>
                        </select>
                    </div>
                    <div class="field">
                        <label for="g-baseline">"Baseline (increase, regression)"</label>
                        <select id="g-baseline" name="baseline">
                            <option value="control">"control over the same window"</option>
                            <option value="pre_rollout">"the window before the start"</option>
                        </select>
                    </div>
                    <div class="field">
                        <label for="g-stage">"Stage"</label>
                        <select id="g-stage" name="stage">
                            <option value="">"every stage"</option>
                            {stage_options}
                        </select>
                    </div>
                    <div class="field">
                        <label for="g-gauge">"Gauge name (gauge only)"</label>
                        <input id="g-gauge" name="gauge_name" placeholder="queue_lag_seconds" />
                    </div>
                    <div class="field">
                        <label for="g-prom">"Prometheus URL (optional)"</label>
                        <input id="g-prom" name="prometheus_url" type="url" placeholder="http://prometheus:9090" />
                    </div>
                    <div class="field field-wide">
                        <label for="g-promql">"PromQL answering one number in the figure's unit (optional)"</label>
                        <input id="g-promql" name="promql" placeholder="100 * sum(rate(http_errors_total[5m])) / sum(rate(http_requests_total[5m]))" />
                    </div>
                    <div class="field">
                        <button type="submit" class="btn btn-primary">"Add guardrail"</button>
                    </div>
                </ActionForm>
            </details>
        })}
    }
}
