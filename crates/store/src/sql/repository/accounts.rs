//! Accounts, workspaces and memberships.

use super::{SqlRepository, account};
use crate::sql::dialect::{Columns, Dialect, Statement, store_err};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::model::{Account, SsoPerson, SubjectId, WorkspaceMembership};
use gatehouse_core::ports::{
    AccountChange, AccountChangeOutcome, AccountQuery, AccountRepository, CreateAccountError, NewAccount,
};
use uuid::Uuid;

#[async_trait]
impl<D: Dialect> AccountRepository for SqlRepository<D> {
    async fn create(&self, new: &NewAccount) -> Result<Account, CreateAccountError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        let inserted = D::execute(
            &mut tx,
            Statement::new(
                "INSERT INTO accounts (id, email, name, password_hash, is_admin, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
            )
            .bind(new.id)
            .bind(&new.email)
            .bind(&new.name)
            .bind(&new.password_hash)
            .bind(new.is_admin)
            .bind(new.created_at),
        )
        .await?;
        if inserted == 0 {
            return Err(CreateAccountError::EmailTaken);
        }
        D::execute(
            &mut tx,
            Statement::new("INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(new.workspace_id)
                .bind(&new.workspace_name)
                .bind(new.created_at),
        )
        .await?;
        D::execute(
            &mut tx,
            Statement::new(
                "INSERT INTO memberships (account_id, workspace_id, role, joined_at) VALUES ($1, $2, 'owner', $3)",
            )
            .bind(new.id)
            .bind(new.workspace_id)
            .bind(new.created_at),
        )
        .await?;
        tx.commit().await.map_err(store_err)?;
        Ok(Account {
            id: new.id,
            email: new.email.clone(),
            name: new.name.clone(),
            is_admin: new.is_admin,
            disabled: false,
            created_at: new.created_at,
            sessions_valid_after: None,
            passwordless: false,
        })
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<(Account, String)>, StoreError> {
        let row = self.fetch_optional(Statement::new("SELECT * FROM accounts WHERE email = $1").bind(email)).await?;
        row.map(|row| Ok((account::<D>(&row)?, Columns::<D>(&row).text("password_hash")?))).transpose()
    }

    async fn find_by_id(&self, id: Uuid) -> Result<Option<Account>, StoreError> {
        let row = self.fetch_optional(by_id(id)).await?;
        row.as_ref().map(account::<D>).transpose()
    }

    async fn workspaces(&self, account_id: Uuid) -> Result<Vec<WorkspaceMembership>, StoreError> {
        let rows = self
            .fetch_all(
                Statement::new(
                    "SELECT w.id, w.name, m.role, m.joined_at FROM memberships m \
                     JOIN workspaces w ON w.id = m.workspace_id WHERE m.account_id = $1 ORDER BY m.joined_at, w.id",
                )
                .bind(account_id),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let row = Columns::<D>(row);
                Ok(WorkspaceMembership {
                    id: row.id("id")?,
                    name: row.text("name")?,
                    role: row.text("role")?,
                    joined_at: row.instant("joined_at")?,
                })
            })
            .collect()
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let row = self.fetch_one(Statement::new("SELECT COUNT(*) AS count FROM accounts")).await?;
        Ok(u64::try_from(Columns::<D>(&row).int("count")?).unwrap_or_default())
    }

    async fn search(&self, query: &AccountQuery) -> Result<Vec<Account>, StoreError> {
        let mut sql = Statement::new("SELECT * FROM accounts WHERE 1 = 1");
        if let Some(text) = query.text.as_deref().filter(|t| !t.is_empty()) {
            let pattern = format!("%{}%", like_escape(text));
            let like = D::ILIKE;
            sql.push(&format!(" AND (email {like} "))
                .push_bind(pattern.clone())
                .push(&format!(" ESCAPE '\\' OR name {like} "))
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(after) = &query.after_email {
            sql.push(" AND email > ").push_bind(after);
        }
        sql.push(" ORDER BY email LIMIT ").push_bind(i64::from(query.limit));
        let rows = self.fetch_all(sql).await?;
        rows.iter().map(account::<D>).collect()
    }

    async fn change(
        &self,
        id: Uuid,
        change: AccountChange,
        at: DateTime<Utc>,
    ) -> Result<AccountChangeOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        D::lock_active_admins(&mut tx).await?;
        // Disabling or demoting an active admin needs another active admin:
        // checked in the same statement that writes, after the lock above.
        const KEEPS_AN_ADMIN: &str = " AND (NOT (is_admin AND disabled_at IS NULL) OR EXISTS (SELECT 1 FROM accounts \
             WHERE is_admin AND disabled_at IS NULL AND id <> $1))";
        let update = match change {
            AccountChange::Disable => Statement::new(format!(
                "UPDATE accounts SET disabled_at = $2, sessions_valid_after = $2 \
                 WHERE id = $1 AND disabled_at IS NULL{KEEPS_AN_ADMIN} RETURNING *"
            ))
            .bind(id)
            .bind(at),
            AccountChange::Enable => Statement::new(
                "UPDATE accounts SET disabled_at = NULL WHERE id = $1 AND disabled_at IS NOT NULL RETURNING *",
            )
            .bind(id),
            AccountChange::GrantAdmin => {
                Statement::new("UPDATE accounts SET is_admin = TRUE WHERE id = $1 AND NOT is_admin RETURNING *")
                    .bind(id)
            }
            AccountChange::RemoveAdmin => Statement::new(format!(
                "UPDATE accounts SET is_admin = FALSE WHERE id = $1 AND is_admin{KEEPS_AN_ADMIN} RETURNING *"
            ))
            .bind(id),
        };
        let outcome = match D::fetch_optional(&mut tx, update).await? {
            Some(row) => AccountChangeOutcome::Changed(account::<D>(&row)?),
            // Nothing changed: say why.
            None => match D::fetch_optional(&mut tx, by_id(id)).await? {
                None => AccountChangeOutcome::NotFound,
                Some(row) => {
                    let current = account::<D>(&row)?;
                    let already = match change {
                        AccountChange::Disable => current.disabled,
                        AccountChange::Enable => !current.disabled,
                        AccountChange::GrantAdmin => current.is_admin,
                        AccountChange::RemoveAdmin => !current.is_admin,
                    };
                    if already { AccountChangeOutcome::Unchanged(current) } else { AccountChangeOutcome::LastAdmin }
                }
            },
        };
        tx.commit().await.map_err(store_err)?;
        Ok(outcome)
    }

