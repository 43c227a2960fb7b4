//! Access tokens, stored as hashes.

use super::{Columns, SqlRepository, TOKEN_COLUMNS, join_scopes, token};
use crate::sql::dialect::{Dialect, Statement};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::listing::{TokenQuery, TokenSelector, TokenStatus};
use gatehouse_core::model::{AccessTokenRecord, IssuedToken, NewAccessToken};
use gatehouse_core::ports::TokenRepository;
use uuid::Uuid;

/// Use is recorded at most this often per token.
const TOUCH_EVERY: Duration = Duration::seconds(60);

#[async_trait]
impl<D: Dialect> TokenRepository for SqlRepository<D> {
    async fn issue(&self, new: &NewAccessToken) -> Result<IssuedToken, StoreError> {
        // Rotation in place: the partial unique index admits one active row
        // per device, so concurrent upserts serialise on it and the upsert
        // replaces the secret atomically.
        let row = self
            .fetch_one(
                Statement::new(
                    "INSERT INTO oauth_access_tokens (id, subject_email, subject_issuer, account_id, client_id, \
                     device_label, prefix, token_hash, scopes, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (subject_email, subject_issuer, client_id, device_label) WHERE revoked_at IS NULL \
                     DO UPDATE SET account_id = excluded.account_id, prefix = excluded.prefix, \
                       token_hash = excluded.token_hash, scopes = excluded.scopes, \
                       created_at = excluded.created_at, expires_at = excluded.expires_at, \
                       last_used_at = NULL, last_used_ip = NULL \
                     RETURNING id",
                )
                .bind(new.id)
                .bind(&new.subject.email)
                .bind(&new.subject.issuer)
                .bind(new.subject.account_id)
                .bind(&new.client_id)
                .bind(&new.device_label)
                .bind(&new.prefix)
                .bind(&new.token_hash)
                .bind(join_scopes(&new.scopes))
                .bind(new.created_at)
                .bind(new.expires_at),
            )
            .await?;
        let id = Columns::<D>(&row).id("id")?;
        Ok(IssuedToken { id, rotated: id != new.id })
    }

    async fn find_by_hash(&self, token_hash: &str) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row = self
            .fetch_optional(
                Statement::new(format!("SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE token_hash = $1"))
                    .bind(token_hash),
            )
            .await?;
        row.as_ref().map(token::<D>).transpose()
    }

    async fn find_active_for_device(
        &self,
        subject_email: &str,
        subject_issuer: &str,
        client_id: &str,
        device_label: &str,
    ) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row = self
            .fetch_optional(
                Statement::new(format!(
                    "SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE subject_email = $1 \
                     AND subject_issuer = $2 AND client_id = $3 AND device_label = $4 AND revoked_at IS NULL"
                ))
                .bind(subject_email)
                .bind(subject_issuer)
                .bind(client_id)
                .bind(device_label),
            )
            .await?;
        row.as_ref().map(token::<D>).transpose()
    }

    async fn list_active_for_subject(
        &self,
        subject_email: &str,
        subject_issuer: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccessTokenRecord>, StoreError> {
        let rows = self
            .fetch_all(
                Statement::new(format!(
                    "SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE subject_email = $1 \
                     AND subject_issuer = $2 AND revoked_at IS NULL AND expires_at > $3 \
                     ORDER BY COALESCE(last_used_at, created_at) DESC, id DESC"
                ))
                .bind(subject_email)
                .bind(subject_issuer)
                .bind(now),
            )
            .await?;
        rows.iter().map(token::<D>).collect()
    }

    async fn find_by_id(&self, id: Uuid) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row = self
            .fetch_optional(
                Statement::new(format!("SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE id = $1")).bind(id),
            )
            .await?;
        row.as_ref().map(token::<D>).transpose()
    }

    async fn search(&self, query: &TokenQuery) -> Result<Vec<AccessTokenRecord>, StoreError> {
        let mut sql = Statement::new(format!("SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE "));
        match query.status {
            TokenStatus::Active => sql.push("revoked_at IS NULL AND expires_at > ").push_bind(query.now),
            TokenStatus::Revoked => sql.push("revoked_at IS NOT NULL AND revoked_at < expires_at"),
            TokenStatus::Expired => sql
                .push("expires_at <= ")
                .push_bind(query.now)
                .push(" AND (revoked_at IS NULL OR revoked_at >= expires_at)"),
        };
        if let Some(email) = &query.subject_email {
            sql.push(" AND subject_email = ").push_bind(email);
        }
        if let Some(client_id) = &query.client_id {
            sql.push(" AND client_id = ").push_bind(client_id);
        }
        if let Some(after) = &query.after {
            sql.push(" AND (COALESCE(last_used_at, created_at), id) < (")
                .push_bind(after.last_activity)
                .push(", ")
                .push_bind(after.id)
                .push(")");
        }
        sql.push(" ORDER BY COALESCE(last_used_at, created_at) DESC, id DESC LIMIT ").push_bind(i64::from(query.limit));
        let rows = self.fetch_all(sql).await?;
        rows.iter().map(token::<D>).collect()
    }

    async fn unrevoked_ids(&self, selector: &TokenSelector) -> Result<Vec<Uuid>, StoreError> {
        let statement = match selector {
            TokenSelector::Subject { email, issuer } => Statement::new(
                "SELECT id FROM oauth_access_tokens WHERE subject_email = $1 AND subject_issuer = $2 \
                 AND revoked_at IS NULL",
            )
            .bind(email)
            .bind(issuer),
            TokenSelector::Client(client_id) => {
                Statement::new("SELECT id FROM oauth_access_tokens WHERE client_id = $1 AND revoked_at IS NULL")
                    .bind(client_id)
            }
        };
        let rows = self.fetch_all(statement).await?;
        rows.iter().map(|row| Columns::<D>(row).id("id")).collect()
    }

    async fn revoke(&self, ids: &[Uuid], at: DateTime<Utc>) -> Result<Vec<AccessTokenRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The callers revoke in batches of a few hundred, well inside both
        // backends' limits on parameters.
        let mut sql = Statement::new("UPDATE oauth_access_tokens SET revoked_at = ");
        sql.push_bind(at).push(" WHERE revoked_at IS NULL AND id IN (");
        for (i, id) in ids.iter().enumerate() {
            sql.push(if i == 0 { "" } else { ", " }).push_bind(*id);
        }
        sql.push(&format!(") RETURNING {TOKEN_COLUMNS}"));
        let rows = self.fetch_all(sql).await?;
        rows.iter().map(token::<D>).collect()
    }

    async fn hard_expire(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                Statement::new(
                    "UPDATE oauth_access_tokens SET revoked_at = $2, token_hash = NULL \
                     WHERE id = $1 AND token_hash IS NOT NULL AND expires_at <= $2",
                )
                .bind(id)
                .bind(at),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn touch(&self, id: Uuid, at: DateTime<Utc>, ip: Option<&str>) -> Result<(), StoreError> {
        self.execute(
            Statement::new(
                "UPDATE oauth_access_tokens SET last_used_at = $2, last_used_ip = $3 \
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $4)",
            )
            .bind(id)
            .bind(at)
            .bind(ip)
            .bind(at - TOUCH_EVERY),
        )
        .await?;
        Ok(())
    }
}
