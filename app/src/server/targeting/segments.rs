//! Segments: named, reusable lists of constraints. Editing one changes every rule and rollout audience that
//! uses it in the next snapshot; deleting one in use is refused, naming the rules and rollouts that use it.

use super::super::audit::{self, Actor, NewEvent};
use super::super::ServiceError;
use crate::domain::targeting::{parse_segment_key, CompiledSegment, Condition, Constraint, TargetingRule};
use crate::domain::{ChangeReason, Description, Role};
use crate::model::targeting::{SegmentInput, SegmentUse, SegmentView};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;

/// The longest segment name accepted.
pub const MAX_NAME_LEN: usize = 200;

struct Row {
    id: i64,
    key: String,
    name: String,
    description: String,
    constraints: serde_json::Value,
    version: i32,
    updated_at: DateTime<Utc>,
}

fn constraints_of(row: &Row) -> Result<Vec<Constraint>, ServiceError> {
    serde_json::from_value(row.constraints.clone()).map_err(|e| {
        ServiceError::Internal(anyhow::anyhow!("the stored constraints of segment {} do not read: {e}", row.key))
    })
}

fn view(row: Row, used_by: Vec<SegmentUse>) -> Result<SegmentView, ServiceError> {
    let constraints = constraints_of(&row)?;
    Ok(SegmentView {
        key: row.key,
        name: row.name,
        description: row.description,
        constraints,
        version: row.version,
        updated_at: row.updated_at,
        used_by,
    })
}

/// Every rule and rollout audience that uses a segment, by segment key, in flags and environments that are
/// not archived. The rollouts counted are those the snapshot evaluates: per flag and environment, the live
/// rollout, else the latest finished one (a completed rollout goes on serving its audience).
pub(super) async fn uses(conn: &mut PgConnection) -> Result<BTreeMap<String, Vec<SegmentUse>>, ServiceError> {
    let rows = sqlx::query!(
        r#"select f.key as flag, e.key as environment, fe.rules
           from flag_environments fe join flags f on f.id = fe.flag_id join environments e on e.id = fe.environment_id
           where fe.rules <> '[]' and f.archived_at is null and e.archived_at is null"#
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut uses: BTreeMap<String, Vec<SegmentUse>> = BTreeMap::new();
    for row in rows {
        let rules: Vec<TargetingRule> = serde_json::from_value(row.rules).map_err(|e| {
            ServiceError::Internal(anyhow::anyhow!(
                "the stored rules of {} in {} do not read: {e}",
                row.flag,
                row.environment
            ))
        })?;
        for rule in rules {
            for segment in rule.segments {
                uses.entry(segment).or_default().push(SegmentUse {
                    flag: row.flag.clone(),
                    environment: row.environment.clone(),
                    rule: rule.name.clone(),
                    rollout: None,
                });
            }
        }
    }
    let audiences = sqlx::query!(
        r#"select r.id, f.key as flag, e.key as environment, r.audience as "audience!"
           from (select distinct on (flag_id, environment_id) id, flag_id, environment_id, audience from rollouts
                 order by flag_id, environment_id, (status in ('planned', 'active', 'paused')) desc, id desc) r
           join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
           where r.audience is not null and f.archived_at is null and e.archived_at is null"#
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in audiences {
        let audience: Condition = serde_json::from_value(row.audience).map_err(|e| {
            ServiceError::Internal(anyhow::anyhow!("the stored audience of rollout {} does not read: {e}", row.id))
        })?;
        for segment in audience.segments {
            uses.entry(segment).or_default().push(SegmentUse {
                flag: row.flag.clone(),
                environment: row.environment.clone(),
                rule: SegmentUse::ROLLOUT_AUDIENCE.to_owned(),
                rollout: Some(row.id),
            });
        }
    }
    for list in uses.values_mut() {
        list.sort();
        list.dedup();
    }
    Ok(uses)
}

/// Every segment's key and name, by key: what a form offers to pick from.
pub async fn names(pool: &PgPool) -> Result<Vec<(String, String)>, ServiceError> {
    Ok(sqlx::query!("select key, name from segments order by lower(key)")
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| (r.key, r.name))
        .collect())
}

/// Every segment, by key, with who uses it.
pub async fn list(pool: &PgPool) -> Result<Vec<SegmentView>, ServiceError> {
    let mut conn = pool.acquire().await?;
    let rows = sqlx::query_as!(
        Row,
        "select id, key, name, description, constraints, version, updated_at as \"updated_at: DateTime<Utc>\" from segments order by lower(key)"
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut uses = uses(&mut conn).await?;
    rows.into_iter()
        .map(|row| {
            let used_by = uses.remove(&row.key).unwrap_or_default();
            view(row, used_by)
        })
        .collect()
}

/// One segment, with who uses it.
pub async fn get(pool: &PgPool, key: &str) -> Result<SegmentView, ServiceError> {
    let mut conn = pool.acquire().await?;
    let row = find(&mut conn, key, false).await?;
    let used_by = uses(&mut conn).await?.remove(&row.key).unwrap_or_default();
    view(row, used_by)
}

async fn find(conn: &mut PgConnection, key: &str, for_update: bool) -> Result<Row, ServiceError> {
    let row = if for_update {
        sqlx::query_as!(
            Row,
            "select id, key, name, description, constraints, version, updated_at as \"updated_at: DateTime<Utc>\" from segments
             where lower(key) = lower($1) for update",
            key
        )
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query_as!(
            Row,
            "select id, key, name, description, constraints, version, updated_at as \"updated_at: DateTime<Utc>\" from segments where lower(key) = lower($1)",
            key
        )
        .fetch_optional(&mut *conn)
        .await?
    };
    row.ok_or_else(|| ServiceError::NotFound(format!("segment {key:?}")))
}

/// Checks a segment's name, description and constraints (every one must compile).
fn check(key: &str, input: &SegmentInput) -> Result<(String, String), ServiceError> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(ServiceError::Invalid { field: "name", message: "the name is required".into() });
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ServiceError::Invalid {
            field: "name",
            message: format!("the name is longer than {MAX_NAME_LEN} characters"),
        });
    }
    let description = Description::parse(&input.description)?;
    CompiledSegment::compile(key, &input.constraints)?;
    Ok((name.to_owned(), description.as_str().to_owned()))
}

