//! Retention: deleting what Gatehouse no longer needs to keep (SPEC §5).

use super::{Ports, Settings};
use crate::error::StoreError;
use crate::ports::Prunable;
use chrono::Duration;
use std::sync::Arc;

/// Rows deleted per transaction, so a large backlog never holds table locks
/// for long.
pub const PRUNE_BATCH: u32 = 1000;

/// What one prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub tokens: u64,
    pub sessions: u64,
    pub audit_events: u64,
    /// Another instance was pruning, so this one stopped early.
    pub skipped: bool,
}

/// Retention, run by each instance in turn.
#[derive(Clone)]
pub struct RetentionService {
    ports: Ports,
    settings: Arc<Settings>,
}

impl RetentionService {
    pub(crate) fn new(ports: Ports, settings: Arc<Settings>) -> Self {
        Self { ports, settings }
    }

    /// How often each instance prunes.
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.settings.prune_interval))
    }

    /// Deletes tokens revoked or expired more than the token retention ago,
    /// expired browser sessions, and audit events older than the audit
    /// retention, each in bounded batches.
    pub async fn prune(&self) -> Result<PruneReport, StoreError> {
        let now = self.ports.clock.now();
        let mut report = PruneReport::default();
        let targets = [
            (Prunable::Tokens, now - Duration::days(i64::from(self.settings.token_retention_days))),
            (Prunable::Sessions, now),
            (Prunable::AuditEvents, now - Duration::days(i64::from(self.settings.audit_retention_days))),
        ];
        for (what, cutoff) in targets {
            loop {
                let Some(deleted) = self.ports.retention.prune_batch(what, cutoff, PRUNE_BATCH).await? else {
                    report.skipped = true;
                    return Ok(report);
                };
                match what {
                    Prunable::Tokens => report.tokens += deleted,
                    Prunable::Sessions => report.sessions += deleted,
                    Prunable::AuditEvents => report.audit_events += deleted,
                }
                if deleted < u64::from(PRUNE_BATCH) {
                    break;
                }
            }
        }
        tracing::info!(
            tokens = report.tokens,
            sessions = report.sessions,
            audit_events = report.audit_events,
            "retention finished"
        );
        Ok(report)
    }
}
