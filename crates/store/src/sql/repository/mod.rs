//! Every repository port over either database, written once against
//! [`Dialect`]: the statements, the rows and the mapping between them.

mod accounts;
mod audit;
mod clients;
mod installation;
mod passkeys;
mod retention;
mod scopes;
mod tokens;

use super::dialect::{Columns, Dialect, Statement};
use gatehouse_core::StoreError;
use gatehouse_core::model::{AccessTokenRecord, Account, ClientType, DpopMode, OAuthClient, TokenPolicy};
pub use installation::SecretCheck;
use sqlx::Pool;

/// Every repository port over one connection pool.
pub struct SqlRepository<D: Dialect> {
    pub(crate) pool: Pool<D>,
    /// Whether audit events are queued for the webhook (`audit_outbox`).
    audit_outbox: bool,
}

impl<D: Dialect> SqlRepository<D> {
    pub fn new(pool: Pool<D>) -> Self {
        Self { pool, audit_outbox: false }
    }

    /// Queues every audit event for the webhook too (or not).
    pub fn with_audit_outbox(self, audit_outbox: bool) -> Self {
        Self { audit_outbox, ..self }
    }

    async fn connection(&self) -> Result<sqlx::pool::PoolConnection<D>, StoreError> {
        self.pool.acquire().await.map_err(super::dialect::store_err)
    }

    pub(crate) async fn fetch_all(&self, statement: Statement<'_>) -> Result<Vec<D::Row>, StoreError> {
        D::fetch_all(&mut *self.connection().await?, statement).await
    }

    pub(crate) async fn fetch_optional(&self, statement: Statement<'_>) -> Result<Option<D::Row>, StoreError> {
        D::fetch_optional(&mut *self.connection().await?, statement).await
    }

    pub(crate) async fn fetch_one(&self, statement: Statement<'_>) -> Result<D::Row, StoreError> {
        self.fetch_optional(statement).await?.ok_or_else(|| StoreError::new("the statement returned no row"))
    }

    pub(crate) async fn execute(&self, statement: Statement<'_>) -> Result<u64, StoreError> {
        D::execute(&mut *self.connection().await?, statement).await
    }
}

/// Scopes rest as one space-separated string in both backends.
fn join_scopes(scopes: &[String]) -> String {
    scopes.join(" ")
}

fn split_scopes(scopes: &str) -> Vec<String> {
    scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn account<D: Dialect>(row: &D::Row) -> Result<Account, StoreError> {
    let row = Columns::<D>(row);
    Ok(Account {
        id: row.id("id")?,
        email: row.text("email")?,
        name: row.text("name")?,
        is_admin: row.flag("is_admin")?,
        disabled: row.optional_instant("disabled_at")?.is_some(),
        created_at: row.instant("created_at")?,
        sessions_valid_after: row.optional_instant("sessions_valid_after")?,
        passwordless: row.flag("passwordless")?,
    })
}

fn client<D: Dialect>(row: &D::Row) -> Result<OAuthClient, StoreError> {
    let row = Columns::<D>(row);
    Ok(OAuthClient {
        client_id: row.text("client_id")?,
        name: row.text("name")?,
        client_type: ClientType::parse(&row.text("client_type")?).ok_or_else(|| StoreError::new("bad client_type"))?,
        secret_hash: row.optional_text("secret_hash")?,
        allowed_scopes: split_scopes(&row.text("allowed_scopes")?),
        device_grant_enabled: row.flag("device_grant_enabled")?,
        disabled: row.optional_instant("disabled_at")?.is_some(),
        created_at: row.instant("created_at")?,
        policy: TokenPolicy {
            refresh_allowed: row.flag("refresh_allowed")?,
            access_token_ttl: row.optional_seconds("access_token_ttl_secs")?,
            grant_ttl: row.optional_seconds("grant_ttl_secs")?,
            grant_idle_ttl: row.optional_seconds("grant_idle_ttl_secs")?,
            poll_interval: row.optional_seconds("poll_interval_secs")?,
            dpop: DpopMode::parse(&row.text("dpop_mode")?).ok_or_else(|| StoreError::new("bad dpop_mode"))?,
        },
        approval: serde_json::from_str(&row.text("approval_policy")?)
            .map_err(|err| StoreError::new(format!("bad approval_policy: {err}")))?,
    })
}

const TOKEN_COLUMNS: &str = "id, subject_email, subject_issuer, subject_id, account_id, client_id, device_label, prefix, \
     scopes, access_scopes, created_at, last_used_at, last_used_ip, expires_at, access_expires_at, max_expires_at, \
     (refresh_token_hash IS NOT NULL) AS refreshable, refreshed_at, revoked_at, dpop_jkt, approval_evidence";

fn token<D: Dialect>(row: &D::Row) -> Result<AccessTokenRecord, StoreError> {
    let row = Columns::<D>(row);
    Ok(AccessTokenRecord {
        id: row.id("id")?,
        subject_email: row.text("subject_email")?,
        subject_issuer: row.text("subject_issuer")?,
        subject_id: row.optional_text("subject_id")?,
        account_id: row.optional_id("account_id")?,
        client_id: row.text("client_id")?,
        device_label: row.text("device_label")?,
        prefix: row.text("prefix")?,
        scopes: split_scopes(&row.text("scopes")?),
        access_scopes: row.optional_text("access_scopes")?.as_deref().map(split_scopes),
        created_at: row.instant("created_at")?,
        last_used_at: row.optional_instant("last_used_at")?,
        last_used_ip: row.optional_text("last_used_ip")?,
        expires_at: row.instant("expires_at")?,
        access_expires_at: row.optional_instant("access_expires_at")?,
        max_expires_at: row.optional_instant("max_expires_at")?,
        refreshable: row.flag("refreshable")?,
        refreshed_at: row.optional_instant("refreshed_at")?,
        revoked_at: row.optional_instant("revoked_at")?,
        dpop_jkt: row.optional_text("dpop_jkt")?,
        // Evidence a later release wrote in a shape this one cannot read
        // is shown as none rather than failing the whole listing.
        approval: row.optional_text("approval_evidence")?.and_then(|text| serde_json::from_str(&text).ok()),
    })
}
