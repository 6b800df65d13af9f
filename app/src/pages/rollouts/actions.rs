//! The server functions behind the rollout buttons and forms, shared by the flag page, the rollout page
//! and the approvals queue. Each checks who is asking before the service layer checks again.
//!
//! They take plain form fields (strings, optional numbers) so that a form posted without JavaScript
//! reaches them as it is; the fields are parsed into domain types here, at the edge.
// Server functions take one argument per form field (a plain HTML form posts them by name), and the
// macro repeats the list in the browser's stub, so the argument count is the form's, not a design smell.
#![allow(clippy::too_many_arguments)]

use crate::error::AppError;
use leptos::prelude::*;

/// Rewrites a refusal so that it says which rollout it is about: one page may show several rollouts, and
/// without JavaScript the error comes back to the page with nothing else to tell them apart.
#[cfg(feature = "ssr")]
async fn about_rollout(err: AppError, id: i64, doing: &str) -> AppError {
    use crate::server::{rollouts, AppState};
    let AppError::Refused { code, message } = err else { return err };
    let state = expect_context::<AppState>();
    match rollouts::detail(&state.pool, id).await {
        Ok(view) => AppError::Refused {
            code,
            message: format!("Cannot {doing} {} in {}: {message}", view.flag, view.environment),
        },
        Err(_) => AppError::Refused { code, message },
    }
}

#[cfg(feature = "ssr")]
use crate::server::invalid;

/// Comma- or space-separated keys, without blanks or repeats.
pub fn split_keys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for key in text.split([',', ' ', '\n', '\t']).map(str::trim).filter(|k| !k.is_empty()) {
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_owned());
        }
    }
    keys
}

/// The stickiness a form chose: `customer_id`, `organization_id`, or `attribute` with a name.
pub fn stickiness_from_form(kind: &str, attribute: Option<&str>) -> Result<String, String> {
    match kind {
        "customer_id" | "organization_id" => Ok(kind.to_owned()),
        "attribute" => match attribute.map(str::trim).filter(|a| !a.is_empty()) {
            Some(name) => Ok(format!("attribute:{name}")),
            None => Err("name the attribute the rollout is sticky by, e.g. tenant_region".to_owned()),
        },
        other => Err(format!("unknown stickiness {other:?}: choose customer, organization or attribute")),
    }
}

/// A rollout's audience from a form's condition rows and segment checkboxes (see `targeting_form`); none
/// when every row is blank and no segment is checked. A bad row is named, as the field `audience`.
#[cfg(feature = "ssr")]
fn audience_from_form(
    field: Option<Vec<String>>,
    negate: Option<Vec<String>>,
    operator: Option<Vec<String>>,
    values: Option<Vec<String>>,
    case: Option<Vec<String>>,
    segment: Option<Vec<String>>,
) -> Result<Option<crate::domain::targeting::Condition>, AppError> {
    let constraints = crate::pages::targeting_form::constraints_from_rows(
        &field.unwrap_or_default(),
        &negate.unwrap_or_default(),
        &operator.unwrap_or_default(),
        &values.unwrap_or_default(),
        &case.unwrap_or_default(),
    )
    .map_err(|e| invalid("audience", e.message))?;
    let segments = segment.unwrap_or_default().into_iter().filter(|s| !s.trim().is_empty()).collect();
    let audience = crate::domain::targeting::Condition { constraints, segments };
    Ok((!audience.is_empty()).then_some(audience))
}

