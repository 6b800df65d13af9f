//! Storing a validated metric batch: the batch row (idempotency) and the per-minute sums, in one
//! transaction, so a batch counts once or not at all.

use crate::domain::guardrail::{ValidBatch, BUCKETS};
use crate::server::ServiceError;
use sqlx::PgPool;
use std::collections::HashMap;

/// What happened to a batch.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IngestOutcome {
    /// Samples and gauges in the batch.
    pub accepted: usize,
    /// The same token sent this batch id before; nothing was added.
    pub duplicate: bool,
}

/// Where an unknown key was used, to point at the first sample naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownKey {
    Flag(String),
    Environment(String),
}

/// Adds a validated batch from the token with this prefix. A flag or environment the batch names that
/// does not exist refuses the whole batch (the caller maps it back to the sample's path).
pub async fn ingest(
    pool: &PgPool,
    token_prefix: &str,
    batch: &ValidBatch,
) -> Result<Result<IngestOutcome, UnknownKey>, ServiceError> {
    let mut flag_keys: Vec<&str> = batch.minutes.iter().map(|row| row.flag.as_str()).collect();
    flag_keys.extend(batch.gauges.iter().filter_map(|g| g.flag.as_ref().map(|f| f.as_str())));
    flag_keys.sort_unstable();
    flag_keys.dedup();
    let mut env_keys: Vec<&str> = batch.minutes.iter().map(|row| row.environment.as_str()).collect();
    env_keys.extend(batch.gauges.iter().map(|g| g.environment.as_str()));
    env_keys.sort_unstable();
    env_keys.dedup();

    let mut tx = pool.begin().await?;
    let inserted = sqlx::query_scalar!(
        "insert into metric_batches (token_id, batch_key, sample_count)
         select id, $2, $3 from api_tokens where prefix = $1
         on conflict (token_id, batch_key) do nothing returning id",
        token_prefix,
        batch.batch_id,
        i32::try_from(batch.sample_count).unwrap_or(i32::MAX),
    )
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        return Ok(Ok(IngestOutcome { accepted: batch.sample_count, duplicate: true }));
    }
    let flags: HashMap<String, i64> =
        sqlx::query!("select id, key from flags where key = any($1)", &flag_keys as &[&str])
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| (r.key, r.id))
            .collect();
    let environments: HashMap<String, i64> =
        sqlx::query!("select id, key from environments where key = any($1)", &env_keys as &[&str])
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| (r.key, r.id))
            .collect();
    if let Some(missing) = flag_keys.iter().find(|k| !flags.contains_key(**k)) {
        return Ok(Err(UnknownKey::Flag((*missing).to_owned())));
    }
    if let Some(missing) = env_keys.iter().find(|k| !environments.contains_key(**k)) {
        return Ok(Err(UnknownKey::Environment((*missing).to_owned())));
    }

    if !batch.minutes.is_empty() {
        let n = batch.minutes.len();
        let (mut flag_ids, mut env_ids, mut cohorts, mut minutes) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut requests, mut errors, mut sums) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let mut buckets: Vec<i64> = Vec::with_capacity(n * BUCKETS);
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for row in &batch.minutes {
            flag_ids.push(flags[row.flag.as_str()]);
            env_ids.push(environments[row.environment.as_str()]);
            cohorts.push(row.cohort.as_text());
            minutes.push(row.minute);
            requests.push(to_i64(row.stats.requests));
            errors.push(to_i64(row.stats.errors));
            sums.push(row.stats.latency_sum_ms);
            buckets.extend(row.stats.buckets.iter().map(|&b| to_i64(b)));
        }
        // One statement for the whole batch; the buckets travel flat and are cut back into twelves by
        // ordinality. On conflict the twelve counts add element by element.
        sqlx::query!(
            "insert into metric_minutes (flag_id, environment_id, cohort, minute, request_count, error_count,
                                         latency_buckets, latency_sum_ms)
             select f, e, c, m, r, er, ($7::bigint[])[(o - 1) * 12 + 1 : o * 12], s
             from unnest($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[], $5::bigint[], $6::bigint[],
                         $8::float8[]) with ordinality as t(f, e, c, m, r, er, s, o)
             on conflict (flag_id, environment_id, cohort, minute) do update set
                 request_count = metric_minutes.request_count + excluded.request_count,
                 error_count = metric_minutes.error_count + excluded.error_count,
                 latency_buckets = (select array_agg(a + b order by i)
                                    from unnest(metric_minutes.latency_buckets, excluded.latency_buckets)
                                         with ordinality as x(a, b, i)),
                 latency_sum_ms = metric_minutes.latency_sum_ms + excluded.latency_sum_ms",
            &flag_ids,
            &env_ids,
            &cohorts,
            &minutes as _,
            &requests,
            &errors,
            &buckets,
            &sums,
        )
        .execute(&mut *tx)
        .await?;
    }
    if !batch.gauges.is_empty() {
        let flag_ids: Vec<Option<i64>> =
            batch.gauges.iter().map(|g| g.flag.as_ref().map(|f| flags[f.as_str()])).collect();
        let env_ids: Vec<i64> = batch.gauges.iter().map(|g| environments[g.environment.as_str()]).collect();
        let names: Vec<String> = batch.gauges.iter().map(|g| g.name.clone()).collect();
        let minutes: Vec<_> = batch.gauges.iter().map(|g| g.minute).collect();
        let counts: Vec<i64> = batch.gauges.iter().map(|g| i64::try_from(g.count).unwrap_or(i64::MAX)).collect();
        let sums: Vec<f64> = batch.gauges.iter().map(|g| g.sum).collect();
        let maxes: Vec<f64> = batch.gauges.iter().map(|g| g.max).collect();
        sqlx::query!(
            "insert into gauge_minutes (flag_id, environment_id, name, minute, value_count, value_sum, value_max)
             select * from unnest($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[], $5::bigint[],
                                  $6::float8[], $7::float8[])
             on conflict (flag_id, environment_id, name, minute) do update set
                 value_count = gauge_minutes.value_count + excluded.value_count,
                 value_sum = gauge_minutes.value_sum + excluded.value_sum,
                 value_max = greatest(gauge_minutes.value_max, excluded.value_max)",
            &flag_ids as &[Option<i64>],
            &env_ids,
            &names,
            &minutes as _,
            &counts,
            &sums,
            &maxes,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(IngestOutcome { accepted: batch.sample_count, duplicate: false }))
}
