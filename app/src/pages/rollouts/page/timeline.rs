//! The timeline card: every transition and event, in words.

use crate::model::RolloutEventView;
use crate::pages::format_time;
use leptos::prelude::*;

/// What a timeline event was, in words.
pub(super) fn describe_event(event: &RolloutEventView) -> String {
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
pub(super) fn Timeline(events: Vec<RolloutEventView>) -> impl IntoView {
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
