//! Scheduled changes: an advance, a toggle or a rollback set to run at a given time.
//!
//! When one comes due it runs through the same service calls as a person pressing the button, under the
//! actor `system:schedule`, so every gate still applies (sign-offs, soak, guardrails, prerequisites). A
//! refused change ends `failed` with the reason in `result`, is audited and queues the `schedule.failed`
//! webhook; a change that ran ends `done`.
//!
//! Any number of replicas may run [`run_due`]: each due row is claimed with `for update skip locked` in a
//! transaction of its own, held while the change runs and closed by writing the outcome, so a change runs
//! once. The change itself commits in its own transaction (that of the service call); should the outcome's
//! write then fail, the row stays pending and the next pass finds the change already made (a toggle to the
//! state it is in changes nothing; an advance meets its gates again).

use super::audit::{self, Actor, NewEvent};
use super::{flags, rollouts, webhooks, ServiceError};
use crate::domain::rollout::Action;
use crate::domain::{ChangeReason, EnvKey, FlagKey, Role};
use crate::model::schedule::{ScheduleFilter, ScheduleStatus, ScheduledAction, ScheduledChangeView};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

/// Longest result kept (the column's check).
const MAX_TEXT: usize = 2000;

/// A change to schedule, parsed at the edge.
#[derive(Debug, Clone)]
pub struct NewScheduledChange {
    pub flag: FlagKey,
    pub environment: EnvKey,
    pub action: ScheduledAction,
    /// For an advance: the stage it must enter (refused when the rollout is elsewhere by then); for a
    /// rollback: the stage to go back to. `None`: the next stage, or 0%.
    pub to_stage: Option<u32>,
    pub run_at: DateTime<Utc>,
    pub reason: String,
}

/// What one due change did.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleOutcome {
    pub id: i64,
    pub flag: String,
    pub environment: String,
    pub action: ScheduledAction,
    /// `done` or `failed`.
    pub status: &'static str,
    pub result: String,
}

impl std::fmt::Display for ScheduleOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scheduled change #{} ({} {} in {}) {}: {}",
            self.id,
            self.action.label(),
            self.flag,
            self.environment,
            self.status,
            self.result
        )
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

/// Reads the time a change is to run: RFC 3339 (`2026-11-22T09:00:00Z`), or what a browser's
/// `datetime-local` field sends (`2026-11-22T09:00`, seconds optional), taken as UTC.
pub fn parse_run_at(raw: &str) -> Result<DateTime<Utc>, crate::domain::InvalidValue> {
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(raw, format).ok())
        .map(|naive| naive.and_utc())
        .ok_or_else(|| {
            crate::domain::InvalidValue::new(
                "run_at",
                format!("{raw:?} is not a time; write it as 2026-11-22T09:00 (UTC) or in RFC 3339"),
            )
        })
}

/// The keys of the flags a change can be scheduled for (not archived), for the form.
pub async fn flag_keys(pool: &PgPool) -> Result<Vec<String>, ServiceError> {
    Ok(sqlx::query_scalar!("select key from flags where archived_at is null order by key").fetch_all(pool).await?)
}

