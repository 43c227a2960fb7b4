//! Adapters behind `gatehouse-core`'s ports: SQLite and PostgreSQL
//! repositories, in-process and Redis flow-state stores, and crypto
//! (argon2id passwords, the OS CSPRNG). Backends are chosen at runtime
//! from URLs and handed out as `Arc<dyn Port>`.

pub mod crypto;
pub mod files;
pub mod sessions;
pub mod sql;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

pub use sessions::SqlSessionStore;
pub use sql::Database;
pub use state::{StateStores, connect_state};

/// How long a dependency (database or Redis) may take to answer before the
/// request is answered 503: a fault is detected within 2 s, never a hang.
pub const FAULT_DEADLINE: std::time::Duration = std::time::Duration::from_millis(1500);

/// Runs one call to a dependency (`database`: a SQL statement;
/// `state_store`: a Redis round trip) inside its trace span, timing it into
/// `gatehouse_dependency_duration_seconds{dependency}`: the one place both
/// adapters observe their calls.
#[allow(clippy::disallowed_methods)] // a call's real duration, not domain time
pub(crate) async fn observed<T>(
    dependency: &'static str,
    span: tracing::Span,
    call: impl std::future::Future<Output = T>,
) -> T {
    use tracing::Instrument as _;
    let started = std::time::Instant::now();
    let answer = call.instrument(span).await;
    gatehouse_core::metrics::dependency_call(dependency, started.elapsed());
    answer
}

/// Why a backend could not be reached or prepared at startup.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unsupported URL scheme in {0} (expected sqlite:, postgres:, redis:, rediss: or redis+unix:)")]
    UnsupportedScheme(String),
    #[error("cannot connect to the database: {0}")]
    Database(String),
    #[error("cannot run migrations: {0}")]
    Migrate(String),
    #[error("cannot connect to Redis: {0}")]
    Redis(String),
    #[error("cannot back up the database: {0}")]
    Backup(String),
}
