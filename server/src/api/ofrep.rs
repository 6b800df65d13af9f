//! The OpenFeature Remote Evaluation Protocol (OFREP, `service/openapi.yaml` in open-feature/protocol):
//! single and bulk evaluation for OpenFeature SDKs' OFREP providers. The `targetingKey` is the customer id;
//! `organizationId` (or `organization_id`) the organization; other string properties are attributes.

use super::caller::{authenticate, Purpose};
use app::domain::{EnvConfig, EvalContext, EvalError, Stickiness};
use app::server::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use std::hash::{Hash, Hasher};
use utoipa::ToSchema;

/// An OFREP evaluation request: `{"context": {...}}`; the body and the context may be left out.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OfrepRequest {
    /// `targetingKey` is the customer id; `organizationId` (or `organization_id`) the organization; other
    /// string, number or boolean properties are attributes.
    #[schema(value_type = Option<Object>)]
    context: Option<Value>,
}

/// An OFREP error: an OpenFeature error code (`PARSE_ERROR`, `INVALID_CONTEXT`, `TARGETING_KEY_MISSING`,
/// `FLAG_NOT_FOUND`, `GENERAL`) and what is wrong.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfrepError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[schema(value_type = String, example = "FLAG_NOT_FOUND")]
    pub error_code: &'static str,
    pub error_details: String,
}

// It borrows from the snapshot: a bulk answer is written straight from the configuration, with no copy of
// any key, value or variant.
/// One flag's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfrepSuccess<'a> {
    #[schema(value_type = String)]
    pub key: &'a str,
    #[schema(value_type = Value)]
    pub value: &'a Value,
    #[schema(value_type = String, example = "SPLIT")]
    pub reason: &'static str,
    /// Always named: the weighted variant served, `on`/`off` for a boolean, `off` or `default` otherwise.
    #[schema(value_type = String)]
    pub variant: &'a str,
    pub metadata: OfrepMetadata,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfrepMetadata {
    /// The configuration version the answer came from.
    pub version: i64,
}

/// One entry of a bulk answer: an answer, or why this flag has none.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum OfrepFlag<'a> {
    Success(OfrepSuccess<'a>),
    Error(OfrepError),
}

/// Where to listen for configuration changes instead of polling (OFREP's event-stream extension).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfrepEventStream {
    #[schema(value_type = String, example = "sse")]
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub url: String,
    pub inactivity_delay_sec: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfrepBulk<'a> {
    pub flags: Vec<OfrepFlag<'a>>,
    pub event_streams: Vec<OfrepEventStream>,
}

/// An OFREP error response.
fn failure(status: StatusCode, key: Option<&str>, code: &'static str, details: impl Into<String>) -> Response {
    let body = OfrepError { key: key.map(str::to_owned), error_code: code, error_details: details.into() };
    (status, Json(body)).into_response()
}

/// The refusal for a body sent as anything but JSON, if it was.
fn wrong_content_type(headers: &HeaderMap) -> Option<Response> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())?;
    if ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")) {
        return None;
    }
    Some(failure(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        None,
        "PARSE_ERROR",
        format!("the body must be application/json, not {ct:?}"),
    ))
}

/// Parses `{"context": {...}}`; an absent body or context is an empty context.
fn parse_context(body: &Bytes) -> Result<EvalContext, (&'static str, String)> {
    if body.is_empty() {
        return Ok(EvalContext::default());
    }
    // With the path where it breaks (`context.targetingKey: ...`), as every error names its field.
    let request: Value = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))
        .map_err(|e| ("PARSE_ERROR", format!("the body is not valid JSON: {e}")))?;
    let context = match request.get("context") {
        None | Some(Value::Null) => return Ok(EvalContext::default()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(("INVALID_CONTEXT", "`context` must be a JSON object".into())),
    };
    to_eval_context(context)
}

