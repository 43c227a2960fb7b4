//! The rate limiters' arrival times in PostgreSQL (`state_rate_limits`),
//! shared by every instance. A check locks its keys' rows (creating the
//! missing ones) in one statement, in key order so two checks cannot
//! deadlock, runs `gcra_step` over them in Rust as the other stores do,
//! and writes the new times only when every key allows (all or nothing),
//! in one transaction.

use super::super::rate_limits::step_all;
use super::{pg_err, timed};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::ports::RateLimiter;
use gatehouse_core::rate_limit::{RateCheck, RateLimited, RateMode, epoch_ms, gcra_refund};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;

/// Locks each key's row, creating it (arrival 0: as good as absent) when
/// missing, and returns its arrival time.
const LOCK_KEYS: &str = "INSERT INTO state_rate_limits (key, arrival) \
     SELECT key, 0 FROM unnest($1::text[]) AS key ORDER BY key \
     ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key \
     RETURNING key, arrival";

/// Stores each key's new arrival time.
const STORE: &str = "UPDATE state_rate_limits SET arrival = next.arrival \
     FROM unnest($1::text[], $2::float8[]) AS next(key, arrival) \
     WHERE state_rate_limits.key = next.key";

/// The keys of `checks`, sorted and each once.
fn keys_of(checks: &[RateCheck]) -> Vec<&str> {
    let mut keys: Vec<&str> = checks.iter().map(|check| check.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Spends one unit of each of `checks` inside the caller's transaction, or
/// names the refusal (then the caller rolls back: nothing is spent).
async fn take_in(
    transaction: &mut PgConnection,
    checks: &[RateCheck],
    now: DateTime<Utc>,
) -> Result<Option<RateLimited>, StoreError> {
    let rows: Vec<(String, f64)> =
        timed(sqlx::query_as(LOCK_KEYS).bind(keys_of(checks)).fetch_all(&mut *transaction)).await.map_err(pg_err)?;
    let current: HashMap<String, f64> = rows.into_iter().collect();
    let next = match step_all(checks, epoch_ms(now), |key| current.get(key).copied()) {
        Ok(next) => next,
        Err(limited) => return Ok(Some(limited)),
    };
    let keys: Vec<&str> = checks.iter().map(|check| check.key.as_str()).collect();
    timed(sqlx::query(STORE).bind(keys).bind(next).execute(&mut *transaction)).await.map_err(pg_err)?;
    Ok(None)
}

/// Gives one unit back to each key that has a time (never refused).
async fn refund_in(transaction: &mut PgConnection, checks: &[RateCheck]) -> Result<(), StoreError> {
    let rows: Vec<(String, f64)> = timed(
        sqlx::query_as("SELECT key, arrival FROM state_rate_limits WHERE key = ANY($1) ORDER BY key FOR UPDATE")
            .bind(keys_of(checks))
            .fetch_all(&mut *transaction),
    )
    .await
    .map_err(pg_err)?;
    let current: HashMap<String, f64> = rows.into_iter().collect();
    let (keys, times): (Vec<&str>, Vec<f64>) = checks
        .iter()
        .filter_map(|check| Some((check.key.as_str(), gcra_refund(current.get(&check.key).copied(), &check.quota)?)))
        .unzip();
    timed(sqlx::query(STORE).bind(keys).bind(times).execute(&mut *transaction)).await.map_err(pg_err)?;
    Ok(())
}

/// The limiters' state in PostgreSQL, over the pool that commits without
/// waiting (a unit lost in a crash is one more request allowed).
pub struct PgRateLimiter {
    pool: PgPool,
}

impl PgRateLimiter {
    pub(super) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl RateLimiter for PgRateLimiter {
    async fn check(
        &self,
        checks: &[RateCheck],
        mode: RateMode,
        now: DateTime<Utc>,
    ) -> Result<Option<RateLimited>, StoreError> {
        if checks.is_empty() {
            return Ok(None);
        }
        let mut transaction = timed(self.pool.begin()).await.map_err(pg_err)?;
        let refused = match mode {
            RateMode::Take => take_in(&mut transaction, checks, now).await?,
            RateMode::Refund => {
                refund_in(&mut transaction, checks).await?;
                None
            }
        };
        if refused.is_some() {
            timed(transaction.rollback()).await.map_err(pg_err)?;
        } else {
            timed(transaction.commit()).await.map_err(pg_err)?;
        }
        Ok(refused)
    }
}
