//! PostgreSQL: readiness and retention. Several instances share the
//! database, so each pruning batch runs under an advisory transaction lock:
//! one instance prunes at a time, and the others step aside.

use super::*;
use async_trait::async_trait;
use gatehouse_core::ports::{Prunable, RetentionStore};

/// The advisory lock key of retention ("gatehous" in ASCII).
const PRUNE_LOCK: i64 = 0x6761_7465_686f_7573;

#[async_trait]
impl DatabaseHealth for PostgresRepository {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(store_err)?;
        Ok(())
    }
}

#[async_trait]
impl RetentionStore for PostgresRepository {
    async fn prune_batch(&self, what: Prunable, cutoff: DateTime<Utc>, batch: u32) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(PRUNE_LOCK)
            .fetch_one(&mut *tx)
            .await
            .map_err(store_err)?;
        if !locked {
            return Ok(None);
        }
        let statement = match what {
            Prunable::Tokens => {
                "DELETE FROM oauth_access_tokens WHERE id IN (SELECT id FROM oauth_access_tokens \
                 WHERE revoked_at < $1 OR expires_at < $1 LIMIT $2)"
            }
            Prunable::AuditEvents => {
                "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE occurred_at < $1 LIMIT $2)"
            }
            Prunable::Sessions => {
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expiry_date < $1 LIMIT $2)"
            }
        };
        let result =
            sqlx::query(statement).bind(cutoff).bind(i64::from(batch)).execute(&mut *tx).await.map_err(store_err)?;
        // Committing releases the lock.
        tx.commit().await.map_err(store_err)?;
        Ok(Some(result.rows_affected()))
    }
}
