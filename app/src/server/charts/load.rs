//! Reading what the charts show. The bucketing happens in SQL (`date_bin` from the Unix epoch, histogram
//! buckets summed element by element), so a week of per-minute rows of two cohorts (20,160 rows) reaches
//! Rust as 672 bucket rows. "Treatment" is the flag on, as the guardrails count it: `treatment` and every
//! `variant:*` cohort together.

use super::render;
use super::series::{self, Bucket, ChartData, Cohort, Marker, Threshold, ThresholdMetric};
use crate::domain::guardrail::{CohortStats, BUCKETS};
use crate::model::charts::ChartRange;
use crate::server::ServiceError;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use std::collections::HashMap;

/// The two charts of a rollout's page, as SVG markup.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSvgs {
    pub latency: String,
    pub error_rate: String,
}

/// Loads and draws the charts of one rollout over `range`, ending with the bucket that holds `now`.
#[tracing::instrument(skip(pool))]
pub async fn rollout_charts(
    pool: &PgPool,
    rollout_id: i64,
    range: ChartRange,
    now: DateTime<Utc>,
) -> Result<ChartSvgs, ServiceError> {
    let data = chart_data(pool, rollout_id, range, now).await?;
    Ok(ChartSvgs { latency: render::latency_svg(&data), error_rate: render::error_rate_svg(&data) })
}

/// The figures, thresholds and markers of one rollout over `range`.
pub async fn chart_data(
    pool: &PgPool,
    rollout_id: i64,
    range: ChartRange,
    now: DateTime<Utc>,
) -> Result<ChartData, ServiceError> {
    let rollout = sqlx::query!(
        r#"select r.flag_id, r.environment_id, f.key as flag, e.key as environment
           from rollouts r join flags f on f.id = r.flag_id join environments e on e.id = r.environment_id
           where r.id = $1"#,
        rollout_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::NotFound("that rollout".into()))?;
    let (from, to) = series::window(range, now);
    // Three independent reads on three connections: the page waits for the slowest, not the sum.
    let (buckets, thresholds, markers) = tokio::try_join!(
        buckets(pool, rollout.flag_id, rollout.environment_id, range, from, to),
        thresholds(pool, rollout_id),
        markers(pool, rollout_id, from, to),
    )?;
    let (treatment, control): (Vec<_>, Vec<_>) = buckets.into_iter().partition(|(c, _)| *c == Cohort::Treatment);
    let points = |rows: Vec<(Cohort, Bucket)>| series::points(&rows.into_iter().map(|(_, b)| b).collect::<Vec<_>>());
    Ok(ChartData {
        subject: format!("{} in {}", rollout.flag, rollout.environment),
        range,
        from,
        to,
        treatment: points(treatment),
        control: points(control),
        thresholds,
        markers,
    })
}

async fn buckets(
    pool: &PgPool,
    flag_id: i64,
    environment_id: i64,
    range: ChartRange,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(Cohort, Bucket)>, sqlx::Error> {
    let bucket_seconds = range.bucket_seconds() as f64;
    let rows = sqlx::query!(
        r#"select case when cohort = 'control' then 'control' else 'treatment' end as "cohort!",
                  date_bin(make_interval(secs => $5), minute, timestamptz '1970-01-01 00:00:00+00')
                      as "start!: DateTime<Utc>",
                  -- float8 sums: exact for integers below 2^53 and several times cheaper than numeric.
                  sum(request_count::float8)::bigint as "requests!",
                  sum(error_count::float8)::bigint as "errors!",
                  array[sum(latency_buckets[1]::float8), sum(latency_buckets[2]::float8),
                        sum(latency_buckets[3]::float8), sum(latency_buckets[4]::float8),
                        sum(latency_buckets[5]::float8), sum(latency_buckets[6]::float8),
                        sum(latency_buckets[7]::float8), sum(latency_buckets[8]::float8),
                        sum(latency_buckets[9]::float8), sum(latency_buckets[10]::float8),
                        sum(latency_buckets[11]::float8), sum(latency_buckets[12]::float8)]::bigint[]
                      as "latency_buckets!",
                  sum(latency_sum_ms) as "latency_sum_ms!"
           from metric_minutes
           where flag_id = $1 and environment_id = $2 and minute >= $3 and minute < $4
           group by 1, 2
           order by 2"#,
        flag_id,
        environment_id,
        from as _,
        to as _,
        bucket_seconds,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let cohort = Cohort::parse(&row.cohort)?;
            let mut buckets = [0u64; BUCKETS];
            for (slot, count) in buckets.iter_mut().zip(row.latency_buckets) {
                *slot = u64::try_from(count).unwrap_or(0);
            }
            let stats = CohortStats {
                requests: u64::try_from(row.requests).unwrap_or(0),
                errors: u64::try_from(row.errors).unwrap_or(0),
                buckets,
                latency_sum_ms: row.latency_sum_ms,
            };
            Some((cohort, Bucket { start: row.start, stats }))
        })
        .collect())
}

