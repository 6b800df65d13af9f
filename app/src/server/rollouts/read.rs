//! Reading rollouts for their pages, the flag page and the approvals queue. The next gate shown is
//! computed by the same `check_gates` the advance button runs, so the page and the server never disagree.

use super::store::{
    load_plans, load_signoffs_of, requester_of, stored_audience, stored_plan, unfinished_prerequisites,
};
use super::ServiceError;
use crate::domain::rollout::{
    check_gates, Gate, GateInput, RolloutState, RolloutStatus, SignoffDecision, SignoffRecord,
};
use crate::domain::{Percent, SignoffRole};
use crate::model::{ApprovalItem, NextGateView, RolloutEventView, RolloutView, SignoffView, StageView};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;

fn percent_label(basis_points: Option<i32>) -> Option<String> {
    basis_points
        .and_then(|bp| u16::try_from(bp).ok())
        .and_then(|bp| Percent::from_basis_points(bp).ok())
        .map(|p| p.to_string())
}

/// One rollout with its stages, sign-offs, timeline and next gate.
pub async fn detail(pool: &PgPool, id: i64) -> Result<RolloutView, ServiceError> {
    details(pool, &[id]).await?.pop().ok_or_else(|| ServiceError::NotFound(format!("rollout {id}")))
}

/// Several rollouts, in the order of `ids` (an unknown id is left out). Each part (rows, stages, sign-offs,
/// timelines, allow-lists) is one query over all of them; only a live rollout's next gate asks the
/// database per rollout, as the advance button does, and a flag has at most one live rollout per
/// environment.
pub async fn details(pool: &PgPool, ids: &[i64]) -> Result<Vec<RolloutView>, ServiceError> {
    let mut conn = pool.acquire().await?;
    let rows = sqlx::query!(
        r#"select r.id, r.status as "status: RolloutStatus", r.current_stage,
                  r.stage_entered_at as "stage_entered_at: DateTime<Utc>", r.version,
                  r.stickiness as "stickiness: crate::domain::Stickiness", r.template,
                  r.flag_id, r.environment_id, f.key as flag, e.key as environment,
                  r.created_at as "created_at: DateTime<Utc>", r.started_at as "started_at: DateTime<Utc>",
                  r.completed_at as "completed_at: DateTime<Utc>", r.audience
           from rollouts r join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
           where r.id = any($1)"#,
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut plans = load_plans(&mut conn, ids).await?;
    let mut records = load_signoffs_of(&mut conn, ids).await?;
    let mut signoffs: HashMap<i64, Vec<(i32, SignoffView)>> = HashMap::new();
    for s in sqlx::query!(
        r#"select s.rollout_id, s.stage, s.role, u.email, s.decision as "decision: SignoffDecision", s.comment,
                  s.rollout_version, s.created_at as "at: DateTime<Utc>"
           from signoffs s join users u on u.id = s.user_id where s.rollout_id = any($1) order by s.id"#,
        ids
    )
    .fetch_all(&mut *conn)
    .await?
    {
        signoffs.entry(s.rollout_id).or_default().push((
            s.rollout_version,
            SignoffView {
                stage: u32::try_from(s.stage).unwrap_or(0),
                role: s.role,
                user: s.email,
                decision: s.decision,
                comment: s.comment,
                at: s.at,
                current: false,
            },
        ));
    }
    let mut timelines: HashMap<i64, Vec<RolloutEventView>> = HashMap::new();
    for e in sqlx::query!(
        r#"select rollout_id, occurred_at as "at: DateTime<Utc>", kind, from_basis_points, to_basis_points,
                  actor_label, reason, gate_overridden, details
           from rollout_events where rollout_id = any($1) order by id"#,
        ids
    )
    .fetch_all(&mut *conn)
    .await?
    {
        timelines.entry(e.rollout_id).or_default().push(RolloutEventView {
            at: e.at,
            kind: e.kind,
            from_percent: percent_label(e.from_basis_points),
            to_percent: percent_label(e.to_basis_points),
            actor: e.actor_label,
            reason: e.reason,
            gate_overridden: e.gate_overridden,
            details: e.details,
        });
    }
    let mut allow: HashMap<i64, (Vec<String>, Vec<String>)> = HashMap::new();
    for a in sqlx::query!(
        "select rollout_id, customer_key as customer, organization_key as organization from rollout_allow_list
         where rollout_id = any($1) order by id",
        ids
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let (customers, organizations) = allow.entry(a.rollout_id).or_default();
        customers.extend(a.customer);
        organizations.extend(a.organization);
    }

    let mut views: HashMap<i64, RolloutView> = HashMap::with_capacity(rows.len());
    for row in rows {
        let id = row.id;
        let state = RolloutState {
            status: row.status,
            current_stage: row.current_stage.and_then(|s| u32::try_from(s).ok()),
            stage_entered_at: row.stage_entered_at,
            version: row.version,
            stages: match plans.remove(&id) {
                Some(plan) => plan,
                // Only a plan without stages is absent: reported as a stored plan that no longer validates.
                None => stored_plan(id, Vec::new())?,
            },
        };
        let signoff_records = records.remove(&id).unwrap_or_default();
        let next_gate = match state.next_stage() {
            Some(stage) if state.is_live() => {
                Some(next_gate(&mut conn, id, row.flag_id, row.environment_id, &state, stage, &signoff_records).await?)
            }
            _ => None,
        };
        let (allow_customers, allow_organizations) = allow.remove(&id).unwrap_or_default();
        views.insert(
            id,
            RolloutView {
                id,
                flag: row.flag,
                environment: row.environment,
                status: state.status,
                current_stage: state.current_stage,
                current_percent: state.served_percent().to_string(),
                stage_entered_at: state.stage_entered_at,
                version: state.version,
                stickiness: row.stickiness,
                template: row.template,
                stages: state
                    .stages
                    .stages()
                    .iter()
                    .enumerate()
                    .map(|(i, s)| StageView {
                        position: u32::try_from(i).unwrap_or(0),
                        name: s.name.clone(),
                        percent: s.percent.to_string(),
                        basis_points: s.percent.basis_points(),
                        required_roles: s.required_roles.iter().map(|r| r.as_str().to_owned()).collect(),
                        min_soak_seconds: s.min_soak_seconds,
                        checklist: s.checklist.iter().map(|c| (c.kind.as_str().to_owned(), c.text.clone())).collect(),
                    })
                    .collect(),
                allow_customers,
                allow_organizations,
                audience: stored_audience(id, row.audience)?,
                next_gate,
                signoffs: signoffs
                    .remove(&id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(version, view)| SignoffView { current: version == row.version, ..view })
                    .collect(),
                timeline: timelines.remove(&id).unwrap_or_default(),
                created_at: row.created_at,
                started_at: row.started_at,
                completed_at: row.completed_at,
            },
        );
    }
    Ok(ids.iter().filter_map(|id| views.remove(id)).collect())
}

/// What stands between a live rollout and `stage`, by the advance button's own gate check.
async fn next_gate(
    conn: &mut PgConnection,
    id: i64,
    flag_id: i64,
    environment_id: i64,
    state: &RolloutState,
    stage: u32,
    signoffs: &[SignoffRecord],
) -> Result<NextGateView, ServiceError> {
    let prerequisites = if state.stages.stage(stage).is_some_and(|s| s.percent.basis_points() > 0) {
        unfinished_prerequisites(conn, flag_id, environment_id).await?
    } else {
        Vec::new()
    };
    // The requester's approvals never count; shown here as the gate would see the viewer's
    // own advance is not knowable, so the page shows the gate for nobody in particular.
    let report = check_gates(GateInput {
        state,
        target_stage: stage,
        now: Utc::now(),
        signoffs,
        requester: requester_of(conn, id, stage, state.version).await?,
        unfinished_prerequisites: &prerequisites,
        guardrail_blockers: &crate::server::guardrails::advance_blockers(conn, id, state.current_stage).await?,
    });
    let target = state.stages.stage(stage);
    Ok(NextGateView {
        stage,
        stage_name: target.map(|s| s.name.clone()).unwrap_or_default(),
        percent: target.map(|s| s.percent.to_string()).unwrap_or_default(),
        clear: report.is_clear(),
        message: report.message(),
        missing_roles: report.unsigned_roles().iter().map(|r| r.as_str().to_owned()).collect(),
        soak_ends_at: report.missing.iter().find_map(|g| match g {
            Gate::Soak { ends_at, .. } => Some(*ends_at),
            _ => None,
        }),
    })
}

/// The id of the live rollout (planned, active or paused) of a flag in an environment.
pub async fn live_id(pool: &PgPool, flag: &str, environment: &str) -> Result<Option<i64>, ServiceError> {
    Ok(sqlx::query_scalar!(
        "select r.id from rollouts r join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
         where f.key = $1 and e.key = $2 and r.status in ('planned', 'active', 'paused')",
        flag,
        environment
    )
    .fetch_optional(pool)
    .await?)
}

/// Per environment of a flag, its live rollout or else its latest one, in environment order.
pub async fn for_flag(pool: &PgPool, flag: &str) -> Result<Vec<RolloutView>, ServiceError> {
    let ids = sqlx::query_scalar!(
        r#"select distinct on (e.position) r.id
           from rollouts r join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
           where f.key = $1
           order by e.position, (r.status in ('planned', 'active', 'paused')) desc, r.id desc"#,
        flag
    )
    .fetch_all(pool)
    .await?;
    details(pool, &ids).await
}

/// What waits for a sign-off in one of `roles`: the live rollouts whose next stage requires such a role
/// that has no approval at the current version yet.
pub async fn approvals_for(
    pool: &PgPool,
    viewer: i64,
    roles: &[SignoffRole],
) -> Result<Vec<ApprovalItem>, ServiceError> {
    let role_names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    let rows = sqlx::query!(
        r#"select r.id, r.version, r.status as "status: RolloutStatus", f.key as flag, e.key as environment, s.position, s.name,
                  s.basis_points, role as "role!", coalesce(cur.basis_points, 0) as "current_bp!",
                  req.actor_label as "requester?", req.actor_user_id as "requester_id?",
                  req.occurred_at as "requested_at?: DateTime<Utc>"
           from rollouts r
           join flags f on f.id = r.flag_id
           join environments e on e.id = r.environment_id
           join rollout_stages s on s.rollout_id = r.id
                and s.position = case when r.status = 'planned' then 0 else r.current_stage + 1 end
           cross join lateral unnest(s.required_roles) as role
           left join rollout_stages cur on cur.rollout_id = r.id and cur.position = r.current_stage
           left join lateral (select ev.actor_label, ev.actor_user_id, ev.occurred_at from rollout_events ev
                              where ev.rollout_id = r.id and ev.kind = 'signoff_requested' and ev.to_stage = s.position
                                and (ev.details->>'version')::int = r.version
                              order by ev.id limit 1) req on true
           where r.status in ('planned', 'active', 'paused') and role = any($1)
             and not exists (select 1 from signoffs so where so.rollout_id = r.id and so.stage = s.position
                               and so.rollout_version = r.version and so.role = role and so.decision = 'approved')
           order by req.occurred_at nulls last, r.id, role"#,
        &role_names
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ApprovalItem {
            rollout_id: r.id,
            version: r.version,
            flag: r.flag,
            environment: r.environment,
            role: r.role,
            stage: u32::try_from(r.position).unwrap_or(0),
            stage_name: r.name,
            target_percent: percent_label(Some(r.basis_points)).unwrap_or_default(),
            current_percent: if r.status == RolloutStatus::Planned {
                "0% (not started)".to_owned()
            } else {
                percent_label(Some(r.current_bp)).unwrap_or_default()
            },
            status: r.status,
            requester: r.requester,
            requested_at: r.requested_at,
            requested_by_you: r.requester_id == Some(viewer),
        })
        .collect())
}

