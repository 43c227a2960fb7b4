//! Relational storage: SQLite (embedded default) or PostgreSQL, chosen from
//! the URL scheme. The repositories are written once (`repository/`) over a
//! [`dialect::Dialect`] that says how each backend stores what differs; the
//! core sees only the repository ports.

mod dialect;
pub(crate) mod failover;
mod postgres;
mod repository;
mod sqlite;

use crate::ConnectError;
use crate::sessions::{SESSIONS_TABLE, SqlSessionStore};
use gatehouse_core::ports::{
    AccountRepository, AuditLog, AuditOutbox, ClientRepository, DatabaseHealth, PasskeyRepository, RetentionStore,
    ScopeRepository, TokenRepository,
};
pub use repository::SecretCheck;
use repository::SqlRepository;
use sqlx::postgres::PgConnectOptions;
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
    pub scopes: Arc<dyn ScopeRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub health: Arc<dyn DatabaseHealth>,
    pub retention: Arc<dyn RetentionStore>,
    pub audit_outbox: Arc<dyn AuditOutbox>,
    pub passkeys: Arc<dyn PasskeyRepository>,
}

fn repositories<T>(store: T) -> Repositories
where
    T: AccountRepository
        + ClientRepository
        + TokenRepository
        + ScopeRepository
        + AuditLog
        + DatabaseHealth
        + RetentionStore
        + AuditOutbox
        + PasskeyRepository
        + 'static,
{
    let store = Arc::new(store);
    Repositories {
        accounts: store.clone(),
        clients: store.clone(),
        tokens: store.clone(),
        scopes: store.clone(),
        audit: store.clone(),
        health: store.clone(),
        retention: store.clone(),
        passkeys: store.clone(),
        audit_outbox: store,
    }
}

impl Database {
    /// Connects to `url` (`sqlite:` or `postgres:`/`postgresql:`), failing
    /// fast when the database cannot be reached. PostgreSQL's TLS
    /// (`sslmode=require|verify-ca|verify-full` in the URL; `prefer`, the
    /// default, tries TLS first) trusts the system's roots and `roots`.
    pub async fn connect(url: &str, roots: &crate::tls::ExtraRoots) -> Result<Self, ConnectError> {
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
            let mut options = PgConnectOptions::from_str(url).map_err(db_err)?;
            // A `sslrootcert` in the URL wins; else the configured bundle.
            if let Some(bundle) = roots.path().filter(|_| !url.contains("sslrootcert=")) {
                options = options.ssl_root_cert(bundle);
            }
            // Within the fault deadline or 503, and following a failover.
            let pool = failover::pool(16, options).await.map_err(db_err)?;
            Ok(Database::Postgres(pool))
        } else {
            Err(ConnectError::UnsupportedScheme("GATEHOUSE_DATABASE_URL".into()))
        }
    }

    /// The migrations embedded for this backend.
    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self {
            Database::Sqlite(_) => sqlx::migrate!("../../migrations/sqlite"),
            Database::Postgres(_) => sqlx::migrate!("../../migrations/postgres"),
        }
    }

    /// Applies the embedded migrations for this backend.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        let migrator = self.migrator();
        let result = match self {
            Database::Sqlite(pool) => migrator.run(pool).await,
            Database::Postgres(pool) => migrator.run(pool).await,
        };
        result.map_err(|e| ConnectError::Migrate(e.to_string()))
    }

    /// The embedded migrations this database has not applied yet
    /// (`<version> <description>`), oldest first. Reads only: a database
    /// never migrated has every migration pending.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, ConnectError> {
        use sqlx::migrate::Migrate;
        let failed = |e: String| ConnectError::Migrate(e);
        let applied = match self {
            Database::Sqlite(pool) => {
                let mut conn = pool.acquire().await.map_err(|e| failed(e.to_string()))?;
                let exists: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
                )
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| failed(e.to_string()))?;
                if exists { conn.list_applied_migrations().await.map_err(|e| failed(e.to_string()))? } else { vec![] }
            }
            Database::Postgres(pool) => {
                let mut conn = pool.acquire().await.map_err(|e| failed(e.to_string()))?;
                let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                if exists { conn.list_applied_migrations().await.map_err(|e| failed(e.to_string()))? } else { vec![] }
            }
        };
        let applied: std::collections::HashSet<i64> = applied.iter().map(|m| m.version).collect();
        Ok(self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect())
    }

    /// Records this instance's secret fingerprint, or compares it with the
    /// one the other instances recorded (see [`SecretCheck`]).
    pub async fn check_secret(&self, current: &str, previous: &[String]) -> Result<SecretCheck, ConnectError> {
        let result = match self {
            Database::Sqlite(pool) => SqlRepository::new(pool.clone()).check_secret(current, previous).await,
            Database::Postgres(pool) => SqlRepository::new(pool.clone()).check_secret(current, previous).await,
        };
        result.map_err(|e| ConnectError::Database(e.to_string()))
    }

    /// Writes a consistent copy of the embedded database to `destination`
    /// (which must not exist) while the server keeps running and writing:
    /// `VACUUM INTO` reads the database inside one read transaction, so the
    /// copy is one committed state, WAL included, never a torn file. Only
    /// SQLite: PostgreSQL has `pg_dump` and its own backups.
    pub async fn backup_to(&self, destination: &std::path::Path) -> Result<(), ConnectError> {
        let Database::Sqlite(pool) = self else {
            return Err(ConnectError::Backup(
                "gatehouse backup copies the embedded SQLite database; back PostgreSQL up with pg_dump".into(),
            ));
        };
        // Created empty and owner-only first (it holds password hashes);
        // `VACUUM INTO` fills an empty file, and refuses one with content.
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(destination)
                .map_err(|e| ConnectError::Backup(format!("cannot create {}: {e}", destination.display())))?;
        }
        let path =
            destination.to_str().ok_or_else(|| ConnectError::Backup("the backup path is not valid UTF-8".into()))?;
        if let Err(err) = sqlx::query("VACUUM INTO $1").bind(path).execute(pool).await {
            let _ = std::fs::remove_file(destination);
            return Err(ConnectError::Backup(err.to_string()));
        }
        Ok(())
    }

    /// The repository ports over this database.
    pub fn repositories(&self) -> Repositories {
        self.repositories_with(false)
    }

    /// The repository ports; with `audit_outbox`, every audit event is also
    /// queued for the webhook in its own transaction.
    pub fn repositories_with(&self, audit_outbox: bool) -> Repositories {
        match self {
            Database::Sqlite(pool) => repositories(SqlRepository::new(pool.clone()).with_audit_outbox(audit_outbox)),
            Database::Postgres(pool) => repositories(SqlRepository::new(pool.clone()).with_audit_outbox(audit_outbox)),
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
