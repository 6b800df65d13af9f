//! The server functions behind the overrides card's forms: add, change and remove an override for any
//! customer or organization key. Each checks who is asking before the service layer checks again; the
//! fields come as a plain HTML form posts them and are parsed into domain types here, at the edge.
// One argument per form field: a plain HTML form posts them by name.
#![allow(clippy::too_many_arguments)]

use crate::error::AppError;
use leptos::prelude::*;

/// What every override form names: the flag, the environment and the target.
#[cfg(feature = "ssr")]
struct Located {
    user: crate::server::auth::CurrentUser,
    flag: crate::domain::FlagKey,
    env: crate::domain::EnvKey,
    target: crate::domain::Target,
}

#[cfg(feature = "ssr")]
async fn locate(flag: &str, environment: &str, kind: &str, target: &str) -> Result<Located, AppError> {
    use crate::domain::{EnvKey, FlagKey, Target, TargetKind};
    use crate::server::to_app_error;
    let user = crate::server::auth::require(crate::domain::Role::Editor, "change overrides").await?;
    let invalid = |e: crate::domain::InvalidValue| to_app_error(e.into());
    let flag = FlagKey::parse(flag).map_err(|e| invalid(crate::domain::InvalidValue { field: "flag", ..e }))?;
    let env = EnvKey::parse(environment).map_err(invalid)?;
    let kind =
        TargetKind::parse_loose(kind).map_err(|e| invalid(crate::domain::InvalidValue { field: "kind", ..e }))?;
    // The key field is named after the kind chosen, so the message lands next to it.
    let target = Target::parse(kind, target, "target").map_err(invalid)?;
    Ok(Located { user, flag, env, target })
}

/// Reads the value field as the flag's type takes it.
#[cfg(feature = "ssr")]
async fn value_for(flag: &crate::domain::FlagKey, text: &str) -> Result<serde_json::Value, AppError> {
    use crate::server::{overrides, to_app_error, AppState};
    let state = expect_context::<AppState>();
    let value_type = overrides::value_type_of(&state.pool, flag).await.map_err(to_app_error)?;
    value_type.parse_value(text, "value").map_err(|e| to_app_error(e.into()))
}

/// Adds an override for any customer or organization key (registered or not).
#[server(endpoint = "override_add")]
pub async fn add_override(
    flag: String,
    environment: String,
    kind: String,
    target: String,
    value: String,
    reason: Option<String>,
) -> Result<String, AppError> {
    use crate::server::{audit::Actor, overrides, to_app_error, AppState};
    let at = locate(&flag, &environment, &kind, &target).await?;
    let value = value_for(&at.flag, &value).await?;
    let state = expect_context::<AppState>();
    let reason = reason.unwrap_or_default();
    let view = overrides::create(&state.pool, &Actor::user(&at.user), &at.flag, &at.env, &at.target, value, &reason)
        .await
        .map_err(|e| to_app_error(rename_target_field(e)))?;
    Ok(format!("{} now gets {} in {}.", at.target, view.value, at.env))
}

/// The service names a duplicate after the kind (`customer`, `organization`); the form has one key field.
#[cfg(feature = "ssr")]
fn rename_target_field(err: crate::server::ServiceError) -> crate::server::ServiceError {
    use crate::server::ServiceError;
    match err {
        ServiceError::Invalid { field: "customer" | "organization", message } => {
            ServiceError::Invalid { field: "target", message }
        }
        other => other,
    }
}

/// Changes an override's value and reason; `expected_version` is the version the page showed.
#[server(endpoint = "override_change")]
pub async fn change_override(
    flag: String,
    environment: String,
    kind: String,
    target: String,
    value: String,
    reason: Option<String>,
    expected_version: Option<i32>,
) -> Result<String, AppError> {
    use crate::server::{audit::Actor, overrides, to_app_error, AppState};
    let at = locate(&flag, &environment, &kind, &target).await?;
    let value = value_for(&at.flag, &value).await?;
    let state = expect_context::<AppState>();
    let reason = reason.map(|r| r.trim().to_owned());
    let view = overrides::change(
        &state.pool,
        &Actor::user(&at.user),
        &at.flag,
        &at.env,
        &at.target,
        value,
        reason.as_deref(),
        expected_version,
    )
    .await
    .map_err(to_app_error)?;
    Ok(format!("{} now gets {} in {}.", at.target, view.value, at.env))
}

/// Removes an override; `expected_version` as for a change.
#[server(endpoint = "override_remove")]
pub async fn remove_override(
    flag: String,
    environment: String,
    kind: String,
    target: String,
    expected_version: Option<i32>,
) -> Result<String, AppError> {
    use crate::server::{audit::Actor, overrides, to_app_error, AppState};
    let at = locate(&flag, &environment, &kind, &target).await?;
    let state = expect_context::<AppState>();
    overrides::remove(&state.pool, &Actor::user(&at.user), &at.flag, &at.env, &at.target, expected_version, None)
        .await
        .map_err(to_app_error)?;
    Ok(format!("Removed the override for {} in {}.", at.target, at.env))
}