/// How many known customers and organizations the rollout reaches now, and whom the next stage would add.
/// Computed with the same bucketing and audience as evaluation, over the `customers` table (one pass; a
/// table of 100,000 customers takes a few milliseconds): a customer is tried against the audience with
/// their key, organization and registered attributes, which is what applications usually send.
pub async fn population(pool: &PgPool, id: i64) -> Result<crate::model::PopulationView, ServiceError> {
    use crate::domain::bucketing::bucket;
    use crate::domain::Stickiness;
    use std::collections::HashSet;
    let view = detail(pool, id).await?;
    let stickiness = view.stickiness.clone();
    let serving = matches!(view.status, RolloutStatus::Active | RolloutStatus::Paused);
    let served: u16 = match view.status {
        RolloutStatus::Completed => 10_000,
        _ if serving => view.current_stage.and_then(|s| view.stages.get(s as usize)).map_or(0, |s| s.basis_points),
        _ => 0,
    };
    let allow_live = serving;
    let next = match view.status {
        RolloutStatus::Planned => view.stages.first(),
        _ if serving => view.current_stage.and_then(|s| view.stages.get(s as usize + 1)),
        _ => None,
    };
    let audience = match &view.audience {
        Some(audience) => {
            let mut conn = pool.acquire().await?;
            let segments = crate::server::targeting::all_segments(&mut conn).await?;
            Some(
                audience
                    .compile(&segments, "audience")
                    .map_err(|e| ServiceError::bug(format!("rollout {id}: stored audience: {}", e.message)))?,
            )
        }
        None => None,
    };
    let customers =
        sqlx::query!("select key, organization_key as organization, attributes from customers order by key")
            .fetch_all(pool)
            .await?;
    let allow_customers: HashSet<&str> = view.allow_customers.iter().map(String::as_str).collect();
    let allow_organizations: HashSet<&str> = view.allow_organizations.iter().map(String::as_str).collect();
    let (mut customers_in, mut in_audience, mut next_adds, mut preview) = (0u64, 0u64, 0u64, Vec::new());
    let (mut organizations, mut organizations_in) = (HashSet::new(), HashSet::new());
    for c in &customers {
        organizations.insert(c.organization.as_str());
        let unit = match &stickiness {
            Stickiness::CustomerId => Some(c.key.as_str()),
            Stickiness::OrganizationId => Some(c.organization.as_str()),
            Stickiness::Attribute(name) => c.attributes.get(name).and_then(serde_json::Value::as_str),
        };
        let b = unit.map(|u| bucket(&view.flag, u));
        let allowed = allow_live
            && (allow_customers.contains(c.key.as_str()) || allow_organizations.contains(c.organization.as_str()));
        let takes_part = audience.as_ref().is_none_or(|a| a.holds(&context_of(&c.key, &c.organization, &c.attributes)));
        in_audience += u64::from(takes_part);
        let b = b.filter(|_| takes_part);
        let is_in = allowed || b.is_some_and(|b| b < served);
        if is_in {
            customers_in += 1;
            organizations_in.insert(c.organization.as_str());
        } else if let (Some(next), Some(b)) = (next, b) {
            if b < next.basis_points {
                next_adds += 1;
                if preview.len() < 20 {
                    preview.push(c.key.clone());
                }
            }
        }
    }
    Ok(crate::model::PopulationView {
        customers_known: customers.len() as u64,
        customers_in,
        organizations_known: organizations.len() as u64,
        organizations_in: organizations_in.len() as u64,
        customers_in_audience: audience.is_some().then_some(in_audience),
        next_percent: next.map(|s| s.percent.clone()),
        next_adds,
        next_adds_preview: preview,
    })
}

/// A registered customer as an application would describe them: key, organization and attributes (text as
/// it is, numbers and booleans as written).
fn context_of(key: &str, organization: &str, attributes: &serde_json::Value) -> crate::domain::EvalContext {
    let attributes = attributes
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(name, value)| match value {
                    serde_json::Value::String(text) => Some((name.clone(), text.clone())),
                    serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                        Some((name.clone(), value.to_string()))
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    crate::domain::EvalContext {
        customer_id: Some(key.to_owned()),
        organization_id: Some(organization.to_owned()),
        attributes,
        current_time: None,
    }
}
