//! Who may do what in the database. Rollgate keeps history nobody can rewrite (the audit trail, the
//! rollout timelines, sign-offs): its tables refuse UPDATE, DELETE and TRUNCATE by trigger, and the role
//! the server runs as cannot get around the triggers, because
//!
//! - a **migration role** owns the schema and applies the migrations (`rollgate migrate`, or every start
//!   with the private cluster); only an owner can disable or drop a trigger;
//! - the **application role** the server connects as owns nothing and holds only the grants below: it is
//!   not a superuser (so it cannot set `session_replication_role`, which skips triggers), has no TRUNCATE
//!   anywhere, and no UPDATE or DELETE where a `refuse_change` trigger forbids them anyway.
//!
//! The grants are derived from the schema itself (the `refuse_change` triggers), so a migration that adds
//! an append-only table needs no second list here. The private cluster sets both roles up by itself
//! (`embedded_pg.rs`); `docs/database.md` gives the same set-up for an external PostgreSQL.

use sqlx::{Connection, PgConnection};

/// Serialises concurrent grant passes (a server and a CLI command starting together): two GRANTs on one
/// table at once can fail with "tuple concurrently updated".
const GRANT_LOCK_KEY: i64 = 0x0067_7261_6e74_7321; // "grants!"

/// The schemas Rollgate's tables live in.
const SCHEMAS: [&str; 2] = ["public", "tower_sessions"];

/// `"name"`, quoted as an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table operation that an unconditional `refuse_change` trigger forbids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub table: String,
    pub operation: &'static str,
}

/// Every UPDATE, DELETE and TRUNCATE that a `refuse_change` trigger refuses on every row of a table.
pub async fn refused_operations(conn: &mut PgConnection) -> Result<Vec<Refused>, sqlx::Error> {
    // tgtype bits: 8 DELETE, 16 UPDATE, 32 TRUNCATE. A trigger with a WHEN clause or a column list
    // refuses only some updates, so it does not take the privilege away.
    let rows = sqlx::query!(
        r#"select c.relname as "table!", (t.tgtype & 8) <> 0 as "delete!", (t.tgtype & 16) <> 0 as "update!",
                  (t.tgtype & 32) <> 0 as "truncate!"
           from pg_trigger t
           join pg_class c on c.oid = t.tgrelid
           join pg_namespace n on n.oid = c.relnamespace
           join pg_proc p on p.oid = t.tgfoid
           where n.nspname = 'public' and p.proname = 'refuse_change' and not t.tgisinternal
             and t.tgqual is null and cardinality(t.tgattr::int2[]) = 0
           order by 1"#
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut refused = Vec::new();
    for row in rows {
        for (on, operation) in [(row.delete, "delete"), (row.update, "update"), (row.truncate, "truncate")] {
            if on {
                refused.push(Refused { table: row.table.clone(), operation });
            }
        }
    }
    Ok(refused)
}

/// Gives `app_role` what the server needs and nothing more, over a connection of the migration role (or a
/// superuser). Run after every migration, so that new tables get their grants; idempotent.
pub async fn grant_app_role(conn: &mut PgConnection, app_role: &str) -> Result<(), sqlx::Error> {
    let role = quote_ident(app_role);
    let mut tx = conn.begin().await?;
    sqlx::query!("select pg_advisory_xact_lock($1)", GRANT_LOCK_KEY).execute(&mut *tx).await?;
    let database: String = sqlx::query_scalar!(r#"select current_database() as "d!""#).fetch_one(&mut *tx).await?;
    let mut statements = vec![format!("grant connect, temporary on database {} to {role}", quote_ident(&database))];
    for schema in SCHEMAS {
        let schema = quote_ident(schema);
        statements.extend([
            format!("grant usage on schema {schema} to {role}"),
            // Whatever an earlier version granted, then exactly what this one needs.
            format!("revoke all on all tables in schema {schema} from {role}"),
            format!("grant select, insert, update, delete on all tables in schema {schema} to {role}"),
            format!("grant usage, select on all sequences in schema {schema} to {role}"),
        ]);
    }
    // The migrations' own bookkeeping: the server reads it to know whether any are pending.
    statements.push(format!("revoke insert, update, delete on table public._sqlx_migrations from {role}"));
    for refused in refused_operations(&mut tx).await? {
        if refused.operation != "truncate" {
            statements.push(format!(
                "revoke {} on table public.{} from {role}",
                refused.operation,
                quote_ident(&refused.table)
            ));
        }
    }
    for statement in statements {
        sqlx::query(&statement).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Why the connected role could rewrite history, if it could: it is a superuser (and may skip triggers),
/// or it owns Rollgate's tables (and may disable their triggers). `None` when it cannot.
pub async fn rewrite_power(conn: &mut PgConnection) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query!(
        r#"select current_user as "role!", r.rolsuper as "superuser!",
                  exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                          where n.nspname = 'public' and c.relname = 'audit_events'
                            and pg_has_role(current_user, c.relowner, 'usage')) as "owner!"
           from pg_roles r where r.rolname = current_user"#
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(if row.superuser {
        Some(format!("it connects as {}, a superuser", row.role))
    } else if row.owner {
        Some(format!("it connects as {}, which owns the audit trail's table", row.role))
    } else {
        None
    })
}
