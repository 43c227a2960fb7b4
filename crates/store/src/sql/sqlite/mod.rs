//! SQLite repositories. Ids are UUID text and instants Unix seconds; `?N`
//! placeholders keep parameter numbering explicit.

mod accounts;
mod audit;
mod clients;
mod retention;
mod tokens;

use super::{join_scopes, log_audit, split_scopes};
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
    gatehouse_core::metrics::dependency_error("database");
    StoreError::from_err(err)
}

fn secs(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

fn instant(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, StoreError> {
    let secs: i64 = row.try_get(column).map_err(store_err)?;
    DateTime::from_timestamp(secs, 0).ok_or_else(|| StoreError::new(format!("bad instant in {column}")))
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
        sessions_valid_after: optional_instant(row, "sessions_valid_after")?,
    })
}

fn client(row: &SqliteRow) -> Result<OAuthClient, StoreError> {
    Ok(OAuthClient {
        client_id: text(row, "client_id")?,
        name: text(row, "name")?,
        client_type: ClientType::parse(&text(row, "client_type")?).ok_or_else(|| StoreError::new("bad client_type"))?,
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
