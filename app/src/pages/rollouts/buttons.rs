//! A rollout's buttons, on the flag page and on the rollout page: only those valid for its status.
//!
//! One form per rollout: the buttons share the reason field, and the pressed button's `name=action`
//! tells the server function which one it was (browsers send the submitter's name and value, and so does
//! `ActionForm`). Each button carries its own confirmation text, read by the form's `onsubmit`.

use super::actions::RolloutAct;
use crate::domain::rollout::RolloutStatus;
use crate::model::RolloutView;
use leptos::prelude::*;

/// Asks for confirmation with the pressed button's own `data-confirm` text; returning false stops the
/// post, and `ActionForm` leaves a submit whose default was prevented alone.
pub(crate) const CONFIRM: &str =
    "var b = event.submitter; return window.confirm((b && b.dataset.confirm) || 'Are you sure?');";

/// What a button does, as the form sends it and as people read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Button {
    pub action: &'static str,
    pub label: String,
    pub confirm: String,
    pub class: &'static str,
}

/// The buttons a rollout's status allows, the forward one first. Roll back has its own control.
pub fn buttons_for(rollout: &RolloutView) -> Vec<Button> {
    let (flag, env) = (&rollout.flag, &rollout.environment);
    let next = rollout.next_gate.as_ref().map(|g| (g.percent.clone(), g.stage_name.clone()));
    let at_last_stage = rollout.current_stage.is_some_and(|s| s as usize + 1 == rollout.stages.len());
    let mut buttons = Vec::new();
    let mut push =
        |action, label: String, confirm: String, class| buttons.push(Button { action, label, confirm, class });
    match rollout.status {
        RolloutStatus::Planned => {
            let first = rollout.stages.first().map(|s| format!("{} at {}", s.name, s.percent)).unwrap_or_default();
            push(
                "start",
                "Start".to_owned(),
                format!("Start the rollout of {flag} in {env}? It enters its first stage, {first}."),
                "btn btn-primary",
            );
        }
        RolloutStatus::Active => {
            if let Some((percent, name)) = next {
                push(
                    "advance",
                    format!("Advance to {percent} ({name})"),
                    format!("Advance {flag} in {env} from {} to {percent} ({name})?", rollout.current_percent),
                    "btn btn-primary",
                );
            }
            if at_last_stage {
                push(
                    "complete",
                    "Complete".to_owned(),
                    format!("Complete the rollout of {flag} in {env}? Everybody gets the flag and the rollout ends."),
                    "btn btn-primary",
                );
            }
            push(
                "pause",
                "Pause".to_owned(),
                format!("Pause the rollout of {flag} in {env}? Whoever is in stays in; the soak and any advance stop."),
                "btn",
            );
        }
        RolloutStatus::Paused => push(
            "resume",
            "Resume".to_owned(),
            format!("Resume the rollout of {flag} in {env}? The soak of the current stage starts again."),
            "btn btn-primary",
        ),
        _ => {}
    }
    buttons
}

/// The earlier stages a rollout can go back to, as (value, label); the blank value is 0%, which ends it.
pub fn rollback_targets(rollout: &RolloutView) -> Vec<(String, String)> {
    let mut targets = vec![(String::new(), "0%: end the rollout".to_owned())];
    if let Some(current) =
        rollout.current_stage.filter(|_| matches!(rollout.status, RolloutStatus::Active | RolloutStatus::Paused))
    {
        targets.extend(
            rollout
                .stages
                .iter()
                .take(current as usize)
                .map(|s| (s.position.to_string(), format!("stage {}: {} ({})", s.position + 1, s.name, s.percent))),
        );
    }
    targets
}

