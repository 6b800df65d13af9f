//! The sign-offs card: who signed what, for which stage and version, and whether it still counts.

use crate::domain::rollout::SignoffDecision;
use crate::model::{RolloutView, SignoffView};
use crate::pages::format_time;
use leptos::prelude::*;

/// One line of the sign-off checklist.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SignoffLine {
    pub(super) stage: String,
    pub(super) role: String,
    pub(super) signoff: Option<SignoffView>,
}

/// The checklist: each role the next stage needs, signed or awaited, then every other sign-off given,
/// oldest first (those of an earlier version void).
pub(super) fn signoff_lines(rollout: &RolloutView) -> Vec<SignoffLine> {
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
pub(super) enum SignoffStanding {
    Current,
    Spent,
    Void,
}

pub(super) fn standing(rollout: &RolloutView, signoff: &SignoffView) -> SignoffStanding {
    if signoff.current {
        return SignoffStanding::Current;
    }
    let percent = rollout.stages.get(signoff.stage as usize).map(|s| s.percent.as_str());
    let entered_after = rollout.timeline.iter().any(|e| {
        matches!(e.kind.as_str(), "started" | "advanced") && e.at >= signoff.at && e.to_percent.as_deref() == percent
    });
    if signoff.decision == SignoffDecision::Approved && entered_after {
        SignoffStanding::Spent
    } else {
        SignoffStanding::Void
    }
}

#[component]
pub(super) fn SignoffTable(rollout: RolloutView) -> impl IntoView {
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
                                        _ if s.decision == SignoffDecision::Approved => ("badge state-on", s.decision.to_string()),
                                        _ => ("badge signoff-rejected", s.decision.to_string()),
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
