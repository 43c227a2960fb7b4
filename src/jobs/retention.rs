//! Retention, periodically: shortly after start-up, then every
//! `GATEHOUSE_PRUNE_INTERVAL_SECS`. On PostgreSQL the instances take turns
//! (an advisory lock per batch), so running it everywhere is safe.

use gatehouse_core::services::retention::RetentionService;
use std::time::Duration;

/// Waits this long after start-up before the first prune, so start-up and
/// readiness are not slowed by it.
const FIRST_RUN_AFTER: Duration = Duration::from_secs(30);

/// Runs retention until the task is dropped (at shutdown).
pub async fn run(retention: RetentionService) {
    let mut next = FIRST_RUN_AFTER;
    loop {
        tokio::time::sleep(next).await;
        // A failed run is logged and tried again at the next interval.
        if let Err(err) = retention.prune().await {
            tracing::warn!(error = %err.report(), "retention failed; trying again later");
        }
        next = retention.interval();
    }
}
