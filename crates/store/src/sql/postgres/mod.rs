//! PostgreSQL repositories, with native UUID and TIMESTAMPTZ columns.

mod accounts;
mod audit;
mod clients;
mod retention;
mod tokens;

use super::{join_scopes, log_audit, split_scopes};
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
    gatehouse_core::metrics::dependency_error("database");
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
        sessions_valid_after: get(row, "sessions_valid_after")?,
    })
}

fn client(row: &PgRow) -> Result<OAuthClient, StoreError> {
    Ok(OAuthClient {
        client_id: get(row, "client_id")?,
        name: get(row, "name")?,
        client_type: ClientType::parse(&get::<String>(row, "client_type")?)
            .ok_or_else(|| StoreError::new("bad client_type"))?,
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
