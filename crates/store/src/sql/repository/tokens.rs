//! Access tokens, stored as hashes.

use super::{Columns, SqlRepository, TOKEN_COLUMNS, join_scopes, token};
use crate::sql::dialect::{Dialect, Statement, store_err};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::listing::{TokenQuery, TokenSelector, TokenStatus};
use gatehouse_core::model::{
    AccessTokenRecord, GrantRotation, IssuedToken, NewAccessToken, ProviderSession, RefreshLookup, SubjectId,
};
use gatehouse_core::ports::TokenRepository;
use uuid::Uuid;

/// Use is recorded at most this often per token.
const TOUCH_EVERY: Duration = Duration::seconds(60);

#[async_trait]
impl<D: Dialect> TokenRepository for SqlRepository<D> {
    async fn issue(&self, new: &NewAccessToken) -> Result<IssuedToken, StoreError> {
        // Rotation in place: the partial unique index admits one active row
        // per device, so concurrent upserts serialise on it and the upsert
        // replaces the secrets atomically.
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        let subject = new.subject.subject_id();
        if let (Some(subject), None) = (&subject, new.subject.account_id) {
            // Grants from before subjects were keyed by `sub` bear only the
            // email; the person now signed in with it verified claims them
            // (but not one for a device they already hold a grant for, which
            // only a rolling upgrade could leave behind).
            D::execute(
                &mut tx,
                Statement::new(
                    "UPDATE oauth_access_tokens SET subject_id = $1 WHERE subject_issuer = $2 \
                     AND subject_email = $3 AND subject_id IS NULL AND revoked_at IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM oauth_access_tokens mine WHERE mine.subject_issuer = $2 \
                       AND mine.subject_id = $1 AND mine.client_id = oauth_access_tokens.client_id \
                       AND mine.device_label = oauth_access_tokens.device_label AND mine.revoked_at IS NULL)",
                )
                .bind(&subject.id)
                .bind(&subject.issuer)
                .bind(&new.subject.email),
            )
            .await?;
        }
        let row = D::fetch_optional(
            &mut tx,
            Statement::new(
                "INSERT INTO oauth_access_tokens (id, subject_email, subject_issuer, subject_id, account_id, \
                 client_id, device_label, prefix, token_hash, refresh_token_hash, scopes, created_at, expires_at, \
                 access_expires_at, max_expires_at, dpop_jkt, approval_evidence, approval_proximity) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                 ON CONFLICT (subject_issuer, subject_id, client_id, device_label) WHERE revoked_at IS NULL \
                 DO UPDATE SET subject_email = excluded.subject_email, account_id = excluded.account_id, prefix = excluded.prefix, \
                   token_hash = excluded.token_hash, refresh_token_hash = excluded.refresh_token_hash, \
                   scopes = excluded.scopes, access_scopes = NULL, created_at = excluded.created_at, \
                   expires_at = excluded.expires_at, access_expires_at = excluded.access_expires_at, \
                   max_expires_at = excluded.max_expires_at, refreshed_at = NULL, dpop_jkt = excluded.dpop_jkt, \
                   last_used_at = NULL, last_used_ip = NULL, approval_evidence = excluded.approval_evidence, \
                   approval_proximity = excluded.approval_proximity \
                 RETURNING id",
            )
            .bind(new.id)
            .bind(&new.subject.email)
            .bind(&new.subject.issuer)
            .bind(subject.map(|subject| subject.id))
            .bind(new.subject.account_id)
            .bind(&new.client_id)
            .bind(&new.device_label)
            .bind(&new.prefix)
            .bind(&new.token_hash)
            .bind(&new.refresh_token_hash)
            .bind(join_scopes(&new.scopes))
            .bind(new.created_at)
            .bind(new.expires_at)
            .bind(new.access_expires_at)
            .bind(new.max_expires_at)
            .bind(&new.dpop_jkt)
            .bind(match &new.approval {
                Some(evidence) => Some(serde_json::to_string(evidence).map_err(StoreError::from_err)?),
                None => None,
            })
            .bind(new.approval.as_ref().map(|evidence| evidence.proximity.as_str())),
        )
        .await?
        .ok_or_else(|| StoreError::new("the statement returned no row"))?;
        let id = Columns::<D>(&row).id("id")?;
        let rotated = id != new.id;
        if rotated {
            D::execute(
                &mut tx,
                Statement::new("DELETE FROM oauth_retired_refresh_tokens WHERE grant_id = $1").bind(id),
            )
            .await?;
            D::execute(&mut tx, Statement::new("DELETE FROM oauth_provider_sessions WHERE grant_id = $1").bind(id))
                .await?;
        }
        if let Some(session) = &new.provider_session {
            D::execute(
                &mut tx,
                Statement::new(
                    "INSERT INTO oauth_provider_sessions (grant_id, sealed_refresh_token, checked_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(&session.sealed_refresh_token)
                .bind(session.checked_at),
            )
            .await?;
        }
        tx.commit().await.map_err(store_err)?;
        Ok(IssuedToken { id, rotated })
    }

    async fn find_by_refresh_hash(&self, refresh_hash: &str) -> Result<RefreshLookup, StoreError> {
        let current = self
            .fetch_optional(
                Statement::new(format!(
                    "SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE refresh_token_hash = $1"
                ))
                .bind(refresh_hash),
            )
            .await?;
        if let Some(row) = current {
            return Ok(RefreshLookup::Current(token::<D>(&row)?));
        }
        let retired = self
            .fetch_optional(
                Statement::new(format!(
                    "SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE id = \
                     (SELECT grant_id FROM oauth_retired_refresh_tokens WHERE token_hash = $1)"
                ))
                .bind(refresh_hash),
            )
            .await?;
        Ok(match retired {
            Some(row) => RefreshLookup::Retired(token::<D>(&row)?),
            None => RefreshLookup::Unknown,
        })
    }

    async fn rotate(&self, rotation: &GrantRotation) -> Result<Option<AccessTokenRecord>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        // Compare-and-set on the presented refresh token: of racing refreshes
        // with one token, the first to commit wins and the rest match nothing.
        let row = D::fetch_optional(
            &mut tx,
            Statement::new(format!(
                "UPDATE oauth_access_tokens SET token_hash = $3, refresh_token_hash = $4, access_scopes = $5, \
                 access_expires_at = $6, expires_at = $7, refreshed_at = $8 \
                 WHERE id = $1 AND refresh_token_hash = $2 AND revoked_at IS NULL RETURNING {TOKEN_COLUMNS}"
            ))
            .bind(rotation.grant_id)
            .bind(&rotation.presented_refresh_hash)
            .bind(&rotation.token_hash)
            .bind(&rotation.refresh_token_hash)
            .bind(rotation.access_scopes.as_deref().map(join_scopes))
            .bind(rotation.access_expires_at)
            .bind(rotation.expires_at)
            .bind(rotation.at),
        )
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        D::execute(
            &mut tx,
            Statement::new(
                "INSERT INTO oauth_retired_refresh_tokens (token_hash, grant_id, retired_at) VALUES ($1, $2, $3)",
            )
            .bind(&rotation.presented_refresh_hash)
            .bind(rotation.grant_id)
            .bind(rotation.at),
        )
        .await?;
        tx.commit().await.map_err(store_err)?;
        Ok(Some(token::<D>(&row)?))
    }