async fn thresholds(pool: &PgPool, rollout_id: i64) -> Result<Vec<Threshold>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select g.kind, g.threshold::float8 as "threshold!", s.name as "stage?"
           from guardrails g
           left join rollout_stages s on s.rollout_id = g.rollout_id and s.position = g.stage
           where g.rollout_id = $1 and g.kind in ('error_rate', 'latency_p95', 'latency_p99')
           order by g.stage nulls first, g.kind, g.id"#,
        rollout_id
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(Threshold { metric: ThresholdMetric::parse(&row.kind)?, value: row.threshold, stage: row.stage })
        })
        .collect())
}

async fn markers(
    pool: &PgPool,
    rollout_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Marker>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select occurred_at as "at: DateTime<Utc>", kind, to_basis_points
           from rollout_events
           where rollout_id = $1 and kind in ('started', 'advanced', 'completed', 'rolled_back')
             and occurred_at >= $2 and occurred_at <= $3
           order by occurred_at, id"#,
        rollout_id,
        from as _,
        to as _,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(|row| Marker::of_event(row.at, &row.kind, row.to_basis_points)).collect())
}

/// Sparklines of the treatment's error rate over the last hour for those of `rollout_ids` that are active
/// or paused, by rollout id: one query for the whole flag list, at most 60 rows per rollout.
#[tracing::instrument(skip(pool, rollout_ids), fields(rollouts = rollout_ids.len()))]
pub async fn sparklines(
    pool: &PgPool,
    rollout_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<HashMap<i64, String>, ServiceError> {
    if rollout_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let to = DateTime::<Utc>::from_timestamp((now.timestamp().div_euclid(60) + 1) * 60, 0).unwrap_or(now);
    let from = to - TimeDelta::hours(1);
    let rows = sqlx::query!(
        r#"select r.id as "rollout_id!", m.minute as "minute?: DateTime<Utc>",
                  sum(m.request_count)::bigint as "requests?", sum(m.error_count)::bigint as "errors?",
                  (select min(g.threshold)::float8 from guardrails g
                   where g.rollout_id = r.id and g.kind = 'error_rate') as "threshold?"
           from rollouts r
           left join metric_minutes m on m.flag_id = r.flag_id and m.environment_id = r.environment_id
                and m.cohort <> 'control' and m.minute >= $2 and m.minute < $3
           where r.id = any($1) and r.status in ('active', 'paused')
           group by r.id, m.minute
           order by r.id, m.minute"#,
        rollout_ids,
        from as _,
        to as _,
    )
    .fetch_all(pool)
    .await?;
    // Per rollout: the (minute, error rate) values and the error-rate limit.
    type Line = (Vec<(DateTime<Utc>, f64)>, Option<f64>);
    let mut by_rollout: HashMap<i64, Line> = HashMap::new();
    for row in rows {
        let entry = by_rollout.entry(row.rollout_id).or_default();
        entry.1 = row.threshold;
        if let (Some(minute), Some(requests), Some(errors)) = (row.minute, row.requests, row.errors) {
            if requests > 0 {
                entry.0.push((minute, errors as f64 * 100.0 / requests as f64));
            }
        }
    }
    Ok(by_rollout
        .into_iter()
        .map(|(id, (values, threshold))| {
            (id, render::sparkline_svg(&format!("sparkline-{id}"), &values, threshold, from, to))
        })
        .collect())
}
