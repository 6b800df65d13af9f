//! Reads the whole configuration (or one environment's part of it) into a [`ConfigDocument`], in a stable
//! order: phases by position, segments by key, flags by phase position then key, environments and
//! overrides by key; rules and prerequisites as stored (rules in their order).

use super::document::{
    ConfigDocument, EnvStateDoc, EnvironmentDoc, FlagDoc, GuardrailDoc, OverrideDoc, PhaseDoc, RolloutDoc, SegmentDoc,
};
use crate::domain::targeting::{Constraint, Prerequisite, TargetingRule};
use crate::server::rollouts::load_plans;
use crate::server::ServiceError;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashMap};

/// Everything `rollgate export` writes; with `environment`, only that environment's states. Reads in the
/// caller's transaction so that the document is one consistent picture.
pub async fn export(conn: &mut PgConnection, environment: Option<&str>) -> Result<ConfigDocument, ServiceError> {
    if let Some(env) = environment {
        let known = sqlx::query_scalar!(
            "select count(*) as \"n!\" from environments where key = $1 and archived_at is null",
            env
        )
        .fetch_one(&mut *conn)
        .await?;
        if known == 0 {
            return Err(ServiceError::NotFound(format!("environment {env:?}")));
        }
    }
    let environments = match environment {
        Some(_) => Vec::new(),
        None => {
            sqlx::query_as!(
                EnvironmentDoc,
                "select key, name from environments where archived_at is null order by position"
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let phases = sqlx::query!("select key, name, description, requires_previous from phases order by position")
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|p| PhaseDoc {
            key: p.key,
            name: p.name,
            description: p.description,
            requires_previous: p.requires_previous,
        })
        .collect();
    let mut segments = Vec::new();
    for s in sqlx::query!("select key, name, description, constraints from segments order by key")
        .fetch_all(&mut *conn)
        .await?
    {
        let constraints: Vec<Constraint> = serde_json::from_value(s.constraints)
            .map_err(|e| stored_badly(&format!("constraints of segment {}", s.key), e))?;
        segments.push(SegmentDoc { key: s.key, name: s.name, description: s.description, constraints });
    }
    let flag_rows = sqlx::query!(
        r#"select f.id, f.key, f.name, f.description, p.key as "phase?", f.kind, f.value_type, f.variants, f.owner,
                  f.tags, f.archived_at is not null as "archived!", f.visible_to_frontends
           from flags f left join phases p on p.id = f.phase_id
           order by p.position nulls last, f.key"#
    )
    .fetch_all(&mut *conn)
    .await?;

    let mut states: HashMap<i64, BTreeMap<String, EnvStateDoc>> = HashMap::new();
    for s in sqlx::query!(
        r#"select fe.flag_id, f.key as flag, e.key as env, fe.enabled, fe.default_value, fe.rules, fe.prerequisites
           from flag_environments fe join flags f on f.id = fe.flag_id join environments e on e.id = fe.environment_id
           where ($1::text is null or e.key = $1) and e.archived_at is null"#,
        environment
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let place = |what: &str| format!("{what} of {} in {}", s.flag, s.env);
        let rules: Vec<TargetingRule> =
            serde_json::from_value(s.rules).map_err(|e| stored_badly(&place("rules"), e))?;
        let prerequisites: Vec<Prerequisite> =
            serde_json::from_value(s.prerequisites).map_err(|e| stored_badly(&place("prerequisites"), e))?;
        states.entry(s.flag_id).or_default().insert(
            s.env,
            EnvStateDoc {
                enabled: s.enabled,
                default_value: s.default_value,
                prerequisites,
                overrides: Vec::new(),
                rules,
                rollout: None,
            },
        );
    }
    for o in sqlx::query!(
        r#"select o.flag_id, e.key as env, o.organization_key as organization, o.customer_key as customer, o.value, o.reason
           from overrides o join environments e on e.id = o.environment_id
           where ($1::text is null or e.key = $1) and e.archived_at is null
           order by o.flag_id, e.key, o.organization_key nulls last, o.customer_key"#,
        environment
    )
    .fetch_all(&mut *conn)
    .await?
    {
        if let Some(state) = states.get_mut(&o.flag_id).and_then(|m| m.get_mut(&o.env)) {
            state.overrides.push(OverrideDoc {
                organization: o.organization,
                customer: o.customer,
                value: o.value,
                reason: o.reason,
            });
        }
    }
    let live = sqlx::query!(
        r#"select r.id, r.flag_id, e.key as env, r.stickiness, r.audience from rollouts r join environments e on e.id = r.environment_id
           where r.status in ('planned', 'active', 'paused') and ($1::text is null or e.key = $1)
           order by r.id"#,
        environment
    )
    .fetch_all(&mut *conn)
    .await?;
    // The live rollouts' parts, each in one query over all of them.
    let ids: Vec<i64> = live.iter().map(|r| r.id).collect();
    let mut plans = load_plans(conn, &ids).await?;
    let mut allow: HashMap<i64, (Vec<String>, Vec<String>)> = HashMap::new();
    for a in sqlx::query!(
        r#"select rollout_id, customer_key as customer, organization_key as organization from rollout_allow_list
           where rollout_id = any($1) order by rollout_id, customer_key, organization_key"#,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let (customers, organizations) = allow.entry(a.rollout_id).or_default();
        customers.extend(a.customer);
        organizations.extend(a.organization);
    }
    let mut guardrails: HashMap<i64, Vec<GuardrailDoc>> = HashMap::new();
    for g in sqlx::query!(
        r#"select rollout_id, stage, kind, gauge_name, threshold::text as "threshold!", window_seconds, min_samples,
                  action, baseline, source, prometheus_url, promql
           from guardrails where rollout_id = any($1) order by rollout_id, stage nulls first, id"#,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?
    {
        guardrails.entry(g.rollout_id).or_default().push(GuardrailDoc {
            stage: g.stage,
            kind: g.kind,
            gauge_name: g.gauge_name,
            threshold: g.threshold,
            window_seconds: g.window_seconds,
            min_samples: g.min_samples,
            action: g.action,
            baseline: g.baseline,
            source: g.source,
            prometheus_url: g.prometheus_url,
            promql: g.promql,
        });
    }
    for r in live {
        let stages = plans.remove(&r.id).map(|p| p.stages().to_vec()).unwrap_or_default();
        let (allow_customers, allow_organizations) = allow.remove(&r.id).unwrap_or_default();
        let rollout = RolloutDoc {
            stickiness: r.stickiness,
            stages,
            allow_customers,
            allow_organizations,
            audience: r
                .audience
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| stored_badly(&format!("audience of rollout {}", r.id), e))?,
            guardrails: guardrails.remove(&r.id).unwrap_or_default(),
        };
        if let Some(state) = states.get_mut(&r.flag_id).and_then(|m| m.get_mut(&r.env)) {
            state.rollout = Some(rollout);
        }
    }

    let flags = flag_rows
        .into_iter()
        .map(|f| FlagDoc {
            environments: states.remove(&f.id).unwrap_or_default(),
            key: f.key,
            name: f.name,
            description: f.description,
            phase: f.phase,
            kind: f.kind,
            value_type: f.value_type,
            variants: f.variants.as_array().cloned().unwrap_or_default(),
            owner: f.owner,
            tags: f.tags,
            visible_to_frontends: f.visible_to_frontends,
            archived: f.archived,
        })
        .collect();
    Ok(ConfigDocument { rollgate: super::document::FORMAT_VERSION, environments, phases, segments, flags })
}

fn stored_badly(what: &str, e: serde_json::Error) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("the stored {what} do not read: {e}"))
}

