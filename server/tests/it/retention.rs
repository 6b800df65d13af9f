//! Pruning what only grows: old per-minute metrics go except those a live rollout's guardrails still
//! read, old batch ids and finished deliveries go while pending ones stay, expired sessions go, and a
//! replica that finds another pruning leaves everything alone.

use crate::common::*;
use app::server::retention::{self, Policy, Pruned};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sqlx::PgPool;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

async fn minute(pool: &PgPool, flag: &str, at: DateTime<Utc>) {
    sqlx::query(
        "insert into metric_minutes (flag_id, environment_id, cohort, minute, part_start, request_count, error_count,
                                     latency_buckets)
         select f.id, e.id, 'treatment', date_trunc('minute', $2::timestamptz), date_trunc('minute', $2::timestamptz),
                10, 0, array_fill(0::bigint, array[12])
         from flags f, environments e where f.key = $1 and e.key = 'production'",
    )
    .bind(flag)
    .bind(at)
    .execute(pool)
    .await
    .unwrap();
}

async fn minutes_of(pool: &PgPool, flag: &str) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar(
        "select m.minute from metric_minutes m join flags f on f.id = m.flag_id where f.key = $1 order by 1",
    )
    .bind(flag)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// An active rollout of `flag` in production that started at `started`.
async fn live_rollout(pool: &PgPool, flag: &str, started: DateTime<Utc>) {
    let id: i64 = sqlx::query_scalar(
        "insert into rollouts (flag_id, environment_id) select f.id, e.id from flags f, environments e
         where f.key = $1 and e.key = 'production' returning id",
    )
    .bind(flag)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query("insert into rollout_stages (rollout_id, position, name, basis_points) values ($1, 0, 'canary', 1000), ($1, 1, 'full', 10000)")
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("update rollouts set status = 'active', current_stage = 0, stage_entered_at = $2, started_at = $2 where id = $1")
        .bind(id)
        .bind(started)
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn old_metrics_go_unless_a_live_rollout_still_reads_them(pool: PgPool) {
    seed_flag(&pool, "quiet").await;
    seed_flag(&pool, "canary").await;
    let day = TimeDelta::days(1);
    for flag in ["quiet", "canary"] {
        for at in [now() - day * 60, now() - day * 40, now() - day * 36, now() - day * 34, now() - day] {
            minute(&pool, flag, at).await;
        }
    }
    // The canary started 35 days ago: its pre-rollout baseline reaches back up to a day before that.
    live_rollout(&pool, "canary", now() - day * 35).await;

    let pruned = retention::prune(&pool, &Policy::default(), now()).await.unwrap();

    assert_eq!(minutes_of(&pool, "quiet").await, vec![now() - day * 34, now() - day], "35 days kept");
    assert_eq!(
        minutes_of(&pool, "canary").await,
        vec![now() - day * 36, now() - day * 34, now() - day],
        "the day before the live rollout started is its baseline, kept past the 35 days"
    );
    assert_eq!(pruned.metric_minutes, 5);
    let again = retention::prune(&pool, &Policy::default(), now()).await.unwrap();
    assert_eq!(again, Pruned::default(), "a second pass finds nothing more");

    // Once the rollout is over, its old figures go like any other.
    sqlx::query("update rollouts set status = 'completed', completed_at = $1")
        .bind(now())
        .execute(&pool)
        .await
        .unwrap();
    retention::prune(&pool, &Policy::default(), now()).await.unwrap();
    assert_eq!(minutes_of(&pool, "canary").await, vec![now() - day * 34, now() - day]);
}

#[sqlx::test(migrations = "../migrations")]
async fn batch_ids_deliveries_and_sessions_go_by_age_and_pending_deliveries_stay(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    evaluate_token_for(&pool, "production").await;
    let day = TimeDelta::days(1);
    for (key, age) in [("old", day * 8), ("recent", day * 6)] {
        sqlx::query("insert into metric_batches (token_id, batch_key, sample_count, received_at) select id, $1, 1, $2 from api_tokens")
            .bind(key)
            .bind(now() - age)
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query("insert into webhooks (name, url, secret, events) values ('ops', 'http://127.0.0.1:9/hook', 'sixteen-char-secret', array['rollout.advanced'])")
        .execute(&pool)
        .await
        .unwrap();
    for (event, status, age) in [
        ("rollout.advanced", "delivered", day * 31),
        ("rollout.paused", "failed", day * 31),
        ("rollout.resumed", "pending", day * 31),
        ("rollout.started", "delivered", day * 29),
    ] {
        sqlx::query(
            "insert into webhook_deliveries
               (webhook_id, event, payload, status, attempt, next_attempt_at, delivered_at, created_at, updated_at)
             select id, $1, '{}', $2, case when $2 = 'pending' then 0 else 1 end,
                    case when $2 = 'pending' then $3 end, case when $2 = 'delivered' then $3 end, $3, $3
             from webhooks",
        )
        .bind(event)
        .bind(status)
        .bind(now() - age)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (id, expiry) in [("expired", now() - TimeDelta::minutes(1)), ("live", now() + TimeDelta::hours(1))] {
        sqlx::query("insert into tower_sessions.session (id, data, expiry_date) values ($1, '\\x00', $2)")
            .bind(id)
            .bind(expiry)
            .execute(&pool)
            .await
            .unwrap();
    }

    let pruned = retention::prune(&pool, &Policy::default(), now()).await.unwrap();

    assert_eq!(
        pruned,
        Pruned { metric_minutes: 0, metric_batches: 1, webhook_deliveries: 2, sessions: 1, skipped: false }
    );
    let batches: Vec<String> =
        sqlx::query_scalar("select batch_key from metric_batches").fetch_all(&pool).await.unwrap();
    assert_eq!(batches, vec!["recent"]);
    let deliveries: Vec<String> =
        sqlx::query_scalar("select event from webhook_deliveries order by event").fetch_all(&pool).await.unwrap();
    assert_eq!(deliveries, vec!["rollout.resumed", "rollout.started"], "pending ones stay however old");
    let sessions: Vec<String> =
        sqlx::query_scalar("select id from tower_sessions.session").fetch_all(&pool).await.unwrap();
    assert_eq!(sessions, vec!["live"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_replica_that_finds_another_pruning_leaves_everything_alone(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    minute(&pool, "checkout", now() - TimeDelta::days(60)).await;
    let mut other = pool.begin().await.unwrap();
    sqlx::query("select pg_advisory_xact_lock($1)").bind(retention::LOCK_KEY).execute(&mut *other).await.unwrap();

    let pruned = retention::prune(&pool, &Policy::default(), now()).await.unwrap();

    assert!(pruned.skipped);
    assert_eq!(pruned.total(), 0);
    assert_eq!(minutes_of(&pool, "checkout").await.len(), 1);
    other.rollback().await.unwrap();
    assert_eq!(retention::prune(&pool, &Policy::default(), now()).await.unwrap().metric_minutes, 1);
}
