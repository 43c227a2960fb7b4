//! PostgreSQL: accounts, workspaces and memberships.

use super::*;
use async_trait::async_trait;
use gatehouse_core::ports::{AccountChange, AccountChangeOutcome, AccountQuery};
use sqlx::{Postgres, QueryBuilder};

#[async_trait]
impl AccountRepository for PostgresRepository {
    async fn create(&self, new: &NewAccount) -> Result<Account, CreateAccountError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, email, name, password_hash, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
        )
        .bind(new.id)
        .bind(&new.email)
        .bind(&new.name)
        .bind(&new.password_hash)
        .bind(new.is_admin)
        .bind(new.created_at)
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        if inserted.rows_affected() == 0 {
            return Err(CreateAccountError::EmailTaken);
        }
        sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(new.workspace_id)
            .bind(&new.workspace_name)
            .bind(new.created_at)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        sqlx::query("INSERT INTO memberships (account_id, workspace_id, role, joined_at) VALUES ($1, $2, 'owner', $3)")
            .bind(new.id)
            .bind(new.workspace_id)
            .bind(new.created_at)
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
            sessions_valid_after: None,
        })
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<(Account, String)>, StoreError> {
        let row = sqlx::query("SELECT * FROM accounts WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        row.map(|row| Ok((account(&row)?, get(&row, "password_hash")?))).transpose()
    }

    async fn find_by_id(&self, id: Uuid) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        row.as_ref().map(account).transpose()
    }

    async fn workspaces(&self, account_id: Uuid) -> Result<Vec<WorkspaceMembership>, StoreError> {
        let rows = sqlx::query(
            "SELECT w.id, w.name, m.role, m.joined_at FROM memberships m \
             JOIN workspaces w ON w.id = m.workspace_id WHERE m.account_id = $1 ORDER BY m.joined_at, w.id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter()
            .map(|row| {
                Ok(WorkspaceMembership {
                    id: get(row, "id")?,
                    name: get(row, "name")?,
                    role: get(row, "role")?,
                    joined_at: get(row, "joined_at")?,
                })
            })
            .collect()
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(&self.pool).await.map_err(store_err)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn search(&self, query: &AccountQuery) -> Result<Vec<Account>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new("SELECT * FROM accounts WHERE TRUE");
        if let Some(text) = query.text.as_deref().filter(|t| !t.is_empty()) {
            let pattern = format!("%{}%", like_escape(text));
            sql.push(" AND (email ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR name ILIKE ")
                .push_bind(pattern)
                .push(")");
        }
        if let Some(after) = &query.after_email {
            sql.push(" AND email > ").push_bind(after.clone());
        }
        sql.push(" ORDER BY email LIMIT ").push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(store_err)?;
        rows.iter().map(account).collect()
    }

    async fn change(
        &self,
        id: Uuid,
        change: AccountChange,
        at: DateTime<Utc>,
    ) -> Result<AccountChangeOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        // Lock the active admins first, always in the same order: two admins
        // demoting each other at once then run one after the other, and the
        // second sees that the first left only one.
        let admins: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM accounts WHERE is_admin AND disabled_at IS NULL ORDER BY id FOR UPDATE")
                .fetch_all(&mut *tx)
                .await
                .map_err(store_err)?;
        let Some(row) = sqlx::query("SELECT * FROM accounts WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_err)?
        else {
            return Ok(AccountChangeOutcome::NotFound);
        };
        let current = account(&row)?;
        let removes_an_admin = matches!(change, AccountChange::Disable | AccountChange::RemoveAdmin)
            && current.is_admin
            && !current.disabled;
        if removes_an_admin && !admins.iter().any(|admin| *admin != id) {
            return Ok(AccountChangeOutcome::LastAdmin);
        }
        let updated = match change {
            AccountChange::Disable => sqlx::query(
                "UPDATE accounts SET disabled_at = $2, sessions_valid_after = $2 \
                 WHERE id = $1 AND disabled_at IS NULL RETURNING *",
            )
            .bind(id)
            .bind(at),
            AccountChange::Enable => sqlx::query(
                "UPDATE accounts SET disabled_at = NULL WHERE id = $1 AND disabled_at IS NOT NULL RETURNING *",
            )
            .bind(id),
            AccountChange::GrantAdmin => {
                sqlx::query("UPDATE accounts SET is_admin = TRUE WHERE id = $1 AND NOT is_admin RETURNING *").bind(id)
            }
            AccountChange::RemoveAdmin => {
                sqlx::query("UPDATE accounts SET is_admin = FALSE WHERE id = $1 AND is_admin RETURNING *").bind(id)
            }
        }
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        Ok(match updated {
            Some(row) => AccountChangeOutcome::Changed(account(&row)?),
            None => AccountChangeOutcome::Unchanged(current),
        })
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
