//! Readiness and retention. Each pruning batch runs in a transaction under
//! the dialect's retention lock: with PostgreSQL several instances share the
//! database, one prunes at a time and the others step aside.

use super::SqlRepository;
use crate::sql::dialect::{Dialect, Statement, store_err};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::ports::{DatabaseHealth, Prunable, RetentionStore};

#[async_trait]
impl<D: Dialect> DatabaseHealth for SqlRepository<D> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.execute(Statement::new("SELECT 1")).await?;
        Ok(())
    }
}

#[async_trait]
impl<D: Dialect> RetentionStore for SqlRepository<D> {
    async fn prune_batch(&self, what: Prunable, cutoff: DateTime<Utc>, batch: u32) -> Result<Option<u64>, StoreError> {
        let (statement, cutoff) = match what {
            Prunable::Tokens => (
                "DELETE FROM oauth_access_tokens WHERE id IN (SELECT id FROM oauth_access_tokens \
                 WHERE revoked_at < $1 OR expires_at < $1 LIMIT $2)",
                cutoff.into(),
            ),
            Prunable::AuditEvents => (
                // Never an event the webhook has not received yet.
                "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE occurred_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM audit_outbox o WHERE o.event_id = audit_events.id) LIMIT $2)",
                cutoff.into(),
            ),
            Prunable::Sessions => (
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expiry_date < $1 LIMIT $2)",
                D::session_expiry(cutoff)?,
            ),
        };
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        if !D::try_lock_retention(&mut tx).await? {
            return Ok(None);
        }
        let pruned = D::execute(&mut tx, Statement::new(statement).bind(cutoff).bind(i64::from(batch))).await?;
        // Committing releases the lock.
        tx.commit().await.map_err(store_err)?;
        Ok(Some(pruned))
    }
}
