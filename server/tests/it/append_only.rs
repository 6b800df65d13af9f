//! History nobody can rewrite: connected as the application role (with exactly the grants `db_roles`
//! gives it), every way of rewriting the audit trail, the timelines and the sign-offs fails, while the
//! writes the server makes still work. The test's own connection is a superuser's, as `sqlx::test` needs;
//! the checks run on a second connection as the application role.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use sqlx::{Connection, PgConnection, PgPool};

/// A role made for this test, with the application role's grants; dropped at the end.
struct AppRole {
    name: String,
}

impl AppRole {
    async fn create(pool: &PgPool) -> AppRole {
        let name = format!("rollgate_app_test_{}", rand::random::<u32>());
        sqlx::query(&format!("create role {name} login")).execute(pool).await.unwrap();
        let mut admin = pool.acquire().await.unwrap();
        server::db_roles::grant_app_role(&mut admin, &name).await.unwrap();
        AppRole { name }
    }

    async fn connect(&self, pool: &PgPool) -> PgConnection {
        let options = pool.connect_options().as_ref().clone().username(&self.name);
        PgConnection::connect_with(&options).await.unwrap()
    }

    async fn drop(self, pool: &PgPool) {
        sqlx::query(&format!("drop owned by {}", self.name)).execute(pool).await.unwrap();
        sqlx::query(&format!("drop role {}", self.name)).execute(pool).await.unwrap();
    }
}

async fn history(pool: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "select (select count(*) from audit_events), (select count(*) from rollout_events),
                (select count(*) from signoffs)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_application_role_fails_to_rewrite_history_by_every_means(pool: PgPool) {
    let fixture = routes::Fixture::seed(&pool).await;
    let role = AppRole::create(&pool).await;
    let mut app = role.connect(&pool).await;
    let rollout = fixture.rollout;
    let before = history(&pool).await;
    assert!(before.0 > 0 && before.1 > 0, "the fixture wrote history: {before:?}");

    let attempts = [
        "truncate audit_events".to_owned(),
        "truncate rollout_events".to_owned(),
        "truncate signoffs".to_owned(),
        "truncate audit_events, rollout_events, signoffs cascade".to_owned(),
        "delete from audit_events".to_owned(),
        "update audit_events set reason = 'rewritten'".to_owned(),
        "delete from rollout_events".to_owned(),
        "update rollout_events set reason = 'rewritten'".to_owned(),
        "delete from signoffs".to_owned(),
        "set session_replication_role = replica".to_owned(),
        "alter table audit_events disable trigger all".to_owned(),
        "alter table audit_events disable trigger audit_events_no_delete".to_owned(),
        "drop trigger audit_events_no_delete on audit_events".to_owned(),
        "alter table audit_events owner to current_user".to_owned(),
        "create or replace function refuse_change() returns trigger language plpgsql as $$ begin return old; end $$"
            .to_owned(),
        "create trigger sneak before insert on audit_events for each row execute function set_updated_at()".to_owned(),
        "create table public.shadow (id int)".to_owned(),
        format!("alter role {} superuser", role.name),
        format!("update rollouts set version = version where id = {rollout}; truncate signoffs"),
    ];
    let mut succeeded = Vec::new();
    for statement in &attempts {
        if sqlx::raw_sql(statement).execute(&mut app).await.is_ok() {
            succeeded.push(statement.clone());
        }
    }

    assert!(succeeded.is_empty(), "the application role could: {succeeded:?}");
    // A GRANT without the grant option only warns, so check the rights themselves.
    let rights: String = sqlx::query_scalar(
        "select coalesce(string_agg(t || ':' || p, ' ' order by t, p), '')
         from unnest(array['audit_events', 'rollout_events', 'signoffs']) t,
              unnest(array['UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES']) p
         where has_table_privilege(t, p)",
    )
    .fetch_one(&mut app)
    .await
    .unwrap();
    assert_eq!(rights, "", "the application role holds these rights on history");
    assert_eq!(history(&pool).await, before, "nothing of the history changed");
    // What the server does stays possible: append to history, change and delete what may change.
    sqlx::raw_sql(
        "insert into audit_events (actor_kind, actor_label, action, entity_kind, entity_key)
             values ('system', 'system:test', 'test.appended', 'test', 'x');
         update flag_environments set enabled = enabled;
         delete from overrides where false;
         insert into login_throttle (key, failures, window_started_at) values ('ip:192.0.2.1', 1, now());
         delete from login_throttle;",
    )
    .execute(&mut app)
    .await
    .unwrap();
    app.close().await.unwrap();
    role.drop(&pool).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn every_table_that_refuses_delete_refuses_truncate_even_to_its_owner(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();

    let refused = server::db_roles::refused_operations(&mut conn).await.unwrap();

    let tables = |operation: &str| -> std::collections::BTreeSet<String> {
        refused.iter().filter(|r| r.operation == operation).map(|r| r.table.clone()).collect()
    };
    let (deletes, truncates) = (tables("delete"), tables("truncate"));
    assert!(deletes.contains("audit_events") && deletes.contains("signoffs"), "{deletes:?}");
    let missing: Vec<_> = deletes.difference(&truncates).collect();
    assert!(missing.is_empty(), "these refuse DELETE but not TRUNCATE: {missing:?}");
    // The test's role is a superuser and owns the tables: the triggers still refuse it.
    for table in &truncates {
        let err = sqlx::query(&format!("truncate {table} cascade")).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains("TRUNCATE on"), "{table}: {err}");
    }
}