/// [`export`] as one consistent picture, even while others write (a repeatable-read, read-only
/// transaction). With `rename_to`, `environment`'s part is written under that key instead: staging's
/// states, ready to apply to production. `rename_to` must name an existing environment.
pub async fn export_as(
    pool: &PgPool,
    environment: Option<&str>,
    rename_to: Option<&str>,
) -> Result<ConfigDocument, ServiceError> {
    let mut tx = pool.begin().await?;
    // A utility statement, which the compile-time checked macros cannot prepare.
    sqlx::query("set transaction isolation level repeatable read, read only").execute(&mut *tx).await?;
    if let Some(target) = rename_to {
        let known = sqlx::query_scalar!(r#"select count(*) as "n!" from environments where key = $1"#, target)
            .fetch_one(&mut *tx)
            .await?;
        if known == 0 {
            return Err(ServiceError::NotFound(format!("environment {target:?}")));
        }
    }
    let mut document = export(&mut tx, environment).await?;
    if let (Some(from), Some(to)) = (environment, rename_to) {
        rename_environment(&mut document, from, to);
    }
    tx.commit().await?;
    Ok(document)
}

/// Moves every flag's `from` entry to `to`: the export of one environment, ready to apply to another.
pub fn rename_environment(document: &mut ConfigDocument, from: &str, to: &str) {
    for flag in &mut document.flags {
        if let Some(state) = flag.environments.remove(from) {
            flag.environments.insert(to.to_owned(), state);
        }
    }
}
