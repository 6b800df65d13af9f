//! `/admin/rollouts/{id}`: one rollout, as its team's checklist had it: where it stands and for how long,
//! the next gate and what it still needs, the stages with their checklists, the sign-offs, the timeline
//! and the allow-list, with the buttons.

use super::actions::{EditRollout, RolloutAct};
use super::buttons::RolloutButtons;
use super::charts::RolloutFigures;
use super::panel::NextGate;
use super::widgets::{Outcome, RolloutStatusBadge};
use super::{is_live, roles_label, soak_label, stage_label, time_in_stage, Viewer};
use crate::components::status::{ErrorBox, Loading};
use crate::error::AppError;
use crate::model::{PopulationView, RolloutEventView, RolloutView, SignoffView, StageView};
use crate::pages::format_time;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

/// Everything the rollout page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutPageData {
    pub rollout: RolloutView,
    /// Who it reaches among the known customers, and whom the next stage would add.
    pub population: PopulationView,
    pub viewer: Viewer,
    /// The flag's kill switch in the rollout's environment, as applications are served it (`None` when the
    /// evaluation snapshot is not loaded yet).
    pub flag_enabled: Option<bool>,
    /// The server's clock, which the soak countdown counts from.
    pub now: DateTime<Utc>,
    /// Names registered for the allow-listed keys.
    #[serde(default)]
    pub names: crate::model::targets::TargetNames,
}

