//! What the state-store conformance tests share: each backend's state
//! stores, built as the server builds them.

pub mod service;

use gatehouse_store::{StateStores, connect_state};
use uuid::Uuid;

/// The in-process stores, and the Redis ones (`GATEHOUSE_TEST_REDIS_URL`,
/// under a fresh key prefix) when that is set; otherwise the Redis case is
/// reported as skipped by name, and under `CI=true` it fails. Built by
/// `connect_state`, so each flow store and token cache spends its limits
/// from the very limiter listed beside it.
pub async fn state_stores(test: &str) -> Vec<(&'static str, StateStores)> {
    let mut stores = vec![(
        "memory",
        connect_state(None, "", &gatehouse_store::tls::ExtraRoots::none()).await.expect("in-process state"),
    )];
    if let Some(url) = service::backend_url("GATEHOUSE_TEST_REDIS_URL", "redis", test) {
        let prefix = format!("gatehouse-conformance:{}:", Uuid::new_v4().simple());
        stores.push((
            "redis",
            connect_state(Some(&url), &prefix, &gatehouse_store::tls::ExtraRoots::none()).await.expect("redis"),
        ));
    }
    stores
}
