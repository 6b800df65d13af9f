//! "Move to another phase" on a flag's page, for editors.

use crate::error::AppError;
use crate::pages::phases::list_phases;
use leptos::prelude::*;

/// Moves a flag into a phase (an empty `phase`: out of every phase). `expected_version` is the flag's
/// version the page showed.
#[server(endpoint = "move_flag_to_phase")]
pub async fn move_flag_to_phase(flag: String, phase: String, expected_version: Option<i32>) -> Result<(), AppError> {
    use crate::domain::{FlagKey, PhaseKey, Role};
    use crate::server::{audit::Actor, phases, to_app_error, AppState, ServiceError};
    let me = crate::server::auth::require(Role::Editor, "move flags between phases").await?;
    let invalid = |e: crate::domain::InvalidValue| to_app_error(e.into());
    let flag = FlagKey::parse(&flag).map_err(|e| invalid(e.at("flag")))?;
    let phase = match phase.trim() {
        "" => None,
        key => Some(PhaseKey::parse(key).map_err(|e| to_app_error(ServiceError::invalid("phase", e.message)))?),
    };
    let state = expect_context::<AppState>();
    phases::move_flag(&state.pool, &Actor::user(&me), &flag, phase.as_ref(), expected_version)
        .await
        .map(|_| ())
        .map_err(to_app_error)
}

#[component]
pub fn MoveToPhase(
    action: ServerAction<MoveFlagToPhase>,
    flag: String,
    current: Option<String>,
    version: i32,
) -> impl IntoView {
    let phases = Resource::new(|| (), |_| list_phases());
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let (flag, current) = (flag.clone(), current.clone());
                Suspend::new(async move {
                    let phases = phases.await.map(|p| p.phases).unwrap_or_default();
                    view! {
                        <ActionForm action attr:class="inline-form move-phase" attr:aria-label="Move to another phase">
                            <input type="hidden" name="flag" value=flag />
                            <input type="hidden" name="expected_version" value=version.to_string() />
                            <label class="visually-hidden" for="move-phase">"Phase"</label>
                            <select id="move-phase" name="phase">
                                <option value="" selected=current.is_none()>"No phase"</option>
                                {phases.into_iter().map(|p| {
                                    let selected = current.as_deref() == Some(p.key.as_str());
                                    view! { <option value=p.key.clone() selected=selected>{p.name}</option> }
                                }).collect_view()}
                            </select>
                            <button type="submit" class="btn">"Move"</button>
                        </ActionForm>
                    }
                })
            }}
        </Suspense>
    }
}