fn to_eval_context(context: &Map<String, Value>) -> Result<EvalContext, (&'static str, String)> {
    let mut ctx = EvalContext::default();
    for (name, value) in context {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            _ => {
                return Err((
                    "INVALID_CONTEXT",
                    format!("context property {name:?} must be a string, number or boolean"),
                ))
            }
        };
        match name.as_str() {
            "targetingKey" => ctx.customer_id = Some(text),
            "organizationId" | "organization_id" => ctx.organization_id = Some(text),
            _ => {
                ctx.attributes.insert(name.clone(), text);
            }
        }
    }
    Ok(ctx)
}

/// Whether answering needs a targeting key that is missing: a rollout that splits by customer id is serving
/// a percentage strictly between 0% and 100% (at 0% and 100% the answer is the same for everybody).
fn needs_targeting_key(env: &EnvConfig, ctx: &EvalContext) -> bool {
    env.enabled
        && ctx.customer_id.is_none()
        && env.rollout.as_ref().is_some_and(|r| {
            r.stickiness == Stickiness::CustomerId
                && r.serving_percent()
                    .is_some_and(|p| p != app::domain::Percent::ZERO && p != app::domain::Percent::HUNDRED)
        })
}

fn success<'a>(key: &'a str, answer: &app::domain::Evaluation<'a>) -> OfrepSuccess<'a> {
    OfrepSuccess {
        key,
        value: answer.value,
        reason: answer.reason.as_str(),
        variant: variant_name(answer),
        metadata: OfrepMetadata { version: answer.version },
    }
}

/// The variant every OFREP answer names (some providers read it unconditionally): the weighted variant
/// served; for a boolean, `on` or `off`; for any other value, `off` when the flag is off and `default`
/// for the environment's value or an override's.
pub fn variant_name<'a>(answer: &app::domain::Evaluation<'a>) -> &'a str {
    match (answer.variant, answer.value) {
        (Some(variant), _) => variant,
        (None, Value::Bool(true)) => "on",
        (None, Value::Bool(false)) => "off",
        (None, _) if answer.reason == app::domain::Reason::Disabled => "off",
        (None, _) => "default",
    }
}

/// OFREP single-flag evaluation, for OpenFeature SDKs' OFREP providers.
#[utoipa::path(
    post, path = "/ofrep/v1/evaluate/flags/{key}", tag = "ofrep",
    params(("key" = String, Path, description = "The flag's key", max_length = 100)),
    request_body(content = Option<OfrepRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "The flag's answer", body = OfrepSuccess),
        (status = 400, description = "A bad body or context, or a targeting key missing", body = OfrepError),
        (status = 404, description = "No such flag in the token's environment", body = OfrepError),
        (status = 415, description = "The body is not JSON", body = OfrepError),
    ),
    security(("evaluate_token" = []), ("evaluate_api_key" = [])),
)]
pub async fn evaluate_flag(
    State(state): State<AppState>,
    headers: HeaderMap,
    key: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: Bytes,
) -> Response {
    let caller = match authenticate(&state, &headers, Purpose::Evaluate).await {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
    };
    let Path(key) = match key {
        Ok(key) => key,
        Err(rejection) => return failure(StatusCode::BAD_REQUEST, None, "GENERAL", rejection.body_text()),
    };
    if key.len() > app::domain::FlagKey::MAX_LEN {
        return failure(
            StatusCode::BAD_REQUEST,
            None,
            "GENERAL",
            format!("a flag key has at most {} characters", app::domain::FlagKey::MAX_LEN),
        );
    }
    if let Some(refusal) = wrong_content_type(&headers) {
        return refusal;
    }
    let ctx = match parse_context(&body) {
        Ok(parsed) => parsed,
        Err((code, details)) => return failure(StatusCode::BAD_REQUEST, Some(&key), code, details),
    };
    let env = caller.snapshot.environments.get(&caller.environment).filter(|env| caller.may_see(env, &key));
    if let Some(entry) = env.and_then(|env| env.flags.get(&key)) {
        if needs_targeting_key(&entry.env, &ctx) {
            return failure(
                StatusCode::BAD_REQUEST,
                Some(&key),
                "TARGETING_KEY_MISSING",
                "this flag is in a rollout by customer: send a targetingKey",
            );
        }
    }
    match env.map_or(Err(EvalError::FlagNotFound), |env| env.evaluate(&key, &ctx)) {
        Ok(answer) => super::json_response(StatusCode::OK, &success(&key, &answer), 160),
        Err(_) => failure(
            StatusCode::NOT_FOUND,
            Some(&key),
            "FLAG_NOT_FOUND",
            format!("no flag {key:?} in {}", caller.environment),
        ),
    }
}

