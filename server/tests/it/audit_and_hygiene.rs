//! `rollgate audit --since`, the audit CSV export and `rollgate flags stale`, against a real server.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::model::StaleFlag;
use chrono::{Duration as Age, Utc};
use clap::Parser;
use server::cli::client::{ApiClient, Secret};
use server::config::{Cli, Command};
use sqlx::PgPool;
use std::time::Duration;

async fn admin_token(pool: &PgPool) -> Secret {
    seed_user(pool, "ops@example.com", "admin").await;
    Secret::new(admin_token_for(pool, "ops@example.com").await)
}

/// The application served over `pool` on a free port.
async fn serve(pool: &PgPool) -> Served {
    serve_state(state(pool)).await
}

fn audit_args(url: &str, token: &Secret, extra: &[&str]) -> server::config::AuditArgs {
    let mut argv = vec!["rollgate", "audit", "--url", url, "--token", token.expose()];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Audit(args) => args,
        other => panic!("parsed {other:?}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn audit_since_lists_only_newer_events_oldest_first_with_the_filters(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_flag(&pool, "search").await;
    toggle(&pool, "checkout", "staging", true).await;
    // An old event: the trail is append-only, so it is written old rather than aged afterwards.
    sqlx::query(
        "insert into audit_events (occurred_at, actor_kind, actor_label, action, entity_kind, entity_key, flag_key)
         values (now() - interval '3 days', 'system', 'system:old', 'flag.toggled', 'flag_environment', 'checkout/production', 'checkout')",
    )
    .execute(&pool)
    .await
    .unwrap();
    toggle(&pool, "search", "staging", true).await;
    toggle(&pool, "checkout", "staging", false).await;
    let token = admin_token(&pool).await;
    let running = serve(&pool).await;
    let client = ApiClient::new(&running.url, Some(token.clone()), Duration::from_secs(10)).unwrap();

    let args = audit_args(&running.url, &token, &["--since", "24h", "--flag", "checkout"]);
    let since = server::cli::audit::parse_since(&args.since, Utc::now()).unwrap();
    let events = server::cli::audit::fetch(&client, &args, since).await.unwrap();
    let everything = server::cli::audit::fetch(
        &client,
        &audit_args(&running.url, &token, &["--since", "7d"]),
        Utc::now() - Age::days(7),
    )
    .await
    .unwrap();

    let afters: Vec<_> = events.iter().map(|e| e.after.as_ref().unwrap()["enabled"].clone()).collect();
    assert_eq!(
        afters,
        [serde_json::json!(true), serde_json::json!(false)],
        "oldest first, checkout only, not the old one"
    );
    assert!(events.iter().all(|e| e.flag_key.as_deref() == Some("checkout")));
    assert!(everything.iter().any(|e| e.actor == "system:old"));
    let text = server::cli::audit::format_events(&events);
    assert!(text.contains("flag.toggled  checkout/staging  [enabled: false -> true"), "{text}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_audit_csv_keeps_the_filters_and_spells_out_the_changes(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_flag(&pool, "search").await;
    toggle(&pool, "checkout", "staging", true).await;
    toggle(&pool, "search", "staging", true).await;
    let token = admin_token(&pool).await;
    let running = serve(&pool).await;
    let client = ApiClient::new(&running.url, Some(token), Duration::from_secs(10)).unwrap();

    let csv = client.text(reqwest::Method::GET, "/api/admin/audit.csv?flag=checkout", None).await.unwrap();

    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("id,occurred_at,actor,action,entity_kind,entity_key,flag,environment,changes"),
        "{csv}"
    );
    assert_eq!(lines.len(), 2, "the header and checkout's one event:\n{csv}");
    assert!(lines[1].contains("checkout/staging") && lines[1].contains("enabled: false -> true"), "{csv}");
    assert!(!csv.contains("search"), "{csv}");
}

#[sqlx::test(migrations = "../migrations")]
async fn stale_flags_follow_the_rules_of_their_kind(pool: PgPool) {
    for key in ["old_release", "fresh_release", "old_switch", "old_operational", "gone_but_asked", "gone_quiet"] {
        seed_flag(&pool, key).await;
    }
    sqlx::query("update flags set kind = 'kill_switch' where key = 'old_switch'").execute(&pool).await.unwrap();
    sqlx::query("update flags set kind = 'operational' where key = 'old_operational'").execute(&pool).await.unwrap();
    // Age the flags and their states (the triggers would set updated_at to now on an ordinary update).
    sqlx::query("alter table flag_environments disable trigger flag_environments_updated_at")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "update flags set updated_at = now() - case key when 'fresh_release' then interval '5 days'
                                                       when 'old_operational' then interval '8 days'
                                                       else interval '60 days' end",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "update flag_environments fe set updated_at = f.updated_at, enabled = (f.key = 'old_release')
         from flags f where f.id = fe.flag_id",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("alter table flag_environments enable trigger flag_environments_updated_at")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "update flags set archived_at = now() - interval '2 days' where key in ('gone_but_asked', 'gone_quiet')",
    )
    .execute(&pool)
    .await
    .unwrap();
    server::workers::activity::mark(&pool, &["gone_but_asked".to_owned()]).await.unwrap();
    let token = admin_token(&pool).await;
    let running = serve(&pool).await;
    let client = ApiClient::new(&running.url, Some(token), Duration::from_secs(10)).unwrap();

    let stale: Vec<StaleFlag> = client.get("/api/admin/stale-flags").await.unwrap();

    let mut found: Vec<(String, String)> = stale
        .iter()
        .map(|f| (f.key.clone(), serde_json::to_value(&f.reason).unwrap()["reason"].as_str().unwrap().to_owned()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("gone_but_asked".to_owned(), "archived_but_evaluated".to_owned()),
            ("old_operational".to_owned(), "untouched".to_owned()),
            ("old_release".to_owned(), "fully_rolled_out".to_owned()),
        ]
    );
    let listed =
        app::server::flags::list(&pool, &app::model::FlagListQuery { stale: Some(true), ..Default::default() }, false)
            .await
            .unwrap();
    let listed: Vec<(&str, Option<&str>)> = listed.flags.iter().map(|f| (f.key.as_str(), f.stale.as_deref())).collect();
    // The list shows live flags only: the archived one is for the CLI.
    assert_eq!(
        listed,
        [("old_operational", Some("untouched for 8 days")), ("old_release", Some("fully rolled out for 60 days"))]
    );
    let table = server::cli::flags::format_stale(&stale);
    assert!(table.contains("old_release") && table.contains("fully rolled out for 60 days"), "{table}");
}

