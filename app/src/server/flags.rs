//! Flags: the list, one flag's page, creating a flag and the per-environment kill switch.
//! Every write checks the actor's permission and the row's version, appends its audit event and notifies
//! the other server processes, all in one transaction.

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::{ChangeReason, Description, EnvKey, FlagKey, FlagKind, FlagName, Role};
use crate::model::{
    EnvironmentView, FlagDetail, FlagEnvironmentDetail, FlagListPage, FlagListQuery, FlagRow, FlagState, PhaseView,
    RolloutChip, StateFilter,
};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::str::FromStr;

fn parse_kind(raw: &str) -> Result<FlagKind, ServiceError> {
    FlagKind::from_str(raw).map_err(|e| ServiceError::internal("reading a stored flag kind", e))
}

pub async fn environments(pool: &PgPool) -> Result<Vec<EnvironmentView>, ServiceError> {
    Ok(sqlx::query_as!(
        EnvironmentView,
        "select key, name from environments where archived_at is null order by position"
    )
    .fetch_all(pool)
    .await?)
}

pub async fn phases(pool: &PgPool) -> Result<Vec<PhaseView>, ServiceError> {
    Ok(sqlx::query_as!(PhaseView, "select key, name, position from phases order by position").fetch_all(pool).await?)
}

/// The flag list: live (not archived) flags in phase order, filtered and paginated in the database.
pub async fn list(pool: &PgPool, query: &FlagListQuery, can_edit: bool) -> Result<FlagListPage, ServiceError> {
    let text = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let pattern = text.map(|q| format!("%{}%", audit::escape_like(q)));
    let phase = query.phase.as_deref().filter(|p| !p.is_empty());
    let env = query.env.as_deref().filter(|e| !e.is_empty());
    let state = query.state.map(|s| s == StateFilter::On);
    let per_page = query.per_page();
    let page = query.page();
    let offset = i64::from(page - 1) * i64::from(per_page);
    // Staleness reads every flag's activity once (one query); the filter then narrows the page query.
    let stale: HashMap<String, String> = super::hygiene::stale_flags(pool, chrono::Utc::now())
        .await?
        .into_iter()
        .map(|f| (f.key, f.reason.to_string()))
        .collect();
    let stale_keys: Option<Vec<String>> = (query.stale == Some(true)).then(|| stale.keys().cloned().collect());

    let rows = sqlx::query!(
        r#"select f.id, f.key, f.name, f.description, f.kind, f.visible_to_frontends,
                  p.key as "phase_key?", p.name as "phase_name?", count(*) over () as "total!"
           from flags f left join phases p on p.id = f.phase_id
           where f.archived_at is null
             and ($1::text is null or p.key = $1)
             and ($2::text is null or (f.key || ' ' || f.name || ' ' || f.description) ilike $2)
             and ($3::bool is null or exists (
                   select 1 from flag_environments fe join environments e on e.id = fe.environment_id
                   where fe.flag_id = f.id and fe.enabled = $3 and ($4::text is null or e.key = $4)
                     and e.archived_at is null))
             and ($7::text[] is null or f.key = any($7))
           order by p.position nulls last, f.key
           limit $5 offset $6"#,
        phase,
        pattern,
        state,
        env,
        i64::from(per_page),
        offset,
        stale_keys.as_deref(),
    )
    .fetch_all(pool)
    .await?;

    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    // With the live rollout, if any (at most one per flag and environment: rollouts_live_key).
    let state_rows = sqlx::query!(
        r#"select fe.flag_id, e.key as env_key, fe.enabled, fe.version,
                  r.id as "rollout_id?", r.status as "rollout_status?: crate::domain::rollout::RolloutStatus", r.version as "rollout_version?",
                  cur.basis_points as "current_bp?", nxt.basis_points as "next_bp?"
           from flag_environments fe join environments e on e.id = fe.environment_id
           left join rollouts r on r.flag_id = fe.flag_id and r.environment_id = fe.environment_id
                and r.status in ('planned', 'active', 'paused')
           left join rollout_stages cur on cur.rollout_id = r.id and cur.position = r.current_stage
           left join rollout_stages nxt on nxt.rollout_id = r.id and nxt.position = coalesce(r.current_stage + 1, 0)
           where fe.flag_id = any($1) and ($2::text is null or e.key = $2) and e.archived_at is null
           order by fe.flag_id, e.position"#,
        &ids[..],
        env,
    )
    .fetch_all(pool)
    .await?;
    let mut states: HashMap<i64, Vec<FlagState>> = HashMap::with_capacity(ids.len());
    for s in state_rows {
        let percent = |bp: Option<i32>| {
            crate::domain::Percent::from_basis_points(u16::try_from(bp.unwrap_or(0)).unwrap_or(0))
                .map(|p| p.to_string())
                .unwrap_or_default()
        };
        let rollout = match (s.rollout_id, s.rollout_status, s.rollout_version) {
            (Some(id), Some(status), Some(version)) => Some(RolloutChip {
                id,
                status,
                version,
                percent: percent(s.current_bp),
                next_percent: s.next_bp.map(|bp| percent(Some(bp))),
            }),
            _ => None,
        };
        states.entry(s.flag_id).or_default().push(FlagState {
            environment: s.env_key,
            enabled: s.enabled,
            version: s.version,
            rollout,
        });
    }

    let total = rows.first().map_or(0, |r| r.total);
    let mut flags = Vec::with_capacity(rows.len());
    for r in rows {
        flags.push(FlagRow {
            kind: parse_kind(&r.kind)?,
            states: states.remove(&r.id).unwrap_or_default(),
            stale: stale.get(&r.key).cloned(),
            visible_to_frontends: r.visible_to_frontends,
            key: r.key,
            name: r.name,
            description: r.description,
            phase_key: r.phase_key,
            phase_name: r.phase_name,
        });
    }
    let mut environments = environments(pool).await?;
    if let Some(env) = env {
        environments.retain(|e| e.key == env);
    }
    Ok(FlagListPage { environments, phases: phases(pool).await?, flags, total, page, per_page, can_edit })
}

