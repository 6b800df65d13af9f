//! The stages card: each stage's percentage, soak, required sign-offs and checklist, the current one marked.

use crate::model::{RolloutView, StageView};
use crate::pages::rollouts::{roles_label, soak_label};
use leptos::prelude::*;

#[component]
pub(super) fn StagesTable(rollout: RolloutView) -> impl IntoView {
    let current = rollout.current_stage.filter(|_| {
        matches!(
            rollout.status,
            crate::domain::rollout::RolloutStatus::Active | crate::domain::rollout::RolloutStatus::Paused
        )
    });
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
