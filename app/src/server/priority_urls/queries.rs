//! Reading priority-URL data: the accounts, one account's page (URLs with both badges, distribution,
//! comparison, batches), a batch's report, and badges for the evaluation API.

use super::{Account, PriorityUrls};
use crate::domain::priority::{classify, Classification, PageType, Tier, FLAG_KEY};
use crate::domain::TargetKind;
use crate::model::priority::{
    AccountFlagState, AccountPage, AccountRow, BatchView, Comparison, Distribution, UrlQuery, UrlRow,
};
use crate::server::audit::escape_like;
use crate::server::csv_file::CsvFile;
use crate::server::ServiceError;
use sqlx::PgPool;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// URLs per page of the account's table.
pub const PAGE_SIZE: i64 = 50;
/// Batches shown in the history.
const BATCHES_SHOWN: i64 = 20;

fn stored<T: FromStr<Err = crate::domain::InvalidValue>>(raw: &str) -> Result<T, ServiceError> {
    raw.parse().map_err(|e: crate::domain::InvalidValue| ServiceError::internal("reading a stored value", e))
}

/// Every account: each registered organization, and each organization key that has imports or an
/// override of the flag without being registered. With its URL count, its last import and where its
/// override turns the flag on.
pub async fn accounts(pool: &PgPool) -> Result<Vec<AccountRow>, ServiceError> {
    let rows = sqlx::query!(
        r#"with keys as (
               select key from organizations
               union select organization_key from url_accounts
               union select ov.organization_key from overrides ov join flags f on f.id = ov.flag_id
                     where f.key = $1 and ov.organization_key is not null)
           select k.key as "key!", o.name as "name?",
                  (select count(*) from url_metadata m where m.account_id = a.id) as "url_count!",
                  (select max(b.started_at) from url_import_batches b where b.account_id = a.id and not b.dry_run)
                      as "last_import_at: chrono::DateTime<chrono::Utc>",
                  coalesce((select array_agg(e.key order by e.position)
                            from overrides ov join flags f on f.id = ov.flag_id
                            join environments e on e.id = ov.environment_id
                            where ov.organization_key = k.key and f.key = $1 and ov.value = 'true'
                              and e.archived_at is null), '{}') as "on_in!"
           from keys k left join organizations o on o.key = k.key left join url_accounts a on a.organization_key = k.key
           order by coalesce(o.name, k.key), k.key"#,
        FLAG_KEY
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AccountRow {
            key: r.key,
            name: r.name,
            url_count: r.url_count,
            last_import_at: r.last_import_at,
            on_in: r.on_in,
        })
        .collect())
}

/// The filters as the database takes them; unknown tier or page type values are refused.
struct Filters {
    tier: Option<&'static str>,
    page_type: Option<&'static str>,
    pattern: Option<String>,
}

impl Filters {
    /// `account_id = ...` and the filters in use, joined by `and`.
    fn push_conditions<'a>(&'a self, sql: &mut sqlx::QueryBuilder<'a, sqlx::Postgres>, account_id: i64) {
        sql.push("account_id = ").push_bind(account_id);
        if let Some(tier) = self.tier {
            sql.push(" and update_priority = ").push_bind(tier);
        }
        if let Some(page_type) = self.page_type {
            sql.push(" and page_type = ").push_bind(page_type);
        }
        if let Some(pattern) = &self.pattern {
            sql.push(" and url ilike ").push_bind(pattern);
        }
    }
}

fn filters(query: &UrlQuery) -> Result<Filters, ServiceError> {
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    Ok(Filters {
        tier: given(&query.tier).map(|t| Tier::from_str(&t).map(Tier::as_str)).transpose()?,
        page_type: given(&query.page_type).map(|t| PageType::from_str(&t).map(PageType::as_str)).transpose()?,
        pattern: given(&query.q).map(|q| format!("%{}%", escape_like(&q))),
    })
}

/// An account's distribution, comparison and URL count: one pass over all its URLs.
#[derive(Debug, Clone)]
pub struct Overview {
    pub distribution: Distribution,
    pub comparison: Comparison,
    pub url_count: i64,
}

/// Which metadata an overview was computed from: the account's latest applied batch and how many of its
/// batches were rolled back. Every change to url_metadata is one or the other, so an equal key means the
/// same rows.
type MetadataVersion = (i64, i64);

