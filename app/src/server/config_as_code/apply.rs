//! `rollgate apply`: makes the configuration match a [`ConfigDocument`], in one transaction.
//!
//! Every change goes through the service layer's connection-taking functions (`environments::create_in` /
//! `rename_in`, `phases::create_in` / `update_in`, `segments::create_in` / `update_in`, `flags::create_in`,
//! `flags::set_enabled_in`, `overrides::set_override_in`, `targeting::set_rules_in` /
//! `set_prerequisites_in`, `rollouts::create_in` / `edit_in`) or, where no service exists yet (a flag's
//! other fields, default values, archiving), through the writes below; each appends its audit event in
//! the same transaction. Each step compares first and writes only what differs, so applying the same file
//! twice changes nothing the second time.
//!
//! The order: environments, phases, segments (rules name them), flags with their states, overrides, rules
//! and rollouts, then prerequisites (a flag may require one the file creates further down), and last the
//! archiving of the flags the file archives (so that a flag still takes its targeting on its way out).
//!
//! The report is read back from the audit trail: the events this transaction appended (`xmin` is the
//! transaction's id), which are exactly the changes made. A dry run does all of it and rolls back, so it
//! reports exactly what an apply would do, errors included, and the NOTIFY is never delivered.
//!
//! What apply leaves alone: flags, phases, segments and environments missing from the file (nothing is
//! deleted or archived), archived flags and environments, the order of existing environments and phases,
//! a rollout's progress (start, advance and roll back stay behind their gates), live rollouts of an
//! environment whose entry has no `rollout`, and guardrails.

use super::apply_targeting::{apply_prerequisites, apply_rules, apply_segments};
use super::at;
use super::document::{
    ConfigDocument, EnvStateDoc, EnvironmentDoc, FlagDoc, OverrideDoc, PhaseDoc, RolloutDoc, FORMAT_VERSION,
};
use crate::domain::{
    Description, EnvKey, EnvName, FlagKey, FlagKind, FlagName, PhaseKey, PhaseName, Role, Stickiness, Target, ValueType,
};
use crate::server::audit::{self, Actor, NewEvent};
use crate::server::overrides::set_override_in;
use crate::server::phases::{self, PhaseFields};
use crate::server::rollouts::{self, NewRollout, PlanSource, RolloutEdit};
use crate::server::{environments, flags, ServiceError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;
use std::str::FromStr;

/// One change made (or, in a dry run, that would be made): an audit event of the apply.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub action: String,
    pub entity_kind: String,
    pub entity_key: String,
    pub environment: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// What `POST /api/admin/apply` answers.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyReport {
    pub dry_run: bool,
    /// Whether the changes were committed (false for a dry run and when there was nothing to do).
    pub applied: bool,
    pub changes: Vec<Change>,
}

