//! SQLite: accounts, workspaces and memberships.

use super::*;
use async_trait::async_trait;
use gatehouse_core::ports::{AccountChange, AccountChangeOutcome, AccountQuery};
use sqlx::{QueryBuilder, Sqlite};

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
            sessions_valid_after: None,
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

    async fn search(&self, query: &AccountQuery) -> Result<Vec<Account>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT * FROM accounts WHERE 1");
        if let Some(text) = query.text.as_deref().filter(|t| !t.is_empty()) {
            // SQLite's LIKE ignores ASCII case.
            let pattern = format!("%{}%", like_escape(text));
            sql.push(" AND (email LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR name LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
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
        // One statement each: SQLite runs writes one at a time, so the count
        // of other active admins cannot change under it.
        const OTHER_ADMINS: &str =
            "(SELECT COUNT(*) FROM accounts WHERE is_admin = 1 AND disabled_at IS NULL AND id <> ?1) >= 1";
        let statement = match change {
            AccountChange::Disable => format!(
                "UPDATE accounts SET disabled_at = ?2, sessions_valid_after = ?2 WHERE id = ?1 \
                 AND disabled_at IS NULL AND (is_admin = 0 OR {OTHER_ADMINS}) RETURNING *"
            ),
            AccountChange::Enable => {
                "UPDATE accounts SET disabled_at = NULL WHERE id = ?1 AND disabled_at IS NOT NULL RETURNING *"
                    .to_owned()
            }
            AccountChange::GrantAdmin => {
                "UPDATE accounts SET is_admin = 1 WHERE id = ?1 AND is_admin = 0 RETURNING *".to_owned()
            }
            AccountChange::RemoveAdmin => format!(
                "UPDATE accounts SET is_admin = 0 WHERE id = ?1 AND is_admin = 1 \
                 AND (disabled_at IS NOT NULL OR {OTHER_ADMINS}) RETURNING *"
            ),
        };
        let mut update = sqlx::query(&statement).bind(id.to_string());
        if change == AccountChange::Disable {
            update = update.bind(secs(at));
        }
        if let Some(row) = update.fetch_optional(&self.pool).await.map_err(store_err)? {
            return Ok(AccountChangeOutcome::Changed(account(&row)?));
        }
        // Nothing changed: say why.
        let Some(current) = AccountRepository::find_by_id(self, id).await? else {
            return Ok(AccountChangeOutcome::NotFound);
        };
        let already = match change {
            AccountChange::Disable => current.disabled,
            AccountChange::Enable => !current.disabled,
            AccountChange::GrantAdmin => current.is_admin,
            AccountChange::RemoveAdmin => !current.is_admin,
        };
        Ok(if already { AccountChangeOutcome::Unchanged(current) } else { AccountChangeOutcome::LastAdmin })
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
