//! `rollgate demo`.

use crate::config::DbArgs;
use crate::db::Database;

pub async fn run(db_args: &DbArgs) -> anyhow::Result<()> {
    let mut db = Database::open(db_args).await?;
    let result = crate::demo::load(&db.pool).await;
    db.close().await;
    let logins = result?;
    crate::demo::announce(&logins, &db_args.data_dir);
    Ok(())
}
