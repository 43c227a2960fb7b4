//! SQLite: readiness and retention. The embedded default is one instance,
//! so retention needs no lock here.

use super::*;
use async_trait::async_trait;
use gatehouse_core::ports::{Prunable, RetentionStore};
use tower_sessions::cookie::time::OffsetDateTime;

#[async_trait]
impl DatabaseHealth for SqliteRepository {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(store_err)?;
        Ok(())
    }
}

#[async_trait]
impl RetentionStore for SqliteRepository {
    async fn prune_batch(&self, what: Prunable, cutoff: DateTime<Utc>, batch: u32) -> Result<Option<u64>, StoreError> {
        let query = match what {
            Prunable::Tokens => sqlx::query(
                "DELETE FROM oauth_access_tokens WHERE id IN (SELECT id FROM oauth_access_tokens \
                 WHERE revoked_at < ?1 OR expires_at < ?1 LIMIT ?2)",
            )
            .bind(secs(cutoff)),
            Prunable::AuditEvents => sqlx::query(
                "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE occurred_at < ?1 LIMIT ?2)",
            )
            .bind(secs(cutoff)),
            // tower-sessions-sqlx-store writes `expiry_date` as SQLite's text
            // form of a `time` instant, so compare in that same form.
            Prunable::Sessions => {
                let cutoff = OffsetDateTime::from_unix_timestamp(cutoff.timestamp()).map_err(StoreError::from_err)?;
                sqlx::query(
                    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expiry_date < ?1 LIMIT ?2)",
                )
                .bind(cutoff)
            }
        };
        let result = query.bind(i64::from(batch)).execute(&self.pool).await.map_err(store_err)?;
        Ok(Some(result.rows_affected()))
    }
}
