//! The move of targets to keys loses nothing: rows made under the schema before it (overrides, allow-lists,
//! customers and priority-URL data that referred to registered rows by id) evaluate and read the same after.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use sqlx::migrate::Migrator;
use sqlx::PgPool;
use std::path::{Path, PathBuf};

/// The migration that moved targets to keys; the test applies every one before it first.
const KEYS: i64 = 20261207002001;

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

/// A folder holding copies of the migrations before `first_left_out`, so that a migrator applies the
/// schema as it was then (the copies are byte-identical, so the full migrator later accepts them as run).
fn migrations_before(first_left_out: i64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollgate-migrations-{}-{first_left_out}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(migrations_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version < first_left_out {
            std::fs::copy(&path, dir.join(&name)).unwrap();
        }
    }
    dir
}

/// Rows as the old schema held them: targets by registered id.
const OLD_ROWS: &str = r#"
insert into environments (key, name, position) values ('production', 'Production', 1);
insert into flags (key, name) values ('checkout', 'Checkout'), ('priority_urls_enabled', 'Priority URLs');
insert into flag_environments (flag_id, environment_id, enabled, default_value)
    select f.id, e.id, true, 'true' from flags f, environments e;
insert into organizations (key, name) values ('acme', 'Acme'), ('globex', 'Globex'), ('initech', 'Initech');
insert into customers (key, name, organization_id) select 'cust-1', 'One', id from organizations where key = 'acme';
insert into customers (key, name, organization_id) select 'cust-2', 'Two', id from organizations where key = 'globex';
-- checkout: off for acme, off for cust-2 (whose organization has no override).
insert into overrides (flag_id, environment_id, organization_id, value, reason)
    select f.id, e.id, o.id, 'false', 'acme opted out' from flags f, environments e, organizations o
    where f.key = 'checkout' and o.key = 'acme';
insert into overrides (flag_id, environment_id, customer_id, value)
    select f.id, e.id, c.id, 'false' from flags f, environments e, customers c
    where f.key = 'checkout' and c.key = 'cust-2';
-- An active rollout of checkout at 0% whose allow-list lets globex and cust-1 in.
with r as (insert into rollouts (flag_id, environment_id, status)
           select f.id, e.id, 'planned' from flags f, environments e where f.key = 'checkout' returning id)
insert into rollout_stages (rollout_id, position, name, basis_points) select id, 0, 'none', 0 from r;
update rollouts set status = 'active', current_stage = 0, started_at = now(), stage_entered_at = now();
insert into rollout_allow_list (rollout_id, organization_id) select r.id, o.id from rollouts r, organizations o where o.key = 'globex';
insert into rollout_allow_list (rollout_id, customer_id) select r.id, c.id from rollouts r, customers c where c.key = 'cust-1';
-- initech imported one priority URL, then a second import changed it.
insert into url_import_batches (organization_id, actor_label, file_name, format, status, rows_read, inserted, finished_at)
    select id, 'cli', 'one.csv', 'csv', 'completed', 1, 1, now() from organizations where key = 'initech';
insert into url_metadata (organization_id, url, update_priority, page_type, batch_id)
    select id, 'https://initech.example/', 'low', 'home', 1 from organizations where key = 'initech';
insert into url_import_batches (organization_id, actor_label, file_name, format, status, rows_read, updated, finished_at)
    select id, 'cli', 'two.csv', 'csv', 'completed', 1, 1, now() from organizations where key = 'initech';
insert into url_metadata_history (batch_id, organization_id, url, existed, previous_priority, previous_page_type, previous_batch_id)
    select 2, id, 'https://initech.example/', true, 'low', 'home', 1 from organizations where key = 'initech';
update url_metadata set update_priority = 'critical', batch_id = 2;
"#;

fn answer(
    snapshot: &app::server::snapshot::Snapshot,
    customer: Option<&str>,
    organization: Option<&str>,
) -> (serde_json::Value, String) {
    let ctx = app::domain::EvalContext {
        customer_id: customer.map(str::to_owned),
        organization_id: organization.map(str::to_owned),
        ..Default::default()
    };
    let answer = snapshot.environments["production"].evaluate("checkout", &ctx).unwrap();
    (answer.value.clone(), answer.reason.as_str().to_owned())
}

#[sqlx::test(migrations = false)]
async fn overrides_allow_lists_and_priority_urls_made_by_id_keep_working_after_the_move_to_keys(pool: PgPool) {
    let old = migrations_before(KEYS);
    Migrator::new(old.as_path()).await.unwrap().run(&pool).await.unwrap();
    sqlx::raw_sql(OLD_ROWS).execute(&pool).await.unwrap();

    Migrator::new(migrations_dir().as_path()).await.unwrap().run(&pool).await.unwrap();
    std::fs::remove_dir_all(&old).unwrap();

    let snapshot = app::server::snapshot::load(&pool).await.unwrap();
    assert_eq!(answer(&snapshot, Some("cust-9"), Some("acme")), (json!(false), "TARGETING_MATCH".into()));
    assert_eq!(answer(&snapshot, Some("cust-2"), Some("globex")), (json!(false), "TARGETING_MATCH".into()));
    // Allow-listed by organization and by customer: in, although the stage serves 0%.
    assert_eq!(answer(&snapshot, Some("cust-7"), Some("globex")), (json!(true), "TARGETING_MATCH".into()));
    assert_eq!(answer(&snapshot, Some("cust-1"), None), (json!(true), "TARGETING_MATCH".into()));
    assert_eq!(answer(&snapshot, Some("cust-8"), Some("hooli")).1, "SPLIT");
    let reason: String = sqlx::query_scalar("select reason from overrides where organization_key = 'acme'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(reason, "acme opted out");
    let customers: Vec<(String, String)> =
        sqlx::query_as("select key, organization_key from customers order by key").fetch_all(&pool).await.unwrap();
    assert_eq!(customers, [("cust-1".into(), "acme".into()), ("cust-2".into(), "globex".into())]);

    // initech's URL keeps its imported badge, and the second import still rolls back to the first's values.
    let badges =
        app::server::priority_urls::queries::badges(&pool, "initech", &["https://initech.example/".into()], true)
            .await
            .unwrap();
    assert_eq!((badges[0].update_priority.as_str(), badges[0].source), ("critical", "imported"));
    let editor = app::server::audit::Actor::system("test");
    let undone = app::server::priority_urls::rollback::rollback(&pool, &editor, 2, None).await.unwrap();
    assert_eq!((undone.account.as_str(), undone.restored), ("initech", 1));
    let tier: String =
        sqlx::query_scalar("select m.update_priority from url_metadata m join url_accounts a on a.id = m.account_id where a.organization_key = 'initech'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tier, "low");
}
