//! The "Rollouts" section of a flag's page: one card per environment with its live (or latest) rollout,
//! its next gate and its buttons, and a compact form to plan a rollout where none is live.

use super::actions::{CreateRollout, RolloutAct};
use super::buttons::RolloutButtons;
use super::widgets::{Outcome, RolloutStatusBadge, SoakCountdown};
use super::{stage_label, time_in_stage, Viewer};
use crate::components::status::{ErrorBox, Loading};
use crate::domain::rollout::Template;
use crate::error::AppError;
use crate::model::RolloutView;
use crate::pages::targeting_form::{describe_audience, ConditionRows, SegmentBoxes};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// An environment as the panel needs it, from the flag page.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutEnvironment {
    pub key: String,
    pub name: String,
    /// The flag's kill switch there: a rollout serves nobody while it is off.
    pub enabled: bool,
}

/// The rollouts of one flag, per environment, with who is looking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagRolloutsData {
    pub rollouts: Vec<RolloutView>,
    pub viewer: Viewer,
    /// The server's clock, which the soak countdowns count from.
    pub now: DateTime<Utc>,
    /// Every segment, `(key, name)`, for an audience.
    pub segments: Vec<(String, String)>,
}

#[server(endpoint = "flag_rollouts")]
pub async fn flag_rollouts(flag: String) -> Result<FlagRolloutsData, AppError> {
    use crate::server::{rollouts, targeting::segments, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    let rollouts = rollouts::for_flag(&state.pool, &flag).await.map_err(to_app_error)?;
    let segments = segments::names(&state.pool).await.map_err(to_app_error)?;
    Ok(FlagRolloutsData { rollouts, viewer: Viewer::of(&user), now: Utc::now(), segments })
}

#[component]
pub fn RolloutsPanel(flag: String, environments: Vec<RolloutEnvironment>, archived: bool) -> impl IntoView {
    let act = ServerAction::<RolloutAct>::new();
    let create = ServerAction::<CreateRollout>::new();
    let key = flag.clone();
    let data = Resource::new(
        move || (key.clone(), act.version().get(), create.version().get()),
        |(key, _, _)| flag_rollouts(key),
    );
    view! {
        <section class="card" aria-labelledby="rollouts-h" data-testid="rollouts">
            <h2 id="rollouts-h">"Rollouts"</h2>
            <Outcome value=act.value() test_id="rollout-outcome" />
            <Transition fallback=|| view! { <Loading what="the rollouts" /> }>
                {move || {
                    let (flag, environments) = (flag.clone(), environments.clone());
                    Suspend::new(async move {
                        match data.await {
                            Ok(data) => view! { <PanelBody flag environments data archived act create /> }.into_any(),
                            Err(error) => view! { <ErrorBox error /> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn PanelBody(
    flag: String,
    environments: Vec<RolloutEnvironment>,
    data: FlagRolloutsData,
    archived: bool,
    act: ServerAction<RolloutAct>,
    create: ServerAction<CreateRollout>,
) -> impl IntoView {
    let FlagRolloutsData { rollouts, viewer, now, segments } = data;
    let without_live: Vec<RolloutEnvironment> = environments
        .iter()
        .filter(|e| !rollouts.iter().any(|r| r.environment == e.key && r.status.is_live()))
        .cloned()
        .collect();
    let can_plan = viewer.can_edit && !archived && !without_live.is_empty();
    let cards = environments
        .into_iter()
        .map(|env| {
            let rollout = rollouts.iter().find(|r| r.environment == env.key).cloned();
            view! { <EnvironmentCard env rollout viewer=viewer.clone() now act /> }
        })
        .collect_view();
    view! {
        <div class="rollout-cards">{cards}</div>
        {can_plan.then(|| view! { <PlanRolloutForm flag environments=without_live segments action=create /> })}
    }
}

#[component]
fn EnvironmentCard(
    env: RolloutEnvironment,
    rollout: Option<RolloutView>,
    viewer: Viewer,
    now: DateTime<Utc>,
    act: ServerAction<RolloutAct>,
) -> impl IntoView {
    let heading_id = format!("rollout-card-{}-h", env.key);
    let status = rollout.as_ref().map(|r| r.status);
    let body = match rollout {
        None => view! { <p class="muted small">"No rollout yet."</p> }.into_any(),
        Some(rollout) => {
            let live = rollout.status.is_live();
            let href = format!("/admin/rollouts/{}", rollout.id);
            let link_label = if live {
                format!("Open the {} rollout", env.name)
            } else {
                format!("Open the last {} rollout", env.name)
            };
            let in_stage = time_in_stage(&rollout, now);
            let off_warning = (live && !env.enabled).then(|| {
                view! {
                    <p class="rollout-warning small">
                        "The flag is off in " {env.name.clone()} ": this rollout serves nobody until it is switched on (Environments, above)."
                    </p>
                }
            });
            view! {
                <p class="rollout-figure">
                    <span class="rollout-percent" data-testid="rollout-percent">{rollout.current_percent.clone()}</span>
                    " "
                    <span class="rollout-stage">{stage_label(&rollout)}</span>
                </p>
                {in_stage.map(|t| view! { <p class="muted small">{format!("In this stage for {t}")}</p> })}
                {rollout.audience.as_ref().map(|a| view! {
                    <p class="small" data-testid="rollout-audience">"Audience: "{describe_audience(Some(a))}</p>
                })}
                {live.then(|| view! { <NextGate rollout=rollout.clone() now /> })}
                {off_warning}
                <p class="small"><a href=href>{link_label}</a></p>
                {(live && viewer.can_edit).then(|| view! { <RolloutButtons rollout action=act is_admin=viewer.is_admin /> })}
            }
            .into_any()
        }
    };
    view! {
        <article class="rollout-card" aria-labelledby=heading_id.clone() data-testid=format!("rollout-card-{}", env.key)>
            <header class="rollout-card-head">
                <h3 id=heading_id.clone()>{env.name.clone()}</h3>
                {status.map(|status| view! { <RolloutStatusBadge status /> })}
            </header>
            {body}
        </article>
    }
}

/// The stage the next start or advance enters, and what it still needs.
#[component]
pub fn NextGate(rollout: RolloutView, now: DateTime<Utc>) -> impl IntoView {
    let Some(gate) = rollout.next_gate else {
        let last = if rollout.status == crate::domain::rollout::RolloutStatus::Paused {
            "At the last stage, paused: resume, then complete the rollout to serve everybody."
        } else {
            "At the last stage: complete the rollout to serve everybody."
        };
        return view! { <p class="gate gate-last small">{last}</p> }.into_any();
    };
    let ready = if rollout.status == crate::domain::rollout::RolloutStatus::Planned {
        "Ready to start: every gate is met."
    } else {
        "Ready to advance: every gate is met."
    };
    let target = format!("{} ({})", gate.percent, gate.stage_name);
    view! {
        <div class="gate" data-testid="next-gate">
            <p class="small">
                <span class="muted">"Next: "</span>{target}
            </p>
            {if gate.clear {
                view! { <p class="gate-clear small">{ready}</p> }.into_any()
            } else {
                // The server's message, with its soak part counting down once the page is hydrated.
                let parts = gate.message.split("; ").map(str::to_owned).collect::<Vec<_>>();
                let last = parts.len().saturating_sub(1);
                view! {
                    <p class="gate-blocked small" data-testid="gate-message">
                        {parts.into_iter().enumerate().map(|(i, part)| {
                            let separator = (i < last).then_some("; ");
                            match gate.soak_ends_at {
                                Some(ends_at) if part.starts_with("soak ends in ") => view! { <SoakCountdown ends_at now />{separator} }.into_any(),
                                _ => view! { {part}{separator} }.into_any(),
                            }
                        }).collect_view()}
                    </p>
                }
                .into_any()
            }}
        </div>
    }
    .into_any()
}

#[component]
fn PlanRolloutForm(
    flag: String,
    environments: Vec<RolloutEnvironment>,
    segments: Vec<(String, String)>,
    action: ServerAction<CreateRollout>,
) -> impl IntoView {
    let value = action.value();
    let field_error = move |field: &'static str| {
        move || value.with(|v| v.as_ref().and_then(|r| r.as_ref().err()).and_then(|e| e.field_message(field)))
    };
    let fields = [
        "environment",
        "template",
        "stickiness",
        "allow_customers",
        "allow_organizations",
        "custom_stages",
        "audience",
    ];
    let other_error = Signal::derive(move || {
        value.with(|v| match v {
            Some(Err(e @ AppError::Invalid { field, .. })) if !fields.contains(&field.as_str()) => Some(Err(e.clone())),
            Some(Err(AppError::Invalid { .. })) | None => None,
            Some(Err(e)) => Some(Err(e.clone())),
            Some(Ok(_)) => None,
        })
    });
    let planned = move || value.with(|v| matches!(v, Some(Ok(_))));
    let invalid = move |field: &'static str| move || field_error(field)().is_some().to_string();
    // Once planned, the form closes and empties: the page renders the new state into the same elements.
    let (details, form) = (NodeRef::<leptos::html::Details>::new(), NodeRef::<leptos::html::Form>::new());
    Effect::new(move |_| {
        if planned() {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
            if let Some(details) = details.get_untracked() {
                details.set_open(false);
            }
        }
    });
    view! {
        {move || planned().then(|| view! {
            <p class="state state-info plan-done" role="status">"Rollout planned. It serves nobody until you press Start on its card."</p>
        })}
        <details class="plan-rollout" node_ref=details open=move || value.with(|v| matches!(v, Some(Err(_))))>
            <summary class="btn">"Plan a rollout"</summary>
            <Outcome value=other_error test_id="plan-outcome" />
            <ActionForm action node_ref=form attr:class="form-grid" attr:aria-label="Plan a rollout">
                <input type="hidden" name="flag" value=flag />
                <div class="field">
                    <label for="plan-environment">"Environment"</label>
                    <select id="plan-environment" name="environment" aria-describedby="plan-environment-error">
                        {environments.into_iter().map(|e| view! { <option value=e.key>{e.name}</option> }).collect_view()}
                    </select>
                    <p id="plan-environment-error" class="field-error" role="alert">{field_error("environment")}</p>
                </div>
                <div class="field">
                    <label for="plan-stickiness">"Sticky by"</label>
                    <select id="plan-stickiness" name="stickiness" aria-describedby="plan-stickiness-error" aria-invalid=invalid("stickiness")>
                        <option value="customer_id" selected>"Customer id"</option>
                        <option value="organization_id">"Organization id"</option>
                        <option value="attribute">"An attribute (name it below)"</option>
                    </select>
                    <p id="plan-stickiness-error" class="field-error" role="alert">{field_error("stickiness")}</p>
                </div>
                <fieldset class="field template-choice">
                    <legend>"Plan"</legend>
                    {Template::ALL.iter().enumerate().map(|(i, t)| {
                        let id = format!("plan-template-{}", t.key());
                        let hint = format!("{id}-hint");
                        view! {
                            <div class="template-option">
                                <input type="radio" id=id.clone() name="template" value=t.key() checked=i == 0 aria-describedby=hint.clone() />
                                <label for=id>{t.label()}</label>
                                <p class="hint" id=hint>{t.description()}</p>
                            </div>
                        }
                    }).collect_view()}
                    <div class="template-option">
                        <input type="radio" id="plan-template-custom" name="template" value="custom" aria-describedby="plan-custom-hint" />
                        <label for="plan-template-custom">"Custom stages"</label>
                        <p class="hint" id="plan-custom-hint">"Your own stages, typed below."</p>
                    </div>
                    <p class="field-error" role="alert">{field_error("template")}</p>
                </fieldset>
                <div class="field field-wide">
                    <label for="plan-custom-stages">"Custom stages (with “Custom stages”)"</label>
                    <textarea id="plan-custom-stages" name="custom_stages" rows="4" class="mono"
                        placeholder="canary | 5% | ops_oncall | 30m\nhalf | 50% | ops_oncall product_owner | 1h\nfull | 100%"
                        aria-describedby="plan-custom-stages-hint plan-custom-stages-error" aria-invalid=invalid("custom_stages")></textarea>
                    <p class="hint" id="plan-custom-stages-hint">"One stage per line: name | percent (down to 0.01%) | sign-off roles (dev_lead, ops_oncall, product_owner, qa) | soak before the next (30m, 2h, 1d). The last stage is 100%."</p>
                    <p id="plan-custom-stages-error" class="field-error" role="alert">{field_error("custom_stages")}</p>
                </div>
                <div class="field">
                    <label for="plan-attribute">"Attribute name (attribute stickiness only)"</label>
                    <input id="plan-attribute" name="stickiness_attribute" type="text" maxlength="100" autocomplete="off" placeholder="e.g. tenant_region" />
                </div>
                <div class="field">
                    <label for="plan-customers">"Allow-listed customers"</label>
                    <input id="plan-customers" name="allow_customers" type="text" autocomplete="off" placeholder="cust-0001, cust-0002"
                        aria-describedby="plan-customers-hint plan-customers-error" aria-invalid=invalid("allow_customers") />
                    <p class="hint" id="plan-customers-hint">"Customer keys, separated by commas: always in while the rollout is live."</p>
                    <p id="plan-customers-error" class="field-error" role="alert">{field_error("allow_customers")}</p>
                </div>
                <div class="field">
                    <label for="plan-organizations">"Allow-listed organizations"</label>
                    <input id="plan-organizations" name="allow_organizations" type="text" autocomplete="off" placeholder="acme, globex"
                        aria-describedby="plan-organizations-error" aria-invalid=invalid("allow_organizations") />
                    <p id="plan-organizations-error" class="field-error" role="alert">{field_error("allow_organizations")}</p>
                </div>
                // The condition rows' field boxes use the targeting card's list of context fields, on the same page.
                <fieldset class="field field-wide" aria-describedby="plan-audience-hint plan-audience-error">
                    <legend>"Audience (optional)"</legend>
                    <p class="hint" id="plan-audience-hint">
                        "Only units for which every condition holds and that are in every segment checked take part in "
                        "the stages; the others get the default. Leave it all empty for everybody."
                    </p>
                    <ConditionRows id="plan-audience".to_owned() constraints=Vec::new() />
                    <SegmentBoxes segments chosen=Vec::new() />
                    <p id="plan-audience-error" class="field-error" role="alert">{field_error("audience")}</p>
                </fieldset>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || action.pending().get()>"Plan the rollout"</button>
                    <span class="muted small">"A planned rollout serves nobody until it is started."</span>
                </div>
            </ActionForm>
        </details>
    }
}
