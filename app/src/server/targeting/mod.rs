//! A flag's targeting in one environment: its rules, in order, and its prerequisites. Each list is replaced
//! as a whole by an edit that names the version it saw; like every write, with the permission checked, the
//! audit event (before and after) and NOTIFY in the same transaction.

mod read;
pub mod segments;

pub use read::for_flag;

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::targeting::{
    check_prerequisites, compile_rules, find_cycle, limits, longest_chain, CompiledSegment, Condition, Constraint,
    FlagShape, Prerequisite, Segments, TargetingRule,
};
use crate::domain::{ChangeReason, EnvKey, FlagKey, Role, ValueType, Variant, Variants};
use crate::model::targeting::TargetingView;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// The flag in one environment, with its targeting, as an edit needs it.
struct Stored {
    flag_id: i64,
    environment_id: i64,
    value_type: ValueType,
    variants: serde_json::Value,
    archived: bool,
    rules: serde_json::Value,
    prerequisites: serde_json::Value,
    version: i32,
}

async fn stored(
    conn: &mut PgConnection,
    flag: &FlagKey,
    env: &EnvKey,
    for_update: bool,
) -> Result<Stored, ServiceError> {
    // `for update of fe` in the edit: two edits of one flag's targeting queue up, and each sees the other's.
    let query = if for_update {
        sqlx::query_as!(
            Stored,
            r#"select fe.flag_id, fe.environment_id, f.value_type as "value_type: ValueType", f.variants,
                      f.archived_at is not null as "archived!", fe.rules, fe.prerequisites, fe.targeting_version as version
               from flag_environments fe join flags f on f.id = fe.flag_id join environments e on e.id = fe.environment_id
               where f.key = $1 and e.key = $2 and e.archived_at is null
               for update of fe"#,
            flag.as_str(),
            env.as_str()
        )
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query_as!(
            Stored,
            r#"select fe.flag_id, fe.environment_id, f.value_type as "value_type: ValueType", f.variants,
                      f.archived_at is not null as "archived!", fe.rules, fe.prerequisites, fe.targeting_version as version
               from flag_environments fe join flags f on f.id = fe.flag_id join environments e on e.id = fe.environment_id
               where f.key = $1 and e.key = $2 and e.archived_at is null"#,
            flag.as_str(),
            env.as_str()
        )
        .fetch_optional(&mut *conn)
        .await?
    };
    query.ok_or_else(|| ServiceError::NotFound(format!("flag {:?} in {}", flag.as_str(), env.as_str())))
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("the stored {what} do not read: {e}"))
}

impl Stored {
    fn rules(&self) -> Result<Vec<TargetingRule>, ServiceError> {
        serde_json::from_value(self.rules.clone()).map_err(|e| corrupt("rules", e))
    }

    fn prerequisites(&self) -> Result<Vec<Prerequisite>, ServiceError> {
        serde_json::from_value(self.prerequisites.clone()).map_err(|e| corrupt("prerequisites", e))
    }

    fn variants(&self) -> Result<Option<Variants>, ServiceError> {
        variants_of(self.value_type, &self.variants)
    }

    fn view(&self, flag: &FlagKey, env: &EnvKey) -> Result<TargetingView, ServiceError> {
        Ok(TargetingView {
            flag: flag.to_string(),
            environment: env.to_string(),
            rules: self.rules()?,
            prerequisites: self.prerequisites()?,
            version: self.version,
        })
    }

    fn check_version(&self, flag: &FlagKey, env: &EnvKey, expected: Option<i32>) -> Result<(), ServiceError> {
        match expected {
            Some(expected) if expected != self.version => Err(ServiceError::Conflict {
                message: format!(
                    "the targeting of {} in {} changed since you saw it (you saw version {expected}); reload it and try again",
                    flag.as_str(),
                    env.as_str()
                ),
                current_version: self.version,
            }),
            _ => Ok(()),
        }
    }

