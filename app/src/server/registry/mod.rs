//! The registry of organizations and customers: names and labels for the keys applications send. Nothing
//! here decides an evaluation (overrides and allow-lists take any key), so changes need no NOTIFY; each is
//! audited with what it was before and after.

pub mod import;

use super::audit::{self, escape_like, Actor, NewEvent};
use super::ServiceError;
use crate::domain::target::parse_name;
use crate::domain::{Role, Target, TargetKind};
use crate::model::targets::{CustomerRow, OrganizationRow, RegistryPage, RegistryQuery};
use sqlx::PgPool;

/// Organizations listed at most (the admin API lists as many customers); a search narrows them down.
pub const SHOWN: i64 = 100;
/// Customers listed on the page at most, so the page stays short.
const CUSTOMERS_SHOWN: i64 = 50;

fn pattern(q: &str) -> Option<String> {
    Some(q.trim()).filter(|q| !q.is_empty()).map(|q| format!("%{}%", escape_like(q)))
}

/// Registers a name for an organization key (which may already be in use by overrides, customers or
/// imports). A key already registered is refused, naming the field: rename it instead.
pub async fn create_organization(
    pool: &PgPool,
    actor: &Actor,
    key: &str,
    name: &str,
) -> Result<OrganizationRow, ServiceError> {
    actor.require(Role::Editor, "change the registry")?;
    let key = TargetKind::Organization.parse_key(key, "key")?;
    let name = parse_name(name, "name")?;
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query_scalar!(
        "insert into organizations (key, name) values ($1, $2) on conflict (key) do nothing returning id",
        key,
        name
    )
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        let existing =
            sqlx::query_scalar!("select name from organizations where key = $1", key).fetch_one(&mut *tx).await?;
        return Err(ServiceError::Invalid {
            field: "key",
            message: format!("the organization {key:?} is already registered as {existing:?}; rename it instead"),
        });
    }
    audit::record(
        &mut tx,
        actor,
        NewEvent {
            action: "organization.created",
            entity_kind: "organization",
            entity_key: &key,
            after: Some(serde_json::json!({ "key": key, "name": name })),
            ..NewEvent::default()
        },
    )
    .await?;
    let row = organization(&mut tx, &key).await?;
    tx.commit().await?;
    Ok(row)
}

/// Renames a registered organization. Renaming to the same name changes nothing and records nothing.
pub async fn rename_organization(
    pool: &PgPool,
    actor: &Actor,
    key: &str,
    name: &str,
) -> Result<OrganizationRow, ServiceError> {
    actor.require(Role::Editor, "change the registry")?;
    let key = TargetKind::Organization.parse_key(key, "key")?;
    let name = parse_name(name, "name")?;
    let mut tx = pool.begin().await?;
    let before = sqlx::query_scalar!("select name from organizations where key = $1 for update", key)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("registered organization {key:?}")))?;
    if before != name {
        sqlx::query!("update organizations set name = $2 where key = $1", key, name).execute(&mut *tx).await?;
        audit::record(
            &mut tx,
            actor,
            NewEvent {
                action: "organization.renamed",
                entity_kind: "organization",
                entity_key: &key,
                before: Some(serde_json::json!({ "name": before })),
                after: Some(serde_json::json!({ "name": name })),
                ..NewEvent::default()
            },
        )
        .await?;
    }
    let row = organization(&mut tx, &key).await?;
    tx.commit().await?;
    Ok(row)
}