/// Overviews per account, so that a page view does not read all of an account's URLs again until an
/// import or a rollback changed them.
#[derive(Debug, Default)]
pub struct OverviewCache(Mutex<HashMap<i64, (MetadataVersion, Arc<Overview>)>>);

async fn metadata_version(pool: &PgPool, account_id: i64) -> Result<MetadataVersion, sqlx::Error> {
    let row = sqlx::query!(
        r#"select coalesce(max(id), 0) as "last!", count(*) filter (where status = 'rolled_back') as "rolled_back!"
           from url_import_batches
           where account_id = $1 and not dry_run and status in ('completed', 'rolled_back')"#,
        account_id
    )
    .fetch_one(pool)
    .await?;
    Ok((row.last, row.rolled_back))
}

/// The account's overview, from the cache when its metadata has not changed since.
async fn cached_overview(pool: &PgPool, cache: &OverviewCache, account_id: i64) -> Result<Arc<Overview>, sqlx::Error> {
    // The version is read first: an import committing in between makes the entry stale, never wrong.
    let version = metadata_version(pool, account_id).await?;
    let hit =
        cache.0.lock().ok().and_then(|map| map.get(&account_id).filter(|(v, _)| *v == version).map(|(_, o)| o.clone()));
    if let Some(overview) = hit {
        return Ok(overview);
    }
    let overview = Arc::new(overview(pool, account_id).await?);
    if let Ok(mut map) = cache.0.lock() {
        map.insert(account_id, (version, overview.clone()));
    }
    Ok(overview)
}

/// Computes an account's overview ahead of the next page view (after an upload).
pub async fn warm_overview(pool: &PgPool, shared: &PriorityUrls, account: &str) -> Result<(), ServiceError> {
    if let Some(account) = Account::find(pool, account).await? {
        cached_overview(pool, &shared.overviews, account.id).await?;
    }
    Ok(())
}

/// One account's page, for any organization key (an unregistered one has no name, and may have no URLs
/// yet). The queries run side by side on separate connections.
pub async fn account_page(
    pool: &PgPool,
    shared: &PriorityUrls,
    key: &str,
    query: &UrlQuery,
    can_edit: bool,
) -> Result<AccountPage, ServiceError> {
    let key = TargetKind::Organization.parse_key(key, "account")?;
    let key = key.as_str();
    let name = sqlx::query_scalar!("select name from organizations where key = $1", key).fetch_optional(pool).await?;
    // A key that never had an import has no URLs and no batches yet; its page still offers the import.
    let Some(account) = Account::find(pool, key).await? else {
        return Ok(AccountPage {
            key: key.to_owned(),
            name,
            can_edit,
            cap: shared.limits.max_urls_per_account,
            url_count: 0,
            flag: flag_states(pool, key).await?,
            rows: Vec::new(),
            matching: 0,
            next_after: None,
            distribution: Distribution {
                by_tier: Tier::ALL.iter().map(|t| (*t, 0)).collect(),
                by_page_type: PageType::ALL.iter().map(|t| (*t, 0)).collect(),
            },
            comparison: Comparison::default(),
            batches: Vec::new(),
            shown_batch: None,
        });
    };
    let f = filters(query)?;
    let filtered = f.tier.is_some() || f.page_type.is_some() || f.pattern.is_some();
    let after = query.after.as_deref().filter(|a| !a.is_empty());
    // Only the conditions in use, so each combination gets its own plan and the index that fits it (one
    // statement with `$n is null or ...` for all of them gets a generic plan that scans the account).
    let page = async {
        let mut sql = sqlx::QueryBuilder::new("select url, update_priority, page_type from url_metadata where ");
        f.push_conditions(&mut sql, account.id);
        if let Some(after) = after {
            sql.push(" and url > ").push_bind(after);
        }
        sql.push(" order by url limit ").push_bind(PAGE_SIZE + 1);
        sql.build_query_as::<(String, String, String)>().fetch_all(pool).await
    };
    // Without filters the overview's count is the answer.
    let matching = async {
        if !filtered {
            return Ok(None);
        }
        let mut sql = sqlx::QueryBuilder::new("select count(*) from url_metadata where ");
        f.push_conditions(&mut sql, account.id);
        sql.build_query_scalar::<i64>().fetch_one(pool).await.map(Some)
    };
    let (page, matching, overview, flag, batches) = tokio::try_join!(
        page,
        matching,
        cached_overview(pool, &shared.overviews, account.id),
        flag_states(pool, key),
        batches(pool, account.id, BATCHES_SHOWN),
    )?;
    let matching = matching.unwrap_or(overview.url_count);
    let Overview { distribution, comparison, url_count } = (*overview).clone();

    let mut rows = Vec::with_capacity(page.len());
    for (url, tier, page_type) in page {
        rows.push(UrlRow {
            heuristic: classify(&url),
            imported: Classification { tier: stored(&tier)?, page_type: stored(&page_type)? },
            url,
        });
    }
    let next_after = if rows.len() as i64 > PAGE_SIZE {
        rows.truncate(PAGE_SIZE as usize);
        rows.last().map(|r| r.url.clone())
    } else {
        None
    };
    let shown_batch = match query.batch {
        Some(id) => match batches.iter().find(|b| b.id == id) {
            Some(found) => Some(found.clone()),
            None => batch(pool, account.id, id).await?,
        },
        None => None,
    };
    Ok(AccountPage {
        key: key.to_owned(),
        name,
        can_edit,
        cap: shared.limits.max_urls_per_account,
        url_count,
        flag,
        rows,
        matching,
        next_after,
        distribution,
        comparison,
        batches,
        shown_batch,
    })
}

