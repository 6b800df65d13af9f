//! Sign-in. A plain HTML form posting `email` and `password` to `/login` (handled by the server crate),
//! so it works before, and without, the wasm bundle.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Whether nobody can sign in yet because the install has no user: the page then says where the set-up
/// link is.
#[server(endpoint = "awaiting_first_user")]
pub async fn awaiting_first_user() -> Result<bool, AppError> {
    use crate::server::{setup, to_app_error, AppState};
    let state = expect_context::<AppState>();
    setup::needs_first_user(&state.pool).await.map_err(to_app_error)
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let message = move || {
        query.with(|q| {
            if q.get("error").is_some() {
                Some(("alert", "Wrong email or password."))
            } else if q.get("signed_out").is_some() {
                Some(("status", "You have signed out."))
            } else if q.get("expired").is_some() {
                Some(("status", "Your session has ended. Sign in again."))
            } else {
                None
            }
        })
    };
    let next = move || query.with(|q| q.get("next").unwrap_or_default());
    let empty = Resource::new(|| (), |_| awaiting_first_user());
    view! {
        <Title text="Sign in" />
        <main class="login-page">
            <form class="card login-card" method="post" action="/login">
                <h1><span class="brand-mark" aria-hidden="true">"◆"</span>" Rollgate"</h1>
                <p class="muted">"Sign in to manage feature flags and rollouts."</p>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        (empty.await == Ok(true)).then(|| view! {
                            <p class="state state-info" data-testid="no-users-yet">
                                "Rollgate has no user yet. Open the set-up link the server printed when it started "
                                "(a new one every 30 minutes), or run "<code>"rollgate user add"</code>" on the server."
                            </p>
                        })
                    })}
                </Suspense>
                {move || message().map(|(role, text)| view! {
                    <p class=if role == "alert" { "state state-error" } else { "state state-info" } role=role>{text}</p>
                })}
                <input type="hidden" name="next" value=next />
                <div class="field">
                    <label for="email">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required autofocus />
                </div>
                <div class="field">
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required />
                </div>
                <button type="submit" class="btn btn-primary btn-block">"Sign in"</button>
            </form>
        </main>
    }
}
