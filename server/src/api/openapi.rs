//! `GET /api/openapi.json`: the API described for scripts and client generators. Written by hand from one
//! table; `server/tests/it/openapi.rs` calls every operation listed here and checks the router answers it
//! (anything but 404/405), so the document cannot list a route that does not exist.

use axum::Json;
use serde_json::{json, Map, Value};

/// `(method, path, tag, summary, request body schema)`, one per operation.
pub const OPERATIONS: &[(&str, &str, &str, &str, Option<&str>)] = &[
    (
        "post",
        "/api/v1/evaluate",
        "evaluation",
        "Every flag of the token's environment for one context",
        Some("EvaluateRequest"),
    ),
    (
        "get",
        "/api/v1/flags/{key}",
        "evaluation",
        "One flag for the context in the query (customer_id, organization_id, attr.NAME)",
        None,
    ),
    (
        "get",
        "/api/v1/stream",
        "evaluation",
        "Server-Sent Events: `ready`, then a `refetchEvaluation` message after every configuration change (a frontend token may come as `?token=`)",
        None,
    ),
    (
        "post",
        "/ofrep/v1/evaluate/flags",
        "ofrep",
        "OFREP bulk evaluation, with ETag / If-None-Match",
        Some("OfrepRequest"),
    ),
    ("post", "/ofrep/v1/evaluate/flags/{key}", "ofrep", "OFREP single-flag evaluation", Some("OfrepRequest")),
    ("get", "/ofrep/v1/configuration", "ofrep", "OFREP provider configuration", None),
    (
        "post",
        "/api/v1/metrics",
        "guardrails",
        "Report requests, errors and latency per flag cohort, and named gauges; a batch id counts once",
        Some("MetricBatch"),
    ),
    ("get", "/api/admin/whoami", "admin", "The user the token or session acts as", None),
    ("get", "/api/admin/feature-flags", "admin", "The flag list (q, phase, env, state, page, per_page)", None),
    ("post", "/api/admin/feature-flags", "admin", "Create a flag, off in every environment", Some("CreateFlag")),
    ("get", "/api/admin/feature-flags/{key}", "admin", "One flag with its per-environment state and history", None),
    (
        "put",
        "/api/admin/feature-flags/{key}/environments/{env}",
        "admin",
        "The kill switch: turn a flag on or off in one environment",
        Some("SetFlagState"),
    ),
    (
        "put",
        "/api/admin/feature-flags/{key}/phase",
        "admin",
        "Editors: move a flag to another phase (phase: null takes it out of every phase)",
        Some("MoveFlag"),
    ),
    (
        "put",
        "/api/admin/feature-flags/{key}/frontend",
        "admin",
        "Editors: show a flag to frontends (browser pages and apps with a frontend token) or hide it",
        Some("SetFrontendVisibility"),
    ),
    (
        "get",
        "/api/admin/environments",
        "environments",
        "The environments: in use first, in order, then archived ones, with what uses each",
        None,
    ),
    (
        "post",
        "/api/admin/environments",
        "environments",
        "Admins: add an environment at the end; every flag gets a state in it, off (201)",
        Some("CreateEnvironment"),
    ),
    ("put", "/api/admin/environments/{key}", "environments", "Admins: rename an environment (its key never changes)", Some("RenameEnvironment")),
    (
        "post",
        "/api/admin/environments/{key}/archive",
        "environments",
        "Admins: archive an environment; 409 ENVIRONMENT_IN_USE naming the tokens, rollouts and scheduled changes using it",
        Some("Reason"),
    ),
    (
        "post",
        "/api/admin/environments/reorder",
        "environments",
        "Admins: put the environments in use in this order (keys: each exactly once)",
        Some("Reorder"),
    ),
    ("get", "/api/admin/users", "people", "Admins: every user, with role, sign-off roles and status", None),
    (
        "post",
        "/api/admin/users",
        "people",
        "Admins: add a user with no password; answers their one-time set-password link (201), valid 7 days",
        Some("AddUser"),
    ),
    (
        "put",
        "/api/admin/users/{id}",
        "people",
        "Admins: set a user's role and sign-off roles (409 LAST_ADMIN for the last active admin's demotion)",
        Some("UpdateRoles"),
    ),
    (
        "post",
        "/api/admin/users/{id}/disable",
        "people",
        "Admins: disable a user; their sessions end and their admin tokens are revoked at once",
        Some("Reason"),
    ),
    ("post", "/api/admin/users/{id}/enable", "people", "Admins: enable a disabled user again", None),
    (
        "post",
        "/api/admin/users/{id}/reset-password",
        "people",
        "Admins: force a password reset; the password stops working, sessions end; answers a 24-hour set-password link",
        None,
    ),
    ("get", "/api/admin/phases", "phases", "The phases in order, with how many live flags each holds", None),
    ("post", "/api/admin/phases", "phases", "Editors: add a phase after the last one (201)", Some("CreatePhase")),
    (
        "put",
        "/api/admin/phases/{key}",
        "phases",
        "Editors: edit a phase's name, description or requires_previous (fields left out keep their value)",
        Some("UpdatePhase"),
    ),
    (
        "delete",
        "/api/admin/phases/{key}",
        "phases",
        "Editors: delete an empty phase (204); 409 PHASE_NOT_EMPTY says how many flags it holds",
        None,
    ),
    ("post", "/api/admin/phases/reorder", "phases", "Editors: put the phases in this order (keys: each exactly once)", Some("Reorder")),
    (
        "get",
        "/api/admin/stale-flags",
        "admin",
        "Stale flags: fully rolled out or untouched past their kind's limit, or archived but still evaluated",
        None,
    ),
    ("get", "/api/admin/audit", "admin", "The audit trail, newest first (actor, flag, action, before, since)", None),
    ("get", "/api/admin/audit.csv", "admin", "The audit trail as CSV, with the same filters (all pages)", None),
    (
        "get",
        "/api/admin/health",
        "admin",
        "Database reachable, snapshot fresh, guardrail worker, rollouts stuck waiting for a sign-off; \
         200 with database.ok=false when PostgreSQL is down",
        None,
    ),
    (
        "get",
        "/api/admin/export",
        "config",
        "Admins: the configuration as YAML (phases, flags, states, overrides, rollout definitions, guardrails); \
         env=ENV for one environment",
        None,
    ),
    (
        "post",
        "/api/admin/apply",
        "config",
        "Admins: apply a YAML configuration (the body, as exported) in one audited transaction; \
         dry_run=true reports the changes and makes none",
        Some("ConfigFile"),
    ),
    (
        "get",
        "/api/admin/schedule",
        "schedule",
        "Scheduled changes: every pending one and those finished in the last recent_days (7); flag=KEY for one flag",
        None,
    ),
    (
        "post",
        "/api/admin/schedule",
        "schedule",
        "Schedule an advance, a toggle or a rollback; when it runs it passes every gate or ends failed",
        Some("ScheduleChange"),
    ),
    ("delete", "/api/admin/schedule/{id}", "schedule", "Cancel a pending scheduled change", None),
    (
        "post",
        "/api/admin/rollouts",
        "rollouts",
        "Create a planned rollout from a template or custom stages",
        Some("CreateRollout"),
    ),
    ("get", "/api/admin/rollouts/{id}", "rollouts", "A rollout: stages, next gate, sign-offs, timeline", None),
    (
        "put",
        "/api/admin/rollouts/{id}",
        "rollouts",
        "Edit a live rollout (voids the sign-offs given so far)",
        Some("EditRollout"),
    ),
    ("post", "/api/admin/rollout/start", "rollouts", "Start: enter stage 0 (gated)", Some("RolloutAction")),
    (
        "post",
        "/api/admin/rollout/advance",
        "rollouts",
        "Advance to the next stage (gated: sign-offs, soak, phase)",
        Some("RolloutAction"),
    ),
    ("post", "/api/admin/rollout/pause", "rollouts", "Pause at the current stage", Some("RolloutAction")),
    ("post", "/api/admin/rollout/resume", "rollouts", "Resume a paused rollout", Some("RolloutAction")),
    (
        "post",
        "/api/admin/rollout/rollback",
        "rollouts",
        "Roll back to 0% or to an earlier stage (to_stage)",
        Some("RolloutAction"),
    ),
    ("post", "/api/admin/rollout/complete", "rollouts", "Complete at the last stage", Some("RolloutAction")),
    (
        "post",
        "/api/admin/rollout/signoff",
        "rollouts",
        "Approve or reject the next stage in one of your sign-off roles",
        Some("Signoff"),
    ),
];

