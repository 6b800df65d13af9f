//! `POST /api/v1/evaluate` (every flag for one context) and `GET /api/v1/flags/{key}` (one flag), for
//! applications holding an `evaluate` token. Answers come from the in-memory snapshot only.

use super::error::{ApiError, ErrorBody};
use app::domain::{EvalContext, EvalError};
use app::server::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::{IntoParams, ToSchema};

pub use super::caller::{authenticate, bearer_token, Caller, Purpose};

/// The context, as applications send it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextIn {
    pub customer_id: Option<String>,
    pub organization_id: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl From<ContextIn> for EvalContext {
    fn from(c: ContextIn) -> Self {
        EvalContext {
            customer_id: c.customer_id,
            organization_id: c.organization_id,
            attributes: c.attributes,
            ..EvalContext::default()
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    #[serde(default)]
    pub context: ContextIn,
}

// It borrows from the snapshot, so answering copies no key, value or variant.
/// One flag's answer: its value, the variant served (multi-variant flags) and why (OpenFeature's reasons).
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagAnswer<'a> {
    #[schema(value_type = serde_json::Value)]
    pub value: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub variant: Option<&'a str>,
    #[schema(value_type = String, example = "TARGETING_MATCH")]
    pub reason: &'static str,
    /// What decided: the rule (with its position, name and segments), the prerequisite that failed, an
    /// override, the allow-list, the rollout, the kill switch or the default.
    pub decided_by: app::domain::DecidedBy<'a>,
}

impl<'a> From<&app::domain::Evaluation<'a>> for FlagAnswer<'a> {
    fn from(answer: &app::domain::Evaluation<'a>) -> Self {
        FlagAnswer {
            value: answer.value,
            variant: answer.variant,
            reason: answer.reason.as_str(),
            decided_by: answer.decided_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluateResponse<'a> {
    #[schema(value_type = String)]
    pub environment: &'a str,
    pub version: i64,
    #[schema(value_type = BTreeMap<String, FlagAnswer>)]
    pub flags: BTreeMap<&'a str, FlagAnswer<'a>>,
}

/// Every flag of the token's environment, evaluated for one context.
///
/// The example of an endpoint for applications: an `evaluate` token (which fixes the environment), a JSON
/// body, answers from the in-memory snapshot.
#[utoipa::path(
    post, path = "/api/v1/evaluate", tag = "evaluation",
    request_body = EvaluateRequest,
    responses((status = 200, description = "Every live flag's answer", body = EvaluateResponse)),
    security(("evaluate_token" = [])),
)]
pub async fn evaluate_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<EvaluateRequest>, JsonRejection>,
) -> Result<axum::response::Response, ApiError> {
    let caller = authenticate(&state, &headers, Purpose::Evaluate).await?;
    let Json(request) = body.map_err(|e| ApiError::new(e.status(), "INVALID_CONTEXT", e.body_text()))?;
    let ctx: EvalContext = request.context.into();
    let mut flags = BTreeMap::new();
    if let Some(env) = caller.snapshot.environments.get(&caller.environment) {
        let keys = if caller.frontend { &env.frontend_keys } else { &env.keys };
        for key in keys {
            if let Ok(answer) = env.evaluate(key, &ctx) {
                flags.insert(key.as_str(), FlagAnswer::from(&answer));
            }
        }
    }
    // About 60 bytes a flag: one allocation for the whole body.
    let hint = 128 + 64 * flags.len();
    let body = EvaluateResponse { environment: &caller.environment, version: caller.snapshot.version, flags };
    Ok(super::json_response(StatusCode::OK, &body, hint))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OneFlagResponse<'a> {
    #[schema(value_type = String)]
    pub key: &'a str,
    #[schema(value_type = String)]
    pub environment: &'a str,
    pub version: i64,
    #[serde(flatten)]
    pub answer: FlagAnswer<'a>,
    /// Badge data, with `include=priority_urls` (see `badges`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_urls: Option<super::badges::PriorityUrls>,
}

/// The query of `GET /api/v1/flags/{key}`, as documented; the handler reads it as a map, since `attr.NAME`
/// parameters have any name.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct OneFlagQuery {
    /// The customer's key (the stickiness of most rollouts).
    customer_id: Option<String>,
    /// The organization's key.
    organization_id: Option<String>,
    /// `priority_urls` adds the badges of the `url` parameters (the `priority_urls_enabled` flag only).
    include: Option<String>,
    /// A URL to badge, with `include=priority_urls`; 1 to 100 of them.
    url: Option<Vec<String>>,
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

/// One flag for the context in the query string; `attr.NAME=VALUE` sets any other attribute.
#[utoipa::path(
    get, path = "/api/v1/flags/{key}", tag = "evaluation",
    params(("key" = String, Path, description = "The flag's key", max_length = 100), OneFlagQuery),
    responses(
        (status = 200, description = "The flag's answer", body = OneFlagResponse),
        (status = 400, description = "A key over 100 characters, or a bad badge request (`INVALID_KEY`, `INVALID_CONTEXT`)", body = ErrorBody),
        (status = 422, description = "A `url` that is not a URL (`INVALID_CONTEXT`)", body = ErrorBody),
        (status = 404, description = "No such flag in the token's environment (`FLAG_NOT_FOUND`)", body = ErrorBody),
    ),
    security(("evaluate_token" = [])),
)]
pub async fn evaluate_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    key: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
    RawQuery(raw_query): RawQuery,
) -> Result<axum::response::Response, ApiError> {
    let caller = authenticate(&state, &headers, Purpose::Evaluate).await?;
    let Path(key) = key.map_err(|e| ApiError::bad_path(&e))?;
    let Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
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
            let body = OneFlagResponse {
                key: &key,
                environment: &caller.environment,
                version: answer.version,
                answer: FlagAnswer::from(&answer),
                priority_urls,
            };
            Ok(super::json_response(StatusCode::OK, &body, 256))
        }
        Err(EvalError::FlagNotFound) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "FLAG_NOT_FOUND",
            format!("no flag {key:?} in {}", caller.environment),
        )),
    }
}

/// What `/readyz` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `stale` (PostgreSQL has not confirmed the snapshot lately; it is still served) or
    /// `no_snapshot` (503: nothing to serve yet).
    #[schema(value_type = String, example = "ready")]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_age_ms: Option<i64>,
}

/// Readiness: ready once a configuration snapshot is loaded, for a load balancer. Public.
///
/// The example of a public endpoint: `security(())` and no token.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "A snapshot is loaded (`ready` or `stale`)", body = Readiness),
        (status = 503, description = "No snapshot loaded yet (`no_snapshot`)", body = Readiness),
    ),
    security(()),
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    // Three missed checks at the default 5 s interval.
    let stale_after_ms = 15_000;
    match (state.snapshot.version(), state.snapshot.age_ms()) {
        (Some(version), Some(age)) => {
            let status = if age > stale_after_ms { "stale" } else { "ready" };
            (StatusCode::OK, Json(Readiness { status, snapshot_version: Some(version), snapshot_age_ms: Some(age) }))
        }
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness { status: "no_snapshot", snapshot_version: None, snapshot_age_ms: None }),
        ),
    }
}

/// Liveness: the process answers. Public.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = String, content_type = "text/plain")),
    security(()),
)]
pub async fn healthz() -> &'static str {
    "ok"
}
