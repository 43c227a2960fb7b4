//! PostgreSQL repositories, with native UUID and TIMESTAMPTZ columns.

use super::{join_scopes, log_audit, split_scopes};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::model::{
    AccessTokenRecord, Account, ClientType, IssuedToken, NewAccessToken, OAuthClient, WorkspaceMembership,
};
use gatehouse_core::ports::{
    AccountRepository, AuditEvent, AuditKind, AuditLog, ClientRepository, CreateAccountError, DatabaseHealth,
    NewAccount, TokenRepository,
};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// Every repository port over one PostgreSQL pool.
pub struct PostgresRepository {
    pool: PgPool,
}

impl PostgresRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn store_err(err: sqlx::Error) -> StoreError {
    StoreError::from_err(err)
}

fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(store_err)
}

fn account(row: &PgRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: get(row, "id")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        is_admin: get(row, "is_admin")?,
        disabled: get::<Option<DateTime<Utc>>>(row, "disabled_at")?.is_some(),
        created_at: get(row, "created_at")?,
    })
}

fn client(row: &PgRow) -> Result<OAuthClient, StoreError> {
    Ok(OAuthClient {
        client_id: get(row, "client_id")?,
        name: get(row, "name")?,
        client_type: ClientType::parse(&get::<String>(row, "client_type")?)
            .ok_or_else(|| StoreError("bad client_type".into()))?,
        secret_hash: get(row, "secret_hash")?,
        allowed_scopes: split_scopes(&get::<String>(row, "allowed_scopes")?),
        device_grant_enabled: get(row, "device_grant_enabled")?,
        disabled: get::<Option<DateTime<Utc>>>(row, "disabled_at")?.is_some(),
        created_at: get(row, "created_at")?,
    })
}

fn token(row: &PgRow) -> Result<AccessTokenRecord, StoreError> {
    Ok(AccessTokenRecord {
        id: get(row, "id")?,
        subject_email: get(row, "subject_email")?,
        subject_issuer: get(row, "subject_issuer")?,
        account_id: get(row, "account_id")?,
        client_id: get(row, "client_id")?,
        device_label: get(row, "device_label")?,
        prefix: get(row, "prefix")?,
        scopes: split_scopes(&get::<String>(row, "scopes")?),
        created_at: get(row, "created_at")?,
        last_used_at: get(row, "last_used_at")?,
        last_used_ip: get(row, "last_used_ip")?,
        expires_at: get(row, "expires_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

const TOKEN_COLUMNS: &str = "id, subject_email, subject_issuer, account_id, client_id, device_label, prefix, \
     scopes, created_at, last_used_at, last_used_ip, expires_at, revoked_at";

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
}

#[async_trait]
impl ClientRepository for PostgresRepository {
    async fn find(&self, client_id: &str) -> Result<Option<OAuthClient>, StoreError> {
        let row = sqlx::query("SELECT * FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        row.as_ref().map(client).transpose()
    }

    async fn create(&self, new: &OAuthClient) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO oauth_clients (client_id, name, client_type, secret_hash, allowed_scopes, \
             device_grant_enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (client_id) DO NOTHING",
        )
        .bind(&new.client_id)
        .bind(&new.name)
        .bind(new.client_type.as_str())
        .bind(&new.secret_hash)
        .bind(join_scopes(&new.allowed_scopes))
        .bind(new.device_grant_enabled)
        .bind(new.created_at)
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(result.rows_affected() == 1)
    }

    async fn list(&self) -> Result<Vec<OAuthClient>, StoreError> {
        let rows = sqlx::query("SELECT * FROM oauth_clients ORDER BY created_at, client_id")
            .fetch_all(&self.pool)
            .await
            .map_err(store_err)?;
        rows.iter().map(client).collect()
    }

    async fn disable(&self, client_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE oauth_clients SET disabled_at = $2 WHERE client_id = $1 AND disabled_at IS NULL")
                .bind(client_id)
                .bind(at)
                .execute(&self.pool)
                .await
                .map_err(store_err)?;
        Ok(result.rows_affected() == 1)
    }
}

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
             AND revoked_at IS NULL AND expires_at > $3 ORDER BY created_at DESC, id"
        ))
        .bind(subject_email)
        .bind(subject_issuer)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter().map(token).collect()
    }

    async fn revoke(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE oauth_access_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(result.rows_affected() == 1)
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

#[async_trait]
impl AuditLog for PostgresRepository {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        log_audit(&event);
        sqlx::query(
            "INSERT INTO audit_events (occurred_at, kind, actor, subject, client_id, ip, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
        )
        .bind(event.at)
        .bind(event.kind.as_str())
        .bind(&event.actor)
        .bind(&event.subject)
        .bind(&event.client_id)
        .bind(&event.ip)
        .bind(event.details.to_string())
        .execute(&self.pool)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, kind = event.kind.as_str(), "could not store audit event");
            store_err(err)
        })?;
        Ok(())
    }

    async fn recent(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT occurred_at, kind, actor, subject, client_id, ip, details::text AS details FROM audit_events \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter().map(audit_event).collect()
    }
}

fn audit_event(row: &PgRow) -> Result<AuditEvent, StoreError> {
    let kind: String = get(row, "kind")?;
    Ok(AuditEvent {
        kind: AuditKind::parse(&kind).ok_or_else(|| StoreError(format!("unknown audit kind {kind}")))?,
        actor: get(row, "actor")?,
        subject: get(row, "subject")?,
        client_id: get(row, "client_id")?,
        ip: get(row, "ip")?,
        details: serde_json::from_str(&get::<String>(row, "details")?).map_err(StoreError::from_err)?,
        at: get(row, "occurred_at")?,
    })
}

#[async_trait]
impl DatabaseHealth for PostgresRepository {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(store_err)?;
        Ok(())
    }
}