    fn refuse_archived(&self, flag: &FlagKey) -> Result<(), ServiceError> {
        if self.archived {
            return Err(ServiceError::Refused {
                code: "FLAG_ARCHIVED",
                message: format!("{} is archived; its targeting can no longer change", flag.as_str()),
            });
        }
        Ok(())
    }
}

/// A flag's variants, as the `flags.variants` column holds them (none for a boolean flag).
fn variants_of(value_type: ValueType, raw: &serde_json::Value) -> Result<Option<Variants>, ServiceError> {
    if value_type == ValueType::Boolean {
        return Ok(None);
    }
    let list: Vec<Variant> = serde_json::from_value(raw.clone()).map_err(|e| corrupt("variants", e))?;
    Ok(Some(Variants::parse(list).map_err(|e| corrupt("variants", e))?))
}

/// A flag's rules and prerequisites in one environment.
pub async fn get(pool: &PgPool, flag: &FlagKey, env: &EnvKey) -> Result<TargetingView, ServiceError> {
    let mut conn = pool.acquire().await?;
    stored(&mut conn, flag, env, false).await?.view(flag, env)
}

/// The segments named, compiled, each share-locked until the transaction ends: a segment cannot be deleted
/// (or changed) under an edit that starts using it.
async fn segments_for(conn: &mut PgConnection, keys: &[&str]) -> Result<Segments, ServiceError> {
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect::<HashSet<_>>().into_iter().collect();
    let rows = sqlx::query!("select key, constraints from segments where key = any($1) for share", &keys)
        .fetch_all(&mut *conn)
        .await?;
    compile_segments(rows.into_iter().map(|r| (r.key, r.constraints)))
}

fn compile_segments(rows: impl Iterator<Item = (String, serde_json::Value)>) -> Result<Segments, ServiceError> {
    let mut segments = Segments::new();
    for (key, constraints) in rows {
        let constraints: Vec<Constraint> =
            serde_json::from_value(constraints).map_err(|e| corrupt(&format!("constraints of segment {key}"), e))?;
        let compiled = CompiledSegment::compile(&key, &constraints)
            .map_err(|e| corrupt(&format!("constraints of segment {key}"), e))?;
        segments.insert(key, Arc::new(compiled));
    }
    Ok(segments)
}

/// Checks a rollout's audience as the rules are checked (limits, every constraint, every segment it names),
/// share-locking the segments it names until the transaction ends, as a rule edit does. An error names the
/// field `audience`, with the constraint or segment at fault in its message.
pub(crate) async fn check_audience(conn: &mut PgConnection, audience: &Condition) -> Result<(), ServiceError> {
    let named: Vec<&str> = audience.segments.iter().map(String::as_str).collect();
    let segments = segments_for(conn, &named).await?;
    audience.compile(&segments, "audience").map_err(|e| e.at("audience"))?;
    Ok(())
}

/// Every stored segment, compiled, without locking them: for reading whom an audience holds for.
pub(crate) async fn all_segments(conn: &mut PgConnection) -> Result<Segments, ServiceError> {
    let rows = sqlx::query!("select key, constraints from segments").fetch_all(&mut *conn).await?;
    compile_segments(rows.into_iter().map(|r| (r.key, r.constraints)))
}

/// Replaces a flag's rules in one environment. Every rule is checked (names, limits, what it serves against
/// the flag's type and variants, every constraint and segment) before anything is written; an error names
/// the rule and the field.
#[tracing::instrument(name = "targeting::set_rules", skip_all, fields(actor = %actor.label, flag = flag.as_str(), env = env.as_str()))]
pub async fn set_rules(
    pool: &PgPool,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    rules: Vec<TargetingRule>,
    expected_version: Option<i32>,
    reason: Option<&str>,
) -> Result<TargetingView, ServiceError> {
    let mut tx = pool.begin().await?;
    let (view, changed) = set_rules_in(&mut tx, actor, flag, env, rules, expected_version, reason).await?;
    if changed {
        audit::notify_change(&mut tx, "targeting", flag.as_str()).await?;
        tx.commit().await?;
    }
    Ok(view)
}

