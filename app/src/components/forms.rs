//! Behaviour shared by the pages' forms.

use leptos::prelude::*;

/// A form that empties itself once `action` succeeds. After a press the page refetches and renders the
/// new state into the same elements, which would otherwise keep what was typed (a reason meant for the
/// last press, a ticked override) for the next one.
pub fn clear_after_success<S>(action: ServerAction<S>) -> NodeRef<leptos::html::Form>
where
    S: server_fn::ServerFn<Output = String, Error = crate::error::AppError> + Clone + Send + Sync + 'static,
{
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(_)))) {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
        }
    });
    form
}
