//! Editing a rollout's stages, allow-list and audience while it is live; an edit that changes what was
//! signed voids the sign-offs given for the old version.

use super::refused;
use super::store::{
    audience_document, checked_audience, insert_allow_list, insert_event, insert_stages, lock, EventRow,
};
use crate::domain::rollout::{RolloutPlan, StagePlan};
use crate::domain::targeting::Condition;
use crate::domain::{ChangeReason, Role, Stickiness};
use crate::server::audit::{self, Actor};
use crate::server::ServiceError;
use sqlx::{PgConnection, PgPool};

/// An edit of a live rollout: new stages, allow-list, stickiness and audience, each replacing the old one.
/// It bumps the version, which voids the sign-offs given so far: who a stage reaches is part of what was
/// signed.
#[derive(Debug, Clone)]
pub struct RolloutEdit {
    pub stages: Vec<StagePlan>,
    pub stickiness: Stickiness,
    pub allow_customers: Vec<String>,
    pub allow_organizations: Vec<String>,
    /// Only units this holds for take part; `None` (or an empty condition): everybody.
    pub audience: Option<Condition>,
    pub expected_version: Option<i32>,
    pub reason: Option<String>,
}

/// Replaces a live rollout's plan, allow-list, stickiness and audience. A started rollout keeps its current stage
/// at the same percentage (`validate_edit`), so the edit changes what comes next, not what is served.
#[tracing::instrument(name = "rollouts::edit::edit", skip_all, fields(actor = %actor.label, id = id))]
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
    let audience = checked_audience(conn, edit.audience.as_ref()).await?;
    let version =
        locked.state.version.checked_add(1).ok_or_else(|| refused("INVALID_TRANSITION", "version exhausted"))?;
    sqlx::query!("delete from rollout_stages where rollout_id = $1", id).execute(&mut *conn).await?;
    insert_stages(conn, id, &plan).await?;
    sqlx::query!("delete from rollout_allow_list where rollout_id = $1", id).execute(&mut *conn).await?;
    insert_allow_list(conn, id, actor, &edit.allow_customers, &edit.allow_organizations).await?;
    sqlx::query!(
        "update rollouts set stickiness = $2, version = $3, template = null, audience = $4 where id = $1",
        id,
        edit.stickiness.to_string(),
        version,
        audience_document(audience.as_ref())?
    )
    .execute(&mut *conn)
    .await?;
    let before = serde_json::json!({
        "version": locked.state.version,
        "stages": locked.state.stages.stages().iter().map(|s| format!("{} {}", s.name, s.percent)).collect::<Vec<_>>(),
        "audience": locked.audience,
    });
    let after = serde_json::json!({
        "version": version,
        "stickiness": edit.stickiness.to_string(),
        "stages": plan.stages().iter().map(|s| format!("{} {}", s.name, s.percent)).collect::<Vec<_>>(),
        "allow_customers": edit.allow_customers,
        "allow_organizations": edit.allow_organizations,
        "audience": audience,
    });
    insert_event(conn, id, actor, EventRow { kind: "edited", reason, details: after.clone(), ..EventRow::default() })
        .await?;
    let entity_key = locked.entity_key();
    locked.audit(conn, actor, "rollout.edited", Some(before), Some(after), reason).await?;
    Ok(entity_key)
}
