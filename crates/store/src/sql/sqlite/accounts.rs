//! SQLite: accounts, workspaces and memberships.

use super::*;
use async_trait::async_trait;

#[async_trait]
impl AccountRepository for SqliteRepository {
    async fn create(&self, new: &NewAccount) -> Result<Account, CreateAccountError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, email, name, password_hash, is_admin, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (email) DO NOTHING",
        )
        .bind(new.id.to_string())
        .bind(&new.email)
        .bind(&new.name)
        .bind(&new.password_hash)
        .bind(new.is_admin)
        .bind(secs(new.created_at))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        if inserted.rows_affected() == 0 {
            return Err(CreateAccountError::EmailTaken);
        }
        sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES (?1, ?2, ?3)")
            .bind(new.workspace_id.to_string())
            .bind(&new.workspace_name)
            .bind(secs(new.created_at))
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        sqlx::query("INSERT INTO memberships (account_id, workspace_id, role, joined_at) VALUES (?1, ?2, 'owner', ?3)")
            .bind(new.id.to_string())
            .bind(new.workspace_id.to_string())
            .bind(secs(new.created_at))
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        Ok(Account {
            id: new.id,
            email: new.email.clone(),
            name: new.name.clone(),
            is_admin: new.is_admin,
            disabled: false,
            created_at: new.created_at,
        })
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<(Account, String)>, StoreError> {
        let row = sqlx::query("SELECT * FROM accounts WHERE email = ?1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        row.map(|row| Ok((account(&row)?, text(&row, "password_hash")?))).transpose()
    }

    async fn find_by_id(&self, id: Uuid) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = ?1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        row.as_ref().map(account).transpose()
    }

    async fn workspaces(&self, account_id: Uuid) -> Result<Vec<WorkspaceMembership>, StoreError> {
        let rows = sqlx::query(
            "SELECT w.id, w.name, m.role, m.joined_at FROM memberships m \
             JOIN workspaces w ON w.id = m.workspace_id WHERE m.account_id = ?1 ORDER BY m.joined_at, w.id",
        )
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter()
            .map(|row| {
                Ok(WorkspaceMembership {
                    id: uuid(row, "id")?,
                    name: text(row, "name")?,
                    role: text(row, "role")?,
                    joined_at: instant(row, "joined_at")?,
                })
            })
            .collect()
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(&self.pool).await.map_err(store_err)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}
