//! Staged rollouts: creating one, the buttons (start, advance, pause, resume, roll back, complete) and
//! sign-offs. The rules are the pure functions of `domain::rollout`; this module locks the rollout row,
//! loads what they take, calls them, and writes the rollout, its timeline event and the audit event in one
//! transaction, ending with the NOTIFY that makes every server's snapshot serve the change.
//!
//! Concurrency: every write locks the rollout row (`for update`) before reading it, so two requests on one
//! rollout run one after the other; each may carry the version its page showed (`expected_version`), and
//! a stale one is refused with 409 and the current version. Of two advances sent at once, the second
//! finds the version moved (or, without an expected version, the next stage's gates no longer met).

mod read;

pub use read::{approvals_for, detail, for_flag, live_id, population};

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::rollout::{
    apply, check_gates, validate_signoff, Action, ChecklistItem, GateInput, GateRefusal, Override, RolloutPlan,
    RolloutState, RolloutStatus, SignoffDecision, SignoffRecord, SignoffRequest, StagePlan, Template, TransitionKind,
};
use crate::domain::{ChangeReason, Comment, EnvKey, FlagKey, Percent, Role, SignoffRole, Stickiness};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::str::FromStr;

/// Where a new rollout's stages come from.
#[derive(Debug, Clone)]
pub enum PlanSource {
    Template(Template),
    Custom(Vec<StagePlan>),
}

/// A rollout to create, validated at the edge (the plan is validated here, with the flag's key known).
#[derive(Debug, Clone)]
pub struct NewRollout {
    pub flag: FlagKey,
    pub environment: EnvKey,
    pub plan: PlanSource,
    pub stickiness: Stickiness,
    /// Customer keys that are always in while the rollout is live.
    pub allow_customers: Vec<String>,
    /// Organization keys likewise.
    pub allow_organizations: Vec<String>,
}

/// A button press, from the UI or the API.
#[derive(Debug, Clone)]
pub struct TransitionRequest {
    pub action: Action,
    /// The rollout version the caller's page showed; `None` acts on whatever is current.
    pub expected_version: Option<i32>,
    pub reason: Option<String>,
    /// An admin forcing the transition past unmet gates; needs a reason.
    pub override_gates: bool,
    /// Merged into the timeline event's details, e.g. the guardrail and the figures that fired it.
    pub details: Option<serde_json::Value>,
}

/// The transition's own details with the caller's added (the caller's win on a clash).
fn merge_details(mut own: serde_json::Value, extra: Option<&serde_json::Value>) -> serde_json::Value {
    if let (Some(own), Some(serde_json::Value::Object(extra))) = (own.as_object_mut(), extra) {
        own.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    own
}

fn refused(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Refused { code, message: message.into() }
}

/// Creates a planned rollout for a flag in one environment. At most one live rollout per flag and
/// environment (the `rollouts_live_key` index).
pub async fn create(pool: &PgPool, actor: &Actor, new: &NewRollout) -> Result<i64, ServiceError> {
    let mut tx = pool.begin().await?;
    let (id, entity_key) = create_in(&mut tx, actor, new).await?;
    audit::notify_change(&mut tx, "rollout", &entity_key).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`create`] inside the caller's transaction (`rollgate apply` creates many things in one), without the
/// NOTIFY, which the caller sends once. Returns the id and the audit entity key.
pub async fn create_in(
    conn: &mut PgConnection,
    actor: &Actor,
    new: &NewRollout,
) -> Result<(i64, String), ServiceError> {
    actor.require(Role::Editor, "change rollouts")?;
    let (stages, template) = match &new.plan {
        PlanSource::Template(t) => (t.stages(&new.flag, &new.environment), Some(t.key())),
        PlanSource::Custom(stages) => (stages.clone(), None),
    };
    let plan = RolloutPlan::new(stages).map_err(|e| ServiceError::invalid("stages", e.to_string()))?;
    let (flag_id, environment_id) =
        super::flags::live_flag_environment(&mut *conn, &new.flag, &new.environment).await?;
    let inserted = sqlx::query_scalar!(
        "insert into rollouts (flag_id, environment_id, stickiness, template, created_by)
         values ($1, $2, $3, $4, $5) returning id",
        flag_id,
        environment_id,
        new.stickiness.to_string(),
        template,
        actor.user_id,
    )
    .fetch_one(&mut *conn)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("rollouts_live_key") => {
            return Err(refused(
                "ROLLOUT_EXISTS",
                format!(
                    "{} already has a live rollout in {}; finish or roll it back first",
                    new.flag.as_str(),
                    new.environment.as_str()
                ),
            ))
        }
        Err(other) => return Err(other.into()),
    };
    insert_stages(conn, id, &plan).await?;
    let guardrails = match &new.plan {
        PlanSource::Template(t) => crate::domain::guardrail::template_guardrails(*t),
        PlanSource::Custom(_) => Vec::new(),
    };
    super::guardrails::insert_specs(conn, id, &guardrails).await?;
    insert_allow_list(conn, id, actor, &new.allow_customers, &new.allow_organizations).await?;
    let summary = serde_json::json!({
        "template": template,
        "stickiness": new.stickiness.to_string(),
        "stages": plan.stages().iter().map(|s| format!("{} {}", s.name, s.percent)).collect::<Vec<_>>(),
        "allow_customers": new.allow_customers,
        "allow_organizations": new.allow_organizations,
        "guardrails": guardrails.iter().map(|g| g.describe()).collect::<Vec<_>>(),
    });
    insert_event(conn, id, actor, EventRow { kind: "created", details: summary.clone(), ..EventRow::default() })
        .await?;
    let entity_key = format!("{}/{}#{id}", new.flag.as_str(), new.environment.as_str());
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "rollout.created",
            entity_kind: "rollout",
            entity_key: &entity_key,
            flag_key: Some(new.flag.as_str()),
            environment_key: Some(new.environment.as_str()),
            after: Some(summary),
            ..NewEvent::default()
        },
    )
    .await?;
    Ok((id, entity_key))
}

