//! The "new flag" form on the flag list.

use crate::domain::FlagKind;
use crate::error::AppError;
use crate::model::PhaseView;
use leptos::prelude::*;

/// Creates a flag, off in every environment. Returns its key.
#[server(endpoint = "create_flag")]
pub async fn create_flag(
    key: String,
    name: String,
    description: String,
    phase: Option<String>,
    kind: String,
) -> Result<String, AppError> {
    use crate::domain::{Description, FlagKey, FlagName};
    use crate::server::{audit::Actor, flags, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Editor, "create flags").await?;
    let invalid = |e: crate::domain::InvalidValue| to_app_error(e.into());
    let new = flags::NewFlag {
        key: FlagKey::parse(&key).map_err(invalid)?,
        name: FlagName::parse(&name).map_err(invalid)?,
        description: Description::parse(&description).map_err(invalid)?,
        phase_key: phase.filter(|p| !p.is_empty()),
        kind: kind.parse::<FlagKind>().map_err(invalid)?,
    };
    let state = expect_context::<AppState>();
    flags::create(&state.pool, &Actor::user(&user), new.clone()).await.map_err(to_app_error)?;
    Ok(new.key.to_string())
}

#[component]
pub fn NewFlagForm(action: ServerAction<CreateFlag>, phases: Vec<PhaseView>) -> impl IntoView {
    let result = action.value();
    let error_for = move |field: &'static str| {
        move || result.with(|r| r.as_ref().and_then(|r| r.as_ref().err()).and_then(|e| e.field_message(field)))
    };
    let other_error = move || {
        result.with(|r| match r {
            Some(Err(e @ AppError::Invalid { field, .. }))
                if !["key", "name", "description", "kind", "phase"].contains(&field.as_str()) =>
            {
                Some(e.to_string())
            }
            Some(Err(AppError::Invalid { .. })) | Some(Ok(_)) | None => None,
            Some(Err(e)) => Some(e.to_string()),
        })
    };
    let created = move || result.with(|r| r.as_ref().and_then(|r| r.as_ref().ok()).cloned());
    let field = move |name: &'static str, label: &'static str, input: AnyView, hint: Option<&'static str>| {
        let err = error_for(name);
        let err_id = format!("new-{name}-error");
        view! {
            <div class="field" class:field-invalid=move || err().is_some()>
                <label for=format!("new-{name}")>{label}</label>
                {input}
                {hint.map(|h| view! { <p class="hint" id=format!("new-{name}-hint")>{h}</p> })}
                <p class="field-error" id=err_id role="alert">{err}</p>
            </div>
        }
    };
    view! {
        {move || created().map(|key| view! {
            <p class="state state-info" role="status">{format!("Created {key}. It is off in every environment.")}</p>
        })}
        <details class="card new-flag" open=move || result.with(|r| matches!(r, Some(Err(_))))>
            <summary class="btn btn-primary">"New flag"</summary>
            <ActionForm action=action attr:class="form-grid" attr:aria-label="New flag">
                {field("key", "Key", view! {
                    <input id="new-key" name="key" required maxlength="100" pattern="[A-Za-z0-9_.\\-]{1,100}"
                        autocomplete="off" spellcheck="false" aria-describedby="new-key-hint new-key-error"
                        aria-invalid=move || if error_for("key")().is_some() { "true" } else { "false" } />
                }.into_any(), Some("Letters, digits, _ . and -; up to 100 characters. Never reused."))}
                {field("name", "Name", view! {
                    <input id="new-name" name="name" required maxlength="200" aria-describedby="new-name-error"
                        aria-invalid=move || if error_for("name")().is_some() { "true" } else { "false" } />
                }.into_any(), None)}
                {field("phase", "Phase", view! {
                    <select id="new-phase" name="phase">
                        <option value="">"No phase"</option>
                        {phases.iter().map(|p| view! { <option value=p.key.clone()>{p.name.clone()}</option> }).collect_view()}
                    </select>
                }.into_any(), None)}
                {field("kind", "Kind", view! {
                    <select id="new-kind" name="kind">
                        {FlagKind::ALL.iter().map(|k| view! { <option value=k.as_str()>{k.as_str().replace('_', " ")}</option> }).collect_view()}
                    </select>
                }.into_any(), None)}
                {field("description", "Description", view! {
                    <textarea id="new-description" name="description" rows="2" maxlength="2000" aria-describedby="new-description-error"></textarea>
                }.into_any(), None)}
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || action.pending().get()>"Create flag"</button>
                    {move || other_error().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
                </div>
            </ActionForm>
        </details>
    }
}
