//! Configuration as code over the admin API: `GET /api/admin/export` answers the configuration as YAML,
//! `POST /api/admin/apply` takes such a file and applies it in one audited transaction (with
//! `?dry_run=true`, reports what it would change and changes nothing). Admins only: a file can touch
//! every flag at once. `rollgate export` and `rollgate apply` are thin clients of these two.

use super::admin::AdminCaller;
use super::error::{ApiError, ErrorBody};
use app::domain::Role;
use app::server::config_as_code::{self, ApplyReport, ConfigDocument};
use app::server::{AppState, ServiceError};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

/// The first line of every export: says what the file is and how to use it. No timestamp, so that two
/// exports of the same configuration are identical.
pub const EXPORT_HEADER: &str =
    "# Rollgate configuration (rollgate export). Apply with: rollgate apply FILE [--dry-run]\n";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Only this environment's part.
    env: Option<String>,
    /// With `env`: write that environment's part under this key instead, to promote it (staging's
    /// states applied to production).
    #[serde(rename = "as")]
    as_env: Option<String>,
}

/// The configuration as YAML: phases, flags, states, overrides, rollout definitions, guardrails. Admins.
#[utoipa::path(
    get, path = "/api/admin/export", tag = "config",
    params(ExportQuery),
    responses(
        (status = 200, description = "The file", body = ConfigDocument, content_type = "application/yaml"),
        (status = 404, description = "No environment named by `as` (`NOT_FOUND`)", body = ErrorBody),
        (status = 422, description = "`as` without `env` (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn export(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin, "export the configuration")?;
    let Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
    let env = query.env.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let target = query.as_env.as_deref().map(str::trim).filter(|e| !e.is_empty());
    if env.is_none() && target.is_some() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID",
            "`as` renames one environment's part: give `env` too, e.g. ?env=staging&as=production",
        ));
    }
    let document = config_as_code::export_as(&state.pool, env, target).await?;
    let yaml = serde_norway::to_string(&document)
        .map_err(|e| ServiceError::internal("writing the configuration as YAML", e))?;
    Ok(([(header::CONTENT_TYPE, "application/yaml; charset=utf-8")], format!("{EXPORT_HEADER}{yaml}")).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApplyQuery {
    /// Report the changes and make none.
    #[serde(default)]
    dry_run: bool,
}

/// Reads a configuration file, naming the line, column and field of the first problem.
pub fn parse_document(text: &str) -> Result<ConfigDocument, ApiError> {
    serde_norway::from_str::<ConfigDocument>(text).map_err(|e| {
        let location = e.location().map(|l| serde_json::json!({ "line": l.line(), "column": l.column() }));
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_YAML", format!("the configuration file: {e}"))
            .with_details(serde_json::json!({ "location": location }))
    })
}

/// Applies a YAML configuration (the body, as exported) in one audited transaction. Admins.
#[utoipa::path(
    post, path = "/api/admin/apply", tag = "config",
    params(ApplyQuery),
    request_body(content = String, content_type = "application/yaml",
                 description = "A `ConfigDocument` as YAML, as written by GET /api/admin/export (`rollgate: 1`, \
                                phases, flags)"),
    responses(
        (status = 200, description = "What changed, or would change with `dry_run`", body = ApplyReport),
        (status = 409, description = "A change the state refuses, e.g. a key taken (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "The file does not parse (`INVALID_YAML`, `details.location`) or a value is invalid (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn apply(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<ApplyQuery>, QueryRejection>,
    body: axum::body::Bytes,
) -> Result<Json<ApplyReport>, ApiError> {
    caller.require(Role::Admin, "apply a configuration file")?;
    let actor = caller.actor();
    let Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
    let body = std::str::from_utf8(&body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_YAML",
            format!("the configuration file is not UTF-8: {e}"),
        )
    })?;
    let document = parse_document(body)?;
    Ok(Json(config_as_code::apply(&state.pool, &actor, &document, query.dry_run).await?))
}
