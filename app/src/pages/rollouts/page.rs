//! `/admin/rollouts/{id}`: one rollout, as its team's checklist had it: where it stands and for how long,
//! the next gate and what it still needs, the stages with their checklists, the sign-offs, the timeline
//! and the allow-list, with the buttons.

mod edit_plan;
mod population;
mod signoffs;
mod stages;
mod timeline;

use edit_plan::EditPlan;
use population::Population;
use signoffs::SignoffTable;
use stages::StagesTable;
use timeline::Timeline;

use super::actions::{EditRollout, RolloutAct};
use super::buttons::RolloutButtons;
use super::charts::RolloutFigures;
use super::panel::NextGate;
use super::widgets::{Outcome, RolloutStatusBadge};
use super::{stage_label, time_in_stage, Viewer};
use crate::components::status::{ErrorBox, Loading};
use crate::error::AppError;
use crate::model::{PopulationView, RolloutView};
use crate::pages::format_time;
use crate::pages::targeting_form::describe_audience;
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
    /// Every segment, `(key, name)`, for the plan editor's audience.
    #[serde(default)]
    pub segments: Vec<(String, String)>,
}

#[server(endpoint = "get_rollout")]
pub async fn get_rollout(id: i64) -> Result<RolloutPageData, AppError> {
    use crate::domain::TargetKind;
    use crate::server::{registry, rollouts, targeting::segments, to_app_error, AppState};
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
    let segments = segments::names(&state.pool).await.map_err(to_app_error)?;
    Ok(RolloutPageData {
        rollout,
        population,
        viewer: Viewer::of(&user),
        flag_enabled,
        now: Utc::now(),
        names,
        segments,
    })
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
    let RolloutPageData { rollout, population, viewer, flag_enabled, now, names, segments } = data;
    let live = rollout.status.is_live();
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
                <RolloutStatusBadge status=rollout.status />
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
                    <dt>"Audience"</dt>
                    <dd data-testid="rollout-audience">{describe_audience(rollout.audience.as_ref())}</dd>
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
                        <p>{format!("This rollout is {}. To roll the flag out again, plan a new rollout on ", rollout.status.label())}<a href=format!("/admin/feature-flags/{}", rollout.flag)>"the flag's page"</a>"."</p>
                    }.into_any()
                }}
            </section>
        </div>
        <RolloutFigures rollout_id=rollout.id />
        <super::guardrails::GuardrailsPanel rollout_id=rollout.id stages=rollout.stages.clone() current_stage=rollout.current_stage />
        <Population population />
        <StagesTable rollout=rollout.clone() />
        {(live && viewer.can_edit).then(|| view! { <EditPlan rollout=rollout.clone() segments edit /> })}
        <SignoffTable rollout=rollout.clone() />
        <Timeline events=rollout.timeline.clone() />
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::signoffs::{signoff_lines, standing, SignoffStanding};
    use super::timeline::describe_event;
    use super::*;
    use crate::model::{NextGateView, RolloutEventView, SignoffView, StageView};
    use serde_json::json;

    fn signoff(stage: u32, role: &str, user: &str, current: bool) -> SignoffView {
        SignoffView {
            stage,
            role: role.into(),
            user: user.into(),
            decision: crate::domain::rollout::SignoffDecision::Approved,
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
            status: crate::domain::rollout::RolloutStatus::Active,
            current_stage: Some(1),
            current_percent: "10%".into(),
            stage_entered_at: Some(DateTime::<Utc>::UNIX_EPOCH),
            version: 4,
            stickiness: crate::domain::Stickiness::CustomerId,
            template: None,
            stages: vec![
                stage(0, "a", &[]),
                stage(1, "b", &["dev_lead"]),
                stage(2, "c", &["ops_oncall", "product_owner"]),
            ],
            allow_customers: vec![],
            allow_organizations: vec![],
            audience: None,
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
