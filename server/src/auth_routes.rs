//! `POST /login` and `POST /logout`: plain form posts, so signing in works without JavaScript.

use app::server::auth::{attempt_login, start_session, LoginOutcome};
use app::server::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use std::net::SocketAddr;
use tower_sessions::Session;

const HOME: &str = "/admin/feature-flags";

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    // Never print the password, even in a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm").field("email", &self.email).field("password", &"<redacted>").finish()
    }
}

/// Only same-site paths: `/admin/...`, never `//evil.example` or `https://...`.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.starts_with("/login") => n,
        _ => HOME,
    }
}

fn client_ip(state: &AppState, headers: &HeaderMap, extensions: &Extensions) -> String {
    if state.security.trust_forwarded_for {
        if let Some(first) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return first.to_owned();
        }
    }
    extensions.get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".to_owned(), |ci| ci.0.ip().to_string())
}

#[tracing::instrument(name = "POST /login", skip_all, fields(email = %form.email))]
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    let ip = client_ip(&state, &headers, &extensions);
    let outcome = match attempt_login(&state.pool, &state.security, &form.email, &form.password, &ip).await {
        Ok(outcome) => outcome,
        Err(err) => {
            tracing::error!(error = %err, "login failed on the server");
            return (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on the server; it has been logged")
                .into_response();
        }
    };
    match outcome {
        LoginOutcome::Success(user_id) => {
            if let Err(err) = start_session(&session, &state.pool, user_id).await {
                tracing::error!(error = %err, "could not store the session");
                return (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on the server; it has been logged")
                    .into_response();
            }
            tracing::info!(user_id, "signed in");
            Redirect::to(safe_next(form.next.as_deref())).into_response()
        }
        LoginOutcome::Invalid => {
            tracing::info!("failed sign-in");
            let next = form.next.as_deref().filter(|n| safe_next(Some(n)) != HOME);
            let target = match next {
                Some(n) => format!(
                    "/login?error=1&next={}",
                    percent_encoding::utf8_percent_encode(n, percent_encoding::NON_ALPHANUMERIC)
                ),
                None => "/login?error=1".to_owned(),
            };
            Redirect::to(&target).into_response()
        }
        LoginOutcome::Throttled { retry_after_secs } => {
            tracing::warn!(retry_after_secs, "sign-in throttled");
            let minutes = retry_after_secs.div_ceil(60);
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after_secs.to_string())],
                Html(format!(
                    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Too many attempts · Rollgate</title>\
                     <link rel=\"stylesheet\" href=\"/pkg/rollgate.css\"></head><body><main class=\"narrow\">\
                     <h1>Too many failed sign-ins</h1><p>Sign-in is paused for this account or address. \
                     Try again in {minutes} minute{}.</p><p><a href=\"/login\">Back to sign-in</a></p></main></body></html>",
                    if minutes == 1 { "" } else { "s" }
                )),
            )
                .into_response()
        }
    }
}

/// Ends the session on the server (the row is deleted), not just in the browser.
pub async fn logout(session: Session) -> Response {
    if let Err(err) = session.flush().await {
        tracing::error!(error = %err, "could not end the session");
        return (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on the server; it has been logged")
            .into_response();
    }
    Redirect::to("/login?signed_out=1").into_response()
}