/// Applies `doc` as `actor` (an admin), or with `dry_run` reports what it would change and changes nothing.
#[tracing::instrument(name = "config_as_code::apply::apply", skip_all, fields(actor = %actor.label))]
pub async fn apply(
    pool: &PgPool,
    actor: &Actor,
    doc: &ConfigDocument,
    dry_run: bool,
) -> Result<ApplyReport, ServiceError> {
    actor.require(Role::Admin, "apply a configuration file")?;
    if doc.rollgate != FORMAT_VERSION {
        return Err(ServiceError::invalid(
            "rollgate",
            format!(
                "rollgate: {} is not a format this server reads; expected rollgate: {FORMAT_VERSION}",
                doc.rollgate
            ),
        ));
    }
    let mut tx = pool.begin().await?;
    // One apply at a time: two concurrent ones would each compare against a state the other is changing.
    sqlx::query!("select pg_advisory_xact_lock(hashtext('rollgate.apply'))").execute(&mut *tx).await?;
    let first_id =
        sqlx::query_scalar!("select coalesce(max(id), 0) as \"id!\" from audit_events").fetch_one(&mut *tx).await?;
    for (i, env) in doc.environments.iter().enumerate() {
        let path = format!("environments[{i}] ({})", env.key);
        apply_environment(&mut tx, actor, env).await.map_err(|e| at(&path, e))?;
    }
    for (i, phase) in doc.phases.iter().enumerate() {
        let path = format!("phases[{i}] ({})", phase.key);
        apply_phase(&mut tx, actor, phase).await.map_err(|e| at(&path, e))?;
    }
    apply_segments(&mut tx, actor, &doc.segments).await?;
    let mut seen = BTreeMap::new();
    let mut live = Vec::new();
    for (i, flag) in doc.flags.iter().enumerate() {
        let path = format!("flags[{i}] ({})", flag.key);
        if let Some(first) = seen.insert(flag.key.as_str(), i) {
            return Err(ServiceError::invalid(
                "flags",
                format!("{path}: the key {:?} is also flags[{first}]", flag.key),
            ));
        }
        if apply_flag(&mut tx, actor, flag, &path).await? == Frozen::No {
            live.push(i);
        }
    }
    apply_prerequisites(&mut tx, actor, &doc.flags, &live).await?;
    for &i in &live {
        let flag = &doc.flags[i];
        if flag.archived {
            archive(&mut tx, actor, &flag.key).await.map_err(|e| at(&format!("flags[{i}] ({})", flag.key), e))?;
        }
    }
    let changes = sqlx::query!(
        r#"select action, entity_kind, entity_key, environment_key, before, after from audit_events
           where id > $1 and xmin = pg_current_xact_id()::xid order by id"#,
        first_id
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| Change {
        action: r.action,
        entity_kind: r.entity_kind,
        entity_key: r.entity_key,
        environment: r.environment_key,
        before: r.before,
        after: r.after,
    })
    .collect::<Vec<_>>();
    if dry_run || changes.is_empty() {
        tx.rollback().await?;
        return Ok(ApplyReport { dry_run, applied: false, changes });
    }
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "config.applied",
            entity_kind: "config",
            entity_key: "apply",
            after: Some(serde_json::json!({ "changes": changes.len() })),
            ..NewEvent::default()
        },
    )
    .await?;
    audit::notify_change(&mut tx, "config", "apply").await?;
    tx.commit().await?;
    Ok(ApplyReport { dry_run, applied: true, changes })
}

