//! The server functions behind the targeting card's forms: add, change, move and delete a rule, and add and
//! remove a prerequisite, in one environment. Each reads the list as stored, changes one entry and writes
//! the whole list back through the service with the version the page showed, so an edit based on a stale
//! page is a conflict, never a silent overwrite.
// One argument per form field: a plain HTML form posts them by name.
#![allow(clippy::too_many_arguments)]

use crate::error::AppError;
use crate::model::targeting::FlagTargeting;
use leptos::prelude::*;

#[server(endpoint = "flag_targeting")]
pub async fn load_flag_targeting(flag: String) -> Result<FlagTargeting, AppError> {
    use crate::server::{targeting, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see targeting").await?;
    let state = expect_context::<AppState>();
    targeting::for_flag(&state.pool, &flag, user.role.can_edit_flags()).await.map_err(to_app_error)
}

/// The flag and environment every form names, parsed, and who is asking.
#[cfg(feature = "ssr")]
struct Located {
    actor: crate::server::audit::Actor,
    flag: crate::domain::FlagKey,
    env: crate::domain::EnvKey,
}

#[cfg(feature = "ssr")]
async fn locate(flag: &str, environment: &str, doing: &str) -> Result<Located, AppError> {
    use crate::domain::{EnvKey, FlagKey};
    let user = crate::server::auth::require(crate::domain::Role::Editor, doing).await?;
    let invalid = |e: crate::domain::InvalidValue| crate::server::to_app_error(e.into());
    let flag = FlagKey::parse(flag).map_err(|e| invalid(crate::domain::InvalidValue { field: "flag", ..e }))?;
    let env = EnvKey::parse(environment).map_err(invalid)?;
    Ok(Located { actor: crate::server::audit::Actor::user(&user), flag, env })
}

/// A 1-based position within a list of `len`.
#[cfg(feature = "ssr")]
fn index(position: usize, len: usize) -> Result<usize, AppError> {
    if (1..=len).contains(&position) {
        Ok(position - 1)
    } else {
        Err(AppError::Invalid {
            field: "position".into(),
            message: format!("there is no rule {position} (the list has {len}); reload the page"),
        })
    }
}

/// Adds a rule at the end (no `position`) or replaces the rule at `position`.
#[server(endpoint = "targeting_rule_save")]
pub async fn save_rule(
    flag: String,
    environment: String,
    expected_version: Option<i32>,
    position: Option<usize>,
    name: String,
    field: Option<Vec<String>>,
    negate: Option<Vec<String>>,
    operator: Option<Vec<String>>,
    values: Option<Vec<String>>,
    case: Option<Vec<String>>,
    segment: Option<Vec<String>>,
    serve: String,
    serve_value: Option<String>,
    percent: Option<String>,
    stickiness: Option<String>,
    reason: Option<String>,
) -> Result<String, AppError> {
    use crate::domain::targeting::{Serve, TargetingRule};
    use crate::domain::{Percent, Stickiness};
    use crate::server::{targeting, to_app_error, AppState};
    let at = locate(&flag, &environment, "change targeting rules").await?;
    let state = expect_context::<AppState>();
    let invalid = |e: crate::domain::InvalidValue| to_app_error(e.into());
    let constraints = super::super::targeting_form::constraints_from_rows(
        &field.unwrap_or_default(),
        &negate.unwrap_or_default(),
        &operator.unwrap_or_default(),
        &values.unwrap_or_default(),
        &case.unwrap_or_default(),
    )
    .map_err(invalid)?;
    let serve = match serve.as_str() {
        "on" => Serve::On,
        "off" => Serve::Off,
        "value" => {
            let value_type =
                crate::server::overrides::value_type_of(&state.pool, &at.flag).await.map_err(to_app_error)?;
            Serve::Value {
                value: value_type.parse_value(&serve_value.unwrap_or_default(), "serve_value").map_err(invalid)?,
            }
        }
        other => match other.strip_prefix("variant:") {
            Some(key) => Serve::Variant { key: key.to_owned() },
            None => {
                return Err(AppError::Invalid {
                    field: "serve".into(),
                    message: format!("{other:?} is not something a rule serves: on, off, a variant or a value"),
                })
            }
        },
    };
    let percent = match percent.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(text) => Some(Percent::parse(text).map_err(|e| invalid(e.at("percent")))?),
        None => None,
    };
    let stickiness = match stickiness.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => Stickiness::parse(text).map_err(invalid)?,
        None => Stickiness::CustomerId,
    };
    let rule = TargetingRule {
        name: name.trim().to_owned(),
        constraints,
        segments: segment.unwrap_or_default().into_iter().filter(|s| !s.trim().is_empty()).collect(),
        serve,
        percent,
        stickiness,
    };
    let current = targeting::get(&state.pool, &at.flag, &at.env).await.map_err(to_app_error)?;
    let mut rules = current.rules;
    let verb = match position {
        Some(position) => {
            let i = index(position, rules.len())?;
            rules[i] = rule.clone();
            "Saved"
        }
        None => {
            rules.push(rule.clone());
            "Added"
        }
    };
    targeting::set_rules(&state.pool, &at.actor, &at.flag, &at.env, rules, expected_version, reason.as_deref())
        .await
        .map_err(to_app_error)?;
    Ok(format!("{verb} the rule {} in {}.", rule.name, at.env))
}

