//! Single-use records in PostgreSQL (`state_single_use`): each call one
//! statement. A put takes a key whose record's time has passed in the same
//! statement; a take deletes and returns in one, so of two racing takes
//! exactly one gets the record. Committed as the server is set up: an
//! approval grant survives a failover.

use super::{pg_err, timed};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::ports::SingleUseStore;
use sqlx::PgPool;

/// Single-use records shared by every instance through PostgreSQL.
pub struct PgSingleUse {
    pool: PgPool,
}

impl PgSingleUse {
    pub(super) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl SingleUseStore for PgSingleUse {
    async fn put(&self, key: &str, value: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = timed(
            sqlx::query(
                "INSERT INTO state_single_use (key, value, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at \
                 WHERE state_single_use.expires_at <= $4",
            )
            .bind(key)
            .bind(value)
            .bind(until)
            .bind(now)
            .execute(&self.pool),
        )
        .await
        .map_err(pg_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn peek(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        timed(
            sqlx::query_scalar("SELECT value FROM state_single_use WHERE key = $1 AND expires_at > $2")
                .bind(key)
                .bind(now)
                .fetch_optional(&self.pool),
        )
        .await
        .map_err(pg_err)
    }

    async fn take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        let taken: Option<(String, DateTime<Utc>)> = timed(
            sqlx::query_as("DELETE FROM state_single_use WHERE key = $1 RETURNING value, expires_at")
                .bind(key)
                .fetch_optional(&self.pool),
        )
        .await
        .map_err(pg_err)?;
        // A record past its time was as good as gone: dropped, not returned.
        Ok(taken.filter(|(_, until)| *until > now).map(|(value, _)| value))
    }
}
