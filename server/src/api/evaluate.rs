//! `POST /api/v1/evaluate` (every flag for one context) and `GET /api/v1/flags/{key}` (one flag), for
//! applications holding an `evaluate` token. Answers come from the in-memory snapshot only.

use super::error::ApiError;
use app::domain::{EvalContext, EvalError};
use app::server::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub use super::caller::{authenticate, bearer_token, Caller, Purpose};

/// The context, as applications send it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextIn {
    pub customer_id: Option<String>,
    pub organization_id: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl From<ContextIn> for EvalContext {
    fn from(c: ContextIn) -> Self {
        EvalContext { customer_id: c.customer_id, organization_id: c.organization_id, attributes: c.attributes }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    #[serde(default)]
    pub context: ContextIn,
}

#[derive(Debug, Serialize)]
pub struct FlagAnswer {
    pub value: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub reason: &'static str,
}

#[derive(Debug, Serialize)]
pub struct EvaluateResponse {
    pub environment: String,
    pub version: i64,
    pub flags: BTreeMap<String, FlagAnswer>,
}

pub async fn evaluate_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<EvaluateRequest>, JsonRejection>,
) -> Result<Json<EvaluateResponse>, ApiError> {
    let caller = authenticate(&state, &headers, Purpose::Evaluate).await?;
    let Json(request) = body.map_err(|e| ApiError::new(e.status(), "INVALID_CONTEXT", e.body_text()))?;
    let ctx: EvalContext = request.context.into();
    let mut flags = BTreeMap::new();
    if let Some(env) = caller.snapshot.environments.get(&caller.environment) {
        let keys = if caller.frontend { &env.frontend_keys } else { &env.keys };
        for key in keys {
            if let Ok(answer) = env.evaluate(key, &ctx) {
                flags.insert(
                    key.clone(),
                    FlagAnswer {
                        value: answer.value.clone(),
                        variant: answer.variant.map(str::to_owned),
                        reason: answer.reason.as_str(),
                    },
                );
            }
        }
    }
    Ok(Json(EvaluateResponse { environment: caller.environment, version: caller.snapshot.version, flags }))
}

#[derive(Debug, Serialize)]
pub struct OneFlagResponse {
    pub key: String,
    pub environment: String,
    pub version: i64,
    #[serde(flatten)]
    pub answer: FlagAnswer,
    /// Badge data, with `include=priority_urls` (see `badges`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_urls: Option<super::badges::PriorityUrls>,
}

/// The context from the query string: `customer_id`, `organization_id`, and `attr.NAME=value`.
fn context_from_query(query: HashMap<String, String>) -> EvalContext {
    let mut ctx = EvalContext::default();
    for (k, v) in query {
        match k.as_str() {
            "customer_id" => ctx.customer_id = Some(v),
            "organization_id" => ctx.organization_id = Some(v),
            other => {
                if let Some(name) = other.strip_prefix("attr.") {
                    ctx.attributes.insert(name.to_owned(), v);
                }
            }
        }
    }
    ctx
}

pub async fn evaluate_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<OneFlagResponse>, ApiError> {
    let caller = authenticate(&state, &headers, Purpose::Evaluate).await?;
    if key.len() > app::domain::FlagKey::MAX_LEN {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_KEY",
            format!("a flag key has at most {} characters; this one has {}", app::domain::FlagKey::MAX_LEN, key.len()),
        ));
    }
    let ctx = context_from_query(query);
    let badge_urls = super::badges::requested(raw_query.as_deref(), &key, ctx.organization_id.as_deref())?;
    let env = caller.snapshot.environments.get(&caller.environment).filter(|env| caller.may_see(env, &key));
    match env.map_or(Err(EvalError::FlagNotFound), |env| env.evaluate(&key, &ctx)) {
        Ok(answer) => {
            let priority_urls = match (&badge_urls, ctx.organization_id.as_deref()) {
                (Some(urls), Some(organization)) => {
                    let on = answer.value == &serde_json::Value::Bool(true);
                    Some(super::badges::lookup(&state, organization, on, urls).await?)
                }
                _ => None,
            };
            Ok(Json(OneFlagResponse {
                key,
                environment: caller.environment,
                version: answer.version,
                answer: FlagAnswer {
                    value: answer.value.clone(),
                    variant: answer.variant.map(str::to_owned),
                    reason: answer.reason.as_str(),
                },
                priority_urls,
            }))
        }
        Err(EvalError::FlagNotFound) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "FLAG_NOT_FOUND",
            format!("no flag {key:?} in {}", caller.environment),
        )),
    }
}

/// `/readyz`: ready once a snapshot is loaded; says `stale` when Postgres has not confirmed it lately (the
/// snapshot is still served, so the process stays in rotation).
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    // Three missed checks at the default 5 s interval.
    let stale_after_ms = 15_000;
    match (state.snapshot.version(), state.snapshot.age_ms()) {
        (Some(version), Some(age)) => {
            let status = if age > stale_after_ms { "stale" } else { "ready" };
            (
                StatusCode::OK,
                Json(serde_json::json!({ "status": status, "snapshot_version": version, "snapshot_age_ms": age })),
            )
        }
        _ => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "no_snapshot" }))),
    }
}
