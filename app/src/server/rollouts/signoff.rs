//! Recording a sign-off (approve or reject) for the stage a rollout would enter next.

use super::refused;
use super::store::{insert_event, load_signoffs, lock, requester_of, EventRow};
use crate::domain::rollout::{validate_signoff, SignoffDecision, SignoffRequest};
use crate::domain::{ChangeReason, Comment, SignoffRole};
use crate::server::audit::Actor;
use crate::server::ServiceError;
use sqlx::PgPool;

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
#[tracing::instrument(name = "rollouts::signoff::sign", skip_all, fields(actor = %actor.label, id = id))]
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
