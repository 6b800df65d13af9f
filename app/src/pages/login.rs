//! Sign-in. A plain HTML form posting `email` and `password` to `/login` (handled by the server crate),
//! so it works before, and without, the wasm bundle.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

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
    view! {
        <Title text="Sign in" />
        <main class="login-page">
            <form class="card login-card" method="post" action="/login">
                <h1><span class="brand-mark" aria-hidden="true">"◆"</span>" Rollgate"</h1>
                <p class="muted">"Sign in to manage feature flags and rollouts."</p>
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
