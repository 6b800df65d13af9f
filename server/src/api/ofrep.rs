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
use serde_json::{json, Map, Value};
use std::hash::{Hash, Hasher};

/// An OFREP error: a status and an OpenFeature error code, with details.
fn failure(status: StatusCode, key: Option<&str>, code: &str, details: impl Into<String>) -> Response {
    let mut body = json!({ "errorCode": code, "errorDetails": details.into() });
    if let Some(key) = key {
        body["key"] = json!(key);
    }
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
    let request: Value =
        serde_json::from_slice(body).map_err(|e| ("PARSE_ERROR", format!("the body is not valid JSON: {e}")))?;
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

fn success(key: &str, answer: &app::domain::Evaluation<'_>) -> Value {
    json!({
        "key": key, "value": answer.value, "reason": answer.reason.as_str(), "variant": variant_name(answer),
        "metadata": { "version": answer.version }
    })
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

/// `POST /ofrep/v1/evaluate/flags/{key}`.
pub async fn evaluate_flag(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let caller = match authenticate(&state, &headers, Purpose::Evaluate).await {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
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
        Ok(answer) => Json(success(&key, &answer)).into_response(),
        Err(_) => failure(
            StatusCode::NOT_FOUND,
            Some(&key),
            "FLAG_NOT_FOUND",
            format!("no flag {key:?} in {}", caller.environment),
        ),
    }
}

/// `POST /ofrep/v1/evaluate/flags`: every flag, with an ETag over the configuration version and the
/// context, so an unchanged answer costs a 304.
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
        for key in keys {
            let Some(entry) = env.flags.get(key) else { continue };
            if needs_targeting_key(&entry.env, &ctx) {
                flags.push(json!({ "key": key, "errorCode": "TARGETING_KEY_MISSING", "errorDetails": "this flag is in a rollout by customer: send a targetingKey" }));
                continue;
            }
            if let Ok(answer) = env.evaluate(key, &ctx) {
                flags.push(success(key, &answer));
            }
        }
    }
    let event_streams =
        json!([{ "type": "sse", "url": super::stream::url_for(&state, &headers, &caller), "inactivityDelaySec": 120 }]);
    (StatusCode::OK, [(header::ETAG, etag_header)], Json(json!({ "flags": flags, "eventStreams": event_streams })))
        .into_response()
}

/// `GET /ofrep/v1/configuration`: what this server supports.
pub async fn configuration() -> Json<Value> {
    Json(json!({
        "name": "rollgate",
        "capabilities": {
            "cacheInvalidation": { "polling": { "enabled": true, "minPollingIntervalMs": 1000 } },
            "flagEvaluation": { "supportedTypes": ["boolean", "string", "int", "float", "object"] }
        }
    }))
}