/// Creates a missing environment at the end of the list, or renames one whose name differs. An archived
/// environment is left as it is: apply never archives one, nor brings one back.
async fn apply_environment(conn: &mut PgConnection, actor: &Actor, env: &EnvironmentDoc) -> Result<(), ServiceError> {
    let key = EnvKey::parse(&env.key).map_err(|e| ServiceError::invalid("key", e.message))?;
    let name = EnvName::parse(&env.name)?;
    let archived = sqlx::query_scalar!("select archived_at is not null from environments where key = $1", key.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    match archived {
        None => {
            environments::create_in(conn, actor, &key, &name).await?;
        }
        Some(Some(false)) => {
            environments::rename_in(conn, actor, &key, &name).await?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Creates a missing phase (after the last one) or updates its fields, through the phases service.
async fn apply_phase(conn: &mut PgConnection, actor: &Actor, phase: &PhaseDoc) -> Result<(), ServiceError> {
    let key = PhaseKey::parse(&phase.key)?;
    let fields = PhaseFields {
        name: PhaseName::parse(&phase.name)?,
        description: Description::parse(&phase.description)?,
        requires_previous: phase.requires_previous,
    };
    let exists = sqlx::query_scalar!("select exists(select 1 from phases where key = $1) as \"e!\"", key.as_str())
        .fetch_one(&mut *conn)
        .await?;
    if exists {
        phases::update_in(conn, actor, &key, &fields, None).await?;
    } else {
        phases::create_in(conn, actor, &key, &fields).await?;
    }
    Ok(())
}

/// The fields of a flag that apply compares as a whole (its states are compared per environment).
#[derive(Debug, Clone, PartialEq, Serialize)]
struct FlagFields {
    name: String,
    description: String,
    phase: Option<String>,
    kind: String,
    value_type: String,
    variants: Value,
    owner: Option<String>,
    tags: Vec<String>,
}

async fn read_fields(conn: &mut PgConnection, key: &str) -> Result<Option<(FlagFields, bool)>, ServiceError> {
    let row = sqlx::query!(
        r#"select f.name, f.description, p.key as "phase?", f.kind, f.value_type, f.variants, f.owner, f.tags,
                  f.archived_at is not null as "archived!"
           from flags f left join phases p on p.id = f.phase_id where f.key = $1 for update of f"#,
        key
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| {
        let fields = FlagFields {
            name: r.name,
            description: r.description,
            phase: r.phase,
            kind: r.kind,
            value_type: r.value_type,
            variants: r.variants,
            owner: r.owner,
            tags: r.tags,
        };
        (fields, r.archived)
    }))
}

/// Whether a flag was archived before this apply, and so is left as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frozen {
    Yes,
    No,
}

/// Creates or updates a flag and its states. Archiving it, if the file says so, waits until the end of
/// the apply.
async fn apply_flag(conn: &mut PgConnection, actor: &Actor, doc: &FlagDoc, path: &str) -> Result<Frozen, ServiceError> {
    let key = FlagKey::parse(&doc.key).map_err(|e| at(path, e.into()))?;
    let name = FlagName::parse(&doc.name).map_err(|e| at(path, e.into()))?;
    let description = Description::parse(&doc.description).map_err(|e| at(path, e.into()))?;
    let kind = FlagKind::from_str(&doc.kind).map_err(|e| at(path, e.into()))?;
    let value_type = ValueType::from_str(&doc.value_type).map_err(|e| at(path, e.into()))?;
    let phase = doc.phase.clone().filter(|p| !p.is_empty());
    let wanted = FlagFields {
        name: name.as_str().to_owned(),
        description: description.as_str().to_owned(),
        phase: phase.clone(),
        kind: kind.as_str().to_owned(),
        value_type: value_type.as_str().to_owned(),
        variants: Value::Array(doc.variants.clone()),
        owner: doc.owner.clone().filter(|o| !o.is_empty()),
        tags: doc.tags.clone(),
    };
    let current = match read_fields(conn, key.as_str()).await? {
        Some(found) => found,
        None => {
            let new = flags::NewFlag { key: key.clone(), name, description, phase_key: phase, kind };
            flags::create_in(conn, actor, &new).await.map_err(|e| at(path, e))?;
            read_fields(conn, key.as_str())
                .await?
                .ok_or_else(|| ServiceError::bug(format!("flag {key} vanished right after it was created")))?
        }
    };
    let (fields, archived) = current;
    if archived && !doc.archived {
        return Err(ServiceError::invalid(
            "archived",
            format!("{path}: the flag is archived and archived flags never come back; keep `archived: true`"),
        ));
    }
    if archived {
        return Ok(Frozen::Yes); // nothing about an archived flag can change
    }
    if fields != wanted {
        update_fields(conn, actor, key.as_str(), &fields, &wanted).await.map_err(|e| at(path, e))?;
    }
    super::super::frontend_visibility::set_in(conn, actor, &key, doc.visible_to_frontends, None)
        .await
        .map_err(|e| at(path, e))?;
    for (env, state) in &doc.environments {
        let env_path = format!("{path}.environments.{env}");
        let env_key = EnvKey::parse(env).map_err(|e| at(&env_path, e.into()))?;
        apply_state(conn, actor, &key, &env_key, value_type, state, &env_path).await?;
    }
    Ok(Frozen::No)
}

async fn update_fields(
    conn: &mut PgConnection,
    actor: &Actor,
    key: &str,
    before: &FlagFields,
    after: &FlagFields,
) -> Result<(), ServiceError> {
    let phase_id = match after.phase.as_deref() {
        Some(phase) => Some(
            sqlx::query_scalar!("select id from phases where key = $1", phase)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| ServiceError::invalid("phase", format!("there is no phase {phase:?}")))?,
        ),
        None => None,
    };
    sqlx::query!(
        "update flags set name = $2, description = $3, phase_id = $4, kind = $5, value_type = $6, variants = $7,
                          owner = $8, tags = $9, version = version + 1
         where key = $1",
        key,
        after.name,
        after.description,
        phase_id,
        after.kind,
        after.value_type,
        after.variants,
        after.owner,
        &after.tags,
    )
    .execute(&mut *conn)
    .await?;
    // Only the fields that changed, so the audit trail's diff reads at a glance.
    let (mut old, mut new) = (serde_json::Map::new(), serde_json::Map::new());
    if let (Value::Object(b), Value::Object(a)) =
        (serde_json::to_value(before).unwrap_or_default(), serde_json::to_value(after).unwrap_or_default())
    {
        for (field, value) in a {
            let previous = b.get(&field).cloned().unwrap_or(Value::Null);
            if previous != value {
                old.insert(field.clone(), previous);
                new.insert(field, value);
            }
        }
    }
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "flag.updated",
            entity_kind: "flag",
            entity_key: key,
            flag_key: Some(key),
            before: Some(Value::Object(old)),
            after: Some(Value::Object(new)),
            ..NewEvent::default()
        },
    )
    .await?;
    Ok(())
}

