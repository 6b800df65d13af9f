//! The rollout endpoints of the admin API: the same service calls as the buttons in the browser, with an
//! admin token (acting as its user) or a session.

use super::admin::AdminCaller;
use super::error::{ApiError, ErrorBody};
use app::domain::rollout::{Action, ChecklistItem, SignoffDecision, StagePlan, Template};
use app::domain::targeting::Condition;
use app::domain::{EnvKey, FlagKey, Percent, Role, SignoffRole, Stickiness};
use app::model::RolloutView;
use app::server::rollouts::{self, NewRollout, NewSignoff, PlanSource, RolloutEdit, TransitionRequest};
use app::server::{AppState, ServiceError};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| ApiError::bad_body(&e))
}

/// One stage of a custom plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageIn {
    name: String,
    /// "10", "10%", "0.5" or a number: down to 0.01.
    #[schema(value_type = String, example = "10%")]
    percent: serde_json::Value,
    #[serde(default)]
    #[schema(value_type = Vec<SignoffRole>)]
    required_roles: Vec<String>,
    /// The least time at this stage before the next advance.
    #[serde(default)]
    min_soak_seconds: u32,
    #[serde(default)]
    checklist: Vec<ChecklistItem>,
}

/// A planned rollout: a template or custom stages, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRollout {
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,100}$")]
    flag: String,
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,49}$")]
    environment: String,
    #[schema(value_type = Option<Template>)]
    template: Option<String>,
    stages: Option<Vec<StageIn>>,
    /// `customer_id` (the default), `organization_id` or `attribute:NAME`.
    #[serde(default)]
    stickiness: Option<String>,
    #[serde(default)]
    allow_customers: Vec<String>,
    #[serde(default)]
    allow_organizations: Vec<String>,
    /// Only units this holds for take part in the staged percentages; the others get the default. Absent,
    /// null or empty: everybody.
    #[serde(default)]
    audience: Option<Condition>,
}

fn stage_from(i: usize, s: StageIn) -> Result<StagePlan, ApiError> {
    let raw = match &s.percent {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::invalid("stages", format!("stage {i}: percent must be a number like 10 or \"0.5%\"")))
        }
    };
    let percent = Percent::parse(&raw).map_err(|e| ApiError::invalid("stages", format!("stage {i}: {}", e.message)))?;
    let required_roles = s
        .required_roles
        .iter()
        .map(|r| r.parse::<SignoffRole>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::invalid("stages", format!("stage {i}: {}", e.message)))?;
    Ok(StagePlan {
        name: s.name,
        percent,
        required_roles,
        min_soak_seconds: s.min_soak_seconds,
        checklist: s.checklist,
    })
}

