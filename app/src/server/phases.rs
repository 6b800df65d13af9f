//! Phases, managed from the flag manager: create, edit (name, description, "requires the previous phase"),
//! reorder, delete when empty, and move a flag from one phase to another. Editors and admins.
//!
//! Phases group flags and gate them (a phase may wait for the one before it), but they take no part in
//! evaluation, so these changes are audited without a NOTIFY. Every change takes one advisory lock, so
//! positions are assigned without races between replicas.

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::{Description, FlagKey, PhaseKey, PhaseName};
use crate::model::environments::PhaseRow;
use sqlx::{PgConnection, PgPool};

/// What a person edits on a phase.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseFields {
    pub name: PhaseName,
    pub description: Description,
    pub requires_previous: bool,
}

impl PhaseFields {
    fn json(&self, key: &str) -> serde_json::Value {
        serde_json::json!({
            "key": key, "name": self.name.as_str(), "description": self.description.as_str(),
            "requires_previous": self.requires_previous,
        })
    }
}

async fn lock(conn: &mut PgConnection) -> Result<(), ServiceError> {
    sqlx::query!("select pg_advisory_xact_lock(hashtext('rollgate.phases'))").execute(&mut *conn).await?;
    Ok(())
}

/// Every phase in order, with how many live flags it holds.
pub async fn list(pool: &PgPool) -> Result<Vec<PhaseRow>, ServiceError> {
    Ok(sqlx::query_as!(
        PhaseRow,
        r#"select p.key, p.name, p.description, p.requires_previous, p.position, p.version,
                  (select count(*) from flags f where f.phase_id = p.id and f.archived_at is null) as "flags!"
           from phases p order by p.position"#
    )
    .fetch_all(pool)
    .await?)
}

/// Creates a phase after the last one.
pub async fn create(pool: &PgPool, actor: &Actor, key: &PhaseKey, fields: &PhaseFields) -> Result<(), ServiceError> {
    let mut tx = pool.begin().await?;
    create_in(&mut tx, actor, key, fields).await?;
    tx.commit().await?;
    Ok(())
}

/// [`create`] inside the caller's transaction.
pub async fn create_in(
    conn: &mut PgConnection,
    actor: &Actor,
    key: &PhaseKey,
    fields: &PhaseFields,
) -> Result<(), ServiceError> {
    actor.require_editor()?;
    lock(conn).await?;
    let exists = sqlx::query_scalar!("select exists(select 1 from phases where key = $1) as \"e!\"", key.as_str())
        .fetch_one(&mut *conn)
        .await?;
    if exists {
        return Err(ServiceError::Invalid {
            field: "key",
            message: format!("a phase with the key {:?} already exists", key.as_str()),
        });
    }
    sqlx::query!(
        "insert into phases (key, name, description, requires_previous, position)
         select $1, $2, $3, $4, coalesce(max(position) + 1, 1) from phases",
        key.as_str(),
        fields.name.as_str(),
        fields.description.as_str(),
        fields.requires_previous
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "phase.created",
            entity_kind: "phase",
            entity_key: key.as_str(),
            after: Some(fields.json(key.as_str())),
            ..NewEvent::default()
        },
    )
    .await?;
    Ok(())
}

/// Edits a phase. `expected_version` is the version the caller's page showed: a phase changed since is
/// refused with `Conflict`. Returns the phase's version after the edit.
pub async fn update(
    pool: &PgPool,
    actor: &Actor,
    key: &PhaseKey,
    fields: &PhaseFields,
    expected_version: Option<i32>,
) -> Result<i32, ServiceError> {
    let mut tx = pool.begin().await?;
    let version = update_in(&mut tx, actor, key, fields, expected_version).await?;
    tx.commit().await?;
    Ok(version)
}

/// [`update`] inside the caller's transaction. Writes nothing when the fields already match.
pub async fn update_in(
    conn: &mut PgConnection,
    actor: &Actor,
    key: &PhaseKey,
    fields: &PhaseFields,
    expected_version: Option<i32>,
) -> Result<i32, ServiceError> {
    actor.require_editor()?;
    let current = sqlx::query!(
        "select name, description, requires_previous, version from phases where key = $1 for update",
        key.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("phase {:?}", key.as_str())))?;
    if let Some(expected) = expected_version.filter(|v| *v != current.version) {
        return Err(ServiceError::Conflict {
            message: format!(
                "the phase {} was changed by someone else since you loaded the page (you had version {expected})",
                key.as_str()
            ),
            current_version: current.version,
        });
    }
    let unchanged = current.name == fields.name.as_str()
        && current.description == fields.description.as_str()
        && current.requires_previous == fields.requires_previous;
    if unchanged {
        return Ok(current.version);
    }
    let version = sqlx::query_scalar!(
        "update phases set name = $2, description = $3, requires_previous = $4, version = version + 1
         where key = $1 returning version",
        key.as_str(),
        fields.name.as_str(),
        fields.description.as_str(),
        fields.requires_previous
    )
    .fetch_one(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "phase.updated",
            entity_kind: "phase",
            entity_key: key.as_str(),
            before: Some(serde_json::json!({
                "key": key.as_str(), "name": current.name, "description": current.description,
                "requires_previous": current.requires_previous,
            })),
            after: Some(fields.json(key.as_str())),
            ..NewEvent::default()
        },
    )
    .await?;
    Ok(version)
}