async fn archive(conn: &mut PgConnection, actor: &Actor, key: &str) -> Result<(), ServiceError> {
    sqlx::query!("update flags set archived_at = now(), version = version + 1 where key = $1", key)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "flag.archived",
            entity_kind: "flag",
            entity_key: key,
            flag_key: Some(key),
            before: Some(serde_json::json!({ "archived": false })),
            after: Some(serde_json::json!({ "archived": true })),
            ..NewEvent::default()
        },
    )
    .await?;
    Ok(())
}

fn fits(value_type: ValueType, value: &Value) -> bool {
    match value_type {
        ValueType::Boolean => value.is_boolean(),
        ValueType::String => value.is_string(),
        ValueType::Number => value.is_number(),
        ValueType::Json => true,
    }
}

async fn apply_state(
    conn: &mut PgConnection,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    value_type: ValueType,
    state: &EnvStateDoc,
    path: &str,
) -> Result<(), ServiceError> {
    let current = sqlx::query!(
        r#"select fe.flag_id, fe.environment_id, fe.default_value, fe.rules from flag_environments fe
           join flags f on f.id = fe.flag_id join environments e on e.id = fe.environment_id
           where f.key = $1 and e.key = $2 and e.archived_at is null for update of fe"#,
        flag.as_str(),
        env.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| {
        ServiceError::invalid("environment", format!("{path}: there is no environment {:?}", env.as_str()))
    })?;
    flags::set_enabled_in(conn, actor, flag, env, state.enabled, None, None).await.map_err(|e| at(path, e))?;
    if current.default_value != state.default_value {
        if !fits(value_type, &state.default_value) {
            return Err(ServiceError::invalid(
                "default_value",
                format!("{path}.default_value: the flag takes {value_type} values; {} is not one", state.default_value),
            ));
        }
        sqlx::query!(
            "update flag_environments set default_value = $3, version = version + 1, updated_by = $4
             where flag_id = $1 and environment_id = $2",
            current.flag_id,
            current.environment_id,
            state.default_value,
            actor.user_id
        )
        .execute(&mut *conn)
        .await?;
        audit::record(
            conn,
            actor,
            NewEvent {
                action: "flag.default_changed",
                entity_kind: "flag_environment",
                entity_key: &format!("{}/{}", flag.as_str(), env.as_str()),
                flag_key: Some(flag.as_str()),
                environment_key: Some(env.as_str()),
                before: Some(serde_json::json!({ "default_value": current.default_value })),
                after: Some(serde_json::json!({ "default_value": state.default_value })),
                reason: None,
            },
        )
        .await?;
    }
    apply_overrides(conn, actor, flag, env, current.flag_id, current.environment_id, &state.overrides, path).await?;
    apply_rules(conn, actor, flag, env, current.rules, &state.rules, path).await?;
    if let Some(rollout) = &state.rollout {
        apply_rollout(conn, actor, flag, env, rollout, &format!("{path}.rollout")).await?;
    }
    Ok(())
}

fn target_of(o: &OverrideDoc, path: &str) -> Result<Target, ServiceError> {
    let target = match (&o.organization, &o.customer) {
        (Some(org), None) => Target::organization(org),
        (None, Some(customer)) => Target::customer(customer),
        _ => {
            return Err(ServiceError::invalid(
                "overrides",
                format!("{path}: give exactly one of `organization` and `customer`"),
            ))
        }
    };
    target.map_err(|e| at(path, e.into()))
}

