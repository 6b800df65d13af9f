//! The targeting part of `rollgate apply`: segments before the flags, each environment's rules with its
//! state, and prerequisites once every flag of the file exists. Every write goes through the targeting
//! services' connection-taking functions, which check it and append its audit event; each step compares
//! first, so an unchanged part writes nothing.

use super::at;
use super::document::{FlagDoc, SegmentDoc};
use crate::domain::targeting::{dependencies_first, find_cycle, Prerequisite, TargetingRule};
use crate::domain::{EnvKey, FlagKey};
use crate::model::targeting::SegmentInput;
use crate::server::audit::Actor;
use crate::server::targeting::{self, segments};
use crate::server::ServiceError;
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap};

/// Creates the file's missing segments and updates those that differ. A segment the file leaves out is
/// left as it is: rules the file does not mention may use it.
pub(super) async fn apply_segments(
    conn: &mut PgConnection,
    actor: &Actor,
    wanted: &[SegmentDoc],
) -> Result<(), ServiceError> {
    // Keys are unique regardless of case, as the segments service holds them.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, segment) in wanted.iter().enumerate() {
        let path = format!("segments[{i}] ({})", segment.key);
        if let Some(first) = seen.insert(segment.key.trim().to_lowercase(), i) {
            return Err(ServiceError::invalid(
                "segments",
                format!("{path}: the key {:?} is also segments[{first}]", segment.key),
            ));
        }
        let input = SegmentInput {
            key: segment.key.clone(),
            name: segment.name.clone(),
            description: segment.description.clone(),
            constraints: segment.constraints.clone(),
        };
        let exists = sqlx::query_scalar!(
            r#"select exists(select 1 from segments where lower(key) = lower($1)) as "e!""#,
            segment.key.trim()
        )
        .fetch_one(&mut *conn)
        .await?;
        let written = if exists {
            segments::update_in(conn, actor, segment.key.trim(), &input, None, None).await.map(|_| ())
        } else {
            segments::create_in(conn, actor, &input).await.map(|_| ())
        };
        written.map_err(|e| at(&path, e))?;
    }
    Ok(())
}

/// Replaces a flag's rules in one environment if they differ from `stored` (the column as read).
pub(super) async fn apply_rules(
    conn: &mut PgConnection,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    stored: serde_json::Value,
    wanted: &[TargetingRule],
    path: &str,
) -> Result<(), ServiceError> {
    let stored: Vec<TargetingRule> = serde_json::from_value(stored)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("the stored rules of {flag} in {env} do not read: {e}")))?;
    if stored != wanted {
        let path = format!("{path}.rules");
        targeting::set_rules_in(conn, actor, flag, env, wanted.to_vec(), None, None).await.map_err(|e| at(&path, e))?;
    }
    Ok(())
}

/// One flag's prerequisites in one environment, as the file wants them.
struct Wanted<'d> {
    flag: FlagKey,
    env: EnvKey,
    prerequisites: &'d [Prerequisite],
    /// The keys of the flags it requires, as the service stores them.
    requires: Vec<String>,
    path: String,
}

fn keys_of(list: &[Prerequisite]) -> Vec<String> {
    list.iter().map(|p| p.flag.trim().to_owned()).collect()
}

/// Gives the flags of the file their prerequisites, after every flag of the file exists. `live` are the
/// flags the apply may change (by index in the file: archived ones are frozen), already checked.
///
/// The graph the file leads to (what is stored, with the file's lists in place of the flags' own) is
/// checked for cycles first, so that a cycle is refused at the first entry of the file on it, whatever the
/// order of the writes; then the lists that differ are written, each flag after the flags it requires, so
/// that no write sees a cycle the finished graph does not have.
pub(super) async fn apply_prerequisites(
    conn: &mut PgConnection,
    actor: &Actor,
    flags: &[FlagDoc],
    live: &[usize],
) -> Result<(), ServiceError> {
    let mut wanted = Vec::new();
    for &i in live {
        let flag = &flags[i];
        let key = FlagKey::parse(&flag.key)?;
        for (env, state) in &flag.environments {
            wanted.push(Wanted {
                flag: key.clone(),
                env: EnvKey::parse(env)?,
                prerequisites: &state.prerequisites,
                requires: keys_of(&state.prerequisites),
                path: format!("flags[{i}] ({}).environments.{env}.prerequisites", flag.key),
            });
        }
    }
    // Every stored list that is not empty, by environment then flag.
    let mut stored: BTreeMap<String, BTreeMap<String, Vec<Prerequisite>>> = BTreeMap::new();
    for row in sqlx::query!(
        r#"select e.key as env, f.key as flag, fe.prerequisites
           from flag_environments fe join flags f on f.id = fe.flag_id join environments e on e.id = fe.environment_id
           where e.archived_at is null and fe.prerequisites <> '[]'"#
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let list: Vec<Prerequisite> = serde_json::from_value(row.prerequisites).map_err(|e| {
            ServiceError::Internal(anyhow::anyhow!(
                "the stored prerequisites of {} in {} do not read: {e}",
                row.flag,
                row.env
            ))
        })?;
        stored.entry(row.env).or_default().insert(row.flag, list);
    }
    let mut graphs: BTreeMap<String, BTreeMap<String, Vec<String>>> = stored
        .iter()
        .map(|(env, lists)| (env.clone(), lists.iter().map(|(flag, list)| (flag.clone(), keys_of(list))).collect()))
        .collect();
    for w in &wanted {
        graphs.entry(w.env.to_string()).or_default().insert(w.flag.to_string(), w.requires.clone());
    }
    let none = BTreeMap::new();
    for w in &wanted {
        let graph = graphs.get(w.env.as_str()).unwrap_or(&none);
        if let Some(cycle) = find_cycle(w.flag.as_str(), &w.requires, graph) {
            return Err(ServiceError::invalid(
                "prerequisites",
                format!("{}: these prerequisites would form a cycle: {}", w.path, cycle.join(" -> ")),
            ));
        }
    }
    let order: HashMap<(String, String), usize> = graphs
        .iter()
        .flat_map(|(env, graph)| {
            dependencies_first(graph).into_iter().enumerate().map(move |(n, flag)| ((env.clone(), flag), n))
        })
        .collect();
    wanted.sort_by_key(|w| (w.env.to_string(), order.get(&(w.env.to_string(), w.flag.to_string())).copied()));
    for w in wanted {
        let current = stored.get(w.env.as_str()).and_then(|lists| lists.get(w.flag.as_str()));
        if current.map_or(&[][..], Vec::as_slice) == w.prerequisites {
            continue;
        }
        targeting::set_prerequisites_in(conn, actor, &w.flag, &w.env, w.prerequisites.to_vec(), None, None)
            .await
            .map_err(|e| at(&w.path, e))?;
    }
    Ok(())
}
