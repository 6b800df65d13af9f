//! Reads the whole configuration (or one environment's part of it) into a [`ConfigDocument`], in a stable
//! order: phases by position, flags by phase position then key, environments and overrides by key.

use super::document::{
    ConfigDocument, EnvStateDoc, EnvironmentDoc, FlagDoc, GuardrailDoc, OverrideDoc, PhaseDoc, RolloutDoc,
};
use crate::server::rollouts::load_plan;
use crate::server::ServiceError;
use sqlx::PgConnection;
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
        r#"select fe.flag_id, e.key as env, fe.enabled, fe.default_value
           from flag_environments fe join environments e on e.id = fe.environment_id
           where ($1::text is null or e.key = $1) and e.archived_at is null"#,
        environment
    )
    .fetch_all(&mut *conn)
    .await?
    {
        states.entry(s.flag_id).or_default().insert(
            s.env,
            EnvStateDoc { enabled: s.enabled, default_value: s.default_value, overrides: Vec::new(), rollout: None },
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
        r#"select r.id, r.flag_id, e.key as env, r.stickiness from rollouts r join environments e on e.id = r.environment_id
           where r.status in ('planned', 'active', 'paused') and ($1::text is null or e.key = $1)
           order by r.id"#,
        environment
    )
    .fetch_all(&mut *conn)
    .await?;
    for r in live {
        let plan = load_plan(conn, r.id).await?;
        let allow = sqlx::query!(
            r#"select customer_key as customer, organization_key as organization from rollout_allow_list
               where rollout_id = $1 order by customer_key, organization_key"#,
            r.id
        )
        .fetch_all(&mut *conn)
        .await?;
        let guardrails = sqlx::query!(
            r#"select stage, kind, gauge_name, threshold::text as "threshold!", window_seconds, min_samples, action,
                      baseline, source, prometheus_url, promql
               from guardrails where rollout_id = $1 order by stage nulls first, id"#,
            r.id
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|g| GuardrailDoc {
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
        })
        .collect();
        let rollout = RolloutDoc {
            stickiness: r.stickiness,
            stages: plan.stages().to_vec(),
            allow_customers: allow.iter().filter_map(|a| a.customer.clone()).collect(),
            allow_organizations: allow.iter().filter_map(|a| a.organization.clone()).collect(),
            guardrails,
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
    Ok(ConfigDocument { rollgate: super::document::FORMAT_VERSION, environments, phases, flags })
}
