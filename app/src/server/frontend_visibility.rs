//! Whether a flag is visible to frontends: evaluated for frontend tokens (browser pages and apps), or not
//! found for them. Off for every new flag, so that a flag's key and values reach a browser only when an
//! editor chose so.

use super::audit::{self, Actor, NewEvent};
use super::ServiceError;
use crate::domain::{FlagKey, Role};
use sqlx::{PgConnection, PgPool};

/// Shows a flag to frontends or hides it. `expected_version` is the flag's version the caller's page
/// showed. Returns the flag's version afterwards.
pub async fn set(
    pool: &PgPool,
    actor: &Actor,
    flag: &FlagKey,
    visible: bool,
    expected_version: Option<i32>,
) -> Result<i32, ServiceError> {
    let mut tx = pool.begin().await?;
    let (version, changed) = set_in(&mut tx, actor, flag, visible, expected_version).await?;
    if changed {
        audit::notify_change(&mut tx, "flag", flag.as_str()).await?;
        tx.commit().await?;
    }
    Ok(version)
}

/// [`set`] inside the caller's transaction, without the NOTIFY. Also returns whether anything changed.
pub async fn set_in(
    conn: &mut PgConnection,
    actor: &Actor,
    flag: &FlagKey,
    visible: bool,
    expected_version: Option<i32>,
) -> Result<(i32, bool), ServiceError> {
    actor.require(Role::Editor, "change which flags frontends see")?;
    let current = sqlx::query!(
        r#"select id, version, visible_to_frontends, archived_at is not null as "archived!"
           from flags where key = $1 for update"#,
        flag.as_str()
    )
    .fetch_optional(&mut *conn)
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
    if current.visible_to_frontends == visible {
        return Ok((current.version, false));
    }
    let version = sqlx::query_scalar!(
        "update flags set visible_to_frontends = $2, version = version + 1 where id = $1 returning version",
        current.id,
        visible
    )
    .fetch_one(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent {
            action: if visible { "flag.shown_to_frontends" } else { "flag.hidden_from_frontends" },
            entity_kind: "flag",
            entity_key: flag.as_str(),
            flag_key: Some(flag.as_str()),
            before: Some(
                serde_json::json!({ "visible_to_frontends": current.visible_to_frontends, "version": current.version }),
            ),
            after: Some(serde_json::json!({ "visible_to_frontends": visible, "version": version })),
            ..NewEvent::default()
        },
    )
    .await?;
    Ok((version, true))
}
