//! Storing a validated metric batch: the batch row (idempotency) and the per-minute sums, in one
//! transaction, so a batch counts once or not at all. A minute in which a rollout started is stored in two
//! parts, before and after the start, so that the rollout's guardrails count only what came after it.

use crate::domain::guardrail::{Cuts, ValidBatch, BUCKETS};
use crate::domain::{EnvKey, FlagKey};
use crate::server::ServiceError;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
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
    let flag_keys: Vec<&str> = batch.flag_keys().into_iter().map(FlagKey::as_str).collect();
    let env_keys: Vec<&str> = batch.environment_keys().into_iter().map(EnvKey::as_str).collect();

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

    let cuts = rollout_starts(&mut tx, environments.values().copied().collect(), batch.earliest()).await?;
    let batch_rows = batch.fold(&cuts);
    if !batch_rows.minutes.is_empty() {
        let n = batch_rows.minutes.len();
        let (mut flag_ids, mut env_ids, mut cohorts, mut minutes, mut parts) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut requests, mut errors, mut sums) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let mut buckets: Vec<i64> = Vec::with_capacity(n * BUCKETS);
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for row in &batch_rows.minutes {
            flag_ids.push(flags[row.flag.as_str()]);
            env_ids.push(environments[row.environment.as_str()]);
            cohorts.push(row.cohort.as_text());
            minutes.push(row.minute);
            parts.push(row.part_start);
            requests.push(to_i64(row.stats.requests));
            errors.push(to_i64(row.stats.errors));
            sums.push(row.stats.latency_sum_ms);
            buckets.extend(row.stats.buckets.iter().map(|&b| to_i64(b)));
        }
        // One statement for the whole batch; the buckets travel flat and are cut back into twelves by
        // ordinality. On conflict the twelve counts add element by element.
        sqlx::query!(
            "insert into metric_minutes (flag_id, environment_id, cohort, minute, part_start, request_count,
                                         error_count, latency_buckets, latency_sum_ms)
             select f, e, c, m, p, r, er, ($7::bigint[])[(o - 1) * 12 + 1 : o * 12], s
             from unnest($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[], $5::bigint[], $6::bigint[],
                         $8::float8[], $9::timestamptz[]) with ordinality as t(f, e, c, m, r, er, s, p, o)
             on conflict (flag_id, environment_id, cohort, minute, part_start) do update set
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
            &parts as _,
        )
        .execute(&mut *tx)
        .await?;
    }
    let gauges = &batch_rows.gauges;
    if !gauges.is_empty() {
        let flag_ids: Vec<Option<i64>> = gauges.iter().map(|g| g.flag.as_ref().map(|f| flags[f.as_str()])).collect();
        let env_ids: Vec<i64> = gauges.iter().map(|g| environments[g.environment.as_str()]).collect();
        let names: Vec<String> = gauges.iter().map(|g| g.name.clone()).collect();
        let minutes: Vec<_> = gauges.iter().map(|g| g.minute).collect();
        let parts: Vec<_> = gauges.iter().map(|g| g.part_start).collect();
        let counts: Vec<i64> = gauges.iter().map(|g| i64::try_from(g.count).unwrap_or(i64::MAX)).collect();
        let sums: Vec<f64> = gauges.iter().map(|g| g.sum).collect();
        let maxes: Vec<f64> = gauges.iter().map(|g| g.max).collect();
        sqlx::query!(
            "insert into gauge_minutes (flag_id, environment_id, name, minute, part_start, value_count, value_sum,
                                        value_max)
             select * from unnest($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[], $8::timestamptz[],
                                  $5::bigint[], $6::float8[], $7::float8[])
             on conflict (flag_id, environment_id, name, minute, part_start) do update set
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
            &parts as _,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(IngestOutcome { accepted: batch.sample_count, duplicate: false }))
}

/// The starts of rollouts in these environments that may cut a minute of the batch: those since the
/// minute of its earliest sample.
async fn rollout_starts(
    conn: &mut sqlx::PgConnection,
    environment_ids: Vec<i64>,
    earliest: Option<DateTime<Utc>>,
) -> Result<Cuts, ServiceError> {
    let mut cuts = Cuts::default();
    let Some(earliest) = earliest else { return Ok(cuts) };
    let since = earliest.duration_trunc(TimeDelta::minutes(1)).unwrap_or(earliest);
    let rows = sqlx::query!(
        r#"select f.key as flag, e.key as environment, r.started_at as "started_at!: DateTime<Utc>"
           from rollouts r join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
           where r.environment_id = any($1) and r.started_at >= $2"#,
        &environment_ids,
        since as _,
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        // Keys in the database passed the same checks when they were written.
        if let (Ok(flag), Ok(environment)) = (FlagKey::parse(&row.flag), EnvKey::parse(&row.environment)) {
            cuts.add(flag, environment, row.started_at);
        }
    }
    Ok(cuts)
}