/// OFREP bulk evaluation: every flag, with an ETag over the configuration version and the context, so an
/// unchanged answer costs a 304 (send it back as `If-None-Match`).
#[utoipa::path(
    post, path = "/ofrep/v1/evaluate/flags", tag = "ofrep",
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of the last answer")),
    request_body(content = Option<OfrepRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Every flag's answer", body = OfrepBulk,
         headers(("ETag" = String, description = "Send back as If-None-Match"))),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 400, description = "A bad body or context", body = OfrepError),
        (status = 415, description = "The body is not JSON", body = OfrepError),
    ),
    security(("evaluate_token" = []), ("evaluate_api_key" = [])),
)]
pub async fn evaluate_all(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match authenticate(&state, &headers, Purpose::Evaluate).await {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
    };
    if let Some(refusal) = wrong_content_type(&headers) {
        return refusal;
    }
    let ctx = match parse_context(&body) {
        Ok(parsed) => parsed,
        Err((code, details)) => return failure(StatusCode::BAD_REQUEST, None, code, details),
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (
        &caller.environment,
        caller.frontend,
        caller.snapshot.version,
        &ctx.customer_id,
        &ctx.organization_id,
        &ctx.attributes,
    )
        .hash(&mut hasher);
    let etag = format!("\"{}-{:016x}\"", caller.snapshot.version, hasher.finish());
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*"));
    let etag_header = HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_header)]).into_response();
    }
    let mut flags = Vec::new();
    if let Some(env) = caller.snapshot.environments.get(&caller.environment) {
        let keys = if caller.frontend { &env.frontend_keys } else { &env.keys };
        flags.reserve_exact(keys.len());
        for key in keys {
            let Some(entry) = env.flags.get(key) else { continue };
            if needs_targeting_key(&entry.env, &ctx) {
                flags.push(OfrepFlag::Error(OfrepError {
                    key: Some(key.clone()),
                    error_code: "TARGETING_KEY_MISSING",
                    error_details: "this flag is in a rollout by customer: send a targetingKey".to_owned(),
                }));
                continue;
            }
            if let Ok(answer) = env.evaluate(key, &ctx) {
                flags.push(OfrepFlag::Success(success(key, &answer)));
            }
        }
    }
    let event_streams = vec![OfrepEventStream {
        kind: "sse",
        url: super::stream::url_for(&state, &headers, &caller),
        inactivity_delay_sec: 120,
    }];
    // About 100 bytes a flag: one allocation for the whole body.
    let hint = 128 + 112 * flags.len();
    let mut response = super::json_response(StatusCode::OK, &OfrepBulk { flags, event_streams }, hint);
    response.headers_mut().insert(header::ETAG, etag_header);
    response
}

/// OFREP provider configuration: what this server supports. Public.
#[utoipa::path(
    get, path = "/ofrep/v1/configuration", tag = "ofrep",
    responses((status = 200, description = "Capabilities: polling interval, supported value types", body = serde_json::Value)),
    security(()),
)]
pub async fn configuration() -> Json<Value> {
    Json(serde_json::json!({
        "name": "rollgate",
        "capabilities": {
            "cacheInvalidation": { "polling": { "enabled": true, "minPollingIntervalMs": 1000 } },
            "flagEvaluation": { "supportedTypes": ["boolean", "string", "int", "float", "object"] }
        }
    }))
}
