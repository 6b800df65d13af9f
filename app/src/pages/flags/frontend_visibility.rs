//! "Visible to frontends" on a flag's page: whether browser pages and apps holding a frontend token
//! evaluate the flag. Editors change it; everyone sees it.

use crate::error::AppError;
use leptos::prelude::*;

/// Shows a flag to frontends or hides it. `expected_version` is the flag's version the page showed.
#[server(endpoint = "set_frontend_visibility")]
pub async fn set_frontend_visibility(
    flag: String,
    visible: bool,
    expected_version: Option<i32>,
) -> Result<(), AppError> {
    use crate::domain::{FlagKey, Role};
    use crate::server::{audit::Actor, frontend_visibility, to_app_error, AppState};
    let me = crate::server::auth::require(Role::Editor, "change which flags frontends see").await?;
    let flag = FlagKey::parse(&flag).map_err(|e| to_app_error(e.at("flag").into()))?;
    let state = expect_context::<AppState>();
    frontend_visibility::set(&state.pool, &Actor::user(&me), &flag, visible, expected_version)
        .await
        .map(|_| ())
        .map_err(to_app_error)
}

#[component]
pub fn FrontendVisibility(
    action: ServerAction<SetFrontendVisibility>,
    flag: String,
    visible: bool,
    version: i32,
    can_edit: bool,
) -> impl IntoView {
    let state = if visible {
        "Yes: browser pages and apps with a frontend token evaluate it."
    } else {
        "No: frontend tokens get “not found”."
    };
    view! {
        <span data-testid="frontend-visibility">{state}</span>
        {can_edit.then(|| view! {
            <ActionForm action attr:class="inline-form" attr:aria-label="Visibility to frontends">
                <input type="hidden" name="flag" value=flag />
                <input type="hidden" name="visible" value=(!visible).to_string() />
                <input type="hidden" name="expected_version" value=version.to_string() />
                <button type="submit" class="btn">{if visible { "Hide from frontends" } else { "Show to frontends" }}</button>
            </ActionForm>
        })}
    }
}
