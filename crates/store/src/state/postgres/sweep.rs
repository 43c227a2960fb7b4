//! Drops the state store's rows whose time has passed (reads already treat
//! them as absent), in small batches so no statement holds many row locks
//! or runs long: rows another statement holds are skipped (`SKIP LOCKED`)
//! and met at the next sweep. Every instance sweeps; they skip each other's
//! rows. Times are the database's (`now()`): a few seconds of clock skew
//! only moves when a row already past its time is dropped.

use super::AbortOnDrop;
use sqlx::PgPool;
use std::time::Duration;

/// How often each instance sweeps.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Rows dropped per statement.
const BATCH: i64 = 1000;

/// One batch per table: rows past their time, a batch at a time.
const SWEEPS: [&str; 3] = [
    "DELETE FROM state_flows WHERE device_code_hash IN (SELECT device_code_hash FROM state_flows \
     WHERE retain_until < now() LIMIT $1 FOR UPDATE SKIP LOCKED)",
    "DELETE FROM state_single_use WHERE key IN (SELECT key FROM state_single_use \
     WHERE expires_at < now() LIMIT $1 FOR UPDATE SKIP LOCKED)",
    "DELETE FROM state_rate_limits WHERE key IN (SELECT key FROM state_rate_limits \
     WHERE arrival < extract(epoch FROM now()) * 1000 LIMIT $1 FOR UPDATE SKIP LOCKED)",
];

/// Starts sweeping every [`SWEEP_EVERY`] until the returned guard is dropped.
pub(super) fn start(pool: PgPool) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            if let Err(err) = sweep(&pool).await {
                tracing::warn!(error = %err, "sweeping the state store failed; trying again later");
            }
        }
    }))
}

/// Drops every row past its time, a batch per statement.
pub async fn sweep(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut dropped = 0;
    for statement in SWEEPS {
        loop {
            let batch = sqlx::query(statement).bind(BATCH).execute(pool).await?.rows_affected();
            dropped += batch;
            if batch < BATCH as u64 {
                break;
            }
        }
    }
    Ok(dropped)
}
