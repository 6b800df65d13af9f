//! The subcommands.

pub mod audit;
pub mod client;
pub mod config_io;
pub mod demo;
pub mod flags;
pub mod import;
pub mod rollback;
pub mod serve;
pub mod simulate;
pub mod structure;
pub mod tokens;
pub mod users;
pub mod verify;

use crate::config::DbArgs;
use crate::db::Database;

/// `rollgate migrate`: opening the database applies the migrations.
pub async fn migrate(args: &DbArgs) -> anyhow::Result<()> {
    let mut db = Database::open(args).await?;
    println!("migrations applied");
    db.close().await;
    Ok(())
}

/// Writes the output of a command to standard output. A pipe closed early (`rollgate verify --json | head`)
/// ends the output quietly, where `print!` would panic.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
