//! `POST /login` and `POST /logout`: plain form posts, so signing in works without JavaScript.

use app::server::auth::{attempt_login, start_session, LoginOutcome};
use app::server::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
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

/// The client's address: the first of a trusted `X-Forwarded-For` when it is an address, else the peer's
/// (unspecified when unknown, as in tests that call the router directly).
fn client_ip(state: &AppState, headers: &HeaderMap, extensions: &Extensions) -> IpAddr {
    if state.security.trust_forwarded_for {
        if let Some(first) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            return first;
        }
    }
    extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |ci| ci.0.ip())
}

/// The answer to a form whose email is not an address: 422, saying why, with the way back.
fn bad_email(message: &str) -> Response {
    let escaped = message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Html(format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in failed · Rollgate</title>\
             <link rel=\"stylesheet\" href=\"/pkg/rollgate.css\"></head><body><main class=\"narrow\">\
             <h1>Sign-in failed</h1><p>email: {escaped}</p><p><a href=\"/login\">Back to sign-in</a></p></main></body></html>"
        )),
    )
        .into_response()
}

#[tracing::instrument(name = "POST /login", skip_all, fields(email = tracing::field::Empty))]
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    let ip = client_ip(&state, &headers, &extensions);
    // Checked before anything else, so that only a well-formed address of bounded length reaches the log,
    // the throttle and the database.
    let email = match app::domain::Email::parse(&form.email) {
        Ok(email) => email,
        Err(err) => {
            tracing::info!(chars = form.email.chars().count(), "sign-in with a malformed email");
            return bad_email(&err.message);
        }
    };
    tracing::Span::current().record("email", email.as_str());
    let outcome = match attempt_login(&state.pool, &state.security, &email, &form.password, ip).await {
        Ok(outcome) => outcome,
        Err(app::server::ServiceError::Unavailable) => return crate::unavailable_page(),
        Err(err) => {
            tracing::error!(error = %err, "login failed on the server");
            return (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on the server; it has been logged")
                .into_response();
        }
    };
    match outcome {
        LoginOutcome::Success(user_id) => {
            // A new session id at login, so an id planted before login is worthless after it.
            if let Err(err) = start_session(&session, &state.pool, user_id).await {
                tracing::warn!(error = %err, "could not store the session");
                return crate::unavailable_page();
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
        // The session lives in PostgreSQL: it cannot end while the database does not answer.
        tracing::warn!(error = %err, "could not end the session");
        return crate::unavailable_page();
    }
    Redirect::to("/login?signed_out=1").into_response()
}