    async fn provider_session(&self, grant_id: Uuid) -> Result<Option<ProviderSession>, StoreError> {
        let row = self
            .fetch_optional(
                Statement::new(
                    "SELECT s.sealed_refresh_token, s.checked_at FROM oauth_provider_sessions s \
                     JOIN oauth_access_tokens t ON t.id = s.grant_id WHERE s.grant_id = $1 AND t.revoked_at IS NULL",
                )
                .bind(grant_id),
            )
            .await?;
        row.map(|row| {
            let row = Columns::<D>(&row);
            Ok(ProviderSession {
                sealed_refresh_token: row.text("sealed_refresh_token")?,
                checked_at: row.instant("checked_at")?,
            })
        })
        .transpose()
    }

    async fn provider_session_checked(
        &self,
        grant_id: Uuid,
        sealed_refresh_token: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            Statement::new(
                "UPDATE oauth_provider_sessions SET sealed_refresh_token = $2, checked_at = $3 WHERE grant_id = $1",
            )
            .bind(grant_id)
            .bind(sealed_refresh_token)
            .bind(at),
        )
        .await?;
        Ok(())
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
        subject: &SubjectId,
        client_id: &str,
        device_label: &str,
    ) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row = self
            .fetch_optional(
                Statement::new(format!(
                    "SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE subject_issuer = $1 \
                     AND subject_id = $2 AND client_id = $3 AND device_label = $4 AND revoked_at IS NULL"
                ))
                .bind(&subject.issuer)
                .bind(&subject.id)
                .bind(client_id)
                .bind(device_label),
            )
            .await?;
        row.as_ref().map(token::<D>).transpose()
    }

    async fn list_active_for_subject(
        &self,
        subject: &SubjectId,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccessTokenRecord>, StoreError> {
        let rows = self
            .fetch_all(
                Statement::new(format!(
                    "SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE subject_issuer = $1 \
                     AND subject_id = $2 AND revoked_at IS NULL AND expires_at > $3 \
                     ORDER BY COALESCE(last_used_at, created_at) DESC, id DESC"
                ))
                .bind(&subject.issuer)
                .bind(&subject.id)
                .bind(now),
            )
            .await?;
        rows.iter().map(token::<D>).collect()
    }

    async fn update_subject_email(&self, subject: &SubjectId, email: &str) -> Result<u64, StoreError> {
        self.execute(
            Statement::new(
                "UPDATE oauth_access_tokens SET subject_email = $1 WHERE subject_issuer = $2 \
                 AND subject_id = $3 AND subject_email <> $1 AND revoked_at IS NULL",
            )
            .bind(email)
            .bind(&subject.issuer)
            .bind(&subject.id),
        )
        .await
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
        if query.crossed_networks {
            sql.push(" AND approval_proximity = 'different'");
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
            TokenSelector::Subject(subject) => Statement::new(
                "SELECT id FROM oauth_access_tokens WHERE subject_issuer = $1 AND subject_id = $2 \
                 AND revoked_at IS NULL",
            )
            .bind(&subject.issuer)
            .bind(&subject.id),
            TokenSelector::Email { email, issuer } => Statement::new(
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
                    "UPDATE oauth_access_tokens SET revoked_at = $2, token_hash = NULL, refresh_token_hash = NULL \
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
