//! Relational storage: SQLite (embedded default) or PostgreSQL, chosen from
//! the URL scheme. The repositories are written once (`repository/`) over a
//! [`dialect::Dialect`] that says how each backend stores what differs; the
//! core sees only the repository ports.

mod dialect;
mod postgres;
mod repository;
mod sqlite;

use crate::sessions::{SESSIONS_TABLE, SqlSessionStore};
use crate::{ConnectError, FAULT_DEADLINE};
use gatehouse_core::ports::{
    AccountRepository, AuditLog, ClientRepository, DatabaseHealth, RetentionStore, TokenRepository,
};
use repository::SqlRepository;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// A connected database.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The repository ports over one database.
#[derive(Clone)]
pub struct Repositories {
    pub accounts: Arc<dyn AccountRepository>,
    pub clients: Arc<dyn ClientRepository>,
    pub tokens: Arc<dyn TokenRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub health: Arc<dyn DatabaseHealth>,
    pub retention: Arc<dyn RetentionStore>,
}

fn repositories<T>(store: T) -> Repositories
where
    T: AccountRepository + ClientRepository + TokenRepository + AuditLog + DatabaseHealth + RetentionStore + 'static,
{
    let store = Arc::new(store);
    Repositories {
        accounts: store.clone(),
        clients: store.clone(),
        tokens: store.clone(),
        audit: store.clone(),
        health: store.clone(),
        retention: store,
    }
}

impl Database {
    /// Connects to `url` (`sqlite:` or `postgres:`/`postgresql:`), failing
    /// fast when the database cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let db_err = |e: sqlx::Error| ConnectError::Database(e.to_string());
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(db_err)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(db_err)?;
            Ok(Database::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(db_err)?;
            // A connection that cannot be had within the fault deadline is a
            // fault: the request answers 503 at once rather than queueing.
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(FAULT_DEADLINE)
                .connect_with(options)
                .await
                .map_err(db_err)?;
            Ok(Database::Postgres(pool))
        } else {
            Err(ConnectError::UnsupportedScheme("GATEHOUSE_DATABASE_URL".into()))
        }
    }

    /// Applies the embedded migrations for this backend.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        let result = match self {
            Database::Sqlite(pool) => sqlx::migrate!("../../migrations/sqlite").run(pool).await,
            Database::Postgres(pool) => sqlx::migrate!("../../migrations/postgres").run(pool).await,
        };
        result.map_err(|e| ConnectError::Migrate(e.to_string()))
    }

    /// The repository ports over this database.
    pub fn repositories(&self) -> Repositories {
        match self {
            Database::Sqlite(pool) => repositories(SqlRepository::new(pool.clone())),
            Database::Postgres(pool) => repositories(SqlRepository::new(pool.clone())),
        }
    }

    /// The browser-session store over this database.
    pub fn session_store(&self) -> Result<SqlSessionStore, ConnectError> {
        let invalid = |e: String| ConnectError::Database(e);
        Ok(match self {
            Database::Sqlite(pool) => SqlSessionStore::Sqlite(
                tower_sessions_sqlx_store::SqliteStore::new(pool.clone())
                    .with_table_name(SESSIONS_TABLE)
                    .map_err(invalid)?,
            ),
            Database::Postgres(pool) => SqlSessionStore::Postgres(
                tower_sessions_sqlx_store::PostgresStore::new(pool.clone())
                    .with_schema_name("public")
                    .map_err(invalid)?
                    .with_table_name(SESSIONS_TABLE)
                    .map_err(invalid)?,
            ),
        })
    }

    /// Closes the pool (graceful shutdown).
    pub async fn close(&self) {
        match self {
            Database::Sqlite(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
        }
    }
}