/// The form with a rollout's buttons, its reason field and, for admins, the override.
#[component]
pub fn RolloutButtons(rollout: RolloutView, action: ServerAction<RolloutAct>, is_admin: bool) -> impl IntoView {
    let id = rollout.id;
    let (flag, env) = (rollout.flag.clone(), rollout.environment.clone());
    let buttons = buttons_for(&rollout);
    let can_override = is_admin
        && matches!(rollout.status, RolloutStatus::Planned | RolloutStatus::Active)
        && rollout.next_gate.is_some();
    let planned = rollout.status == RolloutStatus::Planned;
    let targets = rollback_targets(&rollout);
    let pending = action.pending();
    let form = crate::components::forms::clear_after_success(action);
    let reason_id = format!("rollout-{id}-reason");
    let override_id = format!("rollout-{id}-override");
    let target_id = format!("rollout-{id}-to-stage");
    let rollback_confirm = if planned {
        format!("Cancel the planned rollout of {flag} in {env}? It ends without having served anybody.")
    } else {
        format!("Roll back {flag} in {env} to the stage chosen under \u{201c}Roll back to\u{201d}? Customers above it are out at once; 0% ends the rollout.")
    };
    view! {
        <ActionForm action node_ref=form attr:class="rollout-actions" attr:aria-label=format!("Change the rollout of {flag} in {env}") attr:onsubmit=CONFIRM>
            <input type="hidden" name="rollout" value=id.to_string() />
            <input type="hidden" name="expected_version" value=rollout.version.to_string() />
            <div class="field">
                <label for=reason_id.clone()>{if can_override { "Reason (optional; required to override)" } else { "Reason (optional)" }}</label>
                <input id=reason_id name="reason" type="text" maxlength="2000" autocomplete="off" placeholder="Why, for the timeline and the audit log" />
            </div>
            {can_override.then(|| view! {
                <div class="check">
                    <input id=override_id.clone() type="checkbox" name="override_gates" value="true" aria-describedby=format!("{override_id}-hint") />
                    <label for=override_id.clone()>"Override unmet gates"</label>
                    <p class="hint" id=format!("{override_id}-hint")>"Admins only, with a reason. Marked in the timeline and the audit log."</p>
                </div>
            })}
            <div class="rollout-buttons">
                {buttons.into_iter().map(|b| view! {
                    <button type="submit" name="action" value=b.action class=b.class data-confirm=b.confirm disabled=move || pending.get()>
                        {b.label}
                    </button>
                }).collect_view()}
                {planned.then(|| view! {
                    <button type="submit" name="action" value="rollback" class="btn btn-danger" data-confirm=rollback_confirm.clone() disabled=move || pending.get()>
                        "Cancel the plan"
                    </button>
                })}
            </div>
            {(!planned).then(|| view! {
                <div class="rollback-group">
                    <div class="field">
                        <label for=target_id.clone()>"Roll back to"</label>
                        <select id=target_id name="to_stage">
                            {targets.into_iter().map(|(value, label)| view! { <option value=value>{label}</option> }).collect_view()}
                        </select>
                    </div>
                    <button type="submit" name="action" value="rollback" class="btn btn-danger" data-confirm=rollback_confirm disabled=move || pending.get()>
                        "Roll back"
                    </button>
                </div>
            })}
        </ActionForm>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NextGateView, StageView};
    use chrono::{DateTime, Utc};

    fn five_tier(status: &str, current_stage: Option<u32>) -> RolloutView {
        let stages: Vec<StageView> = [("disabled", "0%"), ("internal", "1%"), ("early adopters", "10%")]
            .iter()
            .enumerate()
            .map(|(i, (name, percent))| StageView {
                position: i as u32,
                name: (*name).into(),
                percent: (*percent).into(),
                basis_points: 0,
                required_roles: vec![],
                min_soak_seconds: 0,
                checklist: vec![],
            })
            .collect();
        let next = match (status, current_stage) {
            ("planned", _) => Some(0),
            ("active" | "paused", Some(s)) if (s as usize) + 1 < stages.len() => Some(s + 1),
            _ => None,
        };
        RolloutView {
            id: 7,
            flag: "f".into(),
            environment: "production".into(),
            status: status.parse().unwrap_or(RolloutStatus::Planned),
            current_stage,
            current_percent: current_stage.map_or("0%".into(), |s| stages[s as usize].percent.clone()),
            stage_entered_at: current_stage.map(|_| DateTime::<Utc>::UNIX_EPOCH),
            version: 2,
            stickiness: crate::domain::Stickiness::CustomerId,
            template: None,
            next_gate: next.map(|n: u32| NextGateView {
                stage: n,
                stage_name: stages[n as usize].name.clone(),
                percent: stages[n as usize].percent.clone(),
                clear: true,
                message: String::new(),
                missing_roles: vec![],
                soak_ends_at: None,
            }),
            stages,
            allow_customers: vec![],
            allow_organizations: vec![],
            audience: None,
            signoffs: vec![],
            timeline: vec![],
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            started_at: None,
            completed_at: None,
        }
    }

    fn actions(rollout: &RolloutView) -> Vec<&'static str> {
        buttons_for(rollout).iter().map(|b| b.action).collect()
    }

    #[test]
    fn each_status_offers_only_its_valid_buttons() {
        assert_eq!(actions(&five_tier("planned", None)), vec!["start"]);
        assert_eq!(actions(&five_tier("active", Some(1))), vec!["advance", "pause"]);
        assert_eq!(actions(&five_tier("active", Some(2))), vec!["complete", "pause"]);
        assert_eq!(actions(&five_tier("paused", Some(1))), vec!["resume"]);
        assert!(actions(&five_tier("completed", Some(2))).is_empty());
        assert!(actions(&five_tier("rolled_back", None)).is_empty());
    }

    #[test]
    fn the_advance_button_names_the_stage_it_enters() {
        let advance = &buttons_for(&five_tier("active", Some(1)))[0];
        assert_eq!(advance.label, "Advance to 10% (early adopters)");
        assert_eq!(advance.confirm, "Advance f in production from 1% to 10% (early adopters)?");
    }

    #[test]
    fn rollback_offers_0_percent_and_only_the_earlier_stages() {
        let targets: Vec<String> = rollback_targets(&five_tier("active", Some(2))).into_iter().map(|t| t.0).collect();
        assert_eq!(targets, vec!["", "0", "1"]);
        assert_eq!(rollback_targets(&five_tier("planned", None)).len(), 1);
    }
}
