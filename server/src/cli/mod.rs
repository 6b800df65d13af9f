//! The subcommands.

pub mod demo;
pub mod import;
pub mod serve;
pub mod tokens;
pub mod users;

use crate::config::DbArgs;
use crate::db::Database;

/// `rollgate migrate`: opening the database applies the migrations.
pub async fn migrate(args: &DbArgs) -> anyhow::Result<()> {
    let mut db = Database::open(args).await?;
    println!("migrations applied");
    db.close().await;
    Ok(())
}
