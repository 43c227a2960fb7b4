//! Passkeys, and the account's "passkeys only" switch.
//!
//! The two rules that join them (the last passkey of a passwordless account
//! stays; the password goes off only with a passkey) are decided under the
//! account's row lock: each transaction first writes the account row (a
//! no-op update), which PostgreSQL locks until the commit and which makes
//! SQLite's transaction the one writer, so two racing removals take turns.

use super::SqlRepository;
use crate::sql::dialect::{Columns, Dialect, Statement, store_err};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::ports::{PasskeyRecord, PasskeyRemoval, PasskeyRepository, PasswordlessChange};
use uuid::Uuid;

/// Locks the account's row for the transaction; false when there is none.
async fn lock_account<D: Dialect>(tx: &mut D::Connection, account_id: Uuid) -> Result<bool, StoreError> {
    let locked = D::execute(
        tx,
        Statement::new("UPDATE accounts SET passwordless = passwordless WHERE id = $1").bind(account_id),
    )
    .await?;
    Ok(locked > 0)
}

async fn count_of<D: Dialect>(tx: &mut D::Connection, account_id: Uuid) -> Result<i64, StoreError> {
    let statement = Statement::new("SELECT COUNT(*) AS count FROM passkeys WHERE account_id = $1").bind(account_id);
    let row = D::fetch_optional(tx, statement).await?.ok_or_else(|| StoreError::new("no count"))?;
    Columns::<D>(&row).int("count")
}

async fn is_passwordless<D: Dialect>(tx: &mut D::Connection, account_id: Uuid) -> Result<bool, StoreError> {
    let statement = Statement::new("SELECT passwordless FROM accounts WHERE id = $1").bind(account_id);
    let row = D::fetch_optional(tx, statement).await?.ok_or_else(|| StoreError::new("no account"))?;
    Columns::<D>(&row).flag("passwordless")
}

fn passkey<D: Dialect>(row: &D::Row) -> Result<PasskeyRecord, StoreError> {
    let row = Columns::<D>(row);
    Ok(PasskeyRecord {
        id: row.id("id")?,
        account_id: row.id("account_id")?,
        credential_id: row.text("credential_id")?,
        name: row.text("name")?,
        credential: row.text("credential")?,
        backed_up: row.flag("backed_up")?,
        created_at: row.instant("created_at")?,
        last_used_at: row.optional_instant("last_used_at")?,
    })
}

#[async_trait]
impl<D: Dialect> PasskeyRepository for SqlRepository<D> {
    async fn add(&self, passkey: &PasskeyRecord) -> Result<bool, StoreError> {
        let inserted = self
            .execute(
                Statement::new(
                    "INSERT INTO passkeys (id, account_id, credential_id, name, credential, backed_up, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (credential_id) DO NOTHING",
                )
                .bind(passkey.id)
                .bind(passkey.account_id)
                .bind(&passkey.credential_id)
                .bind(&passkey.name)
                .bind(&passkey.credential)
                .bind(passkey.backed_up)
                .bind(passkey.created_at),
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn list(&self, account_id: Uuid) -> Result<Vec<PasskeyRecord>, StoreError> {
        let rows = self
            .fetch_all(
                Statement::new("SELECT * FROM passkeys WHERE account_id = $1 ORDER BY created_at, id").bind(account_id),
            )
            .await?;
        rows.iter().map(passkey::<D>).collect()
    }

    async fn count_by_account(&self, account_ids: &[Uuid]) -> Result<Vec<(Uuid, u64)>, StoreError> {
        if account_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Statement::new("SELECT account_id, COUNT(*) AS count FROM passkeys WHERE account_id IN (");
        for (i, id) in account_ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push_bind(*id);
        }
        sql.push(") GROUP BY account_id");
        let rows = self.fetch_all(sql).await?;
        rows.iter()
            .map(|row| {
                let row = Columns::<D>(row);
                Ok((row.id("account_id")?, u64::try_from(row.int("count")?).unwrap_or_default()))
            })
            .collect()
    }

    async fn find_by_credential_id(&self, credential_id: &str) -> Result<Option<PasskeyRecord>, StoreError> {
        let row = self
            .fetch_optional(Statement::new("SELECT * FROM passkeys WHERE credential_id = $1").bind(credential_id))
            .await?;
        row.as_ref().map(passkey::<D>).transpose()
    }

    async fn rename(&self, account_id: Uuid, id: Uuid, name: &str) -> Result<bool, StoreError> {
        let renamed = self
            .execute(
                Statement::new("UPDATE passkeys SET name = $3 WHERE id = $1 AND account_id = $2")
                    .bind(id)
                    .bind(account_id)
                    .bind(name),
            )
            .await?;
        Ok(renamed == 1)
    }

    async fn remove(&self, account_id: Uuid, id: Uuid) -> Result<PasskeyRemoval, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        if !lock_account::<D>(&mut tx, account_id).await? {
            return Ok(PasskeyRemoval::NotFound);
        }
        if is_passwordless::<D>(&mut tx, account_id).await? && count_of::<D>(&mut tx, account_id).await? <= 1 {
            let mine =
                Statement::new("SELECT id FROM passkeys WHERE id = $1 AND account_id = $2").bind(id).bind(account_id);
            let found = D::fetch_optional(&mut tx, mine).await?.is_some();
            return Ok(if found { PasskeyRemoval::LastWhilePasswordless } else { PasskeyRemoval::NotFound });
        }
        let removed = D::execute(
            &mut tx,
            Statement::new("DELETE FROM passkeys WHERE id = $1 AND account_id = $2").bind(id).bind(account_id),
        )
        .await?;
        tx.commit().await.map_err(store_err)?;
        Ok(if removed == 1 { PasskeyRemoval::Removed } else { PasskeyRemoval::NotFound })
    }

    async fn remove_all(&self, account_id: Uuid) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        D::execute(&mut tx, Statement::new("UPDATE accounts SET passwordless = FALSE WHERE id = $1").bind(account_id))
            .await?;
        let removed =
            D::execute(&mut tx, Statement::new("DELETE FROM passkeys WHERE account_id = $1").bind(account_id)).await?;
        tx.commit().await.map_err(store_err)?;
        Ok(removed)
    }

    async fn record_use(
        &self,
        id: Uuid,
        credential: &str,
        backed_up: bool,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            Statement::new("UPDATE passkeys SET credential = $2, backed_up = $3, last_used_at = $4 WHERE id = $1")
                .bind(id)
                .bind(credential)
                .bind(backed_up)
                .bind(at),
        )
        .await?;
        Ok(())
    }

    async fn set_passwordless(&self, account_id: Uuid, passwordless: bool) -> Result<PasswordlessChange, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        if !lock_account::<D>(&mut tx, account_id).await? {
            return Ok(PasswordlessChange::NotFound);
        }
        if is_passwordless::<D>(&mut tx, account_id).await? == passwordless {
            return Ok(PasswordlessChange::Unchanged);
        }
        if passwordless && count_of::<D>(&mut tx, account_id).await? == 0 {
            return Ok(PasswordlessChange::NoPasskey);
        }
        D::execute(
            &mut tx,
            Statement::new("UPDATE accounts SET passwordless = $2 WHERE id = $1").bind(account_id).bind(passwordless),
        )
        .await?;
        tx.commit().await.map_err(store_err)?;
        Ok(PasswordlessChange::Changed)
    }
}
