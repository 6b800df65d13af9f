//! Targets in the admin API: a flag's overrides per environment (any customer or organization key), and the
//! registry of organizations and customers (names for keys, a CSV import of customers). Through the same
//! services as the pages, with an admin token (acting as its user) or a session.

use super::admin::AdminCaller;
use super::error::{ApiError, ErrorBody};
use app::domain::{EnvKey, FlagKey, Role, Target, TargetKind};
use app::model::targets::{CustomerImportReport, CustomerRow, OrganizationRow, OverrideView};
use app::server::{overrides, registry, AppState, ServiceError};
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn flag_and_env(key: &str, env: &str) -> Result<(FlagKey, EnvKey), ApiError> {
    Ok((FlagKey::parse(key).map_err(ServiceError::from)?, EnvKey::parse(env).map_err(ServiceError::from)?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideList {
    flag: String,
    environment: String,
    overrides: Vec<OverrideView>,
}

/// `GET .../overrides`: the flag's overrides in one environment, customers first.
#[utoipa::path(
    get, path = "/api/admin/feature-flags/{key}/environments/{env}/overrides", tag = "targets",
    params(("key" = String, Path, description = "The flag's key"), ("env" = String, Path, description = "The environment's key")),
    responses(
        (status = 200, description = "The overrides, customers first", body = OverrideList),
        (status = 404, description = "No such flag or environment (`NOT_FOUND`)", body = ErrorBody),
        (status = 422, description = "A bad key (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn list_overrides(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((key, env)): Path<(String, String)>,
) -> Result<Json<OverrideList>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    let (flag, env) = flag_and_env(&key, &env)?;
    let overrides = overrides::list_in(&state.pool, &flag, &env).await?;
    Ok(Json(OverrideList { flag: flag.to_string(), environment: env.to_string(), overrides }))
}

/// Exactly one of `customer` and `organization`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOverride {
    customer: Option<String>,
    organization: Option<String>,
    /// Of the flag's value type.
    #[schema(value_type = Object)]
    value: serde_json::Value,
    #[serde(default)]
    reason: String,
}

fn target_of(customer: Option<&str>, organization: Option<&str>) -> Result<Target, ServiceError> {
    match (customer, organization) {
        (Some(customer), None) => Ok(Target::customer(customer)?),
        (None, Some(organization)) => Ok(Target::organization(organization)?),
        (Some(_), Some(_)) => Err(ServiceError::Invalid {
            field: "organization",
            message: "give either customer or organization, not both: an override targets one key".into(),
        }),
        (None, None) => Err(ServiceError::Invalid {
            field: "customer",
            message: "give the customer or the organization key the override is for".into(),
        }),
    }
}

/// `POST .../overrides`: adds an override for a key that has none here (any key; nothing needs registering).
#[utoipa::path(
    post, path = "/api/admin/feature-flags/{key}/environments/{env}/overrides", tag = "targets",
    params(("key" = String, Path, description = "The flag's key"), ("env" = String, Path, description = "The environment's key")),
    request_body = NewOverride,
    responses(
        (status = 201, description = "Added", body = OverrideView),
        (status = 404, description = "No such flag or environment (`NOT_FOUND`)", body = ErrorBody),
        (status = 422, description = "A bad field, or the key has an override here already: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn create_override(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((key, env)): Path<(String, String)>,
    body: Result<Json<NewOverride>, JsonRejection>,
) -> Result<(StatusCode, Json<OverrideView>), ApiError> {
    caller.require(Role::Editor, "change overrides")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let (flag, env) = flag_and_env(&key, &env)?;
    let target = target_of(body.customer.as_deref(), body.organization.as_deref())?;
    let view = overrides::create(&state.pool, &caller.actor(), &flag, &env, &target, body.value, &body.reason).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

fn target_in_path(kind: &str, target: &str) -> Result<Target, ServiceError> {
    let kind = TargetKind::parse_loose(kind).map_err(|e| ServiceError::Invalid {
        field: "kind",
        message: format!("{}: the path names customers or organizations", e.message),
    })?;
    Ok(Target::parse(kind, target, kind.as_str())?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOverride {
    /// Of the flag's value type.
    #[schema(value_type = Object)]
    value: serde_json::Value,
    /// Left as it is when absent.
    reason: Option<String>,
    /// The version you saw; a newer one answers 409 with the current version.
    expected_version: Option<i32>,
}

/// `PUT .../overrides/{customers|organizations}/{target}`: changes an existing override.
#[utoipa::path(
    put, path = "/api/admin/feature-flags/{key}/environments/{env}/overrides/{kind}/{target}", tag = "targets",
    params(
        ("key" = String, Path, description = "The flag's key"), ("env" = String, Path, description = "The environment's key"),
        ("kind" = String, Path, description = "`customers` or `organizations`"), ("target" = String, Path, description = "The customer or organization key"),
    ),
    request_body = ChangeOverride,
    responses(
        (status = 200, description = "Changed", body = OverrideView),
        (status = 404, description = "No such flag, environment or override (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "expected_version is stale: `details.current_version` (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "A bad field: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn change_override(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((key, env, kind, target)): Path<(String, String, String, String)>,
    body: Result<Json<ChangeOverride>, JsonRejection>,
) -> Result<Json<OverrideView>, ApiError> {
    caller.require(Role::Editor, "change overrides")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let (flag, env) = flag_and_env(&key, &env)?;
    let target = target_in_path(&kind, &target)?;
    let view = overrides::change(
        &state.pool,
        &caller.actor(),
        &flag,
        &env,
        &target,
        body.value,
        body.reason.as_deref(),
        body.expected_version,
    )
    .await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    expected_version: Option<i32>,
    /// Why, for the audit trail.
    reason: Option<String>,
}

/// `DELETE .../overrides/{customers|organizations}/{target}`: removes an override.
#[utoipa::path(
    delete, path = "/api/admin/feature-flags/{key}/environments/{env}/overrides/{kind}/{target}", tag = "targets",
    params(
        ("key" = String, Path, description = "The flag's key"), ("env" = String, Path, description = "The environment's key"),
        ("kind" = String, Path, description = "`customers` or `organizations`"), ("target" = String, Path, description = "The customer or organization key"),
        RemoveQuery,
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such flag, environment or override (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "expected_version is stale: `details.current_version` (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "A bad field: `details.field` names it (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn remove_override(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((key, env, kind, target)): Path<(String, String, String, String)>,
    query: Result<Query<RemoveQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Editor, "change overrides")?;
    let Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
    let (flag, env) = flag_and_env(&key, &env)?;
    let target = target_in_path(&kind, &target)?;
    overrides::remove(
        &state.pool,
        &caller.actor(),
        &flag,
        &env,
        &target,
        query.expected_version,
        query.reason.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// Text the key or name contains.
    q: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    organizations: Vec<OrganizationRow>,
    /// More organizations match than the 100 listed; narrow the search.
    more: bool,
}

/// `GET /api/admin/organizations`: organization keys, registered or in use, with their names.
#[utoipa::path(
    get, path = "/api/admin/organizations", tag = "targets",
    params(Search),
    responses((status = 200, description = "Up to 100 organization keys, registered or in use", body = OrganizationList)),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn list_organizations(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<Search>, QueryRejection>,
) -> Result<Json<OrganizationList>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    let Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
    let (organizations, more) =
        registry::organizations(&state.pool, query.q.as_deref().unwrap_or(""), registry::SHOWN).await?;
    Ok(Json(OrganizationList { organizations, more }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    key: String,
    name: String,
}

/// `POST /api/admin/organizations`: registers a name for an organization key.
#[utoipa::path(
    post, path = "/api/admin/organizations", tag = "targets",
    request_body = NewOrganization,
    responses(
        (status = 201, description = "Registered", body = OrganizationRow),
        (status = 422, description = "A bad key or name, or the key is registered already (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn create_organization(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<NewOrganization>, JsonRejection>,
) -> Result<(StatusCode, Json<OrganizationRow>), ApiError> {
    caller.require(Role::Editor, "change the registry")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    let row = registry::create_organization(&state.pool, &caller.actor(), &body.key, &body.name).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    name: String,
}

/// `PUT /api/admin/organizations/{key}`: renames a registered organization.
#[utoipa::path(
    put, path = "/api/admin/organizations/{key}", tag = "targets",
    params(("key" = String, Path, description = "The organization's key")),
    request_body = Rename,
    responses(
        (status = 200, description = "Renamed", body = OrganizationRow),
        (status = 404, description = "No organization registered with this key (`NOT_FOUND`)", body = ErrorBody),
        (status = 422, description = "A bad key or name (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn rename_organization(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Json<Rename>, JsonRejection>,
) -> Result<Json<OrganizationRow>, ApiError> {
    caller.require(Role::Editor, "change the registry")?;
    let Json(body) = body.map_err(|e| ApiError::bad_body(&e))?;
    Ok(Json(registry::rename_organization(&state.pool, &caller.actor(), &key, &body.name).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerList {
    customers: Vec<CustomerRow>,
    /// How many match; at most 100 are listed.
    total: i64,
}

/// `GET /api/admin/customers`: registered customers.
#[utoipa::path(
    get, path = "/api/admin/customers", tag = "targets",
    params(Search),
    responses((status = 200, description = "Up to 100 registered customers, and how many match", body = CustomerList)),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn list_customers(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<Search>, QueryRejection>,
) -> Result<Json<CustomerList>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    let Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
    let (customers, total) =
        registry::customers(&state.pool, query.q.as_deref().unwrap_or(""), registry::SHOWN).await?;
    Ok(Json(CustomerList { customers, total }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// As shown in the import history.
    file_name: Option<String>,
}

/// `POST /api/admin/customers/import`: the body is the CSV file (`key,name,organization`). Answers the
/// counts and the report of every row not applied; 413 over the size limit, 422 for a file refused whole.
#[utoipa::path(
    post, path = "/api/admin/customers/import", tag = "targets",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "CSV with a header row naming key, name and organization"),
    responses(
        (status = 200, description = "The counts and the report of every row not applied", body = CustomerImportReport),
        (status = 413, description = "The file is over the size limit (`INVALID_FILE`)", body = ErrorBody),
        (status = 422, description = "The file is refused whole: not CSV, no key column... (`INVALID_FILE`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn import_customers(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<ImportQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<CustomerImportReport>, ApiError> {
    caller.require(Role::Editor, "import customers")?;
    let Query(query) = query.map_err(|e| ApiError::bad_query(&e))?;
    let file_name = query.file_name.unwrap_or_else(|| "customers.csv".into());
    let limit = state.priority_urls.limits.max_file_bytes;
    match registry::import::import(&state.pool, &caller.actor(), &file_name, &body, limit).await {
        Ok(report) => Ok(Json(report)),
        Err(err) => {
            let status = err.status();
            match err {
                app::server::priority_urls::ImportError::Service(service) => Err(service.into()),
                file => Err(ApiError::new(status, "INVALID_FILE", file.into_client_message())),
            }
        }
    }
}
