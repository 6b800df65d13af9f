//! The "Overrides" card of a flag's page: per environment, the values forced for customer and
//! organization keys (any key an application sends; a registered name is shown beside it), and for
//! editors plain forms to add, change and remove them. The forms post to server functions, so they work
//! without JavaScript (the page comes back by a redirect) and in place with it.

use super::override_actions::{AddOverride, ChangeOverride, RemoveOverride};
use crate::components::status::{ErrorBox, Loading};
use crate::error::AppError;
use crate::model::targets::{EnvironmentOverrides, FlagOverrides, OverrideView, TARGET_KINDS};
use crate::pages::format_time;
use leptos::prelude::*;

#[server(endpoint = "flag_overrides")]
pub async fn load_flag_overrides(flag: String) -> Result<FlagOverrides, AppError> {
    use crate::server::{overrides, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see overrides").await?;
    let state = expect_context::<AppState>();
    overrides::list(&state.pool, &flag, user.role.can_edit_flags()).await.map_err(to_app_error)
}

#[component]
pub fn FlagOverridesCard(flag: String) -> impl IntoView {
    let add = ServerAction::<AddOverride>::new();
    let change = ServerAction::<ChangeOverride>::new();
    let remove = ServerAction::<RemoveOverride>::new();
    let data = Resource::new(
        move || (flag.clone(), add.version().get(), change.version().get(), remove.version().get()),
        |(flag, _, _, _)| load_flag_overrides(flag),
    );
    let outcome = |result: Option<Result<String, AppError>>| {
        result.map(|result| match result {
            Ok(message) => {
                view! { <p class="state state-info" role="status" data-testid="override-outcome">{message}</p> }
                    .into_any()
            }
            Err(error) => view! { <div data-testid="override-outcome-error"><ErrorBox error /></div> }.into_any(),
        })
    };
    view! {
        <section class="card" aria-labelledby="overrides-h" data-testid="overrides">
            <h2 id="overrides-h">"Overrides"</h2>
            <p class="muted small">
                "A value forced for one customer or organization key, before the rollout and the default. "
                "Any key your application sends works; it need not be registered. "
                <a href="/admin/organizations">"Organizations and customers"</a>" gives keys names."
            </p>
            {move || outcome(change.value().get())}
            {move || outcome(remove.value().get())}
            <Transition fallback=|| view! { <Loading what="the overrides" /> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(data) => view! { <OverridesBody data add change remove /> }.into_any(),
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn OverridesBody(
    data: FlagOverrides,
    add: ServerAction<AddOverride>,
    change: ServerAction<ChangeOverride>,
    remove: ServerAction<RemoveOverride>,
) -> impl IntoView {
    let FlagOverrides { flag, value_type, archived, can_edit, environments } = data;
    let add_form = can_edit.then(|| {
        let envs: Vec<(String, String)> =
            environments.iter().map(|e| (e.environment.clone(), e.environment_name.clone())).collect();
        view! { <AddOverrideForm flag=flag.clone() value_type=value_type.clone() environments=envs add /> }.into_any()
    });
    let lists = environments
        .into_iter()
        .map(|env| {
            view! { <EnvironmentOverridesList flag=flag.clone() value_type=value_type.clone() env can_edit change remove /> }
                .into_any()
        })
        .collect_view();
    view! {
        {archived.then(|| view! { <p class="muted small">"The flag is archived: its overrides can no longer change."</p> })}
        {lists}
        {add_form}
    }
}

/// The value control: a choice of true and false for a boolean flag, text otherwise.
fn value_input(id: String, value_type: &str, current: Option<&serde_json::Value>, label: Option<String>) -> AnyView {
    match value_type {
        "boolean" => {
            let on = current.is_none_or(|v| v == &serde_json::Value::Bool(true));
            view! {
                <select id=id name="value" aria-label=label>
                    <option value="true" selected=on>"true"</option>
                    <option value="false" selected=!on>"false"</option>
                </select>
            }
            .into_any()
        }
        other => {
            let text = match current {
                Some(serde_json::Value::String(s)) if other == "string" => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            let placeholder = match other {
                "string" => "blue",
                "number" => "42",
                _ => r#"{"limit": 10}"#,
            };
            view! { <input id=id name="value" type="text" required value=text placeholder=placeholder aria-label=label /> }
                .into_any()
        }
    }
}

#[component]
fn EnvironmentOverridesList(
    flag: String,
    value_type: String,
    env: EnvironmentOverrides,
    can_edit: bool,
    change: ServerAction<ChangeOverride>,
    remove: ServerAction<RemoveOverride>,
) -> impl IntoView {
    let EnvironmentOverrides { environment, environment_name, overrides } = env;
    let heading_id = format!("overrides-{environment}-h");
    let body = if overrides.is_empty() {
        view! { <p class="muted small">"No overrides."</p> }.into_any()
    } else {
        let rows = overrides
            .into_iter()
            .map(|o| {
                view! {
                    <OverrideRow flag=flag.clone() environment=environment.clone() value_type=value_type.clone() o can_edit change remove />
                }
                .into_any()
            })
            .collect_view();
        view! {
            <div class="table-wrap">
                <table class="table overrides-table stack-table" data-testid=format!("overrides-{environment}")>
                    <thead><tr>
                        <th scope="col">"Target"</th><th scope="col">"Value"</th><th scope="col">"Reason"</th>
                        <th scope="col">"Last change"</th>
                        {can_edit.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    let labelled_by = heading_id.clone();
    view! {
        <section class="overrides-env" aria-labelledby=labelled_by>
            <h3 id=heading_id class="subheading">{environment_name}</h3>
            {body}
        </section>
    }
}

#[component]
fn OverrideRow(
    flag: String,
    environment: String,
    value_type: String,
    o: OverrideView,
    can_edit: bool,
    change: ServerAction<ChangeOverride>,
    remove: ServerAction<RemoveOverride>,
) -> impl IntoView {
    let kind = o.target.kind.as_str();
    let key = o.target.key.clone();
    let label = o.label().to_owned();
    let who = format!("{kind} {key} in {environment}");
    let target_cell = view! {
        <th scope="row">
            <span class="badge target-kind">{kind}</span>" "
            {label.clone()}
            {o.target_name.is_some().then(|| view! { <div class="flag-desc mono">{key.clone()}</div> })}
        </th>
    };
    let value_text = o.value.to_string();
    let last = format!(
        "{}{}",
        format_time(&o.updated_at),
        o.updated_by.as_ref().map(|u| format!(" by {u}")).unwrap_or_default()
    );
    let actions = can_edit.then(|| {
        let id = format!("ov-{environment}-{kind}-{key}");
        let confirm = format!("return confirm('Remove the override for {kind} {key} in {environment}?')");
        let version = o.version.to_string();
        let value = value_input(format!("{id}-value"), &value_type, Some(&o.value), Some(format!("Value for {who}")));
        let change_label = format!("Change the override for {who}");
        let (reason_label, save_label, remove_label) = (
            format!("Reason for {who}"),
            format!("Save the override for {who}"),
            format!("Remove the override for {who}"),
        );
        let (flag2, environment2, key2, version2) = (flag.clone(), environment.clone(), key.clone(), version.clone());
        let (flag, environment, key, reason) = (flag.clone(), environment.clone(), key.clone(), o.reason.clone());
        view! {
            <td class="override-actions">
                <ActionForm action=change attr:class="override-change" attr:aria-label=change_label>
                    <input type="hidden" name="flag" value=flag />
                    <input type="hidden" name="environment" value=environment />
                    <input type="hidden" name="kind" value=kind />
                    <input type="hidden" name="target" value=key />
                    <input type="hidden" name="expected_version" value=version />
                    {value}
                    <input name="reason" type="text" maxlength="2000" value=reason placeholder="reason" aria-label=reason_label />
                    <button type="submit" class="btn btn-small" aria-label=save_label>"Save"</button>
                </ActionForm>
                <ActionForm action=remove attr:class="inline-form" attr:onsubmit=confirm>
                    <input type="hidden" name="flag" value=flag2 />
                    <input type="hidden" name="environment" value=environment2 />
                    <input type="hidden" name="kind" value=kind />
                    <input type="hidden" name="target" value=key2 />
                    <input type="hidden" name="expected_version" value=version2 />
                    <button type="submit" class="btn btn-small btn-danger" aria-label=remove_label>"Remove"</button>
                </ActionForm>
            </td>
        }
    });
    view! {
        <tr data-testid=format!("override-{kind}-{key}")>
            {target_cell}
            <td data-label="Value"><code data-testid="override-value">{value_text}</code></td>
            <td class="small" data-label="Reason">{if o.reason.is_empty() { "—".to_owned() } else { o.reason.clone() }}</td>
            <td class="small" data-label="Last change">{last}</td>
            {actions}
        </tr>
    }
}

#[component]
fn AddOverrideForm(
    flag: String,
    value_type: String,
    environments: Vec<(String, String)>,
    add: ServerAction<AddOverride>,
) -> impl IntoView {
    const FIELDS: [&str; 6] = ["environment", "kind", "target", "value", "reason", "flag"];
    let error = move |field: &'static str| add.value().get().and_then(Result::err).and_then(|e| e.field_message(field));
    let invalid = move |field: &'static str| error(field).is_some().to_string();
    let other_error = move || {
        add.value().get().and_then(Result::err).filter(|e| !FIELDS.iter().any(|f| e.field_message(f).is_some()))
    };
    let hint = format!(
        "Customer keys: {}. Organization keys: {}.",
        crate::domain::TargetKind::Customer.alphabet(),
        crate::domain::TargetKind::Organization.alphabet()
    );
    view! {
        <h3 class="subheading">"Add an override"</h3>
        {move || other_error().map(|error| view! { <ErrorBox error /> })}
        {move || add.value().get().and_then(Result::ok).map(|message| view! {
            <p class="state state-info" role="status" data-testid="override-added">{message}</p>
        })}
        <ActionForm action=add attr:class="form-grid" attr:aria-label="Add an override">
            <input type="hidden" name="flag" value=flag />
            <div class="field">
                <label for="override-env">"Environment"</label>
                <select id="override-env" name="environment" aria-describedby="override-env-error">
                    {environments.into_iter().map(|(key, name)| view! { <option value=key>{name}</option> }).collect_view()}
                </select>
                <p id="override-env-error" class="field-error" role="alert">{move || error("environment")}</p>
            </div>
            <div class="field">
                <label for="override-kind">"Target"</label>
                <select id="override-kind" name="kind">
                    {TARGET_KINDS.iter().map(|k| view! { <option value=k.as_str()>{if k.as_str() == "customer" { "Customer" } else { "Organization" }}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="override-target">"Key"</label>
                <input id="override-target" name="target" type="text" required autocomplete="off" placeholder="e.g. cust-1042 or acme"
                    aria-invalid=move || invalid("target") aria-describedby="override-target-hint override-target-error" />
                <p class="hint" id="override-target-hint">{hint}</p>
                <p id="override-target-error" class="field-error" role="alert">{move || error("target")}</p>
            </div>
            <div class="field">
                <label for="override-value">"Value"</label>
                {value_input("override-value".into(), &value_type, None, None)}
                <p id="override-value-error" class="field-error" role="alert">{move || error("value")}</p>
            </div>
            <div class="field field-wide">
                <label for="override-reason">"Reason"</label>
                <input id="override-reason" name="reason" type="text" maxlength="2000" placeholder="pilot customer"
                    aria-describedby="override-reason-error" />
                <p id="override-reason-error" class="field-error" role="alert">{move || error("reason")}</p>
            </div>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" disabled=move || add.pending().get()>"Add override"</button>
            </div>
        </ActionForm>
    }
}