/// One flag with its states and history.
pub async fn detail(pool: &PgPool, key: &str, can_edit: bool) -> Result<FlagDetail, ServiceError> {
    let flag = sqlx::query!(
        r#"select f.id, f.key, f.name, f.description, f.kind, f.value_type, f.owner, f.tags, f.created_at as "created_at: chrono::DateTime<chrono::Utc>",
                  f.archived_at, f.version, f.visible_to_frontends, p.name as "phase_name?", p.key as "phase_key?"
           from flags f left join phases p on p.id = f.phase_id where f.key = $1"#,
        key
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("flag {key:?}")))?;
    let environments = sqlx::query_as!(
        FlagEnvironmentDetail,
        r#"select e.key as environment, e.name as environment_name, fe.enabled, fe.version, fe.default_value,
                  fe.updated_at as "updated_at: chrono::DateTime<chrono::Utc>", u.email as "updated_by?"
           from flag_environments fe
           join environments e on e.id = fe.environment_id
           left join users u on u.id = fe.updated_by
           where fe.flag_id = $1 and e.archived_at is null order by e.position"#,
        flag.id
    )
    .fetch_all(pool)
    .await?;
    Ok(FlagDetail {
        kind: parse_kind(&flag.kind)?,
        key: flag.key,
        name: flag.name,
        description: flag.description,
        visible_to_frontends: flag.visible_to_frontends,
        value_type: flag.value_type,
        phase_name: flag.phase_name,
        phase_key: flag.phase_key,
        owner: flag.owner,
        tags: flag.tags,
        created_at: flag.created_at,
        archived: flag.archived_at.is_some(),
        version: flag.version,
        history: audit::for_flag(pool, key, 200).await?,
        environments,
        can_edit,
    })
}

/// A new flag, validated at the edge.
#[derive(Debug, Clone)]
pub struct NewFlag {
    pub key: FlagKey,
    pub name: FlagName,
    pub description: Description,
    pub phase_key: Option<String>,
    pub kind: FlagKind,
}

/// Creates a flag, off in every environment.
#[tracing::instrument(name = "flags::create", skip_all, fields(actor = %actor.label))]
pub async fn create(pool: &PgPool, actor: &Actor, new: NewFlag) -> Result<(), ServiceError> {
    let mut tx = pool.begin().await?;
    create_in(&mut tx, actor, &new).await?;
    audit::notify_change(&mut tx, "flag", new.key.as_str()).await?;
    tx.commit().await?;
    Ok(())
}

/// [`create`] inside the caller's transaction, without the NOTIFY (the caller sends one for the whole
/// transaction). Returns the new flag's id.
pub async fn create_in(conn: &mut PgConnection, actor: &Actor, new: &NewFlag) -> Result<i64, ServiceError> {
    actor.require(Role::Editor, "change flags")?;
    // Asked first rather than read from the unique violation, which would abort the caller's transaction.
    let existing = sqlx::query_scalar!("select archived_at is not null from flags where key = $1", new.key.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(archived) = existing {
        let message = if archived.unwrap_or(false) {
            format!(
                "the key {:?} belonged to an archived flag; keys are never reused, choose another",
                new.key.as_str()
            )
        } else {
            format!("a flag with the key {:?} already exists", new.key.as_str())
        };
        return Err(ServiceError::Invalid { field: "key", message });
    }
    let phase_id = match new.phase_key.as_deref().filter(|p| !p.is_empty()) {
        Some(phase) => Some(
            sqlx::query_scalar!("select id from phases where key = $1", phase)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| ServiceError::Invalid {
                    field: "phase",
                    message: format!("there is no phase {phase:?}"),
                })?,
        ),
        None => None,
    };
    let inserted = sqlx::query_scalar!(
        r#"insert into flags (key, name, description, phase_id, kind, created_by)
           values ($1, $2, $3, $4, $5, $6) returning id"#,
        new.key.as_str(),
        new.name.as_str(),
        new.description.as_str(),
        phase_id,
        new.kind.as_str(),
        actor.user_id,
    )
    .fetch_one(&mut *conn)
    .await;
    let flag_id = match inserted {
        Ok(id) => id,
        // A concurrent create of the same key, between the check above and this insert.
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("flags_key_key") => {
            return Err(ServiceError::Invalid {
                field: "key",
                message: format!("a flag with the key {:?} already exists", new.key.as_str()),
            });
        }
        Err(other) => return Err(other.into()),
    };
    sqlx::query!(
        "insert into flag_environments (flag_id, environment_id, enabled, updated_by)
         select $1, id, false, $2 from environments",
        flag_id,
        actor.user_id
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "flag.created",
            entity_kind: "flag",
            entity_key: new.key.as_str(),
            flag_key: Some(new.key.as_str()),
            after: Some(serde_json::json!({
                "key": new.key.as_str(), "name": new.name.as_str(), "description": new.description.as_str(),
                "phase": new.phase_key, "kind": new.kind.as_str(),
            })),
            ..NewEvent::default()
        },
    )
    .await?;
    Ok(flag_id)
}

