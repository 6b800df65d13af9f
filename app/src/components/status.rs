//! Loading, empty and error states, shown the same way on every page.

use crate::error::AppError;
use leptos::prelude::*;

#[component]
pub fn Loading(#[prop(into)] what: String) -> impl IntoView {
    view! { <p class="state state-loading" role="status">{format!("Loading {what}…")}</p> }
}

#[component]
pub fn Empty(#[prop(into)] message: String) -> impl IntoView {
    view! { <p class="state state-empty">{message}</p> }
}

#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    let hint = match &error {
        AppError::Unauthenticated => Some(view! { <a href="/login">"Sign in"</a> }),
        _ => None,
    };
    view! {
        <div class="state state-error" role="alert">
            <strong>"Could not complete that: "</strong>
            {error.to_string()}
            " "
            {hint}
        </div>
    }
}

/// Tells a viewer, in words rather than only through disabled controls, that they cannot change anything.
#[component]
pub fn ViewOnlyNotice() -> impl IntoView {
    view! {
        <p class="state state-info" data-testid="view-only">
            "You have view-only access: you can see every flag and its history, but not change them. Ask an admin for the editor role."
        </p>
    }
}
