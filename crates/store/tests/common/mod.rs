//! What the state-store conformance tests share: each backend's state
//! stores, built as the server builds them.

use gatehouse_store::{StateStores, connect_state};
use uuid::Uuid;

/// The in-process stores, and the Redis ones (`GATEHOUSE_TEST_REDIS_URL`,
/// under a fresh key prefix) when that is set; otherwise the Redis case is
/// reported as skipped by name, and under `CI=true` it fails. Built by
/// `connect_state`, so each flow store and token cache spends its limits
/// from the very limiter listed beside it.
pub async fn state_stores(test: &str) -> Vec<(&'static str, StateStores)> {
    let mut stores = vec![("memory", connect_state(None, "").await.expect("in-process state"))];
    match std::env::var("GATEHOUSE_TEST_REDIS_URL") {
        Ok(url) => {
            let prefix = format!("gatehouse-conformance:{}:", Uuid::new_v4().simple());
            stores.push(("redis", connect_state(Some(&url), &prefix).await.expect("redis")));
        }
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: GATEHOUSE_TEST_REDIS_URL must be set under CI=true"
            );
            eprintln!("SKIPPED {test}::redis: GATEHOUSE_TEST_REDIS_URL not set");
        }
    }
    stores
}
