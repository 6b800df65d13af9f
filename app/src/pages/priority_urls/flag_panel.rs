//! The flag for one account: per environment, the kill switch, the account's override and a switch that
//! sets the override (on or off); "use the default" clears it. Every change is an audited override.

use crate::components::badges::StateBadge;
use crate::error::AppError;
use crate::model::priority::AccountFlagState;
use leptos::prelude::*;

/// Sets the account's override of `priority_urls_enabled` in `env` to `value` (`on` or `off`), or clears
/// it (`default`).
#[server(endpoint = "set_account_flag")]
pub async fn set_account_flag(
    account: String,
    env: String,
    value: String,
    reason: Option<String>,
) -> Result<bool, AppError> {
    use crate::domain::{priority::FLAG_KEY, EnvKey, FlagKey, Role};
    use crate::server::{audit::Actor, overrides, to_app_error, AppState, ServiceError};
    let user = crate::server::auth::require(Role::Editor, "change overrides").await?;
    let env = EnvKey::parse(&env).map_err(|e| to_app_error(e.at("env").into()))?;
    // An organization's key, reported against the form's field.
    let account =
        crate::domain::TargetKind::Organization.parse_key(&account, "account").map_err(|e| to_app_error(e.into()))?;
    let flag = FlagKey::parse(FLAG_KEY).map_err(|e| to_app_error(e.into()))?;
    let value = match value.as_str() {
        "on" => Some(serde_json::Value::Bool(true)),
        "off" => Some(serde_json::Value::Bool(false)),
        "default" => None,
        other => {
            return Err(to_app_error(ServiceError::invalid("value", format!("{other:?} is not on, off or default"))))
        }
    };
    let state = expect_context::<AppState>();
    let reason = reason.filter(|r| !r.trim().is_empty());
    overrides::set_organization_override(
        &state.pool,
        &Actor::user(&user),
        &flag,
        &env,
        &account,
        value,
        reason.as_deref(),
    )
    .await
    .map_err(to_app_error)
}

#[component]
pub fn FlagPanel(
    account: String,
    states: Vec<AccountFlagState>,
    action: ServerAction<SetAccountFlag>,
    can_edit: bool,
) -> impl IntoView {
    let pending = action.pending();
    view! {
        <section class="card" aria-labelledby="flag-h" data-testid="account-flag">
            <h2 id="flag-h"><code>"priority_urls_enabled"</code>" for this account"</h2>
            <p class="muted small">"On: the dashboard shows the imported badges. Off: the heuristic ones. Each switch sets the account's override in that environment, and is audited."</p>
            {move || action.value().get().and_then(Result::err).map(|error| view! {
                <div class="state state-error" role="alert">{error.to_string()}</div>
            })}
            {if states.is_empty() {
                view! { <p class="state state-info">"There is no flag priority_urls_enabled: create it on the flag manager first."</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <thead><tr>
                            <th scope="col">"Environment"</th><th scope="col">"Flag"</th>
                            <th scope="col">"Override"</th><th scope="col">"For this account"</th>
                        </tr></thead>
                        <tbody>
                            {states.into_iter().map(|s| {
                                let on = s.serves_on();
                                let override_text = match &s.override_value {
                                    Some(v) => v.to_string(),
                                    None => format!("none (default {})", s.default_value),
                                };
                                let has_override = s.override_value.is_some();
                                let label = format!("priority_urls_enabled for {} in {}", account, s.environment);
                                let (account_a, account_b) = (account.clone(), account.clone());
                                let (env_a, env_b) = (s.environment.clone(), s.environment.clone());
                                view! {
                                    <tr data-testid=format!("account-flag-{}", s.environment)>
                                        <th scope="row">{s.environment_name.clone()}</th>
                                        <td><StateBadge enabled=s.flag_enabled /></td>
                                        <td class="mono small">{override_text}</td>
                                        <td class="nowrap">
                                            <ActionForm action attr:class="toggle-form">
                                                <input type="hidden" name="account" value=account_a />
                                                <input type="hidden" name="env" value=env_a />
                                                <input type="hidden" name="value" value=if on { "off" } else { "on" } />
                                                <button type="submit" class="switch" role="switch" aria-checked=on.to_string()
                                                    aria-label=label disabled=move || !can_edit || pending.get()
                                                    title=if s.flag_enabled { "Set the account's override" } else { "The flag is off in this environment (kill switch): the override has no effect until it is on" }>
                                                    <span class="switch-track" aria-hidden="true"><span class="switch-thumb"></span></span>
                                                    <span class="switch-text">{if on { "On" } else { "Off" }}</span>
                                                </button>
                                            </ActionForm>
                                            {(has_override && can_edit).then(|| view! {
                                                <ActionForm action attr:class="toggle-form">
                                                    <input type="hidden" name="account" value=account_b />
                                                    <input type="hidden" name="env" value=env_b />
                                                    <input type="hidden" name="value" value="default" />
                                                    <button type="submit" class="btn btn-quiet btn-small">"Use the default"</button>
                                                </ActionForm>
                                            })}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