/// Schedules a change; editors only, for a time still to come. Returns its id.
#[tracing::instrument(name = "schedule::create", skip_all, fields(actor = %actor.label))]
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    new: &NewScheduledChange,
    now: DateTime<Utc>,
) -> Result<i64, ServiceError> {
    actor.require(Role::Editor, "schedule changes")?;
    if new.run_at <= now {
        return Err(ServiceError::invalid("run_at", "the time to run must be in the future"));
    }
    if new.to_stage.is_some() && !new.action.takes_stage() {
        return Err(ServiceError::invalid("to_stage", "only an advance or a rollback names a stage"));
    }
    let reason = ChangeReason::parse(&new.reason)?;
    let to_stage = new.to_stage.map(|s| i32::try_from(s).unwrap_or(i32::MAX));
    let mut tx = pool.begin().await?;
    let (flag_id, environment_id) = super::flags::live_flag_environment(&mut tx, &new.flag, &new.environment).await?;
    let id = sqlx::query_scalar!(
        "insert into scheduled_changes (flag_id, environment_id, action, to_stage, run_at, reason, created_by)
         values ($1, $2, $3, $4, $5, $6, $7) returning id",
        flag_id,
        environment_id,
        new.action.as_str(),
        to_stage,
        new.run_at as _,
        reason.as_str(),
        actor.user_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    let key = id.to_string();
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "schedule.created",
            entity_kind: "scheduled_change",
            entity_key: &key,
            flag_key: Some(new.flag.as_str()),
            environment_key: Some(new.environment.as_str()),
            after: Some(json!({ "action": new.action, "to_stage": to_stage, "run_at": new.run_at })),
            reason: Some(&reason),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Cancels a pending change; editors only.
#[tracing::instrument(name = "schedule::cancel", skip_all, fields(actor = %actor.label, id = id))]
pub async fn cancel(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), ServiceError> {
    actor.require(Role::Editor, "schedule changes")?;
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"select sc.status, f.key as flag, e.key as environment from scheduled_changes sc
           join flags f on f.id = sc.flag_id join environments e on e.id = sc.environment_id
           where sc.id = $1 for update of sc"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("scheduled change #{id}")))?;
    if row.status != "pending" {
        return Err(ServiceError::Refused {
            code: "NOT_PENDING",
            message: format!("scheduled change #{id} is {}; only a pending change can be cancelled", row.status),
        });
    }
    sqlx::query!("update scheduled_changes set status = 'cancelled', finished_at = now() where id = $1", id)
        .execute(&mut *tx)
        .await?;
    let key = id.to_string();
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "schedule.cancelled",
            entity_kind: "scheduled_change",
            entity_key: &key,
            flag_key: Some(&row.flag),
            environment_key: Some(&row.environment),
            before: Some(json!({ "status": "pending" })),
            after: Some(json!({ "status": "cancelled" })),
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Every pending change (soonest first), then those finished recently (latest first).
pub async fn list(pool: &PgPool, filter: &ScheduleFilter) -> Result<Vec<ScheduledChangeView>, ServiceError> {
    let days = filter.recent_days.unwrap_or(7).clamp(0, 365);
    let flag = filter.flag.as_deref().map(str::trim).filter(|f| !f.is_empty());
    read(pool, flag, Some(days), None).await
}

/// One scheduled change, whatever its status and age.
pub async fn get(pool: &PgPool, id: i64) -> Result<ScheduledChangeView, ServiceError> {
    read(pool, None, None, Some(id))
        .await?
        .pop()
        .ok_or_else(|| ServiceError::NotFound(format!("scheduled change #{id}")))
}

/// The changes of `flag` (all flags when `None`), pending or finished within `recent_days` (any age when
/// `None`), or the one change `id`.
async fn read(
    pool: &PgPool,
    flag: Option<&str>,
    recent_days: Option<i32>,
    id: Option<i64>,
) -> Result<Vec<ScheduledChangeView>, ServiceError> {
    let rows = sqlx::query!(
        r#"select sc.id, f.key as flag, e.key as environment, sc.action as "action: ScheduledAction", sc.to_stage,
                  sc.run_at as "run_at: DateTime<Utc>", sc.status as "status: ScheduleStatus", sc.reason, sc.result,
                  sc.finished_at as "finished_at: DateTime<Utc>", u.email as "created_by?",
                  sc.created_at as "created_at: DateTime<Utc>"
           from scheduled_changes sc
           join flags f on f.id = sc.flag_id join environments e on e.id = sc.environment_id
           left join users u on u.id = sc.created_by
           where ($1::text is null or f.key = $1)
             and ($2::int is null or sc.status = 'pending' or sc.finished_at > now() - make_interval(days => $2))
             and ($3::bigint is null or sc.id = $3)
           order by sc.status <> 'pending', case when sc.status = 'pending' then sc.run_at end,
                    sc.finished_at desc, sc.id desc
           limit 500"#,
        flag,
        recent_days,
        id
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ScheduledChangeView {
                id: r.id,
                flag: r.flag,
                environment: r.environment,
                action: r.action,
                to_stage: r.to_stage,
                run_at: r.run_at,
                status: r.status,
                reason: r.reason,
                result: r.result,
                finished_at: r.finished_at,
                created_by: r.created_by,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// A due change, claimed.
struct Due {
    id: i64,
    flag: String,
    environment: String,
    action: ScheduledAction,
    to_stage: Option<i32>,
    run_at: DateTime<Utc>,
    reason: String,
}

/// Runs every pending change whose time (`run_at`) is at or before `now`, one at a time, and returns
/// what each did. A database error stops the pass with the change left pending, to be retried.
pub async fn run_due(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<ScheduleOutcome>, ServiceError> {
    let actor = Actor::system("schedule");
    let mut outcomes = Vec::new();
    loop {
        let mut tx = pool.begin().await?;
        let Some(row) = sqlx::query!(
            r#"select sc.id, f.key as flag, e.key as environment, sc.action as "action: ScheduledAction", sc.to_stage,
                      sc.run_at as "run_at: DateTime<Utc>", sc.reason
               from scheduled_changes sc
               join flags f on f.id = sc.flag_id join environments e on e.id = sc.environment_id
               where sc.status = 'pending' and sc.run_at <= $1
               order by sc.run_at, sc.id
               limit 1
               for update of sc skip locked"#,
            now as _
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            break;
        };
        let due = Due {
            id: row.id,
            action: row.action,
            flag: row.flag,
            environment: row.environment,
            to_stage: row.to_stage,
            run_at: row.run_at,
            reason: row.reason,
        };
        let (status, result) = match execute(pool, &actor, &due).await {
            Ok(done) => ("done", done),
            Err(err) if err.is_internal() => return Err(err),
            Err(refused) => ("failed", refused.to_string()),
        };
        let result = truncate(&result);
        sqlx::query!(
            "update scheduled_changes set status = $2, result = $3, finished_at = now() where id = $1",
            due.id,
            status,
            result
        )
        .execute(&mut *tx)
        .await?;
        let key = due.id.to_string();
        let details = json!({ "scheduled_change": due.id, "flag": due.flag, "environment": due.environment,
                              "action": due.action, "to_stage": due.to_stage, "run_at": due.run_at,
                              "result": result });
        audit::record(
            &mut tx,
            &actor,
            NewEvent {
                action: if status == "done" { "schedule.done" } else { "schedule.failed" },
                entity_kind: "scheduled_change",
                entity_key: &key,
                flag_key: Some(&due.flag),
                environment_key: Some(&due.environment),
                before: Some(json!({ "status": "pending" })),
                after: Some(json!({ "status": status, "result": result })),
                reason: Some(&ChangeReason::system(&due.reason)),
            },
        )
        .await?;
        if status == "failed" {
            let summary =
                format!("Scheduled {} of {} in {} failed: {}", due.action.label(), due.flag, due.environment, result);
            webhooks::enqueue(&mut tx, crate::domain::WebhookEvent::ScheduleFailed, &summary, details).await?;
        }
        tx.commit().await?;
        outcomes.push(ScheduleOutcome {
            id: due.id,
            flag: due.flag,
            environment: due.environment,
            action: due.action,
            status,
            result,
        });
    }
    Ok(outcomes)
}

/// Makes the change through the service layer. `Ok` says what was done; an expected refusal (a gate, no
/// live rollout, the flag archived) is an `Err` that ends the change `failed`.
async fn execute(pool: &PgPool, actor: &Actor, due: &Due) -> Result<String, ServiceError> {
    let flag = FlagKey::parse(&due.flag)?;
    let environment = EnvKey::parse(&due.environment)?;
    let reason = ChangeReason::system(&if due.reason.trim().is_empty() {
        format!("scheduled change #{}", due.id)
    } else {
        format!("scheduled change #{}: {}", due.id, due.reason.trim())
    });
    let enabled = match due.action {
        ScheduledAction::ToggleOn => Some(true),
        ScheduledAction::ToggleOff => Some(false),
        ScheduledAction::Advance | ScheduledAction::Rollback => None,
    };
    if let Some(enabled) = enabled {
        flags::set_enabled(pool, actor, &flag, &environment, enabled, None, Some(reason.as_str())).await?;
        return Ok(format!("{} is {} in {}", due.flag, if enabled { "on" } else { "off" }, due.environment));
    }
    let rollout = rollouts::live_id(pool, &due.flag, &due.environment).await?.ok_or_else(|| ServiceError::Refused {
        code: "NO_LIVE_ROLLOUT",
        message: format!("{} has no live rollout in {}", due.flag, due.environment),
    })?;
    let to_stage = due.to_stage.map(|s| u32::try_from(s).unwrap_or(0));
    let action = match due.action {
        ScheduledAction::Rollback => Action::RollbackTo(to_stage),
        _ => {
            let current = sqlx::query!("select status, current_stage from rollouts where id = $1", rollout)
                .fetch_one(pool)
                .await?;
            let next = current.current_stage.map_or(0, |s| s + 1);
            if let Some(wanted) = due.to_stage {
                if wanted != next {
                    return Err(ServiceError::Refused {
                        code: "STAGE_MOVED",
                        message: format!(
                            "the rollout's next stage is {next}, not {wanted} as scheduled; it moved since"
                        ),
                    });
                }
            }
            if current.status == "planned" {
                Action::Start
            } else {
                Action::Advance
            }
        }
    };
    let request = rollouts::TransitionRequest {
        action,
        expected_version: None,
        reason: Some(reason.to_string()),
        override_gates: false,
        details: Some(json!({ "scheduled_change": due.id })),
    };
    let view = rollouts::transition(pool, actor, rollout, &request).await?;
    Ok(format!(
        "{} in {}: {} ({}, now serving {})",
        due.flag,
        due.environment,
        action.verb(),
        view.status,
        view.current_percent
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_time_is_rfc3339_or_a_browser_local_time_read_as_utc() {
        let at = |s: &str| parse_run_at(s).map(|t| t.to_rfc3339());
        assert_eq!(at("2026-11-22T09:00:00+01:00"), Ok("2026-11-22T08:00:00+00:00".into()));
        assert_eq!(at("2026-11-22T09:00"), Ok("2026-11-22T09:00:00+00:00".into()));
        assert_eq!(at(" 2026-11-22 09:00:30 "), Ok("2026-11-22T09:00:30+00:00".into()));
        assert!(at("tomorrow").unwrap_err().message.contains("not a time"));
        assert!(at("").is_err());
    }
}