fn document(name: &str, description: &str, constraints: &[Constraint]) -> serde_json::Value {
    serde_json::json!({ "name": name, "description": description, "constraints": constraints })
}

/// Creates a segment. Its key is refused if another segment has it, whatever the case.
#[tracing::instrument(name = "segments::create", skip_all, fields(actor = %actor.label, key = input.key.as_str()))]
pub async fn create(pool: &PgPool, actor: &Actor, input: &SegmentInput) -> Result<SegmentView, ServiceError> {
    let mut tx = pool.begin().await?;
    let key = create_in(&mut tx, actor, input).await?;
    audit::notify_change(&mut tx, "segment", &key).await?;
    let row = find(&mut tx, &key, false).await?;
    tx.commit().await?;
    view(row, Vec::new())
}

/// [`create`] inside the caller's transaction, without the NOTIFY. Returns the key as stored.
pub async fn create_in(conn: &mut PgConnection, actor: &Actor, input: &SegmentInput) -> Result<String, ServiceError> {
    actor.require(Role::Editor, "create segments")?;
    let key = parse_segment_key(&input.key)?;
    let (name, description) = check(&key, input)?;
    if let Some(existing) = sqlx::query_scalar!("select key from segments where lower(key) = lower($1)", key)
        .fetch_optional(&mut *conn)
        .await?
    {
        return Err(ServiceError::Invalid {
            field: "key",
            message: format!("the segment {existing:?} exists already; keys are unique regardless of case"),
        });
    }
    let constraints = serde_json::to_value(&input.constraints).map_err(|e| ServiceError::Internal(e.into()))?;
    sqlx::query!(
        "insert into segments (key, name, description, constraints, created_by, updated_by) values ($1, $2, $3, $4, $5, $5)",
        key,
        name,
        description,
        constraints,
        actor.user_id
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "segment.created",
            entity_kind: "segment",
            entity_key: &key,
            flag_key: None,
            environment_key: None,
            before: None,
            after: Some(document(&name, &description, &input.constraints)),
            reason: None,
        },
    )
    .await?;
    Ok(key)
}

fn check_version(key: &str, row: &Row, expected: Option<i32>) -> Result<(), ServiceError> {
    match expected {
        Some(expected) if expected != row.version => Err(ServiceError::Conflict {
            message: format!(
                "the segment {key} changed since you saw it (you saw version {expected}); reload it and try again"
            ),
            current_version: row.version,
        }),
        _ => Ok(()),
    }
}

