//! The rollout endpoints of the admin API: the same service calls as the buttons in the browser, with an
//! admin token (acting as its user) or a session.

use super::admin::AdminCaller;
use super::error::ApiError;
use app::domain::rollout::{Action, ChecklistItem, SignoffDecision, StagePlan, Template};
use app::domain::{EnvKey, FlagKey, Percent, SignoffRole, Stickiness};
use app::model::RolloutView;
use app::server::rollouts::{self, NewRollout, NewSignoff, PlanSource, RolloutEdit, TransitionRequest};
use app::server::{AppState, ServiceError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/rollouts", post(create))
        .route("/api/admin/rollouts/{id}", get(show).put(edit))
        .route("/api/admin/rollout/start", post(|s, c, b| act(s, c, b, Verb::Start)))
        .route("/api/admin/rollout/advance", post(|s, c, b| act(s, c, b, Verb::Advance)))
        .route("/api/admin/rollout/pause", post(|s, c, b| act(s, c, b, Verb::Pause)))
        .route("/api/admin/rollout/resume", post(|s, c, b| act(s, c, b, Verb::Resume)))
        .route("/api/admin/rollout/rollback", post(|s, c, b| act(s, c, b, Verb::Rollback)))
        .route("/api/admin/rollout/complete", post(|s, c, b| act(s, c, b, Verb::Complete)))
        .route("/api/admin/rollout/signoff", post(signoff))
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| ApiError::new(e.status(), "INVALID_BODY", e.body_text()))
}

fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
    ServiceError::Invalid { field, message: message.into() }.into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageIn {
    name: String,
    /// "10", "10%", "0.5" or a number.
    percent: serde_json::Value,
    #[serde(default)]
    required_roles: Vec<String>,
    #[serde(default)]
    min_soak_seconds: u32,
    #[serde(default)]
    checklist: Vec<ChecklistItem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRollout {
    flag: String,
    environment: String,
    template: Option<String>,
    stages: Option<Vec<StageIn>>,
    #[serde(default)]
    stickiness: Option<String>,
    #[serde(default)]
    allow_customers: Vec<String>,
    #[serde(default)]
    allow_organizations: Vec<String>,
}

fn stage_from(i: usize, s: StageIn) -> Result<StagePlan, ApiError> {
    let raw = match &s.percent {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(invalid("stages", format!("stage {i}: percent must be a number like 10 or \"0.5%\""))),
    };
    let percent = Percent::parse(&raw).map_err(|e| invalid("stages", format!("stage {i}: {}", e.message)))?;
    let required_roles = s
        .required_roles
        .iter()
        .map(|r| r.parse::<SignoffRole>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("stages", format!("stage {i}: {}", e.message)))?;
    Ok(StagePlan {
        name: s.name,
        percent,
        required_roles,
        min_soak_seconds: s.min_soak_seconds,
        checklist: s.checklist,
    })
}

async fn create(
    State(state): State<AppState>,
    caller: AdminCaller,
    request: Result<Json<CreateRollout>, JsonRejection>,
) -> Result<(StatusCode, Json<RolloutView>), ApiError> {
    let request = body(request)?;
    let plan = match (request.template, request.stages) {
        (Some(t), None) => PlanSource::Template(t.parse::<Template>().map_err(|e| invalid("template", e.message))?),
        (None, Some(stages)) => PlanSource::Custom(
            stages.into_iter().enumerate().map(|(i, s)| stage_from(i, s)).collect::<Result<Vec<_>, _>>()?,
        ),
        _ => {
            return Err(invalid(
                "template",
                "give either a template (five_tier, canary, two_step) or stages, not both and not neither",
            ))
        }
    };
    let new = NewRollout {
        flag: FlagKey::parse(&request.flag).map_err(|e| ServiceError::from(e.at("flag")))?,
        environment: EnvKey::parse(&request.environment).map_err(ServiceError::from)?,
        plan,
        stickiness: Stickiness::parse(request.stickiness.as_deref().unwrap_or("customer_id"))
            .map_err(ServiceError::from)?,
        allow_customers: request.allow_customers,
        allow_organizations: request.allow_organizations,
    };
    let id = rollouts::create(&state.pool, &caller.actor(), &new).await?;
    Ok((StatusCode::CREATED, Json(rollouts::detail(&state.pool, id).await?)))
}

async fn show(
    State(state): State<AppState>,
    _caller: AdminCaller,
    Path(id): Path<i64>,
) -> Result<Json<RolloutView>, ApiError> {
    Ok(Json(rollouts::detail(&state.pool, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditRollout {
    stages: Vec<StageIn>,
    stickiness: Option<String>,
    #[serde(default)]
    allow_customers: Vec<String>,
    #[serde(default)]
    allow_organizations: Vec<String>,
    expected_version: Option<i32>,
    reason: Option<String>,
}

async fn edit(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<i64>,
    request: Result<Json<EditRollout>, JsonRejection>,
) -> Result<Json<RolloutView>, ApiError> {
    let request = body(request)?;
    let edit = RolloutEdit {
        stages: request.stages.into_iter().enumerate().map(|(i, s)| stage_from(i, s)).collect::<Result<Vec<_>, _>>()?,
        stickiness: Stickiness::parse(request.stickiness.as_deref().unwrap_or("customer_id"))
            .map_err(ServiceError::from)?,
        allow_customers: request.allow_customers,
        allow_organizations: request.allow_organizations,
        expected_version: request.expected_version,
        reason: request.reason,
    };
    rollouts::edit(&state.pool, &caller.actor(), id, &edit).await?;
    Ok(Json(rollouts::detail(&state.pool, id).await?))
}

#[derive(Debug, Clone, Copy)]
enum Verb {
    Start,
    Advance,
    Pause,
    Resume,
    Rollback,
    Complete,
}

/// `{flag, environment, expected_version?, reason?, to_stage?, override_gates?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActOn {
    flag: String,
    environment: String,
    expected_version: Option<i32>,
    reason: Option<String>,
    /// Rollback only: the earlier stage to serve; absent means 0% (and the rollout ends).
    to_stage: Option<u32>,
    #[serde(default)]
    override_gates: bool,
}

async fn act(
    State(state): State<AppState>,
    caller: AdminCaller,
    request: Result<Json<ActOn>, JsonRejection>,
    verb: Verb,
) -> Result<Json<RolloutView>, ApiError> {
    let request = body(request)?;
    let flag = FlagKey::parse(&request.flag).map_err(|e| ServiceError::from(e.at("flag")))?;
    let environment = EnvKey::parse(&request.environment).map_err(ServiceError::from)?;
    if request.to_stage.is_some() && !matches!(verb, Verb::Rollback) {
        return Err(invalid("to_stage", "to_stage is for rollback only"));
    }
    let action = match verb {
        Verb::Start => Action::Start,
        Verb::Advance => Action::Advance,
        Verb::Pause => Action::Pause,
        Verb::Resume => Action::Resume,
        Verb::Rollback => Action::RollbackTo(request.to_stage),
        Verb::Complete => Action::Complete,
    };
    let id = rollouts::live_id(&state.pool, flag.as_str(), environment.as_str()).await?.ok_or_else(|| {
        ServiceError::NotFound(format!("a live rollout of {} in {}", flag.as_str(), environment.as_str()))
    })?;
    let view = rollouts::transition(
        &state.pool,
        &caller.actor(),
        id,
        &TransitionRequest {
            action,
            expected_version: request.expected_version,
            reason: request.reason,
            override_gates: request.override_gates,
            details: None,
        },
    )
    .await?;
    Ok(Json(view))
}

/// `{rollout, stage, decision, comment, role?, expected_version?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignoffIn {
    rollout: i64,
    stage: u32,
    decision: String,
    #[serde(default)]
    comment: String,
    /// Needed only when the signer holds several of the roles the stage requires.
    role: Option<String>,
    expected_version: Option<i32>,
}

async fn signoff(
    State(state): State<AppState>,
    caller: AdminCaller,
    request: Result<Json<SignoffIn>, JsonRejection>,
) -> Result<Json<RolloutView>, ApiError> {
    let request = body(request)?;
    let decision = request.decision.parse::<SignoffDecision>().map_err(|e| invalid("decision", e.message))?;
    let held = &caller.user.signoff_roles;
    let role = match request.role.as_deref() {
        Some(role) => role.parse::<SignoffRole>().map_err(|e| invalid("role", e.message))?,
        None => {
            let view = rollouts::detail(&state.pool, request.rollout).await?;
            let required: Vec<String> = view
                .stages
                .iter()
                .find(|s| s.position == request.stage)
                .map(|s| s.required_roles.clone())
                .unwrap_or_default();
            let mine: Vec<SignoffRole> =
                held.iter().copied().filter(|r| required.iter().any(|q| q == r.as_str())).collect();
            match mine.as_slice() {
                [one] => *one,
                [] => {
                    return Err(ServiceError::Forbidden(format!(
                        "stage {} requires {}; you hold {}",
                        request.stage,
                        if required.is_empty() { "no sign-off".to_owned() } else { required.join(", ") },
                        if held.is_empty() {
                            "no sign-off role".to_owned()
                        } else {
                            held.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                        }
                    ))
                    .into())
                }
                several => {
                    return Err(invalid(
                        "role",
                        format!(
                            "you hold several roles this stage requires ({}): say which with \"role\"",
                            several.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ))
                }
            }
        }
    };
    rollouts::sign(
        &state.pool,
        &caller.actor(),
        held,
        request.rollout,
        &NewSignoff {
            stage: request.stage,
            role,
            decision,
            comment: request.comment,
            expected_version: request.expected_version,
        },
    )
    .await?;
    Ok(Json(rollouts::detail(&state.pool, request.rollout).await?))
}
