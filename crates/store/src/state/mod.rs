//! Shared short-lived state: in-flight device flows, the token lookup
//! cache, single-use records and the rate limiters' counts, in process (one
//! instance), in Redis (several instances), or in PostgreSQL's own tables
//! (several instances without Redis). Flows apply `DeviceFlow::apply`
//! atomically per flow in all three.

mod flow_blob;
mod memory;
mod memory_cache;
pub mod postgres;
mod rate_limits;
mod redis;
mod redis_cache;
mod redis_connection;
mod redis_poll_batch;
mod single_use;
mod split_flow;

pub use self::memory::MemoryFlowStore;
pub use self::memory_cache::MemoryTokenCache;
pub use self::rate_limits::{MemoryRateLimiter, RedisRateLimiter};
pub use self::redis::RedisFlowStore;
pub use self::redis_cache::RedisTokenCache;
pub use self::redis_connection::RedisConnection;
pub use self::single_use::{MemorySingleUse, RedisSingleUse};

use crate::ConnectError;
use gatehouse_core::ports::{DeviceFlowStore, RateLimiter, SingleUseStore, TokenCache};
use std::sync::Arc;
use std::time::Duration;

/// A Redis failure as a storage fault, counted in the metrics.
pub(crate) fn redis_err(err: ::redis::RedisError) -> gatehouse_core::StoreError {
    gatehouse_core::metrics::dependency_error("state_store");
    gatehouse_core::StoreError::from_err(err)
}

/// How long an invalidated token id refuses new cache entries: longer than
/// any positive entry lives, so a lookup that read the row just before its
/// revocation cannot cache it afterwards.
pub const INVALIDATION_HOLD: Duration = Duration::from_secs(120);

/// The state-store adapters.
pub struct StateStores {
    pub flows: Arc<dyn DeviceFlowStore>,
    pub token_cache: Arc<dyn TokenCache>,
    pub single_use: Arc<dyn SingleUseStore>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// The in-process flow store, when there is one: its flows are saved at
    /// a graceful shutdown and restored at the next start.
    pub embedded_flows: Option<Arc<MemoryFlowStore>>,
}

/// The URL schemes of a Redis server: TCP (`redis`), TLS (`rediss`), and a
/// Unix socket (`redis+unix:///path` or `unix:///path`), which skips the
/// loopback TCP stack when Redis runs on the same host.
pub const REDIS_SCHEMES: [&str; 4] = ["redis", "rediss", "redis+unix", "unix"];

/// Whether `url` names a Redis server by one of `REDIS_SCHEMES`.
pub fn is_redis_url(url: &str) -> bool {
    url.split_once(':').is_some_and(|(scheme, _)| REDIS_SCHEMES.contains(&scheme))
}

/// Redis when `redis_url` is set (one shared connection); else PostgreSQL's
/// own tables when the database is PostgreSQL; else in process. `key_prefix`
/// namespaces Redis keys, so tests or deployments can share a server.
pub async fn connect_state(
    redis_url: Option<&str>,
    key_prefix: &str,
    roots: &crate::tls::ExtraRoots,
    database: &crate::Database,
) -> Result<StateStores, ConnectError> {
    match redis_url {
        None => match database {
            crate::Database::Postgres(pool) => postgres::connect(pool).await,
            crate::Database::Sqlite(_) => Ok(in_process()),
        },
        Some(url) if is_redis_url(url) => {
            let flows = RedisFlowStore::connect(url, key_prefix, roots).await?;
            let token_cache = RedisTokenCache::new(flows.connection(), key_prefix);
            let single_use = RedisSingleUse::new(flows.connection(), key_prefix);
            let rate_limiter = RedisRateLimiter::new(flows.connection(), key_prefix);
            Ok(StateStores {
                flows: Arc::new(flows),
                token_cache: Arc::new(token_cache),
                single_use: Arc::new(single_use),
                rate_limiter: Arc::new(rate_limiter),
                embedded_flows: None,
            })
        }
        Some(_) => Err(ConnectError::UnsupportedScheme("GATEHOUSE_REDIS_URL".into())),
    }
}

/// The in-process stores (the embedded default).
pub fn in_process() -> StateStores {
    let rate_limiter = Arc::new(MemoryRateLimiter::default());
    let flows = Arc::new(MemoryFlowStore::new(rate_limiter.clone()));
    StateStores {
        flows: flows.clone(),
        embedded_flows: Some(flows),
        token_cache: Arc::new(MemoryTokenCache::new(rate_limiter.clone())),
        single_use: Arc::new(MemorySingleUse::default()),
        rate_limiter,
    }
}