/// Creates a planned rollout of `flag` in `environment` from a template, limited to an audience when the
/// condition rows (`field[]`...) or segment boxes (`segment[]`) say so. Returns its id.
#[server(endpoint = "rollout_create")]
pub async fn create_rollout(
    flag: String,
    environment: String,
    template: String,
    stickiness: String,
    stickiness_attribute: Option<String>,
    allow_customers: Option<String>,
    allow_organizations: Option<String>,
    custom_stages: Option<String>,
    field: Option<Vec<String>>,
    negate: Option<Vec<String>>,
    operator: Option<Vec<String>>,
    values: Option<Vec<String>>,
    case: Option<Vec<String>>,
    segment: Option<Vec<String>>,
) -> Result<i64, AppError> {
    use crate::domain::rollout::Template;
    use crate::domain::{EnvKey, FlagKey, Stickiness};
    use crate::server::rollouts::{self, NewRollout, PlanSource};
    use crate::server::{audit::Actor, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Editor, "plan rollouts").await?;
    let flag = FlagKey::parse(&flag).map_err(|e| invalid("flag", e.message))?;
    let environment = EnvKey::parse(&environment).map_err(|e| invalid("environment", e.message))?;
    let plan = if template == "custom" {
        let text = custom_stages.unwrap_or_default();
        PlanSource::Custom(
            super::stage_text::parse_stage_lines(&text, &[]).map_err(|message| invalid("custom_stages", message))?,
        )
    } else {
        PlanSource::Template(
            template.parse::<Template>().map_err(|e: crate::domain::InvalidValue| invalid("template", e.message))?,
        )
    };
    let stickiness = stickiness_from_form(&stickiness, stickiness_attribute.as_deref())
        .and_then(|s| Stickiness::parse(&s).map_err(|e| e.message))
        .map_err(|message| invalid("stickiness", message))?;
    let new = NewRollout {
        flag,
        environment,
        plan,
        stickiness,
        allow_customers: split_keys(allow_customers.as_deref().unwrap_or_default()),
        allow_organizations: split_keys(allow_organizations.as_deref().unwrap_or_default()),
        audience: audience_from_form(field, negate, operator, values, case, segment)?,
    };
    let state = expect_context::<AppState>();
    rollouts::create(&state.pool, &Actor::user(&user), &new).await.map_err(to_app_error)
}

/// Replaces a live rollout's stages (typed as lines, see `stage_text`) and, when given, its allow-lists
/// (any customer and organization keys) and audience, keeping its stickiness and the checklists of stages
/// that keep their names. Voids the sign-offs given so far.
///
/// The audience is the condition rows (`field[]`...) and segment boxes (`segment[]`) when the form has them,
/// which `audience_rows` says (an unchecked box posts nothing, so their absence cannot say it); without it
/// the audience stays as it is.
#[server(endpoint = "rollout_edit")]
pub async fn edit_rollout(
    rollout: i64,
    expected_version: Option<i32>,
    stages: String,
    allow_customers: Option<String>,
    allow_organizations: Option<String>,
    reason: Option<String>,
    audience_rows: Option<String>,
    field: Option<Vec<String>>,
    negate: Option<Vec<String>>,
    operator: Option<Vec<String>>,
    values: Option<Vec<String>>,
    case: Option<Vec<String>>,
    segment: Option<Vec<String>>,
) -> Result<String, AppError> {
    use crate::server::rollouts::{self, RolloutEdit};
    use crate::server::{audit::Actor, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Editor, "change rollouts").await?;
    let state = expect_context::<AppState>();
    let current = rollouts::detail(&state.pool, rollout).await.map_err(to_app_error)?;
    let stages = super::stage_text::parse_stage_lines(&stages, &current.stages).map_err(|m| invalid("stages", m))?;
    let edit = RolloutEdit {
        stages,
        stickiness: current.stickiness.clone(),
        allow_customers: allow_customers.map_or_else(|| current.allow_customers.clone(), |t| split_keys(&t)),
        allow_organizations: allow_organizations
            .map_or_else(|| current.allow_organizations.clone(), |t| split_keys(&t)),
        audience: match audience_rows {
            Some(_) => audience_from_form(field, negate, operator, values, case, segment)?,
            None => current.audience.clone(),
        },
        expected_version,
        reason: reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()),
    };
    rollouts::edit(&state.pool, &Actor::user(&user), rollout, &edit).await.map_err(to_app_error)?;
    Ok(format!(
        "Edited: {} in {} has a new plan; sign-offs given before it no longer count.",
        current.flag, current.environment
    ))
}

