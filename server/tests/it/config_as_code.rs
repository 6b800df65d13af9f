//! `rollgate export` / `rollgate apply` against a real server (the router on a real socket over the test's
//! database), driven by the library functions the commands call (`config_io::export` / `apply`).
#![allow(clippy::unwrap_used)]

use crate::common::*;
use app::domain::rollout::{ChecklistItem, StagePlan};
use app::domain::targeting::{Constraint, ContextField, Operator, Prerequisite, Serve, TargetingRule};
use app::domain::{EnvKey, FlagKey, Percent, SignoffRole, Stickiness};
use app::model::targeting::SegmentInput;
use app::server::audit::Actor;
use app::server::rollouts::{self, NewRollout, PlanSource};
use app::server::targeting::{self, segments};
use server::cli::client::{ApiClient, Secret};
use server::cli::config_io;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;

pub(crate) const ADMIN: &str = "admin@example.com";

pub(crate) async fn token_for(pool: &PgPool, email: &str, role: &str) -> Secret {
    seed_user(pool, email, role).await;
    Secret::new(admin_token_for(pool, email).await)
}

/// The application served over `pool` on a free port.
pub(crate) async fn serve(pool: &PgPool) -> Served {
    serve_state(state(pool)).await
}

pub(crate) fn client(running: &Served, token: &Secret) -> ApiClient {
    ApiClient::new(&running.url, Some(token.clone()), Duration::from_secs(30)).unwrap()
}