#[allow(clippy::too_many_arguments)] // one flag in one environment, located three ways for the messages
async fn apply_overrides(
    conn: &mut PgConnection,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    flag_id: i64,
    environment_id: i64,
    wanted: &[OverrideDoc],
    path: &str,
) -> Result<(), ServiceError> {
    let mut targets = Vec::with_capacity(wanted.len());
    for (i, o) in wanted.iter().enumerate() {
        let item = format!("{path}.overrides[{i}]");
        let target = target_of(o, &item)?;
        if targets.contains(&target) {
            return Err(ServiceError::invalid("overrides", format!("{item}: a second override for the same target")));
        }
        let reason = Some(o.reason.as_str()).filter(|r| !r.is_empty());
        set_override_in(conn, actor, flag, env, &target, Some(o.value.clone()), reason)
            .await
            .map_err(|e| at(&item, e))?;
        targets.push(target);
    }
    let existing = sqlx::query!(
        "select organization_key, customer_key from overrides where flag_id = $1 and environment_id = $2",
        flag_id,
        environment_id
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in existing {
        let target = match (row.organization_key, row.customer_key) {
            (Some(key), _) => Target { kind: crate::domain::TargetKind::Organization, key },
            (None, Some(key)) => Target { kind: crate::domain::TargetKind::Customer, key },
            (None, None) => continue,
        };
        if !targets.contains(&target) {
            set_override_in(conn, actor, flag, env, &target, None, Some("not in the applied configuration"))
                .await
                .map_err(|e| at(path, e))?;
        }
    }
    Ok(())
}

async fn apply_rollout(
    conn: &mut PgConnection,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    doc: &RolloutDoc,
    path: &str,
) -> Result<(), ServiceError> {
    let stickiness = Stickiness::parse(&doc.stickiness).map_err(|e| at(path, e.into()))?;
    let sorted = |keys: &[String]| {
        let mut keys: Vec<String> = keys.iter().map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let (customers, organizations) = (sorted(&doc.allow_customers), sorted(&doc.allow_organizations));
    let live = sqlx::query!(
        r#"select r.id, r.stickiness, r.audience from rollouts r
           join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
           where f.key = $1 and e.key = $2 and r.status in ('planned', 'active', 'paused')"#,
        flag.as_str(),
        env.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(live) = live else {
        let new = NewRollout {
            flag: flag.clone(),
            environment: env.clone(),
            plan: PlanSource::Custom(doc.stages.clone()),
            stickiness,
            allow_customers: customers,
            allow_organizations: organizations,
            audience: doc.audience.clone(),
        };
        rollouts::create_in(conn, actor, &new).await.map_err(|e| at(path, e))?;
        return Ok(());
    };
    // Tidied as the service stores them (names trimmed, roles in display order), so that a file that
    // lists roles in another order is not an edit each time it is applied.
    let wanted = crate::domain::rollout::RolloutPlan::new(doc.stages.clone())
        .map_err(|e| ServiceError::invalid("stages", format!("{path}.stages: {e}")))?;
    let plan = rollouts::load_plan(conn, live.id).await?;
    let allow = sqlx::query!(
        r#"select customer_key as "customer?", organization_key as "organization?" from rollout_allow_list
           where rollout_id = $1"#,
        live.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let current_customers = sorted(&allow.iter().filter_map(|a| a.customer.clone()).collect::<Vec<_>>());
    let current_organizations = sorted(&allow.iter().filter_map(|a| a.organization.clone()).collect::<Vec<_>>());
    // Tidied as the service stores it: the file's `{}` and a missing entry mean the same.
    let wanted_audience = rollouts::tidy_audience(doc.audience.as_ref());
    let current_audience = live
        .audience
        .map(serde_json::from_value::<crate::domain::targeting::Condition>)
        .transpose()
        .map_err(|e| ServiceError::bug(format!("rollout {}: stored audience: {e}", live.id)))?;
    if plan.stages() == wanted.stages()
        && live.stickiness == stickiness.to_string()
        && current_customers == customers
        && current_organizations == organizations
        && current_audience == wanted_audience
    {
        return Ok(());
    }
    let edit = RolloutEdit {
        stages: doc.stages.clone(),
        stickiness,
        allow_customers: customers,
        allow_organizations: organizations,
        audience: wanted_audience,
        expected_version: None,
        reason: Some("rollgate apply".to_owned()),
    };
    rollouts::edit_in(conn, actor, live.id, &edit).await.map_err(|e| at(path, e))?;
    Ok(())
}
