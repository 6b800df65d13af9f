//! Segments, targeting rules and prerequisites in `rollgate apply`: a dry run reports their changes and makes
//! none, a bad rule, an unknown segment or a prerequisite cycle is refused naming its place in the file with
//! nothing written, and prerequisites that change direction are applied whatever the order of the file.
#![allow(clippy::unwrap_used)]

use crate::config_as_code::{client, constraint, count, rule, seed_configuration, serve, token_for, ADMIN};
use app::domain::targeting::{Operator, Prerequisite, Serve};
use app::server::config_as_code::{ConfigDocument, EnvStateDoc, SegmentDoc};
use server::api::config_io::parse_document;
use server::cli::client::ApiClient;
use server::cli::config_io;
use sqlx::PgPool;

async fn exported(api: &ApiClient) -> ConfigDocument {
    parse_document(&config_io::export(api, None, None).await.unwrap()).unwrap()
}

fn yaml(doc: &ConfigDocument) -> String {
    serde_norway::to_string(doc).unwrap()
}

fn index_of(doc: &ConfigDocument, flag: &str) -> usize {
    doc.flags.iter().position(|f| f.key == flag).unwrap()
}

fn state<'d>(doc: &'d mut ConfigDocument, flag: &str, env: &str) -> &'d mut EnvStateDoc {
    let i = index_of(doc, flag);
    doc.flags[i].environments.get_mut(env).unwrap()
}