/// [`set_rules`] inside the caller's transaction, without the NOTIFY. Also returns whether anything changed
/// (the same rules again record nothing).
pub async fn set_rules_in(
    conn: &mut PgConnection,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    rules: Vec<TargetingRule>,
    expected_version: Option<i32>,
    reason: Option<&str>,
) -> Result<(TargetingView, bool), ServiceError> {
    actor.require(Role::Editor, "change targeting rules")?;
    let why = ChangeReason::parse_optional(reason)?;
    let mut rules = rules;
    for rule in &mut rules {
        rule.name = rule.name.trim().to_owned();
    }
    let row = stored(conn, flag, env, true).await?;
    row.refuse_archived(flag)?;
    row.check_version(flag, env, expected_version)?;
    let named: Vec<&str> = rules.iter().flat_map(|r| r.segments.iter().map(String::as_str)).collect();
    let segments = segments_for(conn, &named).await?;
    let variants = row.variants()?;
    compile_rules(&rules, FlagShape { value_type: row.value_type, variants: variants.as_ref() }, &segments)?;
    let before = row.rules()?;
    if before == rules {
        return Ok((row.view(flag, env)?, false));
    }
    let document = serde_json::to_value(&rules).map_err(|e| ServiceError::Internal(e.into()))?;
    sqlx::query!(
        "update flag_environments set rules = $3, targeting_version = targeting_version + 1, updated_by = $4
         where flag_id = $1 and environment_id = $2",
        row.flag_id,
        row.environment_id,
        document,
        actor.user_id
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "targeting.rules_changed",
            entity_kind: "flag",
            entity_key: flag.as_str(),
            flag_key: Some(flag.as_str()),
            environment_key: Some(env.as_str()),
            before: Some(serde_json::json!({ "rules": before, "version": row.version })),
            after: Some(serde_json::json!({ "rules": rules, "version": row.version + 1 })),
            reason: why.as_ref(),
        },
    )
    .await?;
    let view = stored(conn, flag, env, false).await?.view(flag, env)?;
    Ok((view, true))
}

/// Replaces a flag's prerequisites in one environment. Each must name a flag that exists there and is not
/// archived, with the variants it names; a list that would close a cycle, or make a chain deeper than
/// [`limits::PREREQUISITE_DEPTH`], is refused with the cycle or chain named.
#[tracing::instrument(name = "targeting::set_prerequisites", skip_all, fields(actor = %actor.label, flag = flag.as_str(), env = env.as_str()))]
pub async fn set_prerequisites(
    pool: &PgPool,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    prerequisites: Vec<Prerequisite>,
    expected_version: Option<i32>,
    reason: Option<&str>,
) -> Result<TargetingView, ServiceError> {
    let mut tx = pool.begin().await?;
    let (view, changed) =
        set_prerequisites_in(&mut tx, actor, flag, env, prerequisites, expected_version, reason).await?;
    if changed {
        audit::notify_change(&mut tx, "targeting", flag.as_str()).await?;
        tx.commit().await?;
    }
    Ok(view)
}

