//! The PostgreSQL state store: in-flight device flows, single-use records
//! and the rate limiters' arrival times in the database's own tables
//! (migration `state_store`), for several instances on PostgreSQL alone.
//! Chosen when the database is PostgreSQL and no Redis is configured.
//!
//! Every rule stays in the core; each change is made atomic by one
//! statement or a row lock, as the other two stores do with a mutex or a
//! Lua script. Two pools: writes that must survive a failover (flows
//! created and decided, single-use records) commit as the server is set up
//! (with a synchronous standby, once the standby has them), while the
//! writes a poll and a rate check make commit without waiting
//! (`synchronous_commit = off`): losing one in a crash costs one extra
//! poll or one unit of a limit, never a token.
//!
//! The token cache stays in each process, and a revocation reaches every
//! other instance through `LISTEN`/`NOTIFY` (`token_cache`).

mod flows;
mod rate_limits;
mod single_use;
mod sweep;
mod token_cache;

pub use self::flows::PgFlowStore;
pub use self::rate_limits::PgRateLimiter;
pub use self::single_use::PgSingleUse;
pub use self::sweep::sweep;
pub use self::token_cache::{CHANNEL, PgTokenCache};

use super::StateStores;
use crate::ConnectError;
use crate::sql::failover;
use gatehouse_core::StoreError;
use sqlx::PgPool;
use std::sync::Arc;

/// Connections for the writes that need not wait for a synchronous commit
/// (polls, rate checks), beside the database's own pool.
const RELAXED_CONNECTIONS: u32 = 8;

/// A PostgreSQL failure as a storage fault, counted in the metrics.
pub(super) fn pg_err(err: sqlx::Error) -> StoreError {
    failover::note(&err);
    gatehouse_core::metrics::dependency_error("state_store");
    StoreError::from_err(err)
}

/// Runs one statement as an observed `state_store` call (`crate::observed`),
/// answered within the fault deadline or failed (a 503), as Redis's are.
pub(super) async fn timed<T>(statement: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, sqlx::Error> {
    let statement = failover::within(crate::FAULT_DEADLINE, statement);
    crate::observed("state_store", tracing::info_span!("state.statement"), statement).await
}

/// A task that ends when this is dropped (with the store that started it).
pub(super) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The state stores over `pool` (the database's own, already connected):
/// flows and single-use records on it, polls and rate checks on a second
/// pool that commits without waiting, a listener for revocations, and the
/// sweep of rows past their time.
pub async fn connect(pool: &PgPool) -> Result<StateStores, ConnectError> {
    let relaxed_options = pool.connect_options().as_ref().clone().options([("synchronous_commit", "off")]);
    let relaxed = failover::lazy_unpinged_pool(RELAXED_CONNECTIONS, relaxed_options);
    let rate_limiter = Arc::new(PgRateLimiter::new(relaxed.clone()));
    let sweeper = Arc::new(sweep::start(pool.clone()));
    let token_cache = PgTokenCache::start(pool, rate_limiter.clone())
        .await
        .map_err(|err| ConnectError::Database(format!("cannot listen for token revocations: {err}")))?;
    Ok(StateStores {
        flows: Arc::new(PgFlowStore::new(pool.clone(), relaxed, rate_limiter.clone(), sweeper)),
        token_cache: Arc::new(token_cache),
        single_use: Arc::new(PgSingleUse::new(pool.clone())),
        rate_limiter,
        embedded_flows: None,
    })
}
