//! Creating a planned rollout: its stages (a template or a custom plan), allow-list and audience, in one
//! audited transaction.

use super::refused;
use super::store::{audience_document, checked_audience, insert_allow_list, insert_event, insert_stages, EventRow};
use crate::domain::rollout::{RolloutPlan, StagePlan, Template};
use crate::domain::targeting::Condition;
use crate::domain::{EnvKey, FlagKey, Role, Stickiness};
use crate::server::audit::{self, Actor, NewEvent};
use crate::server::ServiceError;
use sqlx::{PgConnection, PgPool};

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
    /// Only units this holds for take part in the staged percentages; the others get the default. `None`
    /// (or an empty condition): everybody.
    pub audience: Option<Condition>,
}

/// Creates a planned rollout for a flag in one environment. At most one live rollout per flag and
/// environment (the `rollouts_live_key` index).
#[tracing::instrument(name = "rollouts::create::create", skip_all, fields(actor = %actor.label))]
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
        crate::server::flags::live_flag_environment(&mut *conn, &new.flag, &new.environment).await?;
    let audience = checked_audience(conn, new.audience.as_ref()).await?;
    let inserted = sqlx::query_scalar!(
        "insert into rollouts (flag_id, environment_id, stickiness, template, audience, created_by)
         values ($1, $2, $3, $4, $5, $6) returning id",
        flag_id,
        environment_id,
        new.stickiness.to_string(),
        template,
        audience_document(audience.as_ref())?,
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
    crate::server::guardrails::insert_specs(conn, id, &guardrails).await?;
    insert_allow_list(conn, id, actor, &new.allow_customers, &new.allow_organizations).await?;
    let summary = serde_json::json!({
        "template": template,
        "stickiness": new.stickiness.to_string(),
        "stages": plan.stages().iter().map(|s| format!("{} {}", s.name, s.percent)).collect::<Vec<_>>(),
        "allow_customers": new.allow_customers,
        "allow_organizations": new.allow_organizations,
        "audience": audience,
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