/// Changes a segment's name, description and constraints; every rule that uses it follows in the next
/// snapshot. The key stays: rules and files name the segment by it.
#[tracing::instrument(name = "segments::update", skip_all, fields(actor = %actor.label, key))]
pub async fn update(
    pool: &PgPool,
    actor: &Actor,
    key: &str,
    input: &SegmentInput,
    expected_version: Option<i32>,
    reason: Option<&str>,
) -> Result<SegmentView, ServiceError> {
    let mut tx = pool.begin().await?;
    let (key, changed) = update_in(&mut tx, actor, key, input, expected_version, reason).await?;
    if changed {
        audit::notify_change(&mut tx, "segment", &key).await?;
    }
    let fresh = find(&mut tx, &key, false).await?;
    let used_by = uses(&mut tx).await?.remove(&key).unwrap_or_default();
    tx.commit().await?;
    view(fresh, used_by)
}

/// [`update`] inside the caller's transaction, without the NOTIFY. Returns the key as stored and whether
/// anything changed (the same name, description and constraints again record nothing).
pub async fn update_in(
    conn: &mut PgConnection,
    actor: &Actor,
    key: &str,
    input: &SegmentInput,
    expected_version: Option<i32>,
    reason: Option<&str>,
) -> Result<(String, bool), ServiceError> {
    actor.require(Role::Editor, "change segments")?;
    let why = ChangeReason::parse_optional(reason)?;
    let row = find(conn, key, true).await?;
    if !input.key.trim().is_empty() && input.key.trim() != row.key {
        return Err(ServiceError::Invalid {
            field: "key",
            message: format!("a segment's key never changes ({}); create a new segment instead", row.key),
        });
    }
    check_version(&row.key, &row, expected_version)?;
    let (name, description) = check(&row.key, input)?;
    let before = document(&row.name, &row.description, &constraints_of(&row)?);
    let after = document(&name, &description, &input.constraints);
    if before == after {
        return Ok((row.key, false));
    }
    let constraints = serde_json::to_value(&input.constraints).map_err(|e| ServiceError::Internal(e.into()))?;
    sqlx::query!(
        "update segments set name = $2, description = $3, constraints = $4, version = version + 1, updated_by = $5
         where id = $1",
        row.id,
        name,
        description,
        constraints,
        actor.user_id
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "segment.changed",
            entity_kind: "segment",
            entity_key: &row.key,
            flag_key: None,
            environment_key: None,
            before: Some(before),
            after: Some(after),
            reason: why.as_ref(),
        },
    )
    .await?;
    Ok((row.key, true))
}

/// Deletes a segment no rule or rollout audience uses; one in use is refused naming them.
#[tracing::instrument(name = "segments::delete", skip_all, fields(actor = %actor.label, key))]
pub async fn delete(
    pool: &PgPool,
    actor: &Actor,
    key: &str,
    expected_version: Option<i32>,
    reason: Option<&str>,
) -> Result<(), ServiceError> {
    actor.require(Role::Editor, "delete segments")?;
    let why = ChangeReason::parse_optional(reason)?;
    let mut tx = pool.begin().await?;
    // Locked first: a rule edit, or a rollout created or edited with an audience, that names this segment
    // holds a share lock on it until it commits, so the uses read below include it.
    let row = find(&mut tx, key, true).await?;
    check_version(&row.key, &row, expected_version)?;
    let used_by = uses(&mut tx).await?.remove(&row.key).unwrap_or_default();
    if !used_by.is_empty() {
        let list: Vec<String> = used_by.iter().map(ToString::to_string).collect();
        return Err(ServiceError::Refused {
            code: "SEGMENT_IN_USE",
            message: format!(
                "the segment {} is used by {}; take it out of those rules and rollout audiences first",
                row.key,
                list.join(", ")
            ),
        });
    }
    sqlx::query!("delete from segments where id = $1", row.id).execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "segment.deleted",
            entity_kind: "segment",
            entity_key: &row.key,
            flag_key: None,
            environment_key: None,
            before: Some(document(&row.name, &row.description, &constraints_of(&row)?)),
            after: None,
            reason: why.as_ref(),
        },
    )
    .await?;
    audit::notify_change(&mut tx, "segment", &row.key).await?;
    tx.commit().await?;
    Ok(())
}
