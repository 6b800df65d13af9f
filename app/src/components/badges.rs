//! Small labels: flag kinds and on/off states.

use crate::domain::FlagKind;
use leptos::prelude::*;

#[component]
pub fn KindBadge(kind: FlagKind) -> impl IntoView {
    let label = match kind {
        FlagKind::Release => "release",
        FlagKind::Operational => "operational",
        FlagKind::KillSwitch => "kill switch",
        FlagKind::Experiment => "experiment",
        FlagKind::Permission => "permission",
    };
    view! { <span class=format!("badge kind-{}", kind.as_str())>{label}</span> }
}

#[component]
pub fn StateBadge(enabled: bool) -> impl IntoView {
    view! {
        <span class=if enabled { "badge state-on" } else { "badge state-off" }>
            {if enabled { "on" } else { "off" }}
        </span>
    }
}