#[sqlx::test(migrations = "../migrations")]
async fn marking_a_flag_evaluated_does_not_count_as_touching_it(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    sqlx::query("update flags set updated_at = now() - interval '50 days'").execute(&pool).await.unwrap();

    server::workers::activity::mark(&pool, &["checkout".to_owned()]).await.unwrap();

    let age: i32 =
        sqlx::query_scalar("select extract(day from now() - updated_at)::int from flags where key = 'checkout'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(age, 50);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_activity_worker_marks_flags_evaluated_since_its_last_tick_archived_ones_included(pool: PgPool) {
    seed_flag(&pool, "checkout").await;
    seed_flag(&pool, "quiet").await;
    seed_flag(&pool, "gone").await;
    toggle(&pool, "checkout", "staging", true).await;
    sqlx::query("update flags set archived_at = now() where key = 'gone'").execute(&pool).await.unwrap();
    let holder = app::server::snapshot::SnapshotHolder::default();
    holder.replace(app::server::snapshot::load(&pool).await.unwrap());
    let snapshot = holder.get().unwrap();
    let staging = &snapshot.environments["staging"];
    let ctx = app::domain::EvalContext::default();
    let mut previous = std::collections::HashMap::new();

    assert!(staging.evaluate("checkout", &ctx).is_ok());
    assert!(staging.evaluate("gone", &ctx).is_err(), "an archived flag answers not found");
    let first = server::workers::activity::moved(&holder, &mut previous);
    let second = server::workers::activity::moved(&holder, &mut previous);
    assert!(staging.evaluate("checkout", &ctx).is_ok());
    let third = server::workers::activity::moved(&holder, &mut previous);

    assert_eq!(first, ["checkout", "gone"]);
    assert!(second.is_empty(), "nothing evaluated since: {second:?}");
    assert_eq!(third, ["checkout"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_flag_that_becomes_stale_is_announced_once_per_stale_spell(pool: PgPool) {
    seed_flag(&pool, "old_release").await;
    seed_flag(&pool, "fresh_release").await;
    sqlx::query(
        "insert into webhooks (name, url, kind, secret, events)
         values ('hygiene', 'http://127.0.0.1:9/hook', 'generic', 'a-secret-of-16-chars', array['flag.stale'])",
    )
    .execute(&pool)
    .await
    .unwrap();
    let notices = |pool: PgPool| async move {
        sqlx::query_scalar::<_, String>(
            "select payload->>'summary' from webhook_deliveries where event = 'flag.stale' order by id",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let now = chrono::Utc::now();
    assert!(app::server::hygiene::announce_newly_stale(&pool, now).await.unwrap().is_empty());

    sqlx::query("update flags set updated_at = now() - interval '50 days' where key = 'old_release'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("alter table flag_environments disable trigger flag_environments_updated_at")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "update flag_environments fe set updated_at = now() - interval '50 days' from flags f
         where f.id = fe.flag_id and f.key = 'old_release'",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("alter table flag_environments enable trigger flag_environments_updated_at")
        .execute(&pool)
        .await
        .unwrap();

    assert_eq!(app::server::hygiene::announce_newly_stale(&pool, now).await.unwrap(), ["old_release"]);
    assert!(app::server::hygiene::announce_newly_stale(&pool, now).await.unwrap().is_empty(), "announced once");
    let sent = notices(pool.clone()).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with("Flag old_release is stale: untouched for 49 days"), "{sent:?}");

    // Touched, it is no longer stale and loses its notice; a new stale spell is announced again.
    sqlx::query("update flags set name = 'Old release' where key = 'old_release'").execute(&pool).await.unwrap();
    assert!(app::server::hygiene::announce_newly_stale(&pool, now).await.unwrap().is_empty());
    let left: i64 = sqlx::query_scalar("select count(*) from flag_stale_notices").fetch_one(&pool).await.unwrap();
    assert_eq!(left, 0);
    sqlx::query("update flags set updated_at = now() - interval '50 days' where key = 'old_release'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(app::server::hygiene::announce_newly_stale(&pool, now).await.unwrap(), ["old_release"]);
    assert_eq!(notices(pool.clone()).await.len(), 2);
}
