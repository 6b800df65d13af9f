//! The audit trail: every state change appends an event in the transaction that makes the change.

use super::auth::CurrentUser;
use super::csv_file::CsvFile;
use super::ServiceError;
use crate::domain::{ChangeReason, Role};
use crate::model::{AuditEventView, AuditPage, AuditQuery};
use sqlx::{PgConnection, PgPool};

/// Who performs an action: a signed-in user (or their admin token), or a system process.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: ActorKind,
    pub user_id: Option<i64>,
    /// As shown in the audit trail: an email, or `system:guardrail` and the like.
    pub label: String,
    /// What the actor may do; system actors act with the admin role.
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    User,
    Token,
    System,
}

impl ActorKind {
    fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::System => "system",
        }
    }
}

impl Actor {
    /// A person acting through a session.
    pub fn user(user: &CurrentUser) -> Self {
        Self { kind: ActorKind::User, user_id: Some(user.id), label: user.email.clone(), role: user.role }
    }

    /// Refuses this actor unless their role is at least `needed` (the one check, [`super::auth::permit`]);
    /// `doing` completes "a viewer cannot ...".
    pub fn require(&self, needed: Role, doing: &str) -> Result<(), ServiceError> {
        super::auth::permit(self.role, needed, doing)
    }

    /// A user acting through one of their admin API tokens: audited under the user, with the user's role.
    pub fn token(user: &CurrentUser) -> Self {
        Self { kind: ActorKind::Token, user_id: Some(user.id), label: user.email.clone(), role: user.role }
    }

    /// A background process such as `system:guardrail` or `system:demo`.
    pub fn system(name: &str) -> Self {
        Self { kind: ActorKind::System, user_id: None, label: format!("system:{name}"), role: Role::Admin }
    }
}

/// One event to append.
#[derive(Debug, Clone, Default)]
pub struct NewEvent<'a> {
    /// `entity.verb`, e.g. `flag.toggled`.
    pub action: &'a str,
    pub entity_kind: &'a str,
    pub entity_key: &'a str,
    pub flag_key: Option<&'a str>,
    pub environment_key: Option<&'a str>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// A [`ChangeReason`], so that its length and characters were checked before anything was written.
    pub reason: Option<&'a ChangeReason>,
}

/// Appends an event. Takes a connection, not a pool, so that it runs inside the caller's transaction.
pub async fn record(conn: &mut PgConnection, actor: &Actor, event: NewEvent<'_>) -> Result<i64, ServiceError> {
    let reason = event.reason.and_then(ChangeReason::given);
    let id = sqlx::query_scalar!(
        r#"insert into audit_events
             (actor_kind, actor_user_id, actor_label, action, entity_kind, entity_key,
              flag_key, environment_key, before, after, reason)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           returning id"#,
        actor.kind.as_str(),
        actor.user_id,
        actor.label,
        event.action,
        event.entity_kind,
        event.entity_key,
        event.flag_key,
        event.environment_key,
        event.before,
        event.after,
        reason,
    )
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Advances the configuration version and tells every server process that the configuration changed.
/// Postgres delivers the notification at commit, and not at all if the transaction rolls back. The row lock
/// on `config_state` makes versions commit in increasing order. Returns the new version.
pub async fn notify_change(conn: &mut PgConnection, entity: &str, key: &str) -> Result<i64, ServiceError> {
    notify_change_with(conn, entity, key, false).await
}

/// [`notify_change`] for a revocation: the news says so, and every process refuses the revoked key at once,
/// before (and whatever) its reload.
pub async fn notify_revocation(conn: &mut PgConnection, entity: &str, key: &str) -> Result<i64, ServiceError> {
    notify_change_with(conn, entity, key, true).await
}

async fn notify_change_with(
    conn: &mut PgConnection,
    entity: &str,
    key: &str,
    revoked: bool,
) -> Result<i64, ServiceError> {
    let version = sqlx::query_scalar!("update config_state set version = version + 1 returning version")
        .fetch_one(&mut *conn)
        .await?;
    let mut payload = serde_json::json!({ "entity": entity, "key": key, "version": version });
    if revoked {
        payload["revoked"] = serde_json::Value::Bool(true);
    }
    let payload = payload.to_string();
    sqlx::query!("select pg_notify('rollgate_config', $1)", payload).execute(&mut *conn).await?;
    Ok(version)
}

/// Events newest first, filtered, a page at a time.
pub async fn list(pool: &PgPool, query: &AuditQuery, limit: i64) -> Result<AuditPage, ServiceError> {
    let blank_to_none = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let actor = blank_to_none(&query.actor).map(|a| format!("%{}%", escape_like(&a)));
    let flag = blank_to_none(&query.flag);
    let action = blank_to_none(&query.action);
    let rows = sqlx::query_as!(
        AuditEventView,
        r#"select id as "id!", occurred_at as "occurred_at!: chrono::DateTime<chrono::Utc>", actor_label as "actor!", action as "action!",
                  entity_kind as "entity_kind!", entity_key as "entity_key!", flag_key, environment_key,
                  before, after, reason
           from audit_events
           where ($1::bigint is null or id < $1)
             and ($2::text is null or actor_label ilike $2)
             and ($3::text is null or flag_key = $3)
             and ($4::text is null or action = $4)
             and ($6::timestamptz is null or occurred_at >= $6)
           order by id desc
           limit $5"#,
        query.before,
        actor,
        flag,
        action,
        limit + 1,
        query.since as _,
    )
    .fetch_all(pool)
    .await?;
    let mut events = rows;
    let next_before = if events.len() as i64 > limit {
        events.truncate(usize::try_from(limit).unwrap_or(0));
        events.last().map(|e| e.id)
    } else {
        None
    };
    // The trail only grows, so `select distinct` would read all of it on every page view. This loose index
    // scan reads one entry of `audit_events_action_idx` per distinct action instead.
    let actions = sqlx::query_scalar!(
        r#"with recursive a(action) as (
               (select action from audit_events order by action limit 1)
               union all
               select (select e.action from audit_events e where e.action > a.action order by e.action limit 1)
               from a where a.action is not null)
           select action as "action!" from a where action is not null"#
    )
    .fetch_all(pool)
    .await?;
    Ok(AuditPage { events, next_before, actions })
}