async fn insert_stages(conn: &mut PgConnection, id: i64, plan: &RolloutPlan) -> Result<(), ServiceError> {
    for (position, stage) in plan.stages().iter().enumerate() {
        let roles: Vec<String> = stage.required_roles.iter().map(|r| r.as_str().to_owned()).collect();
        let checklist = serde_json::to_value(&stage.checklist)
            .map_err(|e| ServiceError::internal("writing a stage's checklist", e))?;
        sqlx::query!(
            "insert into rollout_stages (rollout_id, position, name, basis_points, required_roles, min_soak_seconds, checklist)
             values ($1, $2, $3, $4, $5, $6, $7)",
            id,
            i32::try_from(position).unwrap_or(i32::MAX),
            stage.name,
            i32::from(stage.percent.basis_points()),
            &roles,
            i32::try_from(stage.min_soak_seconds).unwrap_or(i32::MAX),
            checklist,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Stores the allow-list: any customer and organization keys, registered or not (applications send the
/// keys; the registry only names them). A bad key or one listed twice is refused, naming the list.
async fn insert_allow_list(
    conn: &mut PgConnection,
    id: i64,
    actor: &Actor,
    customers: &[String],
    organizations: &[String],
) -> Result<(), ServiceError> {
    use crate::domain::target::check_keys;
    use crate::domain::TargetKind;
    let customers = check_keys(TargetKind::Customer, customers, "allow_customers")?;
    let organizations = check_keys(TargetKind::Organization, organizations, "allow_organizations")?;
    sqlx::query!(
        "insert into rollout_allow_list (rollout_id, customer_key, created_by) select $1, unnest($2::text[]), $3",
        id,
        &customers,
        actor.user_id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into rollout_allow_list (rollout_id, organization_key, created_by) select $1, unnest($2::text[]), $3",
        id,
        &organizations,
        actor.user_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A `rollout_events` row.
#[derive(Debug, Default)]
struct EventRow<'a> {
    kind: &'a str,
    from_basis_points: Option<u16>,
    to_basis_points: Option<u16>,
    from_stage: Option<u32>,
    to_stage: Option<u32>,
    reason: Option<&'a ChangeReason>,
    details: serde_json::Value,
    gate_overridden: bool,
}

/// Appends a timeline event that is not a transition, such as `guardrail_source_down`, in the caller's
/// transaction.
pub async fn record_system_event(
    conn: &mut PgConnection,
    id: i64,
    actor: &Actor,
    kind: &str,
    reason: &str,
    details: serde_json::Value,
) -> Result<(), ServiceError> {
    let reason = ChangeReason::system(reason);
    insert_event(conn, id, actor, EventRow { kind, reason: Some(&reason), details, ..EventRow::default() }).await
}

async fn insert_event(
    conn: &mut PgConnection,
    id: i64,
    actor: &Actor,
    event: EventRow<'_>,
) -> Result<(), ServiceError> {
    let actor_kind = match actor.kind {
        audit::ActorKind::User => "user",
        audit::ActorKind::Token => "token",
        audit::ActorKind::System => "system",
    };
    let details = if event.details.is_object() { event.details } else { serde_json::json!({}) };
    let to_i32 = |v: Option<u32>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
    sqlx::query!(
        "insert into rollout_events (rollout_id, kind, from_basis_points, to_basis_points, from_stage, to_stage,
                                     actor_kind, actor_user_id, actor_label, reason, details, gate_overridden)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        id,
        event.kind,
        event.from_basis_points.map(i32::from),
        event.to_basis_points.map(i32::from),
        to_i32(event.from_stage),
        to_i32(event.to_stage),
        actor_kind,
        actor.user_id,
        actor.label,
        event.reason.and_then(ChangeReason::given),
        details,
        event.gate_overridden,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The locked rollout row with what the rules need.
struct Locked {
    id: i64,
    flag: String,
    environment: String,
    flag_id: i64,
    environment_id: i64,
    state: RolloutState,
}

impl Locked {
    /// Refuses an edit based on another version than the locked one, saying what the rollout is now and
    /// what the caller's edit would have meant (`consequence`, e.g. for sign-offs).
    fn check_version(&self, expected: Option<i32>, consequence: &str) -> Result<(), ServiceError> {
        let state = &self.state;
        match expected {
            Some(expected) if expected != state.version => Err(ServiceError::Conflict {
                message: format!(
                    "the rollout of {} in {} changed since you loaded it (version {expected}, now {}); it is {} at {}{consequence}",
                    self.flag,
                    self.environment,
                    state.version,
                    state.status.as_str(),
                    state.served_percent()
                ),
                current_version: state.version,
            }),
            _ => Ok(()),
        }
    }

    /// `flag/environment#id`, the rollout's key in the audit trail.
    fn entity_key(&self) -> String {
        format!("{}/{}#{}", self.flag, self.environment, self.id)
    }

    /// Appends the audit event of a change to this rollout, in the caller's transaction.
    async fn audit(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        action: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
        reason: Option<&ChangeReason>,
    ) -> Result<(), ServiceError> {
        audit::record(
            conn,
            actor,
            NewEvent {
                action,
                entity_kind: "rollout",
                entity_key: &self.entity_key(),
                flag_key: Some(&self.flag),
                environment_key: Some(&self.environment),
                before,
                after,
                reason,
            },
        )
        .await?;
        Ok(())
    }
}

/// Locks a rollout (`for update`) and loads its state.
async fn lock(conn: &mut PgConnection, id: i64) -> Result<Locked, ServiceError> {
    let row = sqlx::query!(
        r#"select r.status, r.current_stage, r.stage_entered_at as "stage_entered_at: DateTime<Utc>", r.version,
                  r.flag_id, r.environment_id, f.key as flag, e.key as environment
           from rollouts r join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
           where r.id = $1 for update of r"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("rollout {id}")))?;
    let stages = load_plan(conn, id).await?;
    let state = RolloutState {
        status: RolloutStatus::from_str(&row.status)
            .map_err(|e| ServiceError::internal("reading a rollout's status", e))?,
        current_stage: row.current_stage.and_then(|s| u32::try_from(s).ok()),
        stage_entered_at: row.stage_entered_at,
        version: row.version,
        stages,
    };
    Ok(Locked {
        id,
        flag: row.flag,
        environment: row.environment,
        flag_id: row.flag_id,
        environment_id: row.environment_id,
        state,
    })
}

pub(crate) async fn load_plan(conn: &mut PgConnection, id: i64) -> Result<RolloutPlan, ServiceError> {
    let rows = sqlx::query!(
        "select name, basis_points, required_roles, min_soak_seconds, checklist
         from rollout_stages where rollout_id = $1 order by position",
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut stages = Vec::with_capacity(rows.len());
    for row in rows {
        let bad = |what: &str, e: String| ServiceError::bug(format!("rollout {id}: stored {what}: {e}"));
        let percent =
            Percent::from_basis_points(u16::try_from(row.basis_points).map_err(|e| bad("percent", e.to_string()))?)
                .map_err(|e| bad("percent", e.message))?;
        let required_roles = row
            .required_roles
            .iter()
            .map(|r| SignoffRole::from_str(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("role", e.message))?;
        let checklist: Vec<ChecklistItem> =
            serde_json::from_value(row.checklist).map_err(|e| bad("checklist", e.to_string()))?;
        stages.push(StagePlan {
            name: row.name,
            percent,
            required_roles,
            min_soak_seconds: u32::try_from(row.min_soak_seconds).unwrap_or(0),
            checklist,
        });
    }
    // Stored plans were validated when written; a plan that no longer validates is reported, not served.
    RolloutPlan::new(stages).map_err(|e| ServiceError::bug(format!("rollout {id}: stored plan: {e}")))
}

/// Every sign-off of a rollout, with whether the signer still holds the role.
pub(crate) async fn load_signoffs(conn: &mut PgConnection, id: i64) -> Result<Vec<SignoffRecord>, ServiceError> {
    let rows = sqlx::query!(
        r#"select s.stage, s.rollout_version, s.role, s.user_id, s.decision,
                  exists (select 1 from user_signoff_roles ur join users u on u.id = ur.user_id
                          where ur.user_id = s.user_id and ur.role = s.role and not u.disabled) as "holds!"
           from signoffs s where s.rollout_id = $1 order by s.id"#,
        id
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(SignoffRecord {
                stage: u32::try_from(r.stage).unwrap_or(u32::MAX),
                version: r.rollout_version,
                role: SignoffRole::from_str(&r.role)
                    .map_err(|e| ServiceError::internal("reading a sign-off's role", e))?,
                user_id: r.user_id,
                decision: SignoffDecision::from_str(&r.decision)
                    .map_err(|e| ServiceError::internal("reading a sign-off's decision", e))?,
                signer_holds_role: r.holds,
            })
        })
        .collect()
}

/// The flags of the phase before this flag's that are not fully rolled out in the environment, when the
/// flag's phase requires the previous one. "Fully rolled out": on in the environment, with no live
/// rollout, and its latest rollout (if any) completed.
pub(crate) async fn unfinished_prerequisites(
    conn: &mut PgConnection,
    flag_id: i64,
    environment_id: i64,
) -> Result<Vec<String>, ServiceError> {
    Ok(sqlx::query_scalar!(
        r#"with this as (
               select p.position from flags f join phases p on p.id = f.phase_id
               where f.id = $1 and p.requires_previous),
           previous as (
               select p.id from phases p, this where p.position < this.position order by p.position desc limit 1)
           select f.key from flags f
           join previous on f.phase_id = previous.id
           join flag_environments fe on fe.flag_id = f.id and fe.environment_id = $2
           left join lateral (select r.status from rollouts r where r.flag_id = f.id and r.environment_id = $2
                              order by r.id desc limit 1) latest on true
           where f.archived_at is null and (not fe.enabled or latest.status in ('planned', 'active', 'paused', 'rolled_back'))
           order by f.key"#,
        flag_id,
        environment_id
    )
    .fetch_all(conn)
    .await?)
}

/// Presses a button. Start and advance pass the gates of the stage they enter, or an admin overrides
/// them with a written reason. A refusal for want of sign-offs records a sign-off request (in its own
/// transaction, so the approvals queue shows who asked) and changes nothing else.
pub async fn transition(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    request: &TransitionRequest,
) -> Result<crate::model::RolloutView, ServiceError> {
    transition_with_notice(pool, actor, id, request, None).await
}

/// [`transition`], also queueing `notice` (e.g. the guardrail that fired) in the same transaction: the
/// notification goes out if and only if the transition committed.
pub async fn transition_with_notice(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    request: &TransitionRequest,
    notice: Option<&super::webhooks::Notice>,
) -> Result<crate::model::RolloutView, ServiceError> {
    actor.require(Role::Editor, "change rollouts")?;
    let reason = ChangeReason::parse_optional(request.reason.as_deref())?;
    let reason = reason.as_ref();
    let mut tx = pool.begin().await?;
    let locked = lock(&mut tx, id).await?;
    let state = &locked.state;
    locked.check_version(request.expected_version, "")?;
    let now = Utc::now();
    let mut transition = apply(state, request.action, now).map_err(|e| refused("INVALID_TRANSITION", e.to_string()))?;
    if let Some(stage) = transition.gated_stage {
        // Guardrails on the current stage that are breached or cannot be read hold the rollout where it is.
        let guardrail_blockers = super::guardrails::advance_blockers(&mut tx, id, state.current_stage).await?;
        let signoffs = load_signoffs(&mut tx, id).await?;
        let prerequisites = if state.stages.stage(stage).is_some_and(|s| s.percent.basis_points() > 0) {
            unfinished_prerequisites(&mut tx, locked.flag_id, locked.environment_id).await?
        } else {
            Vec::new()
        };
        let report = check_gates(GateInput {
            state,
            target_stage: stage,
            now,
            signoffs: &signoffs,
            requester: actor.user_id,
            unfinished_prerequisites: &prerequisites,
            guardrail_blockers: &guardrail_blockers,
        });
        let admin_override = request.override_gates.then(|| Override {
            actor_role: actor.role,
            reason: reason.map(ChangeReason::to_string).unwrap_or_default(),
        });
        transition = match transition.pass_gates(report, admin_override.as_ref()) {
            Ok(t) => t,
            Err(GateRefusal::Blocked(report)) => {
                let message = report.message();
                let roles = report.unsigned_roles();
                if !roles.is_empty() {
                    // Ask for the missing sign-offs, once per stage and version.
                    request_signoffs(&mut tx, id, &locked, actor, stage, &roles).await?;
                    tx.commit().await?;
                }
                return Err(refused("GATE_BLOCKED", message));
            }
            Err(other) => return Err(refused("GATE_BLOCKED", other.to_string())),
        };
    }

    let to_stage = transition.to_stage.map(|s| i32::try_from(s).unwrap_or(i32::MAX));
    let updated = sqlx::query!(
        "update rollouts set status = $2, current_stage = $3, stage_entered_at = $4, version = $5,
                started_at = case when $6 then now() else started_at end,
                completed_at = case when $7 then now() else completed_at end
         where id = $1 and version = $8",
        id,
        transition.to_status.as_str(),
        to_stage,
        transition.stage_entered_at as _,
        transition.version,
        transition.kind == TransitionKind::Started,
        transition.kind == TransitionKind::Completed,
        transition.from_version,
    )
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        // Cannot happen under the row lock; refuse rather than write a half.
        return Err(ServiceError::bug(format!("rollout {id} changed under its lock")));
    }
    insert_event(
        &mut tx,
        id,
        actor,
        EventRow {
            kind: transition.kind.as_str(),
            from_basis_points: Some(transition.from_percent.basis_points()),
            to_basis_points: Some(transition.to_percent.basis_points()),
            from_stage: transition.from_stage,
            to_stage: transition.to_stage,
            reason,
            details: merge_details(transition.details(), request.details.as_ref()),
            gate_overridden: transition.gate_overridden,
        },
    )
    .await?;
    let entity_key = locked.entity_key();
    let describe = |status: RolloutStatus, stage: Option<u32>, percent: Percent| serde_json::json!({ "status": status.as_str(), "stage": stage, "percent": percent.to_string() });
    let action = format!("rollout.{}", transition.kind.as_str());
    locked
        .audit(
            &mut tx,
            actor,
            &action,
            Some(describe(transition.from_status, transition.from_stage, transition.from_percent)),
            Some({
                let mut after = describe(transition.to_status, transition.to_stage, transition.to_percent);
                if transition.gate_overridden {
                    after["gate_overridden"] = serde_json::json!(transition.details());
                }
                if let Some(details) = &request.details {
                    after["details"] = details.clone();
                }
                after
            }),
            reason,
        )
        .await?;
    super::webhooks::rollouts::transition(
        &mut tx,
        &super::webhooks::rollouts::TransitionNotice {
            rollout_id: id,
            flag: &locked.flag,
            environment: &locked.environment,
            kind: transition.kind,
            status: transition.to_status,
            from_stage: transition.from_stage,
            to_stage: transition.to_stage,
            from_percent: transition.from_percent,
            to_percent: transition.to_percent,
            actor,
            reason: reason.and_then(ChangeReason::given),
            gate_overridden: transition.gate_overridden,
        },
    )
    .await?;
    if let Some(notice) = notice {
        super::webhooks::enqueue(&mut tx, notice.event, &notice.summary, notice.data.clone()).await?;
    }
    audit::notify_change(&mut tx, "rollout", &entity_key).await?;
    tx.commit().await?;
    detail(pool, id).await
}

async fn request_signoffs(
    conn: &mut PgConnection,
    id: i64,
    locked: &Locked,
    actor: &Actor,
    stage: u32,
    roles: &[SignoffRole],
) -> Result<(), ServiceError> {
    let stage_i32 = i32::try_from(stage).unwrap_or(i32::MAX);
    let already = sqlx::query_scalar!(
        r#"select exists (select 1 from rollout_events where rollout_id = $1 and kind = 'signoff_requested'
                          and to_stage = $2 and (details->>'version')::int = $3) as "e!""#,
        id,
        stage_i32,
        locked.state.version
    )
    .fetch_one(&mut *conn)
    .await?;
    if already {
        return Ok(());
    }
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let details = serde_json::json!({ "stage": stage, "version": locked.state.version, "roles": roles });
    insert_event(
        conn,
        id,
        actor,
        EventRow { kind: "signoff_requested", to_stage: Some(stage), details: details.clone(), ..EventRow::default() },
    )
    .await?;
    locked.audit(conn, actor, "rollout.signoff_requested", None, Some(details), None).await?;
    let percent = locked.state.stages.stage(stage).map(|s| s.percent);
    super::webhooks::rollouts::signoff_requested(
        conn,
        id,
        &locked.flag,
        &locked.environment,
        stage,
        percent,
        &roles,
        actor,
    )
    .await?;
    Ok(())
}

/// An edit of a live rollout: new stages, allow-list and stickiness. It bumps the version, which voids the
/// sign-offs given so far.
#[derive(Debug, Clone)]
pub struct RolloutEdit {
    pub stages: Vec<StagePlan>,
    pub stickiness: Stickiness,
    pub allow_customers: Vec<String>,
    pub allow_organizations: Vec<String>,
    pub expected_version: Option<i32>,
    pub reason: Option<String>,
}

/// Replaces a live rollout's plan, allow-list and stickiness. A started rollout keeps its current stage
/// at the same percentage (`validate_edit`), so the edit changes what comes next, not what is served.
pub async fn edit(pool: &PgPool, actor: &Actor, id: i64, edit: &RolloutEdit) -> Result<(), ServiceError> {
    let mut tx = pool.begin().await?;
    let entity_key = edit_in(&mut tx, actor, id, edit).await?;
    audit::notify_change(&mut tx, "rollout", &entity_key).await?;
    tx.commit().await?;
    Ok(())
}

/// [`edit`] inside the caller's transaction, without the NOTIFY. Returns the audit entity key.
pub async fn edit_in(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    edit: &RolloutEdit,
) -> Result<String, ServiceError> {
    actor.require(Role::Editor, "change rollouts")?;
    let reason = ChangeReason::parse_optional(edit.reason.as_deref())?;
    let reason = reason.as_ref();
    let plan = RolloutPlan::new(edit.stages.clone()).map_err(|e| ServiceError::invalid("stages", e.to_string()))?;
    let locked = lock(conn, id).await?;
    locked.check_version(edit.expected_version, "")?;
    crate::domain::rollout::validate_edit(&locked.state, &plan)
        .map_err(|e| ServiceError::invalid("stages", e.to_string()))?;
    let version =
        locked.state.version.checked_add(1).ok_or_else(|| refused("INVALID_TRANSITION", "version exhausted"))?;
    sqlx::query!("delete from rollout_stages where rollout_id = $1", id).execute(&mut *conn).await?;
    insert_stages(conn, id, &plan).await?;
    sqlx::query!("delete from rollout_allow_list where rollout_id = $1", id).execute(&mut *conn).await?;
    insert_allow_list(conn, id, actor, &edit.allow_customers, &edit.allow_organizations).await?;
    sqlx::query!(
        "update rollouts set stickiness = $2, version = $3, template = null where id = $1",
        id,
        edit.stickiness.to_string(),
        version
    )
    .execute(&mut *conn)
    .await?;
    let before = serde_json::json!({
        "version": locked.state.version,
        "stages": locked.state.stages.stages().iter().map(|s| format!("{} {}", s.name, s.percent)).collect::<Vec<_>>(),
    });
    let after = serde_json::json!({
        "version": version,
        "stickiness": edit.stickiness.to_string(),
        "stages": plan.stages().iter().map(|s| format!("{} {}", s.name, s.percent)).collect::<Vec<_>>(),
        "allow_customers": edit.allow_customers,
        "allow_organizations": edit.allow_organizations,
    });
    insert_event(conn, id, actor, EventRow { kind: "edited", reason, details: after.clone(), ..EventRow::default() })
        .await?;
    let entity_key = locked.entity_key();
    locked.audit(conn, actor, "rollout.edited", Some(before), Some(after), reason).await?;
    Ok(entity_key)
}

/// Who asked for the sign-offs of `stage` at `version`, if anyone did.
pub(crate) async fn requester_of(
    conn: &mut PgConnection,
    id: i64,
    stage: u32,
    version: i32,
) -> Result<Option<i64>, ServiceError> {
    Ok(sqlx::query_scalar!(
        "select actor_user_id from rollout_events where rollout_id = $1 and kind = 'signoff_requested'
           and to_stage = $2 and (details->>'version')::int = $3 order by id limit 1",
        id,
        i32::try_from(stage).unwrap_or(i32::MAX),
        version
    )
    .fetch_optional(conn)
    .await?
    .flatten())
}

/// A sign-off to record.
#[derive(Debug, Clone)]
pub struct NewSignoff {
    pub stage: u32,
    pub role: SignoffRole,
    pub decision: SignoffDecision,
    pub comment: String,
    /// The rollout version the signer saw; a stale one is refused with 409.
    pub expected_version: Option<i32>,
}

/// Records one user's decision, in one of their sign-off roles, on the rollout entering `stage` at its
/// current version. The signer must hold the role and must not be who asked for the sign-off.
pub async fn sign(
    pool: &PgPool,
    actor: &Actor,
    signer_roles: &[SignoffRole],
    id: i64,
    new: &NewSignoff,
) -> Result<(), ServiceError> {
    let signer = actor.user_id.ok_or_else(|| ServiceError::Forbidden("only a person can sign off".into()))?;
    // Permission before anything about the rollout's state (its version, its stage).
    if !signer_roles.contains(&new.role) {
        return Err(ServiceError::Forbidden(crate::domain::rollout::SignoffError::RoleNotHeld(new.role).to_string()));
    }
    let comment = Comment::parse(&new.comment)?;
    let comment = comment.as_str();
    if new.decision == SignoffDecision::Rejected && comment.is_empty() {
        return Err(ServiceError::invalid("comment", "say why you reject it: the comment is required"));
    }
    let mut tx = pool.begin().await?;
    let locked = lock(&mut tx, id).await?;
    locked.check_version(new.expected_version, "; the sign-offs given for the old version no longer count")?;
    let existing = load_signoffs(&mut tx, id).await?;
    let requester = requester_of(&mut tx, id, new.stage, locked.state.version).await?;
    validate_signoff(SignoffRequest {
        state: &locked.state,
        stage: new.stage,
        role: new.role,
        signer,
        signer_roles,
        requester,
        existing: &existing,
    })
    .map_err(|e| match e {
        // Not holding the role is a matter of permission, whichever edge asked (403, as the page says).
        crate::domain::rollout::SignoffError::RoleNotHeld(_) => ServiceError::Forbidden(e.to_string()),
        _ => refused("SIGNOFF_REFUSED", e.to_string()),
    })?;
    let decision = new.decision.as_str();
    sqlx::query!(
        "insert into signoffs (rollout_id, stage, rollout_version, role, user_id, decision, comment)
         values ($1, $2, $3, $4, $5, $6, $7)",
        id,
        i32::try_from(new.stage).unwrap_or(i32::MAX),
        locked.state.version,
        new.role.as_str(),
        signer,
        decision,
        comment,
    )
    .execute(&mut *tx)
    .await?;
    let details = serde_json::json!({
        "stage": new.stage, "version": locked.state.version, "role": new.role.as_str(), "decision": decision,
        "comment": comment,
    });
    insert_event(
        &mut tx,
        id,
        actor,
        EventRow {
            kind: "signoff",
            to_stage: Some(new.stage),
            reason: Some(&ChangeReason::system(comment)),
            details: details.clone(),
            ..EventRow::default()
        },
    )
    .await?;
    locked
        .audit(&mut tx, actor, "rollout.signed_off", None, Some(details), Some(&ChangeReason::system(comment)))
        .await?;
    tx.commit().await?;
    Ok(())
}