/// Moves the rule at `position` one place `up` or `down`: rules are tried in order.
#[server(endpoint = "targeting_rule_move")]
pub async fn move_rule(
    flag: String,
    environment: String,
    expected_version: Option<i32>,
    position: usize,
    direction: String,
) -> Result<String, AppError> {
    use crate::server::{targeting, to_app_error, AppState};
    let at = locate(&flag, &environment, "change targeting rules").await?;
    let state = expect_context::<AppState>();
    let mut rules = targeting::get(&state.pool, &at.flag, &at.env).await.map_err(to_app_error)?.rules;
    let i = index(position, rules.len())?;
    let j = match direction.as_str() {
        "up" if i > 0 => i - 1,
        "down" if i + 1 < rules.len() => i + 1,
        "up" | "down" => return Ok(format!("The rule {} is already at that end.", rules[i].name)),
        other => {
            return Err(AppError::Invalid {
                field: "direction".into(),
                message: format!("{other:?}: a rule moves up or down"),
            })
        }
    };
    rules.swap(i, j);
    let name = rules[j].name.clone();
    targeting::set_rules(&state.pool, &at.actor, &at.flag, &at.env, rules, expected_version, None)
        .await
        .map_err(to_app_error)?;
    Ok(format!("Moved the rule {name} to position {} in {}.", j + 1, at.env))
}

/// Deletes the rule at `position`.
#[server(endpoint = "targeting_rule_delete")]
pub async fn delete_rule(
    flag: String,
    environment: String,
    expected_version: Option<i32>,
    position: usize,
) -> Result<String, AppError> {
    use crate::server::{targeting, to_app_error, AppState};
    let at = locate(&flag, &environment, "change targeting rules").await?;
    let state = expect_context::<AppState>();
    let mut rules = targeting::get(&state.pool, &at.flag, &at.env).await.map_err(to_app_error)?.rules;
    let i = index(position, rules.len())?;
    let removed = rules.remove(i);
    targeting::set_rules(&state.pool, &at.actor, &at.flag, &at.env, rules, expected_version, None)
        .await
        .map_err(to_app_error)?;
    Ok(format!("Deleted the rule {} in {}.", removed.name, at.env))
}

/// Requires `requires` to be `on`, `off`, or on a variant (`variant:KEY`) for this flag to be served.
#[server(endpoint = "targeting_prerequisite_add")]
pub async fn add_prerequisite(
    flag: String,
    environment: String,
    expected_version: Option<i32>,
    requires: String,
    state: String,
) -> Result<String, AppError> {
    use crate::domain::targeting::Prerequisite;
    use crate::server::{targeting, to_app_error, AppState};
    let at = locate(&flag, &environment, "change prerequisites").await?;
    let app = expect_context::<AppState>();
    // The form has one flag field: errors about the flag required land next to it.
    let requires = crate::domain::FlagKey::parse(&requires)
        .map_err(|e| to_app_error(crate::domain::InvalidValue { field: "requires", ..e }.into()))?
        .as_str()
        .to_owned();
    let on_requires = |e: crate::server::ServiceError| match e {
        crate::server::ServiceError::Invalid { field: "prerequisites", message } => {
            to_app_error(crate::server::ServiceError::Invalid { field: "requires", message })
        }
        other => to_app_error(other),
    };
    let prerequisite = match state.as_str() {
        "on" => Prerequisite::on(requires.clone()),
        "off" => Prerequisite { on: false, ..Prerequisite::on(requires.clone()) },
        other => match other.strip_prefix("variant:") {
            Some(key) => Prerequisite { variants: vec![key.to_owned()], ..Prerequisite::on(requires.clone()) },
            None => {
                return Err(AppError::Invalid {
                    field: "state".into(),
                    message: format!("{other:?}: a prerequisite is on, off or on a variant"),
                })
            }
        },
    };
    let mut list = targeting::get(&app.pool, &at.flag, &at.env).await.map_err(to_app_error)?.prerequisites;
    let described = prerequisite.describe();
    match list.iter_mut().find(|p| p.flag == requires) {
        Some(existing) => *existing = prerequisite,
        None => list.push(prerequisite),
    }
    targeting::set_prerequisites(&app.pool, &at.actor, &at.flag, &at.env, list, expected_version, None)
        .await
        .map_err(on_requires)?;
    Ok(format!("{} now requires {described} in {}.", at.flag.as_str(), at.env))
}

/// Removes the prerequisite on `requires`.
#[server(endpoint = "targeting_prerequisite_remove")]
pub async fn remove_prerequisite(
    flag: String,
    environment: String,
    expected_version: Option<i32>,
    requires: String,
) -> Result<String, AppError> {
    use crate::server::{targeting, to_app_error, AppState};
    let at = locate(&flag, &environment, "change prerequisites").await?;
    let app = expect_context::<AppState>();
    let mut list = targeting::get(&app.pool, &at.flag, &at.env).await.map_err(to_app_error)?.prerequisites;
    let before = list.len();
    list.retain(|p| p.flag != requires);
    if list.len() == before {
        return Err(AppError::Invalid {
            field: "requires".into(),
            message: format!("{} does not require {requires} in {}; reload the page", at.flag.as_str(), at.env),
        });
    }
    targeting::set_prerequisites(&app.pool, &at.actor, &at.flag, &at.env, list, expected_version, None)
        .await
        .map_err(to_app_error)?;
    Ok(format!("{} no longer requires {requires} in {}.", at.flag.as_str(), at.env))
}
