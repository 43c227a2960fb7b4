//! The operator's scope registry.

use super::SqlRepository;
use crate::sql::dialect::{Columns, Dialect, Statement};
use async_trait::async_trait;
use gatehouse_core::StoreError;
use gatehouse_core::model::{ScopeDefinition, ScopeHolders};
use gatehouse_core::ports::ScopeRepository;

fn scope<D: Dialect>(row: &D::Row) -> Result<ScopeDefinition, StoreError> {
    let row = Columns::<D>(row);
    Ok(ScopeDefinition {
        name: row.text("name")?,
        description: row.text("description")?,
        holders: ScopeHolders::parse(&row.text("holders")?).ok_or_else(|| StoreError::new("bad scope holders"))?,
        built_in: row.flag("built_in")?,
        created_at: row.instant("created_at")?,
    })
}

#[async_trait]
impl<D: Dialect> ScopeRepository for SqlRepository<D> {
    async fn list_scopes(&self) -> Result<Vec<ScopeDefinition>, StoreError> {
        let rows = self
            .fetch_all(Statement::new("SELECT * FROM oauth_scopes ORDER BY built_in DESC, created_at, name"))
            .await?;
        rows.iter().map(scope::<D>).collect()
    }

    async fn create_scope(&self, new: &ScopeDefinition) -> Result<bool, StoreError> {
        let inserted = self
            .execute(
                Statement::new(
                    "INSERT INTO oauth_scopes (name, description, holders, built_in, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
                )
                .bind(&new.name)
                .bind(&new.description)
                .bind(new.holders.as_str())
                .bind(new.built_in)
                .bind(new.created_at),
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn update_scope(&self, name: &str, description: &str, holders: ScopeHolders) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                Statement::new("UPDATE oauth_scopes SET description = $2, holders = $3 WHERE name = $1")
                    .bind(name)
                    .bind(description)
                    .bind(holders.as_str()),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn delete_scope(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = self
            .execute(
                Statement::new("DELETE FROM oauth_scopes WHERE name = $1 AND built_in = $2").bind(name).bind(false),
            )
            .await?;
        Ok(deleted == 1)
    }
}
