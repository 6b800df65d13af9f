//! The OpenFeature Remote Evaluation Protocol (OFREP, `service/openapi.yaml` in open-feature/protocol):
//! single and bulk evaluation for OpenFeature SDKs' OFREP providers. The `targetingKey` is the customer id;
//! `organizationId` (or `organization_id`) the organization; other string properties are attributes.

use super::caller::{authenticate, Headers, Purpose};
use app::domain::{EnvConfig, EvalContext, EvalError, Stickiness};
use app::server::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
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
    pub metadata: OfrepMetadata<'a>,
}

/// OpenFeature flag metadata: flat, with string, number or boolean values.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfrepMetadata<'a> {
    /// The configuration version the answer came from.
    pub version: i64,
    /// What decided: `rule`, `prerequisite`, `customer_override`, `organization_override`, `allow_list`,
    /// `rollout`, `disabled` or `default`.
    #[schema(value_type = String, example = "rule")]
    pub decided_by: &'static str,
    /// The name of the targeting rule that decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub rule: Option<&'a str>,
    /// Its position among the flag's rules, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_position: Option<usize>,
    /// The segments of that rule, comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<String>,
    /// The required flag that was not as required.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub prerequisite: Option<&'a str>,
}

impl<'a> OfrepMetadata<'a> {
    fn of(answer: &app::domain::Evaluation<'a>) -> Self {
        use app::domain::DecidedBy;
        let mut metadata = OfrepMetadata {
            version: answer.version,
            decided_by: answer.decided_by.kind(),
            rule: None,
            rule_position: None,
            segments: None,
            prerequisite: None,
        };
        match answer.decided_by {
            DecidedBy::Rule { position, name, segments } => {
                metadata.rule = Some(name);
                metadata.rule_position = Some(position);
                metadata.segments = (!segments.is_empty()).then(|| segments.join(","));
            }
            DecidedBy::Prerequisite { flag } => metadata.prerequisite = Some(flag),
            _ => {}
        }
        metadata
    }
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

/// Parses `{"context": {...}}`; an absent body or context is an empty context, and so is a body that is
/// not a JSON object.
fn parse_context(body: &Bytes) -> Result<EvalContext, (&'static str, String)> {
    if body.is_empty() {
        return Ok(EvalContext::default());
    }
    // With the path where it breaks (`context.targetingKey: ...`), as every error names its field.
    let OfrepBody(context) = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))
        .map_err(|e| ("PARSE_ERROR", format!("the body is not valid JSON: {e}")))?;
    context
}