/// Counts per tier and page type, and the on-against-off comparison, in one pass over the account's URLs.
/// Tier and page type come as their positions in `Tier::ALL` and `PageType::ALL` (the check constraints
/// hold them to those lists), which spares decoding two strings per row.
async fn overview(pool: &PgPool, account_id: i64) -> Result<Overview, sqlx::Error> {
    let tiers: Vec<&str> = Tier::ALL.iter().map(|t| t.as_str()).collect();
    let types: Vec<&str> = PageType::ALL.iter().map(|t| t.as_str()).collect();
    let rows = sqlx::query!(
        r#"select url, array_position($2::text[], update_priority) as "tier!", array_position($3::text[], page_type) as "page_type!"
           from url_metadata where account_id = $1"#,
        account_id,
        &tiers[..] as &[&str],
        &types[..] as &[&str],
    )
    .fetch_all(pool)
    .await?;
    let mut tier_counts = [0i64; 4];
    let mut type_counts = [0i64; 7];
    let mut comparison = Comparison { compared: rows.len() as i64, ..Comparison::default() };
    for r in &rows {
        let (Some(&tier), Some(&page_type)) = (
            usize::try_from(r.tier - 1).ok().and_then(|i| Tier::ALL.get(i)),
            usize::try_from(r.page_type - 1).ok().and_then(|i| PageType::ALL.get(i)),
        ) else {
            return Err(sqlx::Error::Decode(format!("unknown stored tier or page type for {}", r.url).into()));
        };
        tier_counts[tier as usize] += 1;
        type_counts[page_type as usize] += 1;
        let heuristic = classify(&r.url);
        if tier != heuristic.tier {
            comparison.tier_changes += 1;
            // Tiers are declared most urgent first, so "less than" means more urgent.
            if tier < heuristic.tier {
                comparison.raised += 1;
            } else {
                comparison.lowered += 1;
            }
        }
        if page_type != heuristic.page_type {
            comparison.page_type_changes += 1;
        }
    }
    let distribution = Distribution {
        by_tier: Tier::ALL.iter().map(|t| (*t, tier_counts[*t as usize])).collect(),
        by_page_type: PageType::ALL.iter().map(|t| (*t, type_counts[*t as usize])).collect(),
    };
    Ok(Overview { distribution, comparison, url_count: rows.len() as i64 })
}

async fn flag_states(pool: &PgPool, account: &str) -> Result<Vec<AccountFlagState>, sqlx::Error> {
    sqlx::query_as!(
        AccountFlagState,
        r#"select e.key as environment, e.name as environment_name, fe.enabled as flag_enabled, fe.default_value,
                  o.value as "override_value?"
           from flags f
           join flag_environments fe on fe.flag_id = f.id
           join environments e on e.id = fe.environment_id
           left join overrides o on o.flag_id = f.id and o.environment_id = e.id and o.organization_key = $2
           where f.key = $1 and f.archived_at is null and e.archived_at is null
           order by e.position"#,
        FLAG_KEY,
        account
    )
    .fetch_all(pool)
    .await
}

