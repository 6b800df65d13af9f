//! Small pieces shared by the rollout pages: the status badge, the soak countdown and the outcome of a
//! button press.

use crate::error::AppError;
use chrono::{DateTime, TimeDelta, Utc};
use leptos::prelude::*;

/// A rollout's status as a badge; the colour repeats what the word says.
#[component]
pub fn RolloutStatusBadge(status: crate::domain::rollout::RolloutStatus) -> impl IntoView {
    view! {
        <span class=format!("badge rollout-status rollout-status-{status}") data-testid="rollout-status">
            {status.label()}
        </span>
    }
}

/// "soak ends in 3h12m", rendered by the server from its clock and, once hydrated, counted down every
/// second from there (not from the browser's clock, which may be off).
#[component]
pub fn SoakCountdown(ends_at: DateTime<Utc>, now: DateTime<Utc>) -> impl IntoView {
    let ticks = RwSignal::new(0_i64);
    Effect::new(move |_| {
        // Effects run only in the browser.
        if let Ok(handle) =
            set_interval_with_handle(move || ticks.update(|t| *t += 1), std::time::Duration::from_secs(1))
        {
            on_cleanup(move || handle.clear());
        }
    });
    let text = move || {
        let left = ends_at - now - TimeDelta::seconds(ticks.get());
        if left > TimeDelta::zero() {
            format!("soak ends in {}", crate::domain::rollout::format_duration_short(left))
        } else {
            "the soak is over; reload to check the gate again".to_owned()
        }
    };
    view! {
        // role=timer: not announced every second, but found by those who look for it.
        <time class="soak" role="timer" datetime=ends_at.to_rfc3339() title=format!("at {}", crate::pages::format_time(&ends_at)) data-testid="soak-countdown">
            {text}
        </time>
    }
}

/// What a button press did: a status line on success, an alert on failure that says what stood in the
/// way. Without JavaScript the failure arrives with the page the browser is sent back to.
#[component]
pub fn Outcome(
    #[prop(into)] value: Signal<Option<Result<String, AppError>>>,
    #[prop(into)] test_id: String,
) -> impl IntoView {
    let alert_id = format!("{test_id}-error");
    move || match value.get() {
        None => ().into_any(),
        Some(Ok(message)) => view! { <p class="state state-info" role="status">{message}</p> }.into_any(),
        Some(Err(error)) => {
            let (title, hint) = match &error {
                AppError::Refused { code, .. } if code == "GATE_BLOCKED" => {
                    ("Refused by a gate: ", Some("The gates are checked on the server; nothing was changed."))
                }
                AppError::Refused { .. } => ("Refused: ", Some("Nothing was changed.")),
                AppError::Conflict { .. } => (
                    "Someone changed this rollout first: ",
                    Some("The page now shows its current state; check it before you try again."),
                ),
                AppError::Invalid { .. } => ("Check the form: ", None),
                _ => ("Could not complete that: ", None),
            };
            view! {
                <div class="state state-error" role="alert" id=alert_id.clone() data-testid=alert_id.clone()>
                    <strong>{title}</strong>
                    {error.to_string()}
                    {hint.map(|h| view! { <span class="refusal-hint">{h}</span> })}
                    {matches!(error, AppError::Unauthenticated).then(|| view! { " " <a href="/login">"Sign in"</a> })}
                </div>
            }
            .into_any()
        }
    }
}