/// An OFREP request body, read in one pass straight into the evaluation context rather than into a JSON
/// tree first: this runs for every request. Members other than `context` are skipped; a repeated member
/// counts by its last occurrence.
struct OfrepBody(Result<EvalContext, (&'static str, String)>);

impl<'de> Deserialize<'de> for OfrepBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Body;
        impl<'de> Visitor<'de> for Body {
            type Value = OfrepBody;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OfrepBody, A::Error> {
                let mut context = Ok(EvalContext::default());
                while let Some(Named(is_context)) = map.next_key::<Named>()? {
                    if is_context {
                        context = map.next_value::<Context>()?.0;
                    } else {
                        map.next_value::<Skip>()?;
                    }
                }
                Ok(OfrepBody(context))
            }
            // Anything but an object carries no context.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OfrepBody, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(OfrepBody(Ok(EvalContext::default())))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<OfrepBody, E> {
                Ok(OfrepBody(Ok(EvalContext::default())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<OfrepBody, E> {
                Ok(OfrepBody(Ok(EvalContext::default())))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<OfrepBody, E> {
                Ok(OfrepBody(Ok(EvalContext::default())))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<OfrepBody, E> {
                Ok(OfrepBody(Ok(EvalContext::default())))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<OfrepBody, E> {
                Ok(OfrepBody(Ok(EvalContext::default())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OfrepBody, E> {
                Ok(OfrepBody(Ok(EvalContext::default())))
            }
        }
        deserializer.deserialize_any(Body)
    }
}

/// Whether a member's name is `context`, read without copying the name.
struct Named(bool);

impl<'de> Deserialize<'de> for Named {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<bool, E> {
                Ok(name == "context")
            }
        }
        deserializer.deserialize_str(Name).map(Self)
    }
}

/// The `context` member: an object of strings, numbers and booleans (null means absent).
struct Context(Result<EvalContext, (&'static str, String)>);

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Context;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Context, A::Error> {
                let mut ctx = EvalContext::default();
                // `organization_id` wins over `organizationId` when both are sent.
                let (mut organization_camel, mut organization_snake) = (None, None);
                let mut invalid: Option<String> = None;
                while let Some(name) = map.next_key::<String>()? {
                    let text = match map.next_value::<Property>()? {
                        Property::Text(text) => Some(text),
                        Property::Null => None,
                        Property::Invalid => {
                            invalid.get_or_insert(name);
                            continue;
                        }
                    };
                    match name.as_str() {
                        "targetingKey" => ctx.customer_id = text,
                        "organizationId" => organization_camel = text,
                        "organization_id" => organization_snake = text,
                        _ => match text {
                            Some(text) => {
                                ctx.attributes.insert(name, text);
                            }
                            None => {
                                ctx.attributes.remove(&name);
                            }
                        },
                    }
                }
                if let Some(name) = invalid {
                    return Ok(Context(Err((
                        "INVALID_CONTEXT",
                        format!("context property {name:?} must be a string, number or boolean"),
                    ))));
                }
                ctx.organization_id = organization_snake.or(organization_camel);
                Ok(Context(Ok(ctx)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Context, E> {
                Ok(Context(Ok(EvalContext::default())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Context, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(not_an_object())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Context, E> {
                Ok(not_an_object())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Context, E> {
                Ok(not_an_object())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Context, E> {
                Ok(not_an_object())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Context, E> {
                Ok(not_an_object())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Context, E> {
                Ok(not_an_object())
            }
        }
        fn not_an_object() -> Context {
            Context(Err(("INVALID_CONTEXT", "`context` must be a JSON object".into())))
        }
        deserializer.deserialize_any(Members)
    }
}

/// A value read and thrown away. Through `deserialize_any`, so that the parser's nesting limit applies to
/// it as to everything else (serde's `IgnoredAny` skips without one, and would let a body nested ten
/// thousand deep through).
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Anything;
        impl<'de> Visitor<'de> for Anything {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
                while map.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Skip)
            }
        }
        deserializer.deserialize_any(Anything)
    }
}

/// One context property's value, as the text attributes are compared by: a number as JSON writes it, a
/// boolean as `true` or `false`.
enum Property {
    Text(String),
    Null,
    /// An array or an object.
    Invalid,
}

impl<'de> Deserialize<'de> for Property {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Property;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Property, E> {
                Ok(Property::Text(text.to_owned()))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Property, E> {
                Ok(Property::Text(text))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Property, E> {
                Ok(Property::Text(b.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Property, E> {
                Ok(Property::Text(serde_json::Number::from(n).to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Property, E> {
                Ok(Property::Text(serde_json::Number::from(n).to_string()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Property, E> {
                // JSON text has no infinities or NaN, so there is always a number to write.
                Ok(serde_json::Number::from_f64(n).map_or(Property::Null, |n| Property::Text(n.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Property, E> {
                Ok(Property::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Property, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Property::Invalid)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Property, A::Error> {
                while map.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Property::Invalid)
            }
        }
        deserializer.deserialize_any(Text)
    }
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
        metadata: OfrepMetadata::of(answer),
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
    Headers(headers): Headers,
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
pub async fn evaluate_all(State(state): State<AppState>, Headers(headers): Headers, body: Bytes) -> Response {
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
            if let Ok(answer) = env.evaluate_entry(entry, &ctx) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<EvalContext, (&'static str, String)> {
        parse_context(&Bytes::copy_from_slice(body.as_bytes()))
    }

    #[test]
    fn the_context_becomes_customer_organization_and_attributes() {
        let ctx = parse(
            r#"{"flags": ["ignored"], "context": {"targetingKey": "c-1", "organizationId": "o-1", "plan": "pro",
                "seats": 12, "ratio": 0.5, "big": 1e3, "beta": true, "gone": null}}"#,
        )
        .unwrap();
        assert_eq!(ctx.customer_id.as_deref(), Some("c-1"));
        assert_eq!(ctx.organization_id.as_deref(), Some("o-1"));
        let attributes: Vec<_> = ctx.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(attributes, ["beta=true", "big=1000.0", "plan=pro", "ratio=0.5", "seats=12"]);
    }

    #[test]
    fn organization_id_wins_over_organization_id_in_camel_case_and_null_means_absent() {
        let ctx = parse(r#"{"context": {"organization_id": "snake", "organizationId": "camel"}}"#).unwrap();
        assert_eq!(ctx.organization_id.as_deref(), Some("snake"));
        let ctx = parse(r#"{"context": {"organization_id": null, "organizationId": "camel"}}"#).unwrap();
        assert_eq!(ctx.organization_id.as_deref(), Some("camel"));
        let ctx = parse(r#"{"context": {"targetingKey": "c-1", "targetingKey": null}}"#).unwrap();
        assert_eq!(ctx.customer_id, None);
    }

    #[test]
    fn no_body_no_context_or_a_body_that_is_not_an_object_is_the_empty_context() {
        for body in ["", "{}", r#"{"context": null}"#, "[1, 2]", "\"text\"", "7", "null"] {
            assert_eq!(parse(body).unwrap(), EvalContext::default(), "{body}");
        }
    }

    #[test]
    fn a_context_that_is_not_an_object_or_a_property_that_is_not_a_scalar_is_refused_by_name() {
        for body in [r#"{"context": "c-1"}"#, r#"{"context": [1]}"#, r#"{"context": 3}"#] {
            assert_eq!(
                parse(body).unwrap_err(),
                ("INVALID_CONTEXT", "`context` must be a JSON object".into()),
                "{body}"
            );
        }
        let (code, details) = parse(r#"{"context": {"targetingKey": "c-1", "tags": ["a", {"b": 1}]}}"#).unwrap_err();
        assert_eq!(
            (code, details.as_str()),
            ("INVALID_CONTEXT", "context property \"tags\" must be a string, number or boolean")
        );
    }

    #[test]
    fn a_body_nested_past_the_parsers_limit_is_refused_wherever_it_is() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        for body in [deep.clone(), format!(r#"{{"other": {deep}}}"#), format!(r#"{{"context": {{"a": {deep}}}}}"#)] {
            assert_eq!(parse(&body).unwrap_err().0, "PARSE_ERROR");
        }
    }

    #[test]
    fn broken_json_names_where_it_breaks() {
        let (code, details) = parse(r#"{"context": {"targetingKey": tru}}"#).unwrap_err();
        assert_eq!(code, "PARSE_ERROR");
        assert!(details.contains("context.targetingKey"), "{details}");
    }
}