/// Puts the phases in this order; `keys` must name each phase exactly once. The order decides which phase
/// is "the previous one" for the phases that wait for it.
pub async fn reorder(pool: &PgPool, actor: &Actor, keys: &[PhaseKey]) -> Result<(), ServiceError> {
    actor.require_editor()?;
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let current = sqlx::query_scalar!("select key from phases order by position").fetch_all(&mut *tx).await?;
    let wanted: Vec<String> = keys.iter().map(|k| k.as_str().to_owned()).collect();
    let (mut a, mut b) = (wanted.clone(), current.clone());
    a.sort();
    b.sort();
    if a != b {
        return Err(ServiceError::Invalid {
            field: "keys",
            message: format!("the order must name every phase exactly once: {}", current.join(", ")),
        });
    }
    if wanted == current {
        return Ok(());
    }
    // Out of the way first (past the largest position, so no two rows ever meet), then into place.
    sqlx::query!("update phases set position = position + (select max(position) + 1 from phases)")
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "update phases p set position = o.ordinality
         from unnest($1::text[]) with ordinality as o(key, ordinality) where p.key = o.key",
        &wanted[..]
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "phase.reordered",
            entity_kind: "phase",
            entity_key: "order",
            before: Some(serde_json::json!({ "order": current })),
            after: Some(serde_json::json!({ "order": wanted })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a phase that holds no live flag; one with flags is refused, saying how many. Archived flags of
/// the phase are left without a phase (their history keeps its name).
pub async fn delete(pool: &PgPool, actor: &Actor, key: &PhaseKey) -> Result<(), ServiceError> {
    actor.require_editor()?;
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let phase = sqlx::query!(
        "select id, name, description, requires_previous from phases where key = $1 for update",
        key.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("phase {:?}", key.as_str())))?;
    let flags = sqlx::query_scalar!(
        "select count(*) as \"n!\" from flags where phase_id = $1 and archived_at is null",
        phase.id
    )
    .fetch_one(&mut *tx)
    .await?;
    if flags > 0 {
        return Err(ServiceError::Refused {
            code: "PHASE_NOT_EMPTY",
            message: format!(
                "the phase {} holds {flags} flag{}; move {} to another phase first",
                key.as_str(),
                if flags == 1 { "" } else { "s" },
                if flags == 1 { "it" } else { "them" }
            ),
        });
    }
    sqlx::query!("update flags set phase_id = null where phase_id = $1", phase.id).execute(&mut *tx).await?;
    sqlx::query!("delete from phases where id = $1", phase.id).execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "phase.deleted",
            entity_kind: "phase",
            entity_key: key.as_str(),
            before: Some(serde_json::json!({
                "key": key.as_str(), "name": phase.name, "description": phase.description,
                "requires_previous": phase.requires_previous,
            })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Moves a live flag into a phase (or out of every phase, with `None`). `expected_version` is the flag's
/// version the caller's page showed. Returns the flag's new version.
pub async fn move_flag(
    pool: &PgPool,
    actor: &Actor,
    flag: &FlagKey,
    phase: Option<&PhaseKey>,
    expected_version: Option<i32>,
) -> Result<i32, ServiceError> {
    actor.require_editor()?;
    let mut tx = pool.begin().await?;
    let current = sqlx::query!(
        r#"select f.id, f.version, f.archived_at is not null as "archived!", p.key as "phase?"
           from flags f left join phases p on p.id = f.phase_id where f.key = $1 for update of f"#,
        flag.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("flag {:?}", flag.as_str())))?;
    if current.archived {
        return Err(ServiceError::Refused {
            code: "FLAG_ARCHIVED",
            message: format!("{} is archived; an archived flag is never changed", flag.as_str()),
        });
    }
    if let Some(expected) = expected_version.filter(|v| *v != current.version) {
        return Err(ServiceError::Conflict {
            message: format!(
                "{} was changed by someone else since you loaded the page (you had version {expected})",
                flag.as_str()
            ),
            current_version: current.version,
        });
    }
    if current.phase.as_deref() == phase.map(PhaseKey::as_str) {
        return Ok(current.version);
    }
    let phase_id = match phase {
        Some(key) => Some(
            sqlx::query_scalar!("select id from phases where key = $1", key.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| ServiceError::Invalid {
                field: "phase",
                message: format!("there is no phase {:?}", key.as_str()),
            })?,
        ),
        None => None,
    };
    let version = sqlx::query_scalar!(
        "update flags set phase_id = $2, version = version + 1 where id = $1 returning version",
        current.id,
        phase_id
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "flag.moved",
            entity_kind: "flag",
            entity_key: flag.as_str(),
            flag_key: Some(flag.as_str()),
            before: Some(serde_json::json!({ "phase": current.phase, "version": current.version })),
            after: Some(serde_json::json!({ "phase": phase.map(PhaseKey::as_str), "version": version })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(version)
}