/// [`set_prerequisites`] inside the caller's transaction, without the NOTIFY. Also returns whether anything
/// changed. The graph it checks for cycles is the one the transaction sees, earlier writes of the caller
/// included.
pub async fn set_prerequisites_in(
    conn: &mut PgConnection,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    prerequisites: Vec<Prerequisite>,
    expected_version: Option<i32>,
    reason: Option<&str>,
) -> Result<(TargetingView, bool), ServiceError> {
    actor.require(Role::Editor, "change prerequisites")?;
    let why = ChangeReason::parse_optional(reason)?;
    let mut prerequisites = prerequisites;
    for p in &mut prerequisites {
        p.flag = p.flag.trim().to_owned();
    }
    check_prerequisites(flag.as_str(), &prerequisites)?;
    let row = stored(conn, flag, env, true).await?;
    row.refuse_archived(flag)?;
    row.check_version(flag, env, expected_version)?;
    // One prerequisite edit per environment at a time: two edits that each add half of a cycle would
    // otherwise both pass their check.
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtext('rollgate.prerequisites'), $1::int4)",
        row.environment_id as i32
    )
    .execute(&mut *conn)
    .await?;
    let graph_rows = sqlx::query!(
        r#"select f.key, f.archived_at is not null as "archived!", f.value_type as "value_type: ValueType", f.variants,
                  fe.prerequisites
           from flag_environments fe join flags f on f.id = fe.flag_id
           where fe.environment_id = $1"#,
        row.environment_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut flags = BTreeMap::new();
    for r in graph_rows {
        let requires: Vec<Prerequisite> =
            serde_json::from_value(r.prerequisites).map_err(|e| corrupt(&format!("prerequisites of {}", r.key), e))?;
        if r.key != flag.as_str() && !requires.is_empty() {
            graph.insert(r.key.clone(), requires.into_iter().map(|p| p.flag).collect());
        }
        flags.insert(r.key, (r.archived, r.value_type, r.variants));
    }
    for p in &prerequisites {
        let bad = |message: String| ServiceError::Invalid { field: "prerequisites", message };
        let Some((archived, value_type, variants)) = flags.get(&p.flag) else {
            return Err(bad(format!("there is no flag {:?} in {}", p.flag, env.as_str())));
        };
        if *archived {
            return Err(bad(format!("{} is archived, so it can never be on", p.flag)));
        }
        let variants = variants_of(*value_type, variants)?;
        for wanted in &p.variants {
            if !variants.as_ref().is_some_and(|v| v.as_slice().iter().any(|v| &v.key == wanted)) {
                return Err(bad(format!("{} has no variant {wanted:?}", p.flag)));
            }
        }
    }
    let requires: Vec<String> = prerequisites.iter().map(|p| p.flag.clone()).collect();
    if let Some(cycle) = find_cycle(flag.as_str(), &requires, &graph) {
        return Err(ServiceError::Invalid {
            field: "prerequisites",
            message: format!("these prerequisites would form a cycle: {}", cycle.join(" -> ")),
        });
    }
    graph.insert(flag.as_str().to_owned(), requires);
    let chain = longest_chain(&graph);
    if chain.len() > limits::PREREQUISITE_DEPTH + 1 {
        return Err(ServiceError::Invalid {
            field: "prerequisites",
            message: format!(
                "this would make a chain of {} prerequisites ({}); the limit is {}",
                chain.len() - 1,
                chain.join(" -> "),
                limits::PREREQUISITE_DEPTH
            ),
        });
    }
    let before = row.prerequisites()?;
    if before == prerequisites {
        return Ok((row.view(flag, env)?, false));
    }
    let document = serde_json::to_value(&prerequisites).map_err(|e| ServiceError::Internal(e.into()))?;
    sqlx::query!(
        "update flag_environments set prerequisites = $3, targeting_version = targeting_version + 1, updated_by = $4
         where flag_id = $1 and environment_id = $2",
        row.flag_id,
        row.environment_id,
        document,
        actor.user_id
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "targeting.prerequisites_changed",
            entity_kind: "flag",
            entity_key: flag.as_str(),
            flag_key: Some(flag.as_str()),
            environment_key: Some(env.as_str()),
            before: Some(serde_json::json!({ "prerequisites": before, "version": row.version })),
            after: Some(serde_json::json!({ "prerequisites": prerequisites, "version": row.version + 1 })),
            reason: why.as_ref(),
        },
    )
    .await?;
    let view = stored(conn, flag, env, false).await?.view(flag, env)?;
    Ok((view, true))
}
