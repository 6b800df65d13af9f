//! The rows behind a rollout: locking one with its state, its stages and sign-offs, the timeline events,
//! and what the gates read (the previous phase's unfinished flags, who asked for a sign-off).

use crate::domain::rollout::{
    ChecklistItem, RolloutPlan, RolloutState, RolloutStatus, SignoffDecision, SignoffRecord, StagePlan,
};
use crate::domain::targeting::Condition;
use crate::domain::{ChangeReason, Percent, SignoffRole};
use crate::server::audit::{self, Actor, NewEvent};
use crate::server::ServiceError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::HashMap;

/// A `rollout_events` row.
#[derive(Debug, Default)]
pub(super) struct EventRow<'a> {
    pub(super) kind: &'a str,
    pub(super) from_basis_points: Option<u16>,
    pub(super) to_basis_points: Option<u16>,
    pub(super) from_stage: Option<u32>,
    pub(super) to_stage: Option<u32>,
    pub(super) reason: Option<&'a ChangeReason>,
    pub(super) details: serde_json::Value,
    pub(super) gate_overridden: bool,
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

pub(super) async fn insert_event(
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
pub(super) struct Locked {
    pub(super) id: i64,
    pub(super) flag: String,
    pub(super) environment: String,
    pub(super) flag_id: i64,
    pub(super) environment_id: i64,
    pub(super) state: RolloutState,
    /// Who takes part; `None`: everybody.
    pub(super) audience: Option<Condition>,
}

impl Locked {
    /// Refuses an edit based on another version than the locked one, saying what the rollout is now and
    /// what the caller's edit would have meant (`consequence`, e.g. for sign-offs).
    pub(super) fn check_version(&self, expected: Option<i32>, consequence: &str) -> Result<(), ServiceError> {
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
    pub(super) fn entity_key(&self) -> String {
        format!("{}/{}#{}", self.flag, self.environment, self.id)
    }

    /// Appends the audit event of a change to this rollout, in the caller's transaction.
    pub(super) async fn audit(
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
pub(super) async fn lock(conn: &mut PgConnection, id: i64) -> Result<Locked, ServiceError> {
    let row = sqlx::query!(
        r#"select r.status as "status: RolloutStatus", r.current_stage, r.stage_entered_at as "stage_entered_at: DateTime<Utc>", r.version,
                  r.flag_id, r.environment_id, f.key as flag, e.key as environment, r.audience
           from rollouts r join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
           where r.id = $1 for update of r"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("rollout {id}")))?;
    let stages = load_plan(conn, id).await?;
    let state = RolloutState {
        status: row.status,
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
        audience: stored_audience(id, row.audience)?,
    })
}

/// A rollout's stages.
pub(crate) async fn load_plan(conn: &mut PgConnection, id: i64) -> Result<RolloutPlan, ServiceError> {
    match load_plans(conn, &[id]).await?.remove(&id) {
        Some(plan) => Ok(plan),
        None => stored_plan(id, Vec::new()),
    }
}

/// The stages of several rollouts, in one query; a rollout without stages is absent from the map.
pub(crate) async fn load_plans(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<HashMap<i64, RolloutPlan>, ServiceError> {
    let rows = sqlx::query!(
        r#"select rollout_id, name, basis_points, required_roles as "required_roles: Vec<SignoffRole>",
                  min_soak_seconds, checklist
           from rollout_stages where rollout_id = any($1) order by rollout_id, position"#,
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut stages: HashMap<i64, Vec<StagePlan>> = HashMap::new();
    for row in rows {
        let id = row.rollout_id;
        let bad = |what: &str, e: String| ServiceError::bug(format!("rollout {id}: stored {what}: {e}"));
        let percent =
            Percent::from_basis_points(u16::try_from(row.basis_points).map_err(|e| bad("percent", e.to_string()))?)
                .map_err(|e| bad("percent", e.message))?;
        let checklist: Vec<ChecklistItem> =
            serde_json::from_value(row.checklist).map_err(|e| bad("checklist", e.to_string()))?;
        stages.entry(id).or_default().push(StagePlan {
            name: row.name,
            percent,
            required_roles: row.required_roles,
            min_soak_seconds: u32::try_from(row.min_soak_seconds).unwrap_or(0),
            checklist,
        });
    }
    stages.into_iter().map(|(id, stages)| Ok((id, stored_plan(id, stages)?))).collect()
}

/// Stored plans were validated when written; a plan that no longer validates is reported, not served.
pub(super) fn stored_plan(id: i64, stages: Vec<StagePlan>) -> Result<RolloutPlan, ServiceError> {
    RolloutPlan::new(stages).map_err(|e| ServiceError::bug(format!("rollout {id}: stored plan: {e}")))
}

/// Every sign-off of a rollout, with whether the signer still holds the role.
pub(super) async fn load_signoffs(conn: &mut PgConnection, id: i64) -> Result<Vec<SignoffRecord>, ServiceError> {
    Ok(load_signoffs_of(conn, &[id]).await?.remove(&id).unwrap_or_default())
}

/// The sign-offs of several rollouts, in one query, by rollout.
pub(super) async fn load_signoffs_of(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<SignoffRecord>>, ServiceError> {
    let rows = sqlx::query!(
        r#"select s.rollout_id, s.stage, s.rollout_version, s.role as "role: SignoffRole", s.user_id,
                  s.decision as "decision: SignoffDecision",
                  exists (select 1 from user_signoff_roles ur join users u on u.id = ur.user_id
                          where ur.user_id = s.user_id and ur.role = s.role and not u.disabled) as "holds!"
           from signoffs s where s.rollout_id = any($1) order by s.id"#,
        ids
    )
    .fetch_all(conn)
    .await?;
    let mut out: HashMap<i64, Vec<SignoffRecord>> = HashMap::new();
    for r in rows {
        out.entry(r.rollout_id).or_default().push(SignoffRecord {
            stage: u32::try_from(r.stage).unwrap_or(u32::MAX),
            version: r.rollout_version,
            role: r.role,
            user_id: r.user_id,
            decision: r.decision,
            signer_holds_role: r.holds,
        });
    }
    Ok(out)
}

/// The flags of the phase before this flag's that are not fully rolled out in the environment, when the
/// flag's phase requires the previous one. "Fully rolled out": on in the environment, with no live
/// rollout, and its latest rollout (if any) completed.
pub(super) async fn unfinished_prerequisites(
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

/// Who asked for the sign-offs of `stage` at `version`, if anyone did.
pub(super) async fn requester_of(
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

pub(super) async fn insert_stages(conn: &mut PgConnection, id: i64, plan: &RolloutPlan) -> Result<(), ServiceError> {
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
pub(super) async fn insert_allow_list(
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

/// An audience as it is stored: segment keys trimmed, blank ones dropped, and an empty condition (which
/// holds for everybody) as none.
pub(crate) fn tidy_audience(audience: Option<&Condition>) -> Option<Condition> {
    let audience = audience?;
    let tidy = Condition {
        constraints: audience.constraints.clone(),
        segments: audience.segments.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
    };
    (!tidy.is_empty()).then_some(tidy)
}

/// An audience tidied ([`tidy_audience`]) and checked against the stored segments, which stay share-locked
/// until the transaction ends so that none of them can be deleted under it.
pub(super) async fn checked_audience(
    conn: &mut PgConnection,
    audience: Option<&Condition>,
) -> Result<Option<Condition>, ServiceError> {
    let Some(audience) = tidy_audience(audience) else { return Ok(None) };
    crate::server::targeting::check_audience(conn, &audience).await?;
    Ok(Some(audience))
}

/// The `rollouts.audience` column's value: JSON, or null for everybody.
pub(super) fn audience_document(audience: Option<&Condition>) -> Result<Option<serde_json::Value>, ServiceError> {
    audience
        .map(|a| serde_json::to_value(a).map_err(|e| ServiceError::internal("writing a rollout's audience", e)))
        .transpose()
}

/// A stored audience, read back; one that does not read is reported, not guessed at.
pub(crate) fn stored_audience(id: i64, raw: Option<serde_json::Value>) -> Result<Option<Condition>, ServiceError> {
    raw.map(|raw| {
        serde_json::from_value(raw).map_err(|e| ServiceError::bug(format!("rollout {id}: stored audience: {e}")))
    })
    .transpose()
}