/// What is data rather than configuration: environments, organizations, customers.
async fn seed_targets(pool: &PgPool) {
    sqlx::query(
        "insert into environments (key, name, position) values
           ('development', 'Development', 0), ('staging', 'Staging', 1), ('production', 'Production', 2)
         on conflict do nothing",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("insert into organizations (key, name) values ('acme', 'Acme'), ('globex', 'Globex')")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("insert into customers (key, organization_key, name) values ('cust-1', 'acme', 'One')")
        .execute(pool)
        .await
        .unwrap();
}

/// A configuration with a bit of everything, made through the service layer and plain SQL.
pub(crate) async fn seed_configuration(pool: &PgPool) {
    seed_targets(pool).await;
    sqlx::query(
        "insert into phases (key, name, description, position, requires_previous) values
           ('p1', 'Phase 1: session persistence', 'first', 1, false), ('p2', 'Phase 2: API', '', 2, true)",
    )
    .execute(pool)
    .await
    .unwrap();
    for (key, phase, kind) in
        [("checkout", "p1", "release"), ("search", "p2", "experiment"), ("panic", "p1", "kill_switch")]
    {
        sqlx::query("insert into flags (key, name, description, phase_id, kind, owner, tags) select $1, $1 || ' name', 'does ' || $1, id, $3, 'team-a', '{web,api}' from phases where key = $2")
            .bind(key)
            .bind(phase)
            .bind(kind)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("insert into flag_environments (flag_id, environment_id, enabled) select f.id, e.id, false from flags f, environments e where f.key = $1")
            .bind(key)
            .execute(pool)
            .await
            .unwrap();
    }
    sqlx::query("insert into flags (key, name, kind, value_type, variants) values ('banner', 'Banner text', 'experiment', 'string', '[{\"key\": \"a\", \"value\": \"Hello\", \"weight\": 50}]')")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("insert into flag_environments (flag_id, environment_id, enabled, default_value) select f.id, e.id, e.key <> 'production', '\"Hi\"' from flags f, environments e where f.key = 'banner'")
        .execute(pool)
        .await
        .unwrap();
    toggle(pool, "checkout", "staging", true).await;
    toggle(pool, "panic", "production", true).await;
    let editor = Actor::system("test");
    let flag = FlagKey::parse("checkout").unwrap();
    for (env, org, value) in [("staging", "acme", true), ("production", "globex", false)] {
        app::server::overrides::set_organization_override(
            pool,
            &editor,
            &flag,
            &EnvKey::parse(env).unwrap(),
            org,
            Some(value.into()),
            Some("pilot"),
        )
        .await
        .unwrap();
    }
    sqlx::query("insert into overrides (flag_id, environment_id, customer_key, value) select f.id, e.id, 'cust-1', 'false' from flags f, environments e where f.key = 'checkout' and e.key = 'staging'")
        .execute(pool)
        .await
        .unwrap();
    let mut first = StagePlan::new("internal", Percent::parse("0.5").unwrap());
    first.min_soak_seconds = 3600;
    first.checklist = vec![ChecklistItem::verify("dashboards green")];
    let mut second = StagePlan::new("half", Percent::parse("50").unwrap());
    second.required_roles = vec![SignoffRole::ProductOwner, SignoffRole::OpsOncall];
    let new = NewRollout {
        flag: flag.clone(),
        environment: EnvKey::parse("production").unwrap(),
        plan: PlanSource::Custom(vec![first, second, StagePlan::new("all", Percent::HUNDRED)]),
        stickiness: Stickiness::OrganizationId,
        allow_customers: vec!["cust-1".into()],
        allow_organizations: vec!["acme".into()],
        audience: None,
    };
    rollouts::create(pool, &editor, &new).await.unwrap();
    sqlx::query("insert into flags (key, name, kind, archived_at) values ('old_thing', 'Old', 'release', now())")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("insert into flag_environments (flag_id, environment_id, enabled) select f.id, e.id, true from flags f, environments e where f.key = 'old_thing'")
        .execute(pool)
        .await
        .unwrap();
    seed_targeting(pool).await;
}

pub(crate) fn constraint(field: &str, operator: Operator, values: &[&str]) -> Constraint {
    Constraint::new(ContextField::parse(field).unwrap(), operator, values.iter().map(|v| (*v).to_owned()).collect())
}

pub(crate) fn rule(name: &str, constraints: Vec<Constraint>, segments: &[&str], serve: Serve) -> TargetingRule {
    TargetingRule {
        name: name.to_owned(),
        constraints,
        segments: segments.iter().map(|s| (*s).to_owned()).collect(),
        serve,
        percent: None,
        stickiness: Stickiness::default(),
    }
}

/// Two segments; rules with constraints and segments on the string flag `banner` (a value, a share of a
/// variant, off) and on `checkout`; `search` requires `checkout` and `banner`'s variant `a` in staging, which
/// comes after it in the file, and `checkout` requires `panic` off in production.
async fn seed_targeting(pool: &PgPool) {
    let editor = Actor::system("test");
    let beta = SegmentInput {
        key: "beta".into(),
        name: "Beta testers".into(),
        description: "opted in to early builds".into(),
        constraints: vec![constraint("app_version", Operator::SemverGte, &["2.3.0"])],
    };
    let mut email = constraint("email", Operator::StrEndsWith, &["@example.com"]);
    email.case_insensitive = true;
    let staff = SegmentInput {
        key: "staff".into(),
        name: "Staff".into(),
        description: String::new(),
        constraints: vec![email, constraint("seats", Operator::NumGte, &["10"])],
    };
    for segment in [beta, staff] {
        segments::create(pool, &editor, &segment).await.unwrap();
    }
    let mut outside_eu = constraint("region", Operator::In, &["eu", "true"]);
    outside_eu.inverted = true;
    let mut split = rule("beta split", Vec::new(), &["beta"], Serve::Variant { key: "a".into() });
    split.percent = Some(Percent::parse("25").unwrap());
    split.stickiness = Stickiness::OrganizationId;
    let banner = vec![
        rule(
            "enterprise",
            vec![constraint("plan", Operator::In, &["enterprise"])],
            &[],
            Serve::Value { value: "Welcome back".into() },
        ),
        split,
        rule("staff outside the EU", vec![outside_eu], &["staff"], Serve::Off),
    ];
    let checkout =
        vec![rule("pilot customers", vec![constraint("customer_id", Operator::In, &["cust-1"])], &[], Serve::On)];
    let (staging, production) = (EnvKey::parse("staging").unwrap(), EnvKey::parse("production").unwrap());
    for (flag, env, rules) in [("banner", &staging, banner), ("checkout", &production, checkout)] {
        targeting::set_rules(pool, &editor, &FlagKey::parse(flag).unwrap(), env, rules, None, None).await.unwrap();
    }
    let on_a = Prerequisite { flag: "banner".into(), on: true, variants: vec!["a".into()] };
    let requires = [
        ("search", &staging, vec![Prerequisite::on("checkout"), on_a]),
        ("checkout", &production, vec![Prerequisite { flag: "panic".into(), on: false, variants: Vec::new() }]),
    ];
    for (flag, env, prerequisites) in requires {
        targeting::set_prerequisites(pool, &editor, &FlagKey::parse(flag).unwrap(), env, prerequisites, None, None)
            .await
            .unwrap();
    }
}

/// A second, empty database on the same server, migrated; dropped by [`drop_database`].
async fn fresh_database(pool: &PgPool, name: &str) -> PgPool {
    sqlx::query(&format!("drop database if exists {name}")).execute(pool).await.unwrap();
    sqlx::query(&format!("create database {name}")).execute(pool).await.unwrap();
    let options = pool.connect_options().as_ref().clone().database(name);
    let fresh = PgPoolOptions::new().max_connections(4).connect_with(options).await.unwrap();
    server::db::MIGRATOR.run(&fresh).await.unwrap();
    fresh
}

async fn drop_database(pool: &PgPool, fresh: PgPool, name: &str) {
    fresh.close().await;
    sqlx::query(&format!("drop database if exists {name} with (force)")).execute(pool).await.unwrap();
}

pub(crate) async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn export_then_apply_to_an_empty_database_then_export_gives_the_same_file(pool: PgPool) {
    seed_configuration(&pool).await;
    let token = token_for(&pool, ADMIN, "admin").await;
    let running = serve(&pool).await;
    let first = config_io::export(&client(&running, &token), None, None).await.unwrap();
    for expected in [
        "key: checkout",
        "organization: acme",
        "customer: cust-1",
        "stickiness: organization_id",
        "percent: 0.5",
        "archived: true",
        "requires_previous: true",
        "value_type: string",
        "segments:\n- key: beta\n  name: Beta testers\n",
        "operator: SEMVER_GTE",
        "- name: beta split\n",
        "kind: variant",
        "percent: 25.0",
        "prerequisites:\n      - flag: checkout\n",
        "flag: panic",
    ] {
        assert!(first.contains(expected), "{expected:?} missing from\n{first}");
    }

    let name = format!("rollgate_roundtrip_{}", std::process::id());
    let fresh = fresh_database(&pool, &name).await;
    seed_targets(&fresh).await;
    let fresh_token = token_for(&fresh, ADMIN, "admin").await;
    let fresh_server = serve(&fresh).await;
    let report = config_io::apply(&client(&fresh_server, &fresh_token), &first, false).await.unwrap();
    let second = config_io::export(&client(&fresh_server, &fresh_token), None, None).await.unwrap();
    let again = config_io::apply(&client(&fresh_server, &fresh_token), &second, false).await.unwrap();
    drop(fresh_server);
    drop_database(&pool, fresh, &name).await;

    assert!(report.applied && !report.changes.is_empty());
    let actions: Vec<&str> = report.changes.iter().map(|c| c.action.as_str()).collect();
    for action in ["segment.created", "targeting.rules_changed", "targeting.prerequisites_changed"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    assert_eq!(second, first, "the export of the restored database differs");
    assert!(again.changes.is_empty(), "a second apply changed {:?}", again.changes);
}

#[sqlx::test(migrations = "../migrations")]
async fn applying_a_file_twice_changes_nothing_the_second_time_and_every_change_is_audited(pool: PgPool) {
    seed_configuration(&pool).await;
    let token = token_for(&pool, ADMIN, "admin").await;
    let running = serve(&pool).await;
    let api = client(&running, &token);
    let exported = config_io::export(&api, None, None).await.unwrap();
    let edited = exported
        .replace("name: 'Phase 2: API'", "name: 'Phase 2: public API'")
        .replacen("    staging:\n      enabled: true", "    staging:\n      enabled: false", 1)
        .replacen("- organization: acme\n        value: true", "- organization: acme\n        value: false", 1);
    assert_ne!(edited, exported, "the edit must change the file");
    let audit_before = count(&pool, "select count(*) from audit_events").await;

    let first = config_io::apply(&api, &edited, false).await.unwrap();
    let audit_after_first = count(&pool, "select count(*) from audit_events").await;
    let version_after_first = count(&pool, "select version from config_state").await;
    let second = config_io::apply(&api, &edited, false).await.unwrap();

    let actions: Vec<&str> = first.changes.iter().map(|c| c.action.as_str()).collect();
    assert!(actions.contains(&"phase.updated"), "{actions:?}");
    assert!(actions.contains(&"flag.toggled"), "{actions:?}");
    assert!(actions.contains(&"override.set"), "{actions:?}");
    assert!(first.applied);
    // One event per change, plus the summary, all under the token's user.
    assert_eq!(audit_after_first - audit_before, first.changes.len() as i64 + 1);
    let by_admin = count(
        &pool,
        &format!("select count(*) from audit_events where actor_label = '{ADMIN}' and actor_kind = 'token'"),
    )
    .await;
    assert_eq!(by_admin, first.changes.len() as i64 + 1);
    assert!(second.changes.is_empty() && !second.applied, "second apply: {:?}", second.changes);
    assert_eq!(count(&pool, "select count(*) from audit_events").await, audit_after_first);
    assert_eq!(count(&pool, "select version from config_state").await, version_after_first);
    assert!(!flag_enabled(&pool, "checkout", "staging").await);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_dry_run_reports_the_changes_and_makes_none(pool: PgPool) {
    seed_configuration(&pool).await;
    let token = token_for(&pool, ADMIN, "admin").await;
    let running = serve(&pool).await;
    let api = client(&running, &token);
    let file = config_io::export(&api, Some("staging"), None).await.unwrap().replace(
        "flags:\n",
        "flags:\n- key: brand_new\n  name: Brand new\n  kind: release\n  environments:\n    staging:\n      enabled: true\n",
    );
    let audit_before = count(&pool, "select count(*) from audit_events").await;

    let report = config_io::apply(&api, &file, true).await.unwrap();

    assert!(report.dry_run && !report.applied);
    let actions: Vec<&str> = report.changes.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(actions, ["flag.created", "flag.toggled"], "{:?}", report.changes);
    assert_eq!(count(&pool, "select count(*) from flags where key = 'brand_new'").await, 0);
    assert_eq!(count(&pool, "select count(*) from audit_events").await, audit_before);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_bad_file_is_refused_with_its_line_or_entry_and_nothing_is_half_applied(pool: PgPool) {
    seed_configuration(&pool).await;
    let token = token_for(&pool, ADMIN, "admin").await;
    let running = serve(&pool).await;
    let api = client(&running, &token);

    let wrong_type = "rollgate: 1\nflags:\n- key: x\n  name: X\n  kind: release\n  environments:\n    staging:\n      enabled: maybe\n";
    let err = config_io::apply(&api, wrong_type, false).await.unwrap_err().to_string();
    assert!(err.contains("INVALID_YAML") && err.contains("line 8"), "{err}");

    let unknown_field = "rollgate: 1\nflags:\n- key: x\n  name: X\n  kind: release\n  colour: red\n";
    let err = config_io::apply(&api, unknown_field, false).await.unwrap_err().to_string();
    assert!(err.contains("colour") && err.contains("line 6"), "{err}");

    // The first flag is fine and would be created; the second names a phase that does not exist.
    let half = "rollgate: 1\nflags:\n- key: first_ok\n  name: First\n  kind: release\n- key: second_bad\n  name: Second\n  kind: release\n  phase: nowhere\n";
    let err = config_io::apply(&api, half, false).await.unwrap_err().to_string();
    assert!(err.contains("flags[1] (second_bad)") && err.contains("nowhere"), "{err}");
    assert_eq!(count(&pool, "select count(*) from flags where key = 'first_ok'").await, 0, "half applied");

    let bad_kind = "rollgate: 1\nflags:\n- key: y\n  name: Y\n  kind: feature\n";
    let err = config_io::apply(&api, bad_kind, false).await.unwrap_err().to_string();
    assert!(err.contains("flags[0] (y)") && err.contains("unknown kind \"feature\""), "{err}");

    let two_targets = "rollgate: 1\nflags:\n- key: checkout\n  name: checkout name\n  description: does checkout\n  phase: p1\n  kind: release\n  owner: team-a\n  tags: [web, api]\n  environments:\n    staging:\n      enabled: true\n      overrides:\n      - organization: acme\n        customer: cust-1\n        value: true\n";
    let err = config_io::apply(&api, two_targets, false).await.unwrap_err().to_string();
    assert!(
        err.contains("flags[0] (checkout).environments.staging.overrides[0]") && err.contains("exactly one"),
        "{err}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn only_admins_may_export_or_apply(pool: PgPool) {
    seed_configuration(&pool).await;
    let token = token_for(&pool, "editor@example.com", "editor").await;
    let running = serve(&pool).await;
    let api = client(&running, &token);

    let export = config_io::export(&api, None, None).await.unwrap_err().to_string();
    let apply = config_io::apply(&api, "rollgate: 1\n", false).await.unwrap_err().to_string();

    assert!(export.contains("403"), "{export}");
    assert!(apply.contains("403"), "{apply}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_hand_written_file_with_roles_in_another_order_is_applied_once(pool: PgPool) {
    seed_configuration(&pool).await;
    let token = token_for(&pool, ADMIN, "admin").await;
    let running = serve(&pool).await;
    let api = client(&running, &token);
    let exported = config_io::export(&api, None, None).await.unwrap();
    let reordered = exported.replace(
        "required_roles:\n          - ops_oncall\n          - product_owner",
        "required_roles:\n          - product_owner\n          - ops_oncall",
    );
    let reordered = reordered.replace("- name: half\n", "- name: '  half '\n");
    assert_ne!(reordered, exported, "the file must list the roles in another order");

    let report = config_io::apply(&api, &reordered, false).await.unwrap();

    assert!(report.changes.is_empty(), "{:?}", report.changes);
}

#[sqlx::test(migrations = "../migrations")]
async fn staging_is_promoted_to_production_with_export_as_then_apply(pool: PgPool) {
    seed_configuration(&pool).await;
    let token = token_for(&pool, ADMIN, "admin").await;
    let running = serve(&pool).await;
    let api = client(&running, &token);
    let promote = config_io::export(&api, Some("staging"), Some("production")).await.unwrap();
    assert!(promote.contains("    production:\n") && !promote.contains("staging:"), "{promote}");
    let err = config_io::export(&api, None, Some("production")).await.unwrap_err().to_string();
    assert!(err.contains("--env"), "{err}");
    let err = config_io::export(&api, Some("staging"), Some("nowhere")).await.unwrap_err().to_string();
    assert!(err.contains("nowhere"), "{err}");

    let report = config_io::apply(&api, &promote, false).await.unwrap();
    assert!(report.applied, "{report:?}");
    let state = |flag: &'static str, env: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>(
                "select fe.enabled from flag_environments fe join flags f on f.id = fe.flag_id
                 join environments e on e.id = fe.environment_id where f.key = $1 and e.key = $2",
            )
            .bind(flag)
            .bind(env)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    // Production now has staging's states and overrides; staging is untouched.
    assert!(state("checkout", "production").await && state("checkout", "staging").await);
    assert!(!state("panic", "production").await, "panic is off in staging, so now off in production");
    assert!(state("banner", "production").await);
    let overrides: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "select ov.organization_key, ov.customer_key from overrides ov join flags f on f.id = ov.flag_id
         join environments e on e.id = ov.environment_id where f.key = 'checkout' and e.key = 'production'
         order by 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(overrides, [(Some("acme".to_owned()), None), (None, Some("cust-1".to_owned()))]);
    // Applying the same promotion again changes nothing.
    let again = config_io::apply(&api, &promote, false).await.unwrap();
    assert!(again.changes.is_empty(), "{again:?}");
}
