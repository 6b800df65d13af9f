//! Badge data with the flag: `GET /api/v1/flags/priority_urls_enabled?organization_id=ACCOUNT
//! &include=priority_urls&url=...&url=...` adds, for each URL asked about (up to 100), its badges: the
//! account's imported metadata while the flag is on for it, else the heuristic classification.
//!
//! The flag's answer still comes from the snapshot; the imported metadata is read from PostgreSQL (one
//! indexed query), since an account's URLs are too many to hold in every snapshot. When PostgreSQL cannot
//! be reached the answer is 503 for these requests only.

use super::error::ApiError;
use app::domain::priority::FLAG_KEY;
use app::server::priority_urls::normalize::normalize_url;
use app::server::priority_urls::queries::{self, Badge};
use app::server::AppState;
use axum::http::StatusCode;
use serde::Serialize;

/// The most URLs one request may ask about.
pub const MAX_URLS: usize = 100;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PriorityUrls {
    /// `imported` while the flag is on for the account, else `heuristic`.
    #[schema(value_type = String)]
    pub source: &'static str,
    pub badges: Vec<Badge>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID_CONTEXT", message)
}

/// The normalized URLs asked for, when the query says `include=priority_urls`; `None` otherwise.
pub fn requested(
    raw_query: Option<&str>,
    key: &str,
    organization: Option<&str>,
) -> Result<Option<Vec<String>>, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw_query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let included = pairs.iter().any(|(k, v)| k == "include" && v.split(',').any(|p| p.trim() == "priority_urls"));
    if !included {
        return Ok(None);
    }
    if key != FLAG_KEY {
        return Err(invalid(format!("include=priority_urls goes with the flag {FLAG_KEY}")));
    }
    if organization.is_none_or(str::is_empty) {
        return Err(invalid("include=priority_urls needs organization_id: badges belong to an account"));
    }
    let raw: Vec<&str> = pairs.iter().filter(|(k, _)| k == "url").map(|(_, v)| v.as_str()).collect();
    if raw.is_empty() || raw.len() > MAX_URLS {
        return Err(invalid(format!("give between 1 and {MAX_URLS} url= parameters; {} were given", raw.len())));
    }
    raw.into_iter()
        .map(|u| {
            normalize_url(u).map_err(|why| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_CONTEXT", format!("url {u:?}: {why}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The badges for `urls` of `organization`.
pub async fn lookup(
    state: &AppState,
    organization: &str,
    flag_on: bool,
    urls: &[String],
) -> Result<PriorityUrls, ApiError> {
    let badges = queries::badges(&state.pool, organization, urls, flag_on).await.map_err(|err| {
        tracing::error!(error = %err, "could not read priority-URL badges");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "BADGES_UNAVAILABLE",
            "the badge data cannot be read right now; retry shortly",
        )
    })?;
    Ok(PriorityUrls { source: if flag_on { "imported" } else { "heuristic" }, badges })
}
