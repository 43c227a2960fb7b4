//! PostgreSQL: access tokens, stored as hashes.

use super::*;
use async_trait::async_trait;
use gatehouse_core::listing::{TokenQuery, TokenSelector, TokenStatus};
use sqlx::{Postgres, QueryBuilder};

#[async_trait]
impl TokenRepository for PostgresRepository {
    async fn issue(&self, new: &NewAccessToken) -> Result<IssuedToken, StoreError> {
        // Rotation in place: the partial unique index admits one active row
        // per device; concurrent upserts serialise on it.
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO oauth_access_tokens (id, subject_email, subject_issuer, account_id, client_id, \
             device_label, prefix, token_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (subject_email, subject_issuer, client_id, device_label) WHERE revoked_at IS NULL \
             DO UPDATE SET account_id = excluded.account_id, prefix = excluded.prefix, \
               token_hash = excluded.token_hash, scopes = excluded.scopes, created_at = excluded.created_at, \
               expires_at = excluded.expires_at, last_used_at = NULL, last_used_ip = NULL \
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
        .bind(new.expires_at)
        .fetch_one(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(IssuedToken { id, rotated: id != new.id })
    }

    async fn find_by_hash(&self, token_hash: &str) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        row.as_ref().map(token).transpose()
    }

    async fn find_active_for_device(
        &self,
        subject_email: &str,
        subject_issuer: &str,
        client_id: &str,
        device_label: &str,
    ) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE subject_email = $1 AND subject_issuer = $2 \
             AND client_id = $3 AND device_label = $4 AND revoked_at IS NULL"
        ))
        .bind(subject_email)
        .bind(subject_issuer)
        .bind(client_id)
        .bind(device_label)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err)?;
        row.as_ref().map(token).transpose()
    }

    async fn list_active_for_subject(
        &self,
        subject_email: &str,
        subject_issuer: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccessTokenRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE subject_email = $1 AND subject_issuer = $2 \
             AND revoked_at IS NULL AND expires_at > $3 ORDER BY COALESCE(last_used_at, created_at) DESC, id DESC"
        ))
        .bind(subject_email)
        .bind(subject_issuer)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter().map(token).collect()
    }

    async fn find_by_id(&self, id: Uuid) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        row.as_ref().map(token).transpose()
    }

    async fn search(&self, query: &TokenQuery) -> Result<Vec<AccessTokenRecord>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new(format!("SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE "));
        match query.status {
            TokenStatus::Active => sql.push("revoked_at IS NULL AND expires_at > ").push_bind(query.now),
            TokenStatus::Revoked => sql.push("revoked_at IS NOT NULL AND revoked_at < expires_at"),
            TokenStatus::Expired => sql
                .push("expires_at <= ")
                .push_bind(query.now)
                .push(" AND (revoked_at IS NULL OR revoked_at >= expires_at)"),
        };
        if let Some(email) = &query.subject_email {
            sql.push(" AND subject_email = ").push_bind(email.clone());
        }
        if let Some(client_id) = &query.client_id {
            sql.push(" AND client_id = ").push_bind(client_id.clone());
        }
        if let Some(after) = &query.after {
            sql.push(" AND (COALESCE(last_used_at, created_at), id) < (")
                .push_bind(after.last_activity)
                .push(", ")
                .push_bind(after.id)
                .push(")");
        }
        sql.push(" ORDER BY COALESCE(last_used_at, created_at) DESC, id DESC LIMIT ").push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(store_err)?;
        rows.iter().map(token).collect()
    }

    async fn unrevoked_ids(&self, selector: &TokenSelector) -> Result<Vec<Uuid>, StoreError> {
        let rows = match selector {
            TokenSelector::Subject { email, issuer } => sqlx::query(
                "SELECT id FROM oauth_access_tokens WHERE subject_email = $1 AND subject_issuer = $2 \
                 AND revoked_at IS NULL",
            )
            .bind(email)
            .bind(issuer),
            TokenSelector::Client(client_id) => {
                sqlx::query("SELECT id FROM oauth_access_tokens WHERE client_id = $1 AND revoked_at IS NULL")
                    .bind(client_id)
            }
        }
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter().map(|row| get(row, "id")).collect()
    }

    async fn revoke(&self, ids: &[Uuid], at: DateTime<Utc>) -> Result<Vec<AccessTokenRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "UPDATE oauth_access_tokens SET revoked_at = $1 WHERE id = ANY($2) AND revoked_at IS NULL \
             RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(at)
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter().map(token).collect()
    }

    async fn hard_expire(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE oauth_access_tokens SET revoked_at = $2, token_hash = NULL \
             WHERE id = $1 AND token_hash IS NOT NULL AND expires_at <= $2",
        )
        .bind(id)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(result.rows_affected() == 1)
    }

    async fn touch(&self, id: Uuid, at: DateTime<Utc>, ip: Option<&str>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE oauth_access_tokens SET last_used_at = $2, last_used_ip = $3 \
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $4)",
        )
        .bind(id)
        .bind(at)
        .bind(ip)
        .bind(at - Duration::seconds(60))
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(())
    }
}