/// Creates a planned rollout from a template or custom stages; answers 201 with it.
#[utoipa::path(
    post, path = "/api/admin/rollouts", tag = "rollouts",
    request_body = CreateRollout,
    responses(
        (status = 201, description = "Created, planned", body = RolloutView),
        (status = 404, description = "No such flag or environment (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "A live rollout exists already (`CONFLICT`, `ROLLOUT_EXISTS`...)", body = ErrorBody),
        (status = 422, description = "A bad plan or audience: `details.field` says where (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AdminCaller,
    request: Result<Json<CreateRollout>, JsonRejection>,
) -> Result<(StatusCode, Json<RolloutView>), ApiError> {
    caller.require(Role::Editor, "change rollouts")?;
    let request = body(request)?;
    let plan = match (request.template, request.stages) {
        (Some(t), None) => {
            PlanSource::Template(t.parse::<Template>().map_err(|e| ApiError::invalid("template", e.message))?)
        }
        (None, Some(stages)) => PlanSource::Custom(
            stages.into_iter().enumerate().map(|(i, s)| stage_from(i, s)).collect::<Result<Vec<_>, _>>()?,
        ),
        _ => {
            return Err(ApiError::invalid(
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
        audience: request.audience,
    };
    let id = rollouts::create(&state.pool, &caller.actor(), &new).await?;
    Ok((StatusCode::CREATED, Json(rollouts::detail(&state.pool, id).await?)))
}

/// A rollout: stages, next gate, sign-offs, timeline.
#[utoipa::path(
    get, path = "/api/admin/rollouts/{id}", tag = "rollouts",
    params(("id" = i64, Path, description = "The rollout's id")),
    responses(
        (status = 200, description = "The rollout", body = RolloutView),
        (status = 404, description = "No such rollout (`NOT_FOUND`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<RolloutView>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    let Path(id) = id.map_err(|e| ApiError::bad_path(&e))?;
    Ok(Json(rollouts::detail(&state.pool, id).await?))
}

/// A live rollout's new plan, replacing the old one as a whole (a list or audience left out is emptied);
/// the sign-offs given so far are voided.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditRollout {
    stages: Vec<StageIn>,
    stickiness: Option<String>,
    #[serde(default)]
    allow_customers: Vec<String>,
    #[serde(default)]
    allow_organizations: Vec<String>,
    /// Only units this holds for take part; absent, null or empty: everybody.
    #[serde(default)]
    audience: Option<Condition>,
    expected_version: Option<i32>,
    reason: Option<String>,
}

/// Edits a live rollout's plan (voids the sign-offs given so far).
#[utoipa::path(
    put, path = "/api/admin/rollouts/{id}", tag = "rollouts",
    params(("id" = i64, Path, description = "The rollout's id")),
    request_body = EditRollout,
    responses(
        (status = 200, description = "The edited rollout", body = RolloutView),
        (status = 404, description = "No such rollout (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "It moved since `expected_version`, or it is over (`CONFLICT`, `INVALID_TRANSITION`)", body = ErrorBody),
        (status = 422, description = "A bad plan or audience: `details.field` says where (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn edit(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<i64>, PathRejection>,
    request: Result<Json<EditRollout>, JsonRejection>,
) -> Result<Json<RolloutView>, ApiError> {
    caller.require(Role::Editor, "change rollouts")?;
    let Path(id) = id.map_err(|e| ApiError::bad_path(&e))?;
    let request = body(request)?;
    let edit = RolloutEdit {
        stages: request.stages.into_iter().enumerate().map(|(i, s)| stage_from(i, s)).collect::<Result<Vec<_>, _>>()?,
        stickiness: Stickiness::parse(request.stickiness.as_deref().unwrap_or("customer_id"))
            .map_err(ServiceError::from)?,
        allow_customers: request.allow_customers,
        allow_organizations: request.allow_organizations,
        audience: request.audience,
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

/// A move of the live rollout of `flag` in `environment`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActOn {
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,100}$")]
    flag: String,
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,49}$")]
    environment: String,
    expected_version: Option<i32>,
    reason: Option<String>,
    /// Rollback only: the earlier stage to serve; absent means 0% (and the rollout ends).
    to_stage: Option<u32>,
    /// Admins only, with a reason: pass the gates anyway (recorded as an override).
    #[serde(default)]
    override_gates: bool,
}

/// One rollout move per endpoint, each documented on its own (`routes!` takes plain functions).
macro_rules! rollout_move {
    ($name:ident, $verb:expr, $path:tt, $summary:tt) => {
        #[doc = $summary]
        #[utoipa::path(
            post, path = $path, tag = "rollouts",
            request_body = ActOn,
            responses(
                (status = 200, description = "The rollout after the move", body = RolloutView),
                (status = 404, description = "No live rollout of the flag there (`NOT_FOUND`)", body = ErrorBody),
                (status = 409, description = "A gate is not met, the status forbids it, or it moved since `expected_version` (`GATE_BLOCKED`, `INVALID_TRANSITION`, `CONFLICT`)", body = ErrorBody),
                (status = 422, description = "A bad field (`INVALID`)", body = ErrorBody),
            ),
            security(("admin_token" = []), ("session" = [])),
        )]
        pub async fn $name(
            state: State<AppState>,
            caller: AdminCaller,
            request: Result<Json<ActOn>, JsonRejection>,
        ) -> Result<Json<RolloutView>, ApiError> {
            act(state, caller, request, $verb).await
        }
    };
}

rollout_move!(start, Verb::Start, "/api/admin/rollout/start", "Starts a planned rollout: enters stage 0 (gated).");
rollout_move!(
    advance,
    Verb::Advance,
    "/api/admin/rollout/advance",
    "Advances to the next stage (gated: sign-offs, soak, phase, guardrails)."
);
rollout_move!(pause, Verb::Pause, "/api/admin/rollout/pause", "Pauses at the current stage.");
rollout_move!(resume, Verb::Resume, "/api/admin/rollout/resume", "Resumes a paused rollout.");
rollout_move!(
    rollback,
    Verb::Rollback,
    "/api/admin/rollout/rollback",
    "Rolls back to 0% or to an earlier stage (`to_stage`)."
);
rollout_move!(complete, Verb::Complete, "/api/admin/rollout/complete", "Completes a rollout at its last stage.");

async fn act(
    State(state): State<AppState>,
    caller: AdminCaller,
    request: Result<Json<ActOn>, JsonRejection>,
    verb: Verb,
) -> Result<Json<RolloutView>, ApiError> {
    caller.require(Role::Editor, "change rollouts")?;
    let request = body(request)?;
    let flag = FlagKey::parse(&request.flag).map_err(|e| ServiceError::from(e.at("flag")))?;
    let environment = EnvKey::parse(&request.environment).map_err(ServiceError::from)?;
    if request.to_stage.is_some() && !matches!(verb, Verb::Rollback) {
        return Err(ApiError::invalid("to_stage", "to_stage is for rollback only"));
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

/// A sign-off of one stage, in one of the caller's sign-off roles.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignoffIn {
    rollout: i64,
    stage: u32,
    #[schema(value_type = SignoffDecision)]
    decision: String,
    #[serde(default)]
    comment: String,
    /// Needed only when the signer holds several of the roles the stage requires.
    #[schema(value_type = Option<SignoffRole>)]
    role: Option<String>,
    expected_version: Option<i32>,
}

/// Approves or rejects the next stage in one of your sign-off roles (any role of user may sign off; the
/// sign-off roles decide).
#[utoipa::path(
    post, path = "/api/admin/rollout/signoff", tag = "rollouts",
    request_body = SignoffIn,
    responses(
        (status = 200, description = "The rollout with the sign-off", body = RolloutView),
        (status = 403, description = "You hold none of the roles the stage requires, or you asked for it (`FORBIDDEN`)", body = ErrorBody),
        (status = 404, description = "No such rollout (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "It moved since `expected_version`, or the stage is not next (`CONFLICT`, `INVALID_TRANSITION`)", body = ErrorBody),
        (status = 422, description = "A bad field (`INVALID`)", body = ErrorBody),
    ),
    security(("admin_token" = []), ("session" = [])),
)]
pub async fn signoff(
    State(state): State<AppState>,
    caller: AdminCaller,
    request: Result<Json<SignoffIn>, JsonRejection>,
) -> Result<Json<RolloutView>, ApiError> {
    caller.require(Role::Viewer, "see this")?;
    let request = body(request)?;
    let decision = request.decision.parse::<SignoffDecision>().map_err(|e| ApiError::invalid("decision", e.message))?;
    let held = &caller.user.signoff_roles;
    let role = match request.role.as_deref() {
        Some(role) => role.parse::<SignoffRole>().map_err(|e| ApiError::invalid("role", e.message))?,
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
                    return Err(ApiError::invalid(
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