#[server(endpoint = "get_rollout")]
pub async fn get_rollout(id: i64) -> Result<RolloutPageData, AppError> {
    use crate::domain::TargetKind;
    use crate::server::{registry, rollouts, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let state = expect_context::<AppState>();
    let rollout = rollouts::detail(&state.pool, id).await.map_err(to_app_error)?;
    let population = rollouts::population(&state.pool, id).await.map_err(to_app_error)?;
    let flag_enabled = state.snapshot.get().and_then(|snapshot| {
        snapshot.environments.get(&rollout.environment)?.flags.get(&rollout.flag).map(|entry| entry.env.enabled)
    });
    let names = crate::model::targets::TargetNames {
        customers: registry::names(&state.pool, TargetKind::Customer, &rollout.allow_customers)
            .await
            .map_err(to_app_error)?
            .into_iter()
            .collect(),
        organizations: registry::names(&state.pool, TargetKind::Organization, &rollout.allow_organizations)
            .await
            .map_err(to_app_error)?
            .into_iter()
            .collect(),
    };
    Ok(RolloutPageData { rollout, population, viewer: Viewer::of(&user), flag_enabled, now: Utc::now(), names })
}

#[component]
pub fn RolloutPage() -> impl IntoView {
    let params = use_params_map();
    let act = ServerAction::<RolloutAct>::new();
    let edit = ServerAction::<EditRollout>::new();
    let id = move || params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok()));
    let data = Resource::new(
        move || (id(), act.version().get(), edit.version().get()),
        |(id, _, _)| async move {
            match id {
                Some(id) => get_rollout(id).await,
                None => Err(AppError::NotFound("that rollout".into())),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <Loading what="the rollout" /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <RolloutBody data act edit /> }.into_any(),
                    Err(error) => view! { <Title text="Rollout" /> <ErrorBox error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn RolloutBody(data: RolloutPageData, act: ServerAction<RolloutAct>, edit: ServerAction<EditRollout>) -> impl IntoView {
    let RolloutPageData { rollout, population, viewer, flag_enabled, now, names } = data;
    let live = is_live(&rollout.status);
    let flag_href = format!("/admin/feature-flags/{}", rollout.flag);
    let title = format!("Rollout of {} in {}", rollout.flag, rollout.environment);
    let template = rollout
        .template
        .as_deref()
        .and_then(|t| t.parse::<crate::domain::rollout::Template>().ok())
        .map_or_else(|| "custom stages".to_owned(), |t| format!("{} plan", t.label()));
    let sign_roles: Vec<String> = rollout
        .next_gate
        .as_ref()
        .map(|g| g.missing_roles.iter().filter(|r| viewer.signoff_roles.contains(r)).cloned().collect())
        .unwrap_or_default();
    view! {
        <Title text=title.clone() />
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href="/admin/feature-flags">"Feature flags"</a>
            " / "
            <a href=flag_href>{rollout.flag.clone()}</a>
            " / "
            <span aria-current="page">{format!("Rollout in {}", rollout.environment)}</span>
        </nav>
        <div class="page-head">
            <h1 class="rollout-title">
                <span class="mono">{rollout.flag.clone()}</span>
                " in "
                {rollout.environment.clone()}
                " "
                <RolloutStatusBadge status=rollout.status.clone() />
            </h1>
            <p class="muted">{format!("Rollout {} · {} · sticky by {} · version {}", rollout.id, template, rollout.stickiness, rollout.version)}</p>
        </div>
        <div class="grid-2">
            <section class="card" aria-labelledby="now-h">
                <h2 id="now-h">"Now"</h2>
                <p class="rollout-figure">
                    <span class="rollout-percent" data-testid="rollout-percent">{rollout.current_percent.clone()}</span>
                    " "
                    <span class="rollout-stage">{stage_label(&rollout)}</span>
                </p>
                <dl class="details">
                    <dt>"In this stage for"</dt>
                    <dd>{time_in_stage(&rollout, now).unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Planned"</dt>
                    <dd>{format_time(&rollout.created_at)}</dd>
                    <dt>"Started"</dt>
                    <dd>{rollout.started_at.as_ref().map_or_else(|| "—".into(), format_time)}</dd>
                    <dt>"Finished"</dt>
                    <dd>{rollout.completed_at.as_ref().map_or_else(|| "—".into(), format_time)}</dd>
                    <dt>"Allow-listed customers"</dt>
                    <dd data-testid="allow-customers">{names.list(crate::domain::TargetKind::Customer, &rollout.allow_customers)}</dd>
                    <dt>"Allow-listed organizations"</dt>
                    <dd data-testid="allow-organizations">{names.list(crate::domain::TargetKind::Organization, &rollout.allow_organizations)}</dd>
                </dl>
                {(live && flag_enabled == Some(false)).then(|| view! {
                    <p class="rollout-warning small">
                        "The flag is off in " {rollout.environment.clone()} ": this rollout serves nobody until it is switched on, on "
                        <a href=format!("/admin/feature-flags/{}", rollout.flag)>"the flag's page"</a>"."
                    </p>
                })}
            </section>
            <section class="card" aria-labelledby="next-h">
                <h2 id="next-h">
                    {match (live, viewer.can_edit) {
                        (true, true) => "Next gate and buttons",
                        (true, false) => "Next gate",
                        (false, _) => "Finished",
                    }}
                </h2>
                <Outcome value=act.value() test_id="rollout-outcome" />
                {if live {
                    view! {
                        <NextGate rollout=rollout.clone() now />
                        {(!sign_roles.is_empty()).then(|| view! {
                            <p class="small">
                                {format!("You hold {}, which this gate still needs: ", sign_roles.join(", "))}
                                <a href="/admin/approvals">"sign off in Approvals"</a>
                            </p>
                        })}
                        {if viewer.can_edit {
                            view! { <RolloutButtons rollout=rollout.clone() action=act is_admin=viewer.is_admin /> }.into_any()
                        } else {
                            view! { <p class="state state-info small">"You have view-only access: editors and admins press these buttons."</p> }.into_any()
                        }}
                    }.into_any()
                } else {
                    view! {
                        <p>{format!("This rollout is {}. To roll the flag out again, plan a new rollout on ", super::status_label(&rollout.status))}<a href=format!("/admin/feature-flags/{}", rollout.flag)>"the flag's page"</a>"."</p>
                    }.into_any()
                }}
            </section>
        </div>
        <RolloutFigures rollout_id=rollout.id />
        <super::guardrails::GuardrailsPanel rollout_id=rollout.id stages=rollout.stages.clone() current_stage=rollout.current_stage />
        <Population population />
        <StagesTable rollout=rollout.clone() />
        {(live && viewer.can_edit).then(|| view! { <EditPlan rollout=rollout.clone() edit /> })}
        <SignoffTable rollout=rollout.clone() />
        <Timeline events=rollout.timeline.clone() />
    }
    .into_any()
}

/// The plan as editable lines (see `stage_text`): a new plan bumps the version and voids the sign-offs.
#[component]
fn EditPlan(rollout: RolloutView, edit: ServerAction<EditRollout>) -> impl IntoView {
    let text = super::stage_text::format_stage_lines(&rollout.stages);
    let rows = rollout.stages.len().max(3).to_string();
    let value = edit.value();
    let outcome = Signal::derive(move || value.get());
    view! {
        <section class="card" aria-labelledby="edit-plan-h">
            <details open=move || value.with(|v| matches!(v, Some(Err(_))))>
                <summary><h2 id="edit-plan-h" class="inline-heading">"Edit the plan"</h2></summary>
                <p class="muted small">
                    "One stage per line: name | percent | sign-off roles | soak before the next. A started rollout keeps its current stage at "
                    "its percentage. Saving a new plan voids the sign-offs given so far."
                </p>
                <Outcome value=outcome test_id="edit-outcome" />
                <ActionForm action=edit attr:class="form-grid" attr:aria-label="Edit the plan"
                    attr:onsubmit="return window.confirm('Save the new plan? Sign-offs given so far will no longer count.');">
                    <input type="hidden" name="rollout" value=rollout.id.to_string() />
                    <input type="hidden" name="expected_version" value=rollout.version.to_string() />
                    <div class="field field-wide">
                        <label for="edit-stages">"Stages"</label>
                        <textarea id="edit-stages" name="stages" class="mono" rows=rows>{text}</textarea>
                    </div>
                    <div class="field">
                        <label for="edit-customers">"Allow-listed customers"</label>
                        <input id="edit-customers" name="allow_customers" type="text" autocomplete="off"
                            value=rollout.allow_customers.join(", ") placeholder="cust-0001, cust-0002"
                            aria-describedby="edit-allow-hint" />
                    </div>
                    <div class="field">
                        <label for="edit-organizations">"Allow-listed organizations"</label>
                        <input id="edit-organizations" name="allow_organizations" type="text" autocomplete="off"
                            value=rollout.allow_organizations.join(", ") placeholder="acme, globex"
                            aria-describedby="edit-allow-hint" />
                    </div>
                    <p class="hint field-wide" id="edit-allow-hint">
                        "Keys as your application sends them, separated by commas; always in while the rollout is live. "
                        "They need not be registered."
                    </p>
                    <div class="field field-wide">
                        <label for="edit-reason">"Reason (optional)"</label>
                        <input id="edit-reason" name="reason" type="text" maxlength="2000" />
                    </div>
                    <div class="form-actions">
                        <button type="submit" class="btn btn-primary">"Save the plan"</button>
                    </div>
                </ActionForm>
            </details>
        </section>
    }
}

/// How many known customers and organizations are in and out, and whom the next stage would add.
#[component]
fn Population(population: PopulationView) -> impl IntoView {
    let PopulationView {
        customers_known,
        customers_in,
        organizations_known,
        organizations_in,
        next_percent,
        next_adds,
        next_adds_preview,
    } = population;
    let more = next_adds.saturating_sub(next_adds_preview.len() as u64);
    view! {
        <section class="card" aria-labelledby="population-h" data-testid="population">
            <h2 id="population-h">"Who is in"</h2>
            <dl class="details">
                <dt>"Customers"</dt>
                <dd>{format!("{customers_in} in, {} out, of {customers_known} known", customers_known.saturating_sub(customers_in))}</dd>
                <dt>"Organizations"</dt>
                <dd>{format!("{organizations_in} with a customer in, {} without, of {organizations_known} known", organizations_known.saturating_sub(organizations_in))}</dd>
                <dt>"Next stage"</dt>
                <dd>
                    {match next_percent {
                        None => "no next stage".to_owned(),
                        Some(percent) => format!("{percent} would add {next_adds} customer{}", if next_adds == 1 { "" } else { "s" }),
                    }}
                    {(!next_adds_preview.is_empty()).then(|| view! {
                        <ul class="preview-list" aria-label="Customers the next stage would add">
                            {next_adds_preview.into_iter().map(|c| view! { <li class="mono">{c}</li> }).collect_view()}
                            {(more > 0).then(|| view! { <li class="muted">{format!("and {more} more")}</li> })}
                        </ul>
                    })}
                </dd>
            </dl>
        </section>
    }
    .into_any()
}

#[component]
fn StagesTable(rollout: RolloutView) -> impl IntoView {
    let current = rollout.current_stage.filter(|_| matches!(rollout.status.as_str(), "active" | "paused"));
    view! {
        <section class="card" aria-labelledby="stages-h">
            <h2 id="stages-h">"Stages"</h2>
            <div class="table-wrap">
            <table class="table stages-table" data-testid="stages-table">
                <thead><tr>
                    <th scope="col">"Stage"</th><th scope="col">"Serves"</th><th scope="col">"Sign-offs to enter"</th>
                    <th scope="col">"Soak before the next"</th><th scope="col">"Checklist"</th>
                </tr></thead>
                <tbody>
                    {rollout.stages.into_iter().map(|stage| {
                        let is_current = current == Some(stage.position);
                        view! { <StageRow stage is_current /> }
                    }).collect_view()}
                </tbody>
            </table>
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn StageRow(stage: StageView, is_current: bool) -> impl IntoView {
    let (verify, backout): (Vec<_>, Vec<_>) = stage.checklist.into_iter().partition(|(kind, _)| kind != "backout");
    view! {
        <tr class:current-stage=is_current aria-current=is_current.then_some("step") data-testid=format!("stage-{}", stage.position)>
            <th scope="row">
                {format!("{}. {}", stage.position + 1, stage.name)}
                {is_current.then(|| view! { " " <span class="badge rollout-status-active">"current"</span> })}
            </th>
            <td class="nowrap">{stage.percent}</td>
            <td>{roles_label(&stage.required_roles)}</td>
            <td class="nowrap">{soak_label(stage.min_soak_seconds)}</td>
            <td class="checklist">
                {(!verify.is_empty()).then(|| view! {
                    <ul class="verify-list">
                        {verify.into_iter().map(|(_, text)| view! { <li>{text}</li> }).collect_view()}
                    </ul>
                })}
                {backout.into_iter().map(|(_, command)| view! {
                    <p class="backout"><span class="muted small">"Backout: "</span><code>{command}</code></p>
                }).collect_view()}
            </td>
        </tr>
    }
    .into_any()
}

/// One line of the sign-off checklist.
#[derive(Debug, Clone, PartialEq)]
struct SignoffLine {
    stage: String,
    role: String,
    signoff: Option<SignoffView>,
}

/// The checklist: each role the next stage needs, signed or awaited, then every other sign-off given,
/// oldest first (those of an earlier version void).
fn signoff_lines(rollout: &RolloutView) -> Vec<SignoffLine> {
    let stage_name = |stage: u32| {
        rollout
            .stages
            .get(stage as usize)
            .map_or_else(|| format!("stage {}", stage + 1), |s| format!("{}. {} ({})", stage + 1, s.name, s.percent))
    };
    let mut shown = vec![false; rollout.signoffs.len()];
    let mut lines = Vec::new();
    if let Some(gate) = &rollout.next_gate {
        for role in rollout.stages.get(gate.stage as usize).map(|s| s.required_roles.clone()).unwrap_or_default() {
            let given = rollout
                .signoffs
                .iter()
                .enumerate()
                .filter(|(_, s)| s.current && s.stage == gate.stage && s.role == role)
                .map(|(i, _)| i)
                .collect::<Vec<_>>();
            if given.is_empty() {
                lines.push(SignoffLine { stage: stage_name(gate.stage), role: role.clone(), signoff: None });
            }
            for i in given {
                shown[i] = true;
                lines.push(SignoffLine {
                    stage: stage_name(gate.stage),
                    role: role.clone(),
                    signoff: Some(rollout.signoffs[i].clone()),
                });
            }
        }
    }
    for (i, signoff) in rollout.signoffs.iter().enumerate() {
        if !shown[i] {
            lines.push(SignoffLine {
                stage: stage_name(signoff.stage),
                role: signoff.role.clone(),
                signoff: Some(signoff.clone()),
            });
        }
    }
    lines
}

/// Where a sign-off stands: counting for the current version, spent on the start or advance into its
/// stage, or void (the rollout moved on or was edited without entering the stage after it was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignoffStanding {
    Current,
    Spent,
    Void,
}

fn standing(rollout: &RolloutView, signoff: &SignoffView) -> SignoffStanding {
    if signoff.current {
        return SignoffStanding::Current;
    }
    let percent = rollout.stages.get(signoff.stage as usize).map(|s| s.percent.as_str());
    let entered_after = rollout.timeline.iter().any(|e| {
        matches!(e.kind.as_str(), "started" | "advanced") && e.at >= signoff.at && e.to_percent.as_deref() == percent
    });
    if signoff.decision == "approved" && entered_after {
        SignoffStanding::Spent
    } else {
        SignoffStanding::Void
    }
}

#[component]
fn SignoffTable(rollout: RolloutView) -> impl IntoView {
    let lines: Vec<(SignoffLine, Option<SignoffStanding>)> = signoff_lines(&rollout)
        .into_iter()
        .map(|line| {
            let standing = line.signoff.as_ref().map(|s| standing(&rollout, s));
            (line, standing)
        })
        .collect();
    view! {
        <section class="card" aria-labelledby="signoffs-h">
            <h2 id="signoffs-h">"Sign-offs"</h2>
            {if lines.is_empty() {
                view! { <p class="state state-empty">"No sign-offs needed or given yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                    <table class="table" data-testid="signoff-table">
                        <thead><tr>
                            <th scope="col">"Stage"</th><th scope="col">"Role"</th><th scope="col">"Who"</th>
                            <th scope="col">"When"</th><th scope="col">"Decision"</th><th scope="col">"Comment"</th>
                        </tr></thead>
                        <tbody>
                            {lines.into_iter().map(|(line, standing)| match line.signoff {
                                None => view! {
                                    <tr>
                                        <td>{line.stage}</td>
                                        <th scope="row">{line.role}</th>
                                        <td class="muted">"—"</td>
                                        <td class="muted">"—"</td>
                                        <td><span class="badge signoff-awaiting">"awaiting sign-off"</span></td>
                                        <td></td>
                                    </tr>
                                }.into_any(),
                                Some(s) => {
                                    let (class, decision) = match standing {
                                        Some(SignoffStanding::Void) => ("badge signoff-void", format!("{} · void: given for an earlier version", s.decision)),
                                        Some(SignoffStanding::Spent) => ("badge state-on", format!("{} · counted when the stage was entered", s.decision)),
                                        _ if s.decision == "approved" => ("badge state-on", s.decision.clone()),
                                        _ => ("badge signoff-rejected", s.decision.clone()),
                                    };
                                    let void = standing == Some(SignoffStanding::Void);
                                    view! {
                                        <tr class:void=void>
                                            <td>{line.stage}</td>
                                            <th scope="row">{line.role}</th>
                                            <td>{s.user}</td>
                                            <td class="nowrap">{format_time(&s.at)}</td>
                                            <td><span class=class>{decision}</span></td>
                                            <td>{s.comment}</td>
                                        </tr>
                                    }.into_any()
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
    .into_any()
}

/// What a timeline event was, in words.
fn describe_event(event: &RolloutEventView) -> String {
    let detail = |key: &str| event.details.get(key).cloned().unwrap_or_default();
    let stage = detail("stage").as_u64().map(|s| format!(" (stage {})", s + 1)).unwrap_or_default();
    match event.kind.as_str() {
        "created" => match detail("template").as_str() {
            Some(template) => format!("planned from the {template} template"),
            None => "planned with custom stages".to_owned(),
        },
        "rolled_back" | "paused" if event.details.get("guardrail").is_some() => format!(
            "{} by a guardrail: {}",
            if event.kind == "paused" { "paused" } else { "rolled back" },
            event.details["guardrail"]["rule"].as_str().unwrap_or("?")
        ),
        "rolled_back" => "rolled back".to_owned(),
        "guardrail_source_down" => {
            format!("guardrail frozen, source down: {}", event.details["guardrail"]["rule"].as_str().unwrap_or("?"))
        }
        "advanced" if detail("auto_advance").as_bool() == Some(true) => "advanced by itself (auto-advance)".to_owned(),
        "signoff_requested" => {
            let roles: Vec<String> = detail("roles")
                .as_array()
                .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            format!("asked for sign-off: {}{stage}", roles.join(", "))
        }
        "signoff" => format!(
            "{} as {}{stage}",
            detail("decision").as_str().unwrap_or("signed"),
            detail("role").as_str().unwrap_or("?")
        ),
        other => other.replace('_', " "),
    }
}

#[component]
fn Timeline(events: Vec<RolloutEventView>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="timeline-h">
            <h2 id="timeline-h">"Timeline"</h2>
            <div class="table-wrap">
            <table class="table" data-testid="rollout-timeline">
                <thead><tr>
                    <th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"What"</th>
                    <th scope="col">"Change"</th><th scope="col">"Reason"</th>
                </tr></thead>
                <tbody>
                    {events.into_iter().rev().map(|event| {
                        let change = match (&event.from_percent, &event.to_percent) {
                            (Some(from), Some(to)) => format!("{from} → {to}"),
                            _ => String::new(),
                        };
                        view! {
                            <tr>
                                <td class="nowrap">{format_time(&event.at)}</td>
                                <td>{event.actor.clone()}</td>
                                <td>
                                    {describe_event(&event)}
                                    {event.gate_overridden.then(|| view! { " " <span class="badge signoff-rejected">"gate overridden"</span> })}
                                </td>
                                <td class="nowrap">{change}</td>
                                <td>{event.reason.clone().unwrap_or_default()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            </div>
        </section>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NextGateView;
    use serde_json::json;

    fn signoff(stage: u32, role: &str, user: &str, current: bool) -> SignoffView {
        SignoffView {
            stage,
            role: role.into(),
            user: user.into(),
            decision: "approved".into(),
            comment: String::new(),
            at: DateTime::<Utc>::UNIX_EPOCH,
            current,
        }
    }

    fn rollout_at_stage_1(signoffs: Vec<SignoffView>) -> RolloutView {
        let stage = |position: u32, name: &str, roles: &[&str]| StageView {
            position,
            name: name.into(),
            percent: format!("{}%", position * 10),
            basis_points: 0,
            required_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            min_soak_seconds: 0,
            checklist: vec![],
        };
        RolloutView {
            id: 1,
            flag: "f".into(),
            environment: "production".into(),
            status: "active".into(),
            current_stage: Some(1),
            current_percent: "10%".into(),
            stage_entered_at: Some(DateTime::<Utc>::UNIX_EPOCH),
            version: 4,
            stickiness: "customer_id".into(),
            template: None,
            stages: vec![
                stage(0, "a", &[]),
                stage(1, "b", &["dev_lead"]),
                stage(2, "c", &["ops_oncall", "product_owner"]),
            ],
            allow_customers: vec![],
            allow_organizations: vec![],
            next_gate: Some(NextGateView {
                stage: 2,
                stage_name: "c".into(),
                percent: "20%".into(),
                clear: false,
                message: "missing sign-off: ops_oncall".into(),
                missing_roles: vec!["ops_oncall".into()],
                soak_ends_at: None,
            }),
            signoffs,
            timeline: vec![],
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            started_at: None,
            completed_at: None,
        }
    }

    #[test]
    fn the_checklist_lists_every_role_of_the_next_stage_then_the_other_signoffs() {
        let rollout = rollout_at_stage_1(vec![
            signoff(1, "dev_lead", "admin@x", true),
            signoff(2, "product_owner", "po@x", true),
            signoff(2, "ops_oncall", "old@x", false),
        ]);
        let lines: Vec<(String, Option<String>)> =
            signoff_lines(&rollout).into_iter().map(|l| (l.role, l.signoff.map(|s| s.user))).collect();
        assert_eq!(
            lines,
            vec![
                ("ops_oncall".into(), None),
                ("product_owner".into(), Some("po@x".into())),
                ("dev_lead".into(), Some("admin@x".into())),
                ("ops_oncall".into(), Some("old@x".into())),
            ]
        );
    }

    #[test]
    fn an_old_approval_is_counted_if_its_stage_was_entered_after_it_and_void_otherwise() {
        let mut rollout = rollout_at_stage_1(vec![]);
        let given = signoff(1, "dev_lead", "admin@x", false);
        assert_eq!(standing(&rollout, &given), SignoffStanding::Void);
        rollout.timeline.push(RolloutEventView {
            at: given.at,
            kind: "advanced".into(),
            from_percent: Some("0%".into()),
            to_percent: Some("10%".into()),
            actor: "editor@x".into(),
            reason: None,
            gate_overridden: false,
            details: json!({}),
        });
        assert_eq!(standing(&rollout, &given), SignoffStanding::Spent);
        assert_eq!(standing(&rollout, &signoff(1, "dev_lead", "admin@x", true)), SignoffStanding::Current);
    }

    #[test]
    fn timeline_events_are_described_from_their_details() {
        let event = |kind: &str, details: serde_json::Value| RolloutEventView {
            at: DateTime::<Utc>::UNIX_EPOCH,
            kind: kind.into(),
            from_percent: None,
            to_percent: None,
            actor: "editor@x".into(),
            reason: None,
            gate_overridden: false,
            details,
        };
        assert_eq!(
            describe_event(&event("signoff_requested", json!({"stage": 2, "roles": ["product_owner"]}))),
            "asked for sign-off: product_owner (stage 3)"
        );
        assert_eq!(
            describe_event(&event("signoff", json!({"stage": 2, "role": "product_owner", "decision": "approved"}))),
            "approved as product_owner (stage 3)"
        );
        assert_eq!(
            describe_event(&event("created", json!({"template": "five_tier"}))),
            "planned from the five_tier template"
        );
        assert_eq!(describe_event(&event("rolled_back", json!({}))), "rolled back");
    }
}
