//! SQLite repositories. Ids are UUID text and instants Unix seconds; `?N`
//! placeholders keep parameter numbering explicit.

use super::{join_scopes, log_audit, split_scopes};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::model::{
    AccessTokenRecord, Account, ClientType, IssuedToken, NewAccessToken, OAuthClient, WorkspaceMembership,
};
use gatehouse_core::ports::{
    AccountRepository, AuditEvent, AuditKind, AuditLog, ClientRepository, CreateAccountError, DatabaseHealth,
    NewAccount, TokenRepository,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

/// Every repository port over one SQLite pool.
pub struct SqliteRepository {
    pool: SqlitePool,
}

impl SqliteRepository {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn store_err(err: sqlx::Error) -> StoreError {
    StoreError::from_err(err)
}

fn secs(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

fn instant(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, StoreError> {
    let secs: i64 = row.try_get(column).map_err(store_err)?;
    DateTime::from_timestamp(secs, 0).ok_or_else(|| StoreError(format!("bad instant in {column}")))
}

fn optional_instant(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let secs: Option<i64> = row.try_get(column).map_err(store_err)?;
    Ok(secs.and_then(|s| DateTime::from_timestamp(s, 0)))
}

fn uuid(row: &SqliteRow, column: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(column).map_err(store_err)?;
    Uuid::parse_str(&text).map_err(StoreError::from_err)
}

fn optional_uuid(row: &SqliteRow, column: &str) -> Result<Option<Uuid>, StoreError> {
    let text: Option<String> = row.try_get(column).map_err(store_err)?;
    text.map(|t| Uuid::parse_str(&t).map_err(StoreError::from_err)).transpose()
}

fn text(row: &SqliteRow, column: &str) -> Result<String, StoreError> {
    row.try_get(column).map_err(store_err)
}

fn account(row: &SqliteRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: uuid(row, "id")?,
        email: text(row, "email")?,
        name: text(row, "name")?,
        is_admin: row.try_get("is_admin").map_err(store_err)?,
        disabled: optional_instant(row, "disabled_at")?.is_some(),
        created_at: instant(row, "created_at")?,
    })
}

fn client(row: &SqliteRow) -> Result<OAuthClient, StoreError> {
    Ok(OAuthClient {
        client_id: text(row, "client_id")?,
        name: text(row, "name")?,
        client_type: ClientType::parse(&text(row, "client_type")?)
            .ok_or_else(|| StoreError("bad client_type".into()))?,
        secret_hash: row.try_get("secret_hash").map_err(store_err)?,
        allowed_scopes: split_scopes(&text(row, "allowed_scopes")?),
        device_grant_enabled: row.try_get("device_grant_enabled").map_err(store_err)?,
        disabled: optional_instant(row, "disabled_at")?.is_some(),
        created_at: instant(row, "created_at")?,
    })
}

fn token(row: &SqliteRow) -> Result<AccessTokenRecord, StoreError> {
    Ok(AccessTokenRecord {
        id: uuid(row, "id")?,
        subject_email: text(row, "subject_email")?,
        subject_issuer: text(row, "subject_issuer")?,
        account_id: optional_uuid(row, "account_id")?,
        client_id: text(row, "client_id")?,
        device_label: text(row, "device_label")?,
        prefix: text(row, "prefix")?,
        scopes: split_scopes(&text(row, "scopes")?),
        created_at: instant(row, "created_at")?,
        last_used_at: optional_instant(row, "last_used_at")?,
        last_used_ip: row.try_get("last_used_ip").map_err(store_err)?,
        expires_at: instant(row, "expires_at")?,
        revoked_at: optional_instant(row, "revoked_at")?,
    })
}

const TOKEN_COLUMNS: &str = "id, subject_email, subject_issuer, account_id, client_id, device_label, prefix, \
     scopes, created_at, last_used_at, last_used_ip, expires_at, revoked_at";

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
}

#[async_trait]
impl ClientRepository for SqliteRepository {
    async fn find(&self, client_id: &str) -> Result<Option<OAuthClient>, StoreError> {
        let row = sqlx::query("SELECT * FROM oauth_clients WHERE client_id = ?1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        row.as_ref().map(client).transpose()
    }

    async fn create(&self, new: &OAuthClient) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO oauth_clients (client_id, name, client_type, secret_hash, allowed_scopes, \
             device_grant_enabled, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (client_id) DO NOTHING",
        )
        .bind(&new.client_id)
        .bind(&new.name)
        .bind(new.client_type.as_str())
        .bind(&new.secret_hash)
        .bind(join_scopes(&new.allowed_scopes))
        .bind(new.device_grant_enabled)
        .bind(secs(new.created_at))
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
            sqlx::query("UPDATE oauth_clients SET disabled_at = ?2 WHERE client_id = ?1 AND disabled_at IS NULL")
                .bind(client_id)
                .bind(secs(at))
                .execute(&self.pool)
                .await
                .map_err(store_err)?;
        Ok(result.rows_affected() == 1)
    }
}

#[async_trait]
impl TokenRepository for SqliteRepository {
    async fn issue(&self, new: &NewAccessToken) -> Result<IssuedToken, StoreError> {
        // Rotation in place: the partial unique index admits one active row
        // per device, and the upsert replaces its secret atomically.
        let id: String = sqlx::query_scalar(
            "INSERT INTO oauth_access_tokens (id, subject_email, subject_issuer, account_id, client_id, \
             device_label, prefix, token_hash, scopes, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (subject_email, subject_issuer, client_id, device_label) WHERE revoked_at IS NULL \
             DO UPDATE SET account_id = excluded.account_id, prefix = excluded.prefix, \
               token_hash = excluded.token_hash, scopes = excluded.scopes, created_at = excluded.created_at, \
               expires_at = excluded.expires_at, last_used_at = NULL, last_used_ip = NULL \
             RETURNING id",
        )
        .bind(new.id.to_string())
        .bind(&new.subject.email)
        .bind(&new.subject.issuer)
        .bind(new.subject.account_id.map(|id| id.to_string()))
        .bind(&new.client_id)
        .bind(&new.device_label)
        .bind(&new.prefix)
        .bind(&new.token_hash)
        .bind(join_scopes(&new.scopes))
        .bind(secs(new.created_at))
        .bind(secs(new.expires_at))
        .fetch_one(&self.pool)
        .await
        .map_err(store_err)?;
        let id = Uuid::parse_str(&id).map_err(StoreError::from_err)?;
        Ok(IssuedToken { id, rotated: id != new.id })
    }

    async fn find_by_hash(&self, token_hash: &str) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE token_hash = ?1"))
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
            "SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE subject_email = ?1 AND subject_issuer = ?2 \
             AND client_id = ?3 AND device_label = ?4 AND revoked_at IS NULL"
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
            "SELECT {TOKEN_COLUMNS} FROM oauth_access_tokens WHERE subject_email = ?1 AND subject_issuer = ?2 \
             AND revoked_at IS NULL AND expires_at > ?3 ORDER BY created_at DESC, id"
        ))
        .bind(subject_email)
        .bind(subject_issuer)
        .bind(secs(now))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter().map(token).collect()
    }

    async fn revoke(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE oauth_access_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(secs(at))
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(result.rows_affected() == 1)
    }

    async fn hard_expire(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE oauth_access_tokens SET revoked_at = ?2, token_hash = NULL \
             WHERE id = ?1 AND token_hash IS NOT NULL AND expires_at <= ?2",
        )
        .bind(id.to_string())
        .bind(secs(at))
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(result.rows_affected() == 1)
    }

    async fn touch(&self, id: Uuid, at: DateTime<Utc>, ip: Option<&str>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE oauth_access_tokens SET last_used_at = ?2, last_used_ip = ?3 \
             WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2 - 60)",
        )
        .bind(id.to_string())
        .bind(secs(at))
        .bind(ip)
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(())
    }
}

#[async_trait]
impl AuditLog for SqliteRepository {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        log_audit(&event);
        sqlx::query(
            "INSERT INTO audit_events (occurred_at, kind, actor, subject, client_id, ip, details) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(secs(event.at))
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
            "SELECT occurred_at, kind, actor, subject, client_id, ip, details FROM audit_events \
             ORDER BY id DESC LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter().map(audit_event).collect()
    }
}

fn audit_event(row: &SqliteRow) -> Result<AuditEvent, StoreError> {
    let kind = text(row, "kind")?;
    Ok(AuditEvent {
        kind: AuditKind::parse(&kind).ok_or_else(|| StoreError(format!("unknown audit kind {kind}")))?,
        actor: row.try_get("actor").map_err(store_err)?,
        subject: row.try_get("subject").map_err(store_err)?,
        client_id: row.try_get("client_id").map_err(store_err)?,
        ip: row.try_get("ip").map_err(store_err)?,
        details: serde_json::from_str(&text(row, "details")?).map_err(StoreError::from_err)?,
        at: instant(row, "occurred_at")?,
    })
}

#[async_trait]
impl DatabaseHealth for SqliteRepository {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(store_err)?;
        Ok(())
    }
}