/// Presses one of a rollout's buttons. `action` is the pressed button's value: `start`, `advance`,
/// `pause`, `resume`, `rollback` (to `to_stage`, or to 0% when it is blank) or `complete`.
/// `expected_version` is the version the page showed. Returns what happened, in words.
#[server(endpoint = "rollout_act")]
pub async fn rollout_act(
    rollout: i64,
    action: String,
    expected_version: Option<i32>,
    reason: Option<String>,
    override_gates: Option<String>,
    to_stage: Option<String>,
) -> Result<String, AppError> {
    use crate::domain::rollout::Action;
    use crate::server::rollouts::{self, TransitionRequest};
    use crate::server::{audit::Actor, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Editor, "change rollouts").await?;
    let action = match action.as_str() {
        "start" => Action::Start,
        "advance" => Action::Advance,
        "pause" => Action::Pause,
        "resume" => Action::Resume,
        "complete" => Action::Complete,
        "rollback" => Action::RollbackTo(match to_stage.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(stage) => Some(
                stage.parse::<u32>().map_err(|_| invalid("to_stage", format!("{stage:?} is not a stage number")))?,
            ),
        }),
        other => return Err(invalid("action", format!("unknown rollout action {other:?}"))),
    };
    let override_gates = override_gates.is_some_and(|v| !v.is_empty() && v != "false");
    if override_gates && !user.role.can_manage_users() {
        return Err(crate::server::to_app_error(crate::server::ServiceError::Forbidden(
            "only an admin can override a gate".into(),
        )));
    }
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if override_gates && reason.is_none() {
        return Err(invalid("reason", "an override needs a written reason: say why the gates can be set aside"));
    }
    let request = TransitionRequest { action, expected_version, reason, override_gates, details: None };
    let state = expect_context::<AppState>();
    let view = match rollouts::transition(&state.pool, &Actor::user(&user), rollout, &request).await {
        Ok(view) => view,
        Err(err) => return Err(about_rollout(to_app_error(err), rollout, action.verb()).await),
    };
    let done = match action {
        Action::Start => "Started",
        Action::Advance => "Advanced",
        Action::Pause => "Paused",
        Action::Resume => "Resumed",
        Action::RollbackTo(_) => "Rolled back",
        Action::Complete => "Completed",
    };
    Ok(format!(
        "{done}: {} in {} is {} and serves {} ({}).",
        view.flag,
        view.environment,
        view.status.label(),
        view.current_percent,
        super::stage_label(&view)
    ))
}

/// Approves or rejects the stage `stage` of a rollout in one of the signer's roles. `decision` is the
/// pressed button's value, `approved` or `rejected`; a rejection needs a comment.
#[server(endpoint = "rollout_sign")]
pub async fn sign_rollout(
    rollout: i64,
    stage: u32,
    role: String,
    decision: String,
    comment: Option<String>,
    expected_version: Option<i32>,
) -> Result<String, AppError> {
    use crate::domain::rollout::SignoffDecision;
    use crate::domain::SignoffRole;
    use crate::server::rollouts::{self, NewSignoff};
    use crate::server::{audit::Actor, to_app_error, AppState};
    let user = crate::server::auth::require(crate::domain::Role::Viewer, "see this").await?;
    let role: SignoffRole = role.parse().map_err(|e: crate::domain::InvalidValue| invalid("role", e.message))?;
    if !user.signoff_roles.contains(&role) {
        return Err(crate::server::to_app_error(crate::server::ServiceError::Forbidden(format!(
            "you do not hold the {role} sign-off role; an admin gives sign-off roles on the Users page"
        ))));
    }
    let decision: SignoffDecision =
        decision.parse().map_err(|e: crate::domain::InvalidValue| invalid("decision", e.message))?;
    let new = NewSignoff { stage, role, decision, comment: comment.unwrap_or_default(), expected_version };
    let state = expect_context::<AppState>();
    let signed = rollouts::sign(&state.pool, &Actor::user(&user), &user.signoff_roles, rollout, &new).await;
    let doing = if decision == SignoffDecision::Approved { "approve" } else { "reject" };
    if let Err(err) = signed {
        return Err(match to_app_error(err) {
            // The comment's message, with the rollout named: the queue lists several.
            AppError::Invalid { field, message } => {
                let named = about_rollout(AppError::Refused { code: String::new(), message }, rollout, doing).await;
                AppError::Invalid { field, message: named.to_string() }
            }
            other => about_rollout(other, rollout, doing).await,
        });
    }
    let view = rollouts::detail(&state.pool, rollout).await.map_err(to_app_error)?;
    let stage_name = view.stages.get(stage as usize).map(|s| format!("{} ({})", s.name, s.percent)).unwrap_or_default();
    Ok(format!(
        "{} as {role}: {} in {}, stage {stage_name}.",
        if decision == SignoffDecision::Approved { "Approved" } else { "Rejected" },
        view.flag,
        view.environment
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_split_on_commas_and_spaces_without_repeats() {
        assert_eq!(split_keys(" cust-0001, cust-0002 cust-0001,,\nacme "), vec!["cust-0001", "cust-0002", "acme"]);
        assert!(split_keys("  , ").is_empty());
    }

    #[test]
    fn attribute_stickiness_needs_a_name() {
        assert_eq!(stickiness_from_form("customer_id", Some("ignored")).as_deref(), Ok("customer_id"));
        assert_eq!(
            stickiness_from_form("attribute", Some(" tenant_region ")).as_deref(),
            Ok("attribute:tenant_region")
        );
        assert!(stickiness_from_form("attribute", Some("  ")).unwrap_err().contains("name the attribute"));
        assert!(stickiness_from_form("planet", None).unwrap_err().contains("unknown stickiness"));
    }
}
