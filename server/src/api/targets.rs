//! Targets in the admin API: a flag's overrides per environment (any customer or organization key), and the
//! registry of organizations and customers (names for keys, a CSV import of customers). Through the same
//! services as the pages, with an admin token (acting as its user) or a session.

use super::admin::AdminCaller;
use super::error::ApiError;
use app::domain::{EnvKey, FlagKey, Target, TargetKind};
use app::model::targets::{CustomerImportReport, CustomerRow, OrganizationRow, OverrideView};
use app::server::{overrides, registry, AppState, ServiceError};
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub fn routes(max_import_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/api/admin/feature-flags/{key}/environments/{env}/overrides", get(list_overrides).post(create_override))
        .route(
            "/api/admin/feature-flags/{key}/environments/{env}/overrides/{kind}/{target}",
            put(change_override).delete(remove_override),
        )
        .route("/api/admin/organizations", get(list_organizations).post(create_organization))
        .route("/api/admin/organizations/{key}", put(rename_organization))
        .route("/api/admin/customers", get(list_customers))
        .route(
            "/api/admin/customers/import",
            axum::routing::post(import_customers)
                // Room for the limit to be reported as such (413 with the sizes) rather than cut off.
                .layer(DefaultBodyLimit::max(max_import_bytes.saturating_add(1))),
        )
}

fn bad_json(rejection: &JsonRejection) -> ApiError {
    ApiError::new(rejection.status(), "INVALID_BODY", rejection.body_text())
}

fn bad_query(rejection: &QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID_QUERY", rejection.body_text())
}

fn flag_and_env(key: &str, env: &str) -> Result<(FlagKey, EnvKey), ApiError> {
    Ok((FlagKey::parse(key).map_err(ServiceError::from)?, EnvKey::parse(env).map_err(ServiceError::from)?))
}

#[derive(Debug, Serialize)]
struct OverrideList {
    flag: String,
    environment: String,
    overrides: Vec<OverrideView>,
}

/// `GET .../overrides`: the flag's overrides in one environment, customers first.
async fn list_overrides(
    State(state): State<AppState>,
    _caller: AdminCaller,
    Path((key, env)): Path<(String, String)>,
) -> Result<Json<OverrideList>, ApiError> {
    let (flag, env) = flag_and_env(&key, &env)?;
    let overrides = overrides::list_in(&state.pool, &flag, &env).await?;
    Ok(Json(OverrideList { flag: flag.to_string(), environment: env.to_string(), overrides }))
}

/// Exactly one of `customer` and `organization`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOverride {
    customer: Option<String>,
    organization: Option<String>,
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
async fn create_override(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((key, env)): Path<(String, String)>,
    body: Result<Json<NewOverride>, JsonRejection>,
) -> Result<(StatusCode, Json<OverrideView>), ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeOverride {
    value: serde_json::Value,
    /// Left as it is when absent.
    reason: Option<String>,
    /// The version you saw; a newer one answers 409 with the current version.
    expected_version: Option<i32>,
}

/// `PUT .../overrides/{customers|organizations}/{target}`: changes an existing override.
async fn change_override(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((key, env, kind, target)): Path<(String, String, String, String)>,
    body: Result<Json<ChangeOverride>, JsonRejection>,
) -> Result<Json<OverrideView>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveQuery {
    expected_version: Option<i32>,
    /// Why, for the audit trail.
    reason: Option<String>,
}

/// `DELETE .../overrides/{customers|organizations}/{target}`: removes an override.
async fn remove_override(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((key, env, kind, target)): Path<(String, String, String, String)>,
    query: Result<Query<RemoveQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let Query(query) = query.map_err(|e| bad_query(&e))?;
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Search {
    /// Text the key or name contains.
    q: Option<String>,
}

#[derive(Debug, Serialize)]
struct OrganizationList {
    organizations: Vec<OrganizationRow>,
    /// More organizations match than the 100 listed; narrow the search.
    more: bool,
}

/// `GET /api/admin/organizations`: organization keys, registered or in use, with their names.
async fn list_organizations(
    State(state): State<AppState>,
    _caller: AdminCaller,
    query: Result<Query<Search>, QueryRejection>,
) -> Result<Json<OrganizationList>, ApiError> {
    let Query(query) = query.map_err(|e| bad_query(&e))?;
    let (organizations, more) =
        registry::organizations(&state.pool, query.q.as_deref().unwrap_or(""), registry::SHOWN).await?;
    Ok(Json(OrganizationList { organizations, more }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrganization {
    key: String,
    name: String,
}

/// `POST /api/admin/organizations`: registers a name for an organization key.
async fn create_organization(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Result<Json<NewOrganization>, JsonRejection>,
) -> Result<(StatusCode, Json<OrganizationRow>), ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let row = registry::create_organization(&state.pool, &caller.actor(), &body.key, &body.name).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

/// `PUT /api/admin/organizations/{key}`: renames a registered organization.
async fn rename_organization(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(key): Path<String>,
    body: Result<Json<Rename>, JsonRejection>,
) -> Result<Json<OrganizationRow>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    Ok(Json(registry::rename_organization(&state.pool, &caller.actor(), &key, &body.name).await?))
}

#[derive(Debug, Serialize)]
struct CustomerList {
    customers: Vec<CustomerRow>,
    /// How many match; at most 100 are listed.
    total: i64,
}

/// `GET /api/admin/customers`: registered customers.
async fn list_customers(
    State(state): State<AppState>,
    _caller: AdminCaller,
    query: Result<Query<Search>, QueryRejection>,
) -> Result<Json<CustomerList>, ApiError> {
    let Query(query) = query.map_err(|e| bad_query(&e))?;
    let (customers, total) =
        registry::customers(&state.pool, query.q.as_deref().unwrap_or(""), registry::SHOWN).await?;
    Ok(Json(CustomerList { customers, total }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// As shown in the import history.
    file_name: Option<String>,
}

/// `POST /api/admin/customers/import`: the body is the CSV file (`key,name,organization`). Answers the
/// counts and the report of every row not applied; 413 over the size limit, 422 for a file refused whole.
async fn import_customers(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: Result<Query<ImportQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<CustomerImportReport>, ApiError> {
    let Query(query) = query.map_err(|e| bad_query(&e))?;
    let file_name = query.file_name.unwrap_or_else(|| "customers.csv".into());
    let limit = state.priority_urls.limits.max_file_bytes;
    match registry::import::import(&state.pool, &caller.actor(), &file_name, &body, limit).await {
        Ok(report) => Ok(Json(report)),
        Err(err) => {
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            match err {
                app::server::priority_urls::ImportError::Service(service) => Err(service.into()),
                file => Err(ApiError::new(status, "INVALID_FILE", file.into_client_message())),
            }
        }
    }
}
