//! The kill switch: one form per flag and environment, so it works without JavaScript (the form posts to
//! the server function and the browser comes back to the page) and, once hydrated, without a reload.
//!
//! Widgets take their data and actions from their page; this one's server function lives here, beside
//! the form that posts to it, because the flag list and the flag page both use it and neither owns it.
//! The page still creates the action (`ServerAction<ToggleFlag>`) and hands it in, so it decides what to
//! refetch when a switch flips.

use crate::error::AppError;
use crate::model::FlagState;
use leptos::prelude::*;

/// Turns a flag on or off in one environment. `version` is the state's version the page showed.
#[server(endpoint = "toggle_flag")]
pub async fn toggle_flag(
    flag: String,
    env: String,
    enabled: bool,
    version: Option<i32>,
    reason: Option<String>,
) -> Result<FlagState, AppError> {
    use crate::domain::{EnvKey, FlagKey, Role};
    use crate::server::{audit::Actor, flags, to_app_error, AppState};
    let user = crate::server::auth::require(Role::Editor, "change flags").await?;
    let flag = FlagKey::parse(&flag).map_err(|e| to_app_error(e.at("flag").into()))?;
    let env = EnvKey::parse(&env).map_err(|e| to_app_error(e.at("env").into()))?;
    let state = expect_context::<AppState>();
    flags::set_enabled(&state.pool, &Actor::user(&user), &flag, &env, enabled, version, reason.as_deref())
        .await
        .map_err(to_app_error)
}

/// A switch for one flag in one environment.
#[component]
pub fn FlagToggle(
    action: ServerAction<ToggleFlag>,
    #[prop(into)] flag: String,
    state: FlagState,
    can_edit: bool,
    /// Show a reason field beside the switch (the flag page does; the dense list does not).
    #[prop(optional)]
    with_reason: bool,
) -> impl IntoView {
    let label = format!("{} in {}", flag, state.environment);
    let test_id = format!("toggle-{}-{}", flag, state.environment);
    let title = if can_edit {
        format!("Turn {} {} in {}", flag, if state.enabled { "off" } else { "on" }, state.environment)
    } else {
        "Viewers cannot change flags".to_owned()
    };
    let pending = action.pending();
    view! {
        <ActionForm action=action attr:class="toggle-form">
            <input type="hidden" name="flag" value=flag.clone() />
            <input type="hidden" name="env" value=state.environment.clone() />
            <input type="hidden" name="enabled" value=(!state.enabled).to_string() />
            <input type="hidden" name="version" value=state.version.to_string() />
            {with_reason.then(|| view! {
                <label class="visually-hidden" for=format!("reason-{}", state.environment)>
                    {format!("Reason for changing {}", state.environment)}
                </label>
                <input
                    class="reason-input"
                    type="text"
                    name="reason"
                    id=format!("reason-{}", state.environment)
                    placeholder="Reason (optional)"
                    maxlength="2000"
                    disabled=!can_edit
                />
            })}
            <button
                type="submit"
                class="switch"
                role="switch"
                aria-checked=state.enabled.to_string()
                aria-label=label
                title=title
                data-testid=test_id
                disabled=move || !can_edit || pending.get()
            >
                <span class="switch-track" aria-hidden="true"><span class="switch-thumb"></span></span>
                <span class="switch-text">{if state.enabled { "On" } else { "Off" }}</span>
            </button>
        </ActionForm>
    }
}