/// The events about one flag, newest first.
pub async fn for_flag(pool: &PgPool, flag_key: &str, limit: i64) -> Result<Vec<AuditEventView>, ServiceError> {
    Ok(sqlx::query_as!(
        AuditEventView,
        r#"select id as "id!", occurred_at as "occurred_at!: chrono::DateTime<chrono::Utc>", actor_label as "actor!", action as "action!",
                  entity_kind as "entity_kind!", entity_key as "entity_key!", flag_key, environment_key,
                  before, after, reason
           from audit_events where flag_key = $1
           order by id desc limit $2"#,
        flag_key,
        limit
    )
    .fetch_all(pool)
    .await?)
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a LIKE pattern.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The most events one CSV export holds; past it the file ends with a note saying so.
pub const CSV_MAX_EVENTS: i64 = 100_000;

/// Every event matching `query` (all pages, newest first, up to [`CSV_MAX_EVENTS`]) as CSV, with the
/// before and after as JSON and the changed fields spelled out (`enabled: false -> true; version: 1 -> 2`).
pub async fn export_csv(pool: &PgPool, query: &AuditQuery) -> Result<String, ServiceError> {
    let mut out = CsvFile::new(
        "the audit CSV",
        &[
            "id",
            "occurred_at",
            "actor",
            "action",
            "entity_kind",
            "entity_key",
            "flag",
            "environment",
            "changes",
            "before",
            "after",
            "reason",
        ],
    )?;
    let mut query = query.clone();
    let mut written = 0i64;
    loop {
        let page = list(pool, &query, 1000).await?;
        for e in &page.events {
            let changes = crate::domain::audit_diff::diff(e.before.as_ref(), e.after.as_ref())
                .into_iter()
                .filter(|d| d.changed())
                .map(|d| {
                    format!(
                        "{}: {} -> {}",
                        d.field,
                        d.before.as_deref().unwrap_or("∅"),
                        d.after.as_deref().unwrap_or("∅")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            let json = |v: &Option<serde_json::Value>| v.as_ref().map(ToString::to_string).unwrap_or_default();
            out.row([
                e.id.to_string(),
                e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                e.actor.clone(),
                e.action.clone(),
                e.entity_kind.clone(),
                e.entity_key.clone(),
                e.flag_key.clone().unwrap_or_default(),
                e.environment_key.clone().unwrap_or_default(),
                changes,
                json(&e.before),
                json(&e.after),
                e.reason.clone().unwrap_or_default(),
            ])?;
            written += 1;
        }
        match page.next_before {
            Some(before) if written < CSV_MAX_EVENTS => query.before = Some(before),
            Some(_) => {
                out.row(["", "", "", "", "", "", "", "", "truncated: narrow the filters", "", "", ""])?;
                break;
            }
            None => break,
        }
    }
    String::from_utf8(out.finish()?).map_err(|e| ServiceError::internal("writing the audit CSV", e))
}
