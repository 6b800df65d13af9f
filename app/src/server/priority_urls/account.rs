//! An account: the organization key that priority URLs belong to, registered or not, and the id its URL
//! rows refer to (`url_accounts`).

use crate::domain::TargetKind;
use crate::server::ServiceError;
use sqlx::{PgConnection, PgPool};

/// An organization key that has had an import, with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub key: String,
}

impl Account {
    /// The account for `key`, made on its first import. The key is checked like any organization key;
    /// the error names the `account` field.
    pub async fn ensure(pool: &PgPool, key: &str) -> Result<Self, ServiceError> {
        let key = TargetKind::Organization.parse_key(key, "account")?;
        // Insert-or-read in one statement: a concurrent first import of the same key inserts it once.
        let id = sqlx::query_scalar!(
            r#"with made as (insert into url_accounts (organization_key) values ($1)
                             on conflict (organization_key) do nothing returning id)
               select id as "id!" from made union all select id from url_accounts where organization_key = $1"#,
            key
        )
        .fetch_one(pool)
        .await?;
        Ok(Self { id, key })
    }

    /// The account for `key`, if it has ever had an import.
    pub async fn find(pool: &PgPool, key: &str) -> Result<Option<Self>, ServiceError> {
        Ok(sqlx::query_scalar!("select id from url_accounts where organization_key = $1", key)
            .fetch_optional(pool)
            .await?
            .map(|id| Self { id, key: key.to_owned() }))
    }

    /// Locks the account until the transaction ends: its imports and rollbacks run one at a time, as the
    /// cap and the history depend on what is stored.
    pub async fn lock(&self, conn: &mut PgConnection) -> Result<(), ServiceError> {
        sqlx::query!("select id from url_accounts where id = $1 for no key update", self.id).fetch_one(conn).await?;
        Ok(())
    }
}