/// The bodies of the environment and phase routes.
fn structure_schemas() -> Value {
    let string = json!({ "type": "string" });
    json!({
        "MoveFlag": { "type": "object", "required": ["phase"], "properties": {
            "phase": { "type": ["string", "null"] }, "expected_version": { "type": "integer" } } },
        "SetFrontendVisibility": { "type": "object", "required": ["visible"], "properties": {
            "visible": { "type": "boolean" }, "expected_version": { "type": "integer" } } },
        "CreateEnvironment": { "type": "object", "required": ["key", "name"], "properties": {
            "key": { "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,49}$", "description": "never changes, never reused" },
            "name": { "type": "string", "minLength": 1, "maxLength": 100 } } },
        "RenameEnvironment": { "type": "object", "required": ["name"], "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 100 } } },
        "Reason": { "type": "object", "properties": { "reason": string } },
        "AddUser": { "type": "object", "required": ["email", "name", "role"], "properties": {
            "email": string, "name": { "type": "string", "minLength": 1, "maxLength": 200 },
            "role": { "enum": ["viewer", "editor", "admin"] },
            "signoff_roles": { "type": "array", "items": { "enum": ["dev_lead", "ops_oncall", "product_owner", "qa"] } } } },
        "UpdateRoles": { "type": "object", "required": ["role"], "properties": {
            "role": { "enum": ["viewer", "editor", "admin"] },
            "signoff_roles": { "type": "array", "items": { "enum": ["dev_lead", "ops_oncall", "product_owner", "qa"] } } } },
        "Reorder": { "type": "object", "required": ["keys"], "properties": {
            "keys": { "type": "array", "items": string } } },
        "CreatePhase": { "type": "object", "required": ["key", "name"], "properties": {
            "key": { "type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,99}$" },
            "name": { "type": "string", "minLength": 1, "maxLength": 200 },
            "description": { "type": "string", "maxLength": 2000 }, "requires_previous": { "type": "boolean" } } },
        "UpdatePhase": { "type": "object", "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 200 },
            "description": { "type": "string", "maxLength": 2000 }, "requires_previous": { "type": "boolean" },
            "expected_version": { "type": "integer" } } },
    })
}

fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let context = json!({
        "type": "object",
        "properties": {
            "customer_id": string, "organization_id": string,
            "attributes": { "type": "object", "additionalProperties": { "type": "string" } }
        }
    });
    let action = json!({
        "type": "object", "required": ["flag", "environment"],
        "properties": {
            "flag": string, "environment": string,
            "expected_version": { "type": "integer", "description": "the version your view showed; 409 if it moved" },
            "reason": string,
            "to_stage": { "type": "integer", "description": "rollback only: the earlier stage; absent = 0%" },
            "override_gates": { "type": "boolean", "description": "admins only, with a reason" }
        }
    });
    let stage = json!({
        "type": "object", "required": ["name", "percent"],
        "properties": {
            "name": string,
            "percent": { "oneOf": [{ "type": "number" }, { "type": "string" }], "description": "down to 0.01" },
            "required_roles": { "type": "array", "items": { "enum": ["dev_lead", "ops_oncall", "product_owner", "qa"] } },
            "min_soak_seconds": { "type": "integer" },
            "checklist": { "type": "array", "items": { "type": "object", "properties": {
                "kind": { "enum": ["verify", "backout"] }, "text": string } } }
        }
    });
    let mut all = json!({
        "EvaluateRequest": { "type": "object", "properties": { "context": context } },
        "OfrepRequest": { "type": "object", "properties": { "context": {
            "type": "object", "properties": { "targetingKey": string }, "additionalProperties": true } } },
        "CreateFlag": { "type": "object", "required": ["key", "name", "kind"], "properties": {
            "key": string, "name": string, "description": string, "phase": string,
            "kind": { "enum": ["release", "operational", "kill_switch", "experiment", "permission"] } } },
        "SetFlagState": { "type": "object", "required": ["enabled"], "properties": {
            "enabled": { "type": "boolean" }, "expected_version": { "type": "integer" }, "reason": string } },
        "Stage": stage,
        "CreateRollout": { "type": "object", "required": ["flag", "environment"], "properties": {
            "flag": string, "environment": string,
            "template": { "enum": ["five_tier", "canary", "two_step"] },
            "stages": { "type": "array", "items": { "$ref": "#/components/schemas/Stage" } },
            "stickiness": { "type": "string", "description": "customer_id, organization_id or attribute:NAME" },
            "allow_customers": { "type": "array", "items": string },
            "allow_organizations": { "type": "array", "items": string } } },
        "EditRollout": { "type": "object", "required": ["stages"], "properties": {
            "stages": { "type": "array", "items": { "$ref": "#/components/schemas/Stage" } },
            "stickiness": string, "allow_customers": { "type": "array", "items": string },
            "allow_organizations": { "type": "array", "items": string },
            "expected_version": { "type": "integer" }, "reason": string } },
        "RolloutAction": action,
        "ScheduleChange": { "type": "object", "required": ["flag", "environment", "action", "run_at"], "properties": {
            "flag": string, "environment": string,
            "action": { "enum": ["advance", "toggle_on", "toggle_off", "rollback"] },
            "to_stage": { "type": "integer", "minimum": 0,
                          "description": "advance: the stage it must enter; rollback: the stage to go back to (default 0%)" },
            "run_at": { "type": "string", "description": "RFC 3339, or YYYY-MM-DDTHH:MM read as UTC; in the future" },
            "reason": string } },
        "ConfigFile": { "type": "string", "description": "YAML, as written by GET /api/admin/export (rollgate: 1, environments, phases, flags)" },
        "Signoff": { "type": "object", "required": ["rollout", "stage", "decision"], "properties": {
            "rollout": { "type": "integer" }, "stage": { "type": "integer" },
            "decision": { "enum": ["approved", "rejected"] }, "comment": string,
            "role": { "enum": ["dev_lead", "ops_oncall", "product_owner", "qa"] },
            "expected_version": { "type": "integer" } } },
        "MetricBatch": { "type": "object", "required": ["batch_id"], "properties": {
            "batch_id": { "type": "string", "description": "1-100 of A-Z a-z 0-9 _ . : -; the same id from the same token counts once" },
            "samples": { "type": "array", "maxItems": 10000, "items": { "type": "object",
                "required": ["flag", "cohort", "requests", "errors"], "properties": {
                "flag": string, "environment": string,
                "cohort": { "type": "string", "description": "treatment (flag on), control (flag off) or variant:<key>" },
                "at": { "type": "string", "format": "date-time", "description": "default now; up to 24 h old" },
                "requests": { "type": "integer", "minimum": 0 }, "errors": { "type": "integer", "minimum": 0 },
                "latency_buckets": { "type": "array", "minItems": 12, "maxItems": 12, "items": { "type": "integer" },
                    "description": "counts (not cumulative) with latency in ms <= 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, +Inf" },
                "latency_sum_ms": { "type": "number" } } } },
            "gauges": { "type": "array", "items": { "type": "object", "required": ["name", "value"], "properties": {
                "name": string, "environment": string, "flag": string,
                "at": { "type": "string", "format": "date-time" }, "value": { "type": "number" } } } } } },
        "Error": { "type": "object", "required": ["error", "message"], "properties": {
            "error": { "type": "string", "description": "a stable code, e.g. GATE_BLOCKED, CONFLICT, FLAG_NOT_FOUND" },
            "message": string, "details": { "type": "object" } } }
    });
    if let (Some(all), Value::Object(extra)) = (all.as_object_mut(), structure_schemas()) {
        all.extend(extra);
    }
    all
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, tag, summary, body) in OPERATIONS {
        let mut operation = json!({
            "tags": [tag],
            "summary": summary,
            "responses": {
                "200": { "description": "OK" },
                "4XX": { "description": "What is wrong, and where",
                         "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            }
        });
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Some(schema) = body {
            let media = if *schema == "ConfigFile" { "application/yaml" } else { "application/json" };
            operation["requestBody"] = json!({ "required": true, "content": { media: {
                "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
        }
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        entry[*method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Rollgate", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Evaluation (evaluate tokens), OFREP, and the admin API (admin tokens acting as their user, or a session)." },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "token": { "type": "http", "scheme": "bearer", "description": "rgt_… API token" } }
        },
        "security": [{ "token": [] }]
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}