async fn stored_rules(pool: &PgPool, flag: &str, env: &str) -> serde_json::Value {
    sqlx::query_scalar(
        "select fe.rules from flag_environments fe join flags f on f.id = fe.flag_id
         join environments e on e.id = fe.environment_id where f.key = $1 and e.key = $2",
    )
    .bind(flag)
    .bind(env)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_dry_run_reports_segment_and_rule_changes_and_makes_none(pool: PgPool) {
    seed_configuration(&pool).await;
    let token = token_for(&pool, ADMIN, "admin").await;
    let running = serve(&pool).await;
    let api = client(&running, &token);
    let mut doc = exported(&api).await;
    doc.segments[0].name = "Early adopters".into();
    doc.segments.push(SegmentDoc {
        key: "mobile".into(),
        name: "Mobile apps".into(),
        description: String::new(),
        constraints: vec![constraint("platform", Operator::In, &["ios", "android"])],
    });
    state(&mut doc, "checkout", "production").rules[0].segments = vec!["mobile".into()];
    let file = yaml(&doc);
    let audit_before = count(&pool, "select count(*) from audit_events").await;
    let rules_before = stored_rules(&pool, "checkout", "production").await;

    let dry = config_io::apply(&api, &file, true).await.unwrap();

    assert!(dry.dry_run && !dry.applied);
    let actions: Vec<(&str, &str)> = dry.changes.iter().map(|c| (c.action.as_str(), c.entity_key.as_str())).collect();
    assert_eq!(
        actions,
        [("segment.changed", "beta"), ("segment.created", "mobile"), ("targeting.rules_changed", "checkout")],
        "{:?}",
        dry.changes
    );
    assert_eq!(count(&pool, "select count(*) from audit_events").await, audit_before);
    assert_eq!(count(&pool, "select count(*) from segments where key = 'mobile'").await, 0);
    assert_eq!(count(&pool, "select count(*) from segments where name = 'Beta testers'").await, 1);
    assert_eq!(stored_rules(&pool, "checkout", "production").await, rules_before);
    // What the dry run reported is what applying does.
    let applied = config_io::apply(&api, &file, false).await.unwrap();
    assert_eq!(applied.changes, dry.changes);
    assert_eq!(stored_rules(&pool, "checkout", "production").await[0]["segments"], serde_json::json!(["mobile"]));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_bad_rule_an_unknown_segment_or_a_prerequisite_cycle_is_refused_naming_its_place_with_nothing_written(
    pool: PgPool,
) {
    seed_configuration(&pool).await;
    let token = token_for(&pool, ADMIN, "admin").await;
    let running = serve(&pool).await;
    let api = client(&running, &token);
    let mut base = exported(&api).await;
    // Valid changes ahead of each problem, which must not be left behind.
    base.segments.push(SegmentDoc {
        key: "fresh".into(),
        name: "Fresh".into(),
        description: String::new(),
        constraints: Vec::new(),
    });
    let (banner, checkout) = (index_of(&base, "banner"), index_of(&base, "checkout"));
    base.flags[checkout].name = "Checkout, renamed".into();
    let audit_before = count(&pool, "select count(*) from audit_events").await;

    let mut bad_regex = base.clone();
    state(&mut bad_regex, "banner", "staging").rules[1] =
        rule("bad expression", vec![constraint("email", Operator::Regex, &["([a-z]+"])], &[], Serve::On);
    let mut unknown_segment = base.clone();
    state(&mut unknown_segment, "banner", "staging").rules[0].segments.push("nowhere".into());
    let mut cycle = base.clone();
    state(&mut cycle, "panic", "production").prerequisites = vec![Prerequisite::on("checkout")];
    let mut unknown_flag = base.clone();
    state(&mut unknown_flag, "search", "staging").prerequisites.push(Prerequisite::on("missing"));

    let cases = [
        (
            bad_regex,
            format!("flags[{banner}] (banner).environments.staging.rules: rule 2 (bad expression), constraint 1: the expression does not compile"),
        ),
        (
            unknown_segment,
            format!("flags[{banner}] (banner).environments.staging.rules: rule 1 (enterprise): there is no segment \"nowhere\""),
        ),
        (
            cycle,
            format!("flags[{checkout}] (checkout).environments.production.prerequisites: these prerequisites would form a cycle: checkout -> panic -> checkout"),
        ),
        (unknown_flag, "(search).environments.staging.prerequisites: there is no flag \"missing\" in staging".to_owned()),
    ];
    for (doc, expected) in cases {
        let err = config_io::apply(&api, &yaml(&doc), false).await.unwrap_err().to_string();
        assert!(err.contains(&expected), "expected {expected:?} in {err}");
    }

    assert_eq!(count(&pool, "select count(*) from audit_events").await, audit_before, "something was written");
    assert_eq!(count(&pool, "select count(*) from segments where key = 'fresh'").await, 0);
    assert_eq!(count(&pool, "select count(*) from flags where name = 'Checkout, renamed'").await, 0);
    // The same file without the problems applies.
    let report = config_io::apply(&api, &yaml(&base), false).await.unwrap();
    assert!(report.applied, "{report:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn prerequisites_that_change_direction_are_applied_whatever_the_order_of_the_file(pool: PgPool) {
    seed_configuration(&pool).await;
    let token = token_for(&pool, ADMIN, "admin").await;
    let running = serve(&pool).await;
    let api = client(&running, &token);
    let mut doc = exported(&api).await;
    // Stored: checkout requires panic (off) in production. The file turns it round, and lists panic first,
    // so a write in file order would see checkout -> panic -> checkout.
    state(&mut doc, "checkout", "production").prerequisites.clear();
    state(&mut doc, "panic", "production").prerequisites = vec![Prerequisite::on("checkout")];
    let panic = doc.flags.remove(index_of(&doc, "panic"));
    doc.flags.insert(0, panic);

    let report = config_io::apply(&api, &yaml(&doc), false).await.unwrap();

    let changed: Vec<&str> = report
        .changes
        .iter()
        .filter(|c| c.action == "targeting.prerequisites_changed")
        .map(|c| c.entity_key.as_str())
        .collect();
    assert_eq!(changed, ["checkout", "panic"], "{:?}", report.changes);
    let again = exported(&api).await;
    assert!(again.flags[index_of(&again, "checkout")].environments["production"].prerequisites.is_empty());
    assert_eq!(
        again.flags[index_of(&again, "panic")].environments["production"].prerequisites,
        [Prerequisite::on("checkout")]
    );
}
