//! What the state-store conformance tests share: the Redis server they run
//! the Redis cases against.

use gatehouse_store::state::RedisFlowStore;
use uuid::Uuid;

/// A connection to the test Redis (`GATEHOUSE_TEST_REDIS_URL`) and a fresh
/// key prefix for `test`. `None` when the variable is unset: the Redis case
/// is then reported as skipped by name, and under `CI=true` it fails.
pub async fn test_redis(test: &str) -> Option<(RedisFlowStore, String)> {
    let Ok(url) = std::env::var("GATEHOUSE_TEST_REDIS_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: GATEHOUSE_TEST_REDIS_URL must be set under CI=true"
        );
        eprintln!("SKIPPED {test}::redis: GATEHOUSE_TEST_REDIS_URL not set");
        return None;
    };
    let prefix = format!("gatehouse-conformance:{}:", Uuid::new_v4().simple());
    Some((RedisFlowStore::connect(&url, &prefix).await.expect("redis"), prefix))
}