/// The latest batches of an account, newest first.
pub async fn batches(pool: &PgPool, account_id: i64, limit: i64) -> Result<Vec<BatchView>, sqlx::Error> {
    sqlx::query_as!(
        BatchView,
        r#"select id, started_at as "started_at: chrono::DateTime<chrono::Utc>", actor_label as actor, file_name,
                  format, dry_run, status as "status: crate::model::ImportStatus", rows_read, inserted, updated, unchanged, rejected, duplicates, overflow,
                  duration_ms, error, rolled_back_at as "rolled_back_at: chrono::DateTime<chrono::Utc>"
           from url_import_batches where account_id = $1 order by id desc limit $2"#,
        account_id,
        limit
    )
    .fetch_all(pool)
    .await
}

async fn batch(pool: &PgPool, account_id: i64, id: i64) -> Result<Option<BatchView>, sqlx::Error> {
    sqlx::query_as!(
        BatchView,
        r#"select id, started_at as "started_at: chrono::DateTime<chrono::Utc>", actor_label as actor, file_name,
                  format, dry_run, status as "status: crate::model::ImportStatus", rows_read, inserted, updated, unchanged, rejected, duplicates, overflow,
                  duration_ms, error, rolled_back_at as "rolled_back_at: chrono::DateTime<chrono::Utc>"
           from url_import_batches where account_id = $1 and id = $2"#,
        account_id,
        id
    )
    .fetch_optional(pool)
    .await
}

/// The report of one batch of one account as CSV: `line,kind,url,reason`, in line order. A URL or reason
/// that a spreadsheet would run as a formula is written as text ([`CsvFile`]).
pub async fn report_csv(pool: &PgPool, account: &str, batch_id: i64) -> Result<Vec<u8>, ServiceError> {
    let found = sqlx::query_scalar!(
        "select b.id from url_import_batches b join url_accounts a on a.id = b.account_id
         where b.id = $1 and a.organization_key = $2",
        batch_id,
        account
    )
    .fetch_optional(pool)
    .await?;
    if found.is_none() {
        return Err(ServiceError::NotFound(format!("import batch #{batch_id} of account {account:?}")));
    }
    let rows = sqlx::query!(
        "select line_number, kind, url, reason from url_import_report_rows where batch_id = $1 order by line_number",
        batch_id
    )
    .fetch_all(pool)
    .await?;
    let mut file = CsvFile::new("the report", &["line", "kind", "url", "reason"])?;
    for r in rows {
        file.row([r.line_number.to_string().as_str(), &r.kind, &r.url, &r.reason])?;
    }
    file.finish()
}

/// One URL's badges as the evaluation API returns them.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Badge {
    pub url: String,
    pub update_priority: Tier,
    pub page_type: PageType,
    /// `imported` (the account's metadata) or `heuristic` (classified from the URL).
    #[schema(value_type = String)]
    pub source: &'static str,
}

/// Badges for normalized URLs of an account: the imported metadata when `use_imported` (the flag is on
/// for the account) and the URL was imported, otherwise the heuristic classification.
pub async fn badges(
    pool: &PgPool,
    account: &str,
    urls: &[String],
    use_imported: bool,
) -> Result<Vec<Badge>, ServiceError> {
    let mut imported: HashMap<String, (String, String)> = HashMap::new();
    if use_imported && !urls.is_empty() {
        let rows = sqlx::query!(
            r#"select m.url, m.update_priority, m.page_type
               from url_metadata m join url_accounts a on a.id = m.account_id
               where a.organization_key = $1 and m.url = any($2)"#,
            account,
            urls
        )
        .fetch_all(pool)
        .await?;
        imported = rows.into_iter().map(|r| (r.url, (r.update_priority, r.page_type))).collect();
    }
    urls.iter()
        .map(|url| match imported.get(url) {
            Some((tier, page_type)) => Ok(Badge {
                url: url.clone(),
                update_priority: stored(tier)?,
                page_type: stored(page_type)?,
                source: "imported",
            }),
            None => {
                let c = classify(url);
                Ok(Badge { url: url.clone(), update_priority: c.tier, page_type: c.page_type, source: "heuristic" })
            }
        })
        .collect()
}