    async fn set_password(
        &self,
        id: Uuid,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Account>, StoreError> {
        let row = self
            .fetch_optional(
                Statement::new(
                    "UPDATE accounts SET password_hash = $2, sessions_valid_after = $3 \
                     WHERE id = $1 AND disabled_at IS NULL RETURNING *",
                )
                .bind(id)
                .bind(password_hash)
                .bind(at),
            )
            .await?;
        row.as_ref().map(account::<D>).transpose()
    }

    async fn record_sso_person(&self, person: &SsoPerson) -> Result<Option<SsoPerson>, StoreError> {
        // Two sign-ins of one person at the same instant may both see the
        // same earlier row: a change would then be audited twice, never missed.
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        let before = D::fetch_optional(&mut tx, sso_person(&person.subject)).await?;
        let before = before.as_ref().map(sso_person_of::<D>).transpose()?;
        D::execute(
            &mut tx,
            Statement::new(
                "INSERT INTO sso_people (issuer, sub, email, name, is_admin, first_signed_in_at, last_signed_in_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (issuer, sub) DO UPDATE SET \
                 email = excluded.email, name = excluded.name, is_admin = excluded.is_admin, \
                 last_signed_in_at = excluded.last_signed_in_at",
            )
            .bind(&person.subject.issuer)
            .bind(&person.subject.id)
            .bind(&person.email)
            .bind(person.name.as_deref())
            .bind(person.is_admin)
            .bind(person.first_signed_in_at)
            .bind(person.last_signed_in_at),
        )
        .await?;
        tx.commit().await.map_err(store_err)?;
        Ok(before)
    }

    async fn find_sso_person(&self, subject: &SubjectId) -> Result<Option<SsoPerson>, StoreError> {
        let row = self.fetch_optional(sso_person(subject)).await?;
        row.as_ref().map(sso_person_of::<D>).transpose()
    }

    async fn set_sso_person_admin(&self, subject: &SubjectId, is_admin: bool) -> Result<Option<bool>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        let before = D::fetch_optional(&mut tx, sso_person(subject)).await?;
        let Some(before) = before.as_ref().map(sso_person_of::<D>).transpose()? else {
            return Ok(None);
        };
        if before.is_admin != is_admin {
            D::execute(
                &mut tx,
                Statement::new("UPDATE sso_people SET is_admin = $3 WHERE issuer = $1 AND sub = $2")
                    .bind(&subject.issuer)
                    .bind(&subject.id)
                    .bind(is_admin),
            )
            .await?;
        }
        tx.commit().await.map_err(store_err)?;
        Ok(Some(before.is_admin))
    }
}

fn sso_person(subject: &SubjectId) -> Statement<'_> {
    Statement::new("SELECT * FROM sso_people WHERE issuer = $1 AND sub = $2").bind(&subject.issuer).bind(&subject.id)
}

fn sso_person_of<D: Dialect>(row: &D::Row) -> Result<SsoPerson, StoreError> {
    let row = Columns::<D>(row);
    Ok(SsoPerson {
        subject: SubjectId { issuer: row.text("issuer")?, id: row.text("sub")? },
        email: row.text("email")?,
        name: row.optional_text("name")?,
        is_admin: row.flag("is_admin")?,
        first_signed_in_at: row.instant("first_signed_in_at")?,
        last_signed_in_at: row.instant("last_signed_in_at")?,
    })
}

/// One account by id (read on its own, or inside a change's transaction).
fn by_id(id: Uuid) -> Statement<'static> {
    Statement::new("SELECT * FROM accounts WHERE id = $1").bind(id)
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
