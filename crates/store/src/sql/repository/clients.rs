//! Registered OAuth clients.

use super::{SqlRepository, client, join_scopes};
use crate::sql::dialect::{Dialect, Statement};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::approval_policy::ApprovalPolicy;
use gatehouse_core::model::OAuthClient;
use gatehouse_core::ports::{ClientEdit, ClientRepository};

#[async_trait]
impl<D: Dialect> ClientRepository for SqlRepository<D> {
    async fn find(&self, client_id: &str) -> Result<Option<OAuthClient>, StoreError> {
        let row = self
            .fetch_optional(Statement::new("SELECT * FROM oauth_clients WHERE client_id = $1").bind(client_id))
            .await?;
        row.as_ref().map(client::<D>).transpose()
    }

    async fn create(&self, new: &OAuthClient) -> Result<bool, StoreError> {
        let inserted = self
            .execute(
                Statement::new(
                    "INSERT INTO oauth_clients (client_id, name, client_type, secret_hash, allowed_scopes, \
                     device_grant_enabled, created_at, refresh_allowed, access_token_ttl_secs, grant_ttl_secs, \
                     grant_idle_ttl_secs, poll_interval_secs, dpop_mode, approval_policy) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     ON CONFLICT (client_id) DO NOTHING",
                )
                .bind(&new.client_id)
                .bind(&new.name)
                .bind(new.client_type.as_str())
                .bind(&new.secret_hash)
                .bind(join_scopes(&new.allowed_scopes))
                .bind(new.device_grant_enabled)
                .bind(new.created_at)
                .bind(new.policy.refresh_allowed)
                .bind(new.policy.access_token_ttl)
                .bind(new.policy.grant_ttl)
                .bind(new.policy.grant_idle_ttl)
                .bind(new.policy.poll_interval)
                .bind(new.policy.dpop.as_str())
                .bind(approval_json(&new.approval)?),
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn list(&self) -> Result<Vec<OAuthClient>, StoreError> {
        let rows = self.fetch_all(Statement::new("SELECT * FROM oauth_clients ORDER BY created_at, client_id")).await?;
        rows.iter().map(client::<D>).collect()
    }

    async fn disable(&self, client_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                Statement::new(
                    "UPDATE oauth_clients SET disabled_at = $2 WHERE client_id = $1 AND disabled_at IS NULL",
                )
                .bind(client_id)
                .bind(at),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn enable(&self, client_id: &str) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                Statement::new(
                    "UPDATE oauth_clients SET disabled_at = NULL WHERE client_id = $1 AND disabled_at IS NOT NULL",
                )
                .bind(client_id),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn update(&self, client_id: &str, edit: &ClientEdit) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                Statement::new(
                    "UPDATE oauth_clients SET name = $2, allowed_scopes = $3, device_grant_enabled = $4, \
                     refresh_allowed = $5, access_token_ttl_secs = $6, grant_ttl_secs = $7, \
                     grant_idle_ttl_secs = $8, poll_interval_secs = $9, dpop_mode = $10, approval_policy = $11 \
                     WHERE client_id = $1",
                )
                .bind(client_id)
                .bind(&edit.name)
                .bind(join_scopes(&edit.allowed_scopes))
                .bind(edit.device_grant_enabled)
                .bind(edit.policy.refresh_allowed)
                .bind(edit.policy.access_token_ttl)
                .bind(edit.policy.grant_ttl)
                .bind(edit.policy.grant_idle_ttl)
                .bind(edit.policy.poll_interval)
                .bind(edit.policy.dpop.as_str())
                .bind(approval_json(&edit.approval)?),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn set_secret_hash(&self, client_id: &str, secret_hash: &str) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                Statement::new(
                    "UPDATE oauth_clients SET secret_hash = $2 WHERE client_id = $1 AND client_type = 'confidential'",
                )
                .bind(client_id)
                .bind(secret_hash),
            )
            .await?;
        Ok(changed == 1)
    }
}

/// A client's approval policy as its column holds it.
fn approval_json(policy: &ApprovalPolicy) -> Result<String, StoreError> {
    serde_json::to_string(policy).map_err(StoreError::from_err)
}
