//! Where in-flight device flows live: in process (one instance) or in Redis
//! (several instances). Both apply `DeviceFlow::apply` atomically per flow.

mod memory;
mod redis;

pub use self::memory::MemoryFlowStore;
pub use self::redis::RedisFlowStore;

use crate::ConnectError;
use gatehouse_core::ports::DeviceFlowStore;
use std::sync::Arc;

/// The in-process store when `redis_url` is `None`, else Redis. `key_prefix`
/// namespaces Redis keys (so tests or deployments can share a server).
pub async fn connect_flow_store(
    redis_url: Option<&str>,
    key_prefix: &str,
) -> Result<Arc<dyn DeviceFlowStore>, ConnectError> {
    match redis_url {
        None => Ok(Arc::new(MemoryFlowStore::default())),
        Some(url) if url.starts_with("redis:") || url.starts_with("rediss:") => {
            Ok(Arc::new(RedisFlowStore::connect(url, key_prefix).await?))
        }
        Some(_) => Err(ConnectError::UnsupportedScheme("GATEHOUSE_REDIS_URL".into())),
    }
}
