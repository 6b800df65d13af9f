//! What every server bench starts from: a database of its own, made afresh and migrated.

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// Drops and creates the database `name` on the PostgreSQL server `DATABASE_URL` names (`scripts/bench`
/// provides one), migrates it, and returns a pool of 8 connections to it.
pub async fn fresh_database(name: &str) -> PgPool {
    let admin_url = std::env::var("DATABASE_URL").expect("DATABASE_URL (see scripts/bench)");
    let admin = PgPoolOptions::new().max_connections(1).connect(&admin_url).await.unwrap();
    sqlx::query(&format!("drop database if exists {name}")).execute(&admin).await.unwrap();
    sqlx::query(&format!("create database {name}")).execute(&admin).await.unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let pool = PgPoolOptions::new().max_connections(8).connect(&url).await.unwrap();
    server::db::MIGRATOR.run(&pool).await.unwrap();
    pool
}