/// Every organization key, registered or only in use (overrides, allow-lists, customers, priority-URL
/// imports), with what refers to it; `q` narrows to keys and names containing it. At most `limit`, and
/// whether there were more.
pub async fn organizations(pool: &PgPool, q: &str, limit: i64) -> Result<(Vec<OrganizationRow>, bool), ServiceError> {
    let rows = sqlx::query_as!(
        OrganizationRow,
        r#"with keys as (
               select key from organizations
               union select organization_key from overrides where organization_key is not null
               union select organization_key from rollout_allow_list where organization_key is not null
               union select organization_key from customers
               union select organization_key from url_accounts)
           select k.key as "key!", o.name as "name?",
                  (select count(*) from customers c where c.organization_key = k.key) as "customers!",
                  (select count(*) from overrides ov where ov.organization_key = k.key)
                    + (select count(*) from rollout_allow_list a where a.organization_key = k.key) as "overrides!",
                  (select count(*) from url_metadata m join url_accounts a on a.id = m.account_id
                   where a.organization_key = k.key) as "urls!"
           from keys k left join organizations o on o.key = k.key
           where $1::text is null or k.key ilike $1 or o.name ilike $1
           order by coalesce(o.name, k.key), k.key
           limit $2"#,
        pattern(q),
        limit + 1
    )
    .fetch_all(pool)
    .await?;
    Ok(split_more(rows, limit))
}

fn split_more<T>(mut rows: Vec<T>, limit: i64) -> (Vec<T>, bool) {
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    (rows, more)
}

async fn organization(conn: &mut sqlx::PgConnection, key: &str) -> Result<OrganizationRow, ServiceError> {
    Ok(sqlx::query_as!(
        OrganizationRow,
        r#"select $1::text as "key!", (select name from organizations where key = $1) as "name?",
                  (select count(*) from customers c where c.organization_key = $1) as "customers!",
                  (select count(*) from overrides ov where ov.organization_key = $1)
                    + (select count(*) from rollout_allow_list a where a.organization_key = $1) as "overrides!",
                  (select count(*) from url_metadata m join url_accounts a on a.id = m.account_id
                   where a.organization_key = $1) as "urls!""#,
        key
    )
    .fetch_one(conn)
    .await?)
}

/// Registered customers whose key or name contains `q`, by key: at most `limit`, and how many match.
pub async fn customers(pool: &PgPool, q: &str, limit: i64) -> Result<(Vec<CustomerRow>, i64), ServiceError> {
    let pattern = pattern(q);
    let rows = sqlx::query_as!(
        CustomerRow,
        r#"select c.key, c.name, c.organization_key as organization, o.name as "organization_name?"
           from customers c left join organizations o on o.key = c.organization_key
           where $1::text is null or (c.key || ' ' || c.name) ilike $1
           order by c.key limit $2"#,
        pattern,
        limit
    )
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "n!" from customers c where $1::text is null or (c.key || ' ' || c.name) ilike $1"#,
        pattern
    )
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

/// What the registry page shows for a search (and, after an upload, the import named in the query).
pub async fn page(pool: &PgPool, query: &RegistryQuery, can_edit: bool) -> Result<RegistryPage, ServiceError> {
    let q = query.q.as_deref().unwrap_or("").trim().to_owned();
    let ((organizations, more_organizations), (customers, customers_total), imports) = tokio::try_join!(
        self::organizations(pool, &q, SHOWN),
        self::customers(pool, &q, CUSTOMERS_SHOWN),
        import::recent(pool, 10)
    )?;
    // A search that finds nothing at all, for text that is a key: the page says it can be targeted as it
    // is, and offers to name it (a key in use without a name has a row of its own, with a form).
    let mut unregistered = Vec::new();
    if organizations.is_empty() && customers.is_empty() {
        unregistered.extend(Target::organization(&q));
        unregistered.extend(Target::customer(&q));
    }
    let import = match query.import {
        Some(id) => Some(import::batch(pool, id).await?),
        None => None,
    };
    Ok(RegistryPage {
        q,
        organizations,
        more_organizations,
        customers,
        customers_total,
        unregistered,
        can_edit,
        import,
        imports,
    })
}

/// The names registered for some keys of one kind, for pages that show a name where there is one.
pub async fn names(
    pool: &PgPool,
    kind: TargetKind,
    keys: &[String],
) -> Result<std::collections::HashMap<String, String>, ServiceError> {
    let rows = match kind {
        TargetKind::Organization => sqlx::query!("select key, name from organizations where key = any($1)", keys)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| (r.key, r.name))
            .collect(),
        TargetKind::Customer => {
            sqlx::query!("select key, name from customers where key = any($1) and name <> ''", keys)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| (r.key, r.name))
                .collect()
        }
    };
    Ok(rows)
}
