//! Who is calling the evaluation API: the token checked against the snapshot (or, for a token newer than
//! the snapshot, against PostgreSQL), its scope checked against what the endpoint does, and for browsers
//! the page's origin checked against the token.
//!
//! - An **evaluate** token is for servers: it evaluates every flag of its environment and reports metrics.
//!   A browser page on another origin may not use it (its `Origin` gives it away).
//! - A **frontend** token is for browser pages and apps: it evaluates only the flags visible to frontends,
//!   from the origins it lists (a request without `Origin` comes from an app, not a page), at its rate.
//! - An **admin** token is refused here.

use super::error::ApiError;
use app::server::snapshot::{LookupError, Snapshot, TokenEntry, TokenLife};
use app::server::tokens::{self, TokenScope};
use app::server::AppState;
use axum::http::{header, HeaderMap, StatusCode};
use std::sync::Arc;

/// What the caller wants to do with its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Evaluate flags or follow their changes: evaluate and frontend tokens.
    Evaluate,
    /// Report metrics for the guardrails: evaluate tokens only (a public token must not feed a rollback).
    ReportMetrics,
}

/// The caller, once its token checks out.
pub struct Caller<'h> {
    /// The snapshot the token was checked against; answers come from it.
    pub snapshot: Arc<Snapshot>,
    pub environment: String,
    /// The presented token's public prefix (ingest records batch ids under it).
    pub token_prefix: &'h str,
    /// A frontend token: only flags visible to frontends exist for it.
    pub frontend: bool,
    /// The token's revocation news, for streams that must end with it.
    pub life: Arc<TokenLife>,
}

impl Caller<'_> {
    /// Whether this caller may see the flag `key` of `env`: a frontend token sees only the flags visible
    /// to frontends; the others are not found for it, as if they did not exist.
    pub fn may_see(&self, env: &app::server::snapshot::EnvSnapshot, key: &str) -> bool {
        !self.frontend || env.flags.get(key).is_some_and(|entry| entry.visible_to_frontends)
    }
}

/// The request's headers, moved out of the request instead of copied as axum's `HeaderMap` extractor does:
/// for handlers that read the rest of the request as plain bytes, on the evaluation routes where every
/// request counts. Extractors after it see no headers, so a `Json` body must not follow it.
pub struct Headers(pub HeaderMap);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Headers {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(std::mem::take(&mut parts.headers)))
    }
}

/// The token a request carries: `Authorization: Bearer`, or OFREP's alternative, `X-API-Key`.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "send an API token as `Authorization: Bearer <token>`",
            )
        })
}

/// Checks the request's token (`Authorization: Bearer` or `X-API-Key`) for `purpose`.
pub async fn authenticate<'h>(
    state: &AppState,
    headers: &'h HeaderMap,
    purpose: Purpose,
) -> Result<Caller<'h>, ApiError> {
    let token = bearer_token(headers)?;
    authenticate_token(state, headers, token, purpose).await
}

/// Checks `token` for `purpose`, with the request's headers for its origin.
pub async fn authenticate_token<'t>(
    state: &AppState,
    headers: &HeaderMap,
    token: &'t str,
    purpose: Purpose,
) -> Result<Caller<'t>, ApiError> {
    let snapshot = state.snapshot.get().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "NOT_READY", "no configuration loaded yet; retry shortly")
            .retry_after(1)
    })?;
    let invalid =
        || ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "the API token is unknown, revoked or expired");
    let prefix = tokens::prefix_of(token).ok_or_else(invalid)?;
    let late: Arc<TokenEntry>;
    let entry = match snapshot.tokens.get(prefix) {
        Some(entry) => entry,
        None => {
            late = state.snapshot.find_token(&state.pool, prefix).await.map_err(lookup_failed)?.ok_or_else(invalid)?;
            &*late
        }
    };
    if !tokens::matches(token, &entry.secret_hash) || !entry.is_live() {
        return Err(invalid());
    }
    if entry.claim_last_used_write(chrono::Utc::now().timestamp_millis()) {
        let (pool, prefix) = (state.pool.clone(), prefix.to_owned());
        tokio::spawn(async move {
            if let Err(err) = tokens::record_use(&pool, &prefix).await {
                tracing::warn!(error = %err, token = %prefix, "could not record the token's last use");
            }
        });
    }
    check_scope(entry.scope, purpose)?;
    if let Some(origin) = cross_origin(headers) {
        check_origin(entry, origin)?;
    }
    if entry.scope == TokenScope::Frontend {
        entry.life.take_request().map_err(|wait| {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                format!(
                    "this frontend token is over its rate of {} requests per second; retry after {seconds} s",
                    entry.rate_limit.unwrap_or_default()
                ),
            )
            .retry_after(seconds.max(1))
        })?;
    }
    let environment = entry.environment.clone().ok_or_else(invalid)?;
    Ok(Caller {
        frontend: entry.scope == TokenScope::Frontend,
        life: Arc::clone(&entry.life),
        snapshot,
        environment,
        token_prefix: prefix,
    })
}

fn lookup_failed(err: LookupError) -> ApiError {
    match err {
        LookupError::Busy => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "TOKEN_CHECK_BUSY", LookupError::Busy.to_string())
                .retry_after(1)
        }
        LookupError::Database(source) => {
            tracing::warn!(error = %source, "could not look up a token newer than the snapshot");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "DATABASE_UNAVAILABLE",
                "this token is newer than this server's configuration and the database cannot be asked; retry shortly",
            )
            .retry_after(1)
        }
    }
}

fn check_scope(scope: TokenScope, purpose: Purpose) -> Result<(), ApiError> {
    let refuse = |message: &str| Err(ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message));
    match (scope, purpose) {
        (TokenScope::Admin, _) => refuse("this endpoint takes an evaluate token; this one is an admin token"),
        (TokenScope::Frontend, Purpose::ReportMetrics) => {
            refuse("a frontend token only evaluates flags; report metrics with an evaluate token, from a server")
        }
        _ => Ok(()),
    }
}

/// The `Origin` of a request a browser sent from a page on another origin; `None` for servers and apps
/// (no `Origin`) and for Rollgate's own pages.
pub fn cross_origin(headers: &HeaderMap) -> Option<&str> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let same =
        origin.split_once("://").is_some_and(|(_, authority)| host.is_some_and(|h| authority.eq_ignore_ascii_case(h)));
    (!same).then_some(origin)
}

fn check_origin(entry: &TokenEntry, origin: &str) -> Result<(), ApiError> {
    match entry.scope {
        TokenScope::Frontend if entry.allows_origin(origin) => Ok(()),
        TokenScope::Frontend => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ORIGIN_NOT_ALLOWED",
            format!("pages on {origin} may not use this frontend token; an admin can list the origin on a new token"),
        )),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "SERVER_TOKEN_IN_BROWSER",
            format!(
                "a page on {origin} sent a server token, which must never reach a browser; use a frontend token, \
                 and revoke this one if it was published"
            ),
        )),
    }
}