/// The kill switch: turns a flag on or off in one environment.
///
/// `expected_version` is the version the caller's page showed; if the state changed since, the edit is
/// refused with `Conflict` rather than silently overwriting someone else's change.
#[tracing::instrument(name = "flags::set_enabled", skip_all, fields(actor = %actor.label, flag = flag.as_str(), env = env.as_str()))]
pub async fn set_enabled(
    pool: &PgPool,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    enabled: bool,
    expected_version: Option<i32>,
    reason: Option<&str>,
) -> Result<FlagState, ServiceError> {
    let mut tx = pool.begin().await?;
    let (state, changed) = set_enabled_in(&mut tx, actor, flag, env, enabled, expected_version, reason).await?;
    if changed {
        audit::notify_change(&mut tx, "flag", flag.as_str()).await?;
        tx.commit().await?;
    }
    Ok(state)
}

/// The ids of a flag's state in one environment, for a change to the flag that is not archived; NotFound
/// naming both otherwise.
pub async fn live_flag_environment(
    conn: &mut PgConnection,
    flag: &FlagKey,
    env: &EnvKey,
) -> Result<(i64, i64), ServiceError> {
    let found = sqlx::query!(
        r#"select fe.flag_id, fe.environment_id from flag_environments fe
           join flags f on f.id = fe.flag_id join environments e on e.id = fe.environment_id
           where f.key = $1 and e.key = $2 and f.archived_at is null and e.archived_at is null"#,
        flag.as_str(),
        env.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("flag {:?} in environment {:?}", flag.as_str(), env.as_str())))?;
    Ok((found.flag_id, found.environment_id))
}

/// [`set_enabled`] inside the caller's transaction, without the NOTIFY. Also returns whether anything
/// changed (turning on a flag that is on records nothing).
pub async fn set_enabled_in(
    conn: &mut PgConnection,
    actor: &Actor,
    flag: &FlagKey,
    env: &EnvKey,
    enabled: bool,
    expected_version: Option<i32>,
    reason: Option<&str>,
) -> Result<(FlagState, bool), ServiceError> {
    actor.require(Role::Editor, "change flags")?;
    let reason = ChangeReason::parse_optional(reason)?;
    let current = sqlx::query!(
        r#"select fe.flag_id, fe.environment_id, fe.enabled, fe.version
           from flag_environments fe
           join flags f on f.id = fe.flag_id
           join environments e on e.id = fe.environment_id
           where f.key = $1 and e.key = $2 and f.archived_at is null and e.archived_at is null
           for update of fe"#,
        flag.as_str(),
        env.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("flag {:?} in environment {:?}", flag.as_str(), env.as_str())))?;

    if let Some(expected) = expected_version {
        if expected != current.version {
            return Err(ServiceError::Conflict {
                message: format!(
                    "{} in {} was changed by someone else since you loaded the page; it is now {}",
                    flag.as_str(),
                    env.as_str(),
                    if current.enabled { "on" } else { "off" }
                ),
                current_version: current.version,
            });
        }
    }
    if current.enabled == enabled {
        let state =
            FlagState { environment: env.as_str().to_owned(), enabled, version: current.version, rollout: None };
        return Ok((state, false));
    }
    let version = sqlx::query_scalar!(
        r#"update flag_environments set enabled = $3, version = version + 1, updated_by = $4
           where flag_id = $1 and environment_id = $2 returning version"#,
        current.flag_id,
        current.environment_id,
        enabled,
        actor.user_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action: "flag.toggled",
            entity_kind: "flag_environment",
            entity_key: &format!("{}/{}", flag.as_str(), env.as_str()),
            flag_key: Some(flag.as_str()),
            environment_key: Some(env.as_str()),
            before: Some(serde_json::json!({ "enabled": current.enabled, "version": current.version })),
            after: Some(serde_json::json!({ "enabled": enabled, "version": version })),
            reason: reason.as_ref(),
        },
    )
    .await?;
    Ok((FlagState { environment: env.as_str().to_owned(), enabled, version, rollout: None }, true))
}
