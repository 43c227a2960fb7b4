//! Reading the audit log (admins only).

use super::Ports;
use crate::actor::Admin;
use crate::error::StoreError;
use crate::listing::Page;
use crate::ports::{AuditEvent, AuditKind, AuditQuery, AuditRecord};

/// Largest page of the audit log.
pub const MAX_AUDIT_PAGE: u32 = 200;

/// The audit log, as the console reads it.
#[derive(Clone)]
pub struct AuditService {
    ports: Ports,
}

impl AuditService {
    pub(crate) fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// A page of events matching `query` (its `limit` and `before_id` are
    /// the page's), newest first; `next` is the id to continue before.
    pub async fn search(&self, _admin: &Admin, query: AuditQuery) -> Result<Page<AuditRecord, i64>, StoreError> {
        let limit = query.limit.clamp(1, MAX_AUDIT_PAGE);
        let items = self.ports.audit.search(&AuditQuery { limit: limit + 1, ..query }).await?;
        Ok(Page::cut(items, limit, |last| last.id))
    }

    /// Records that `admin` read something through the admin API (`call`:
    /// its method and path, never a query string or body), so automation
    /// leaves a trace even when it changes nothing. Changes are audited
    /// by the use case that makes them.
    pub async fn record_read(&self, admin: &Admin, call: &str) {
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::AdminApiRead,
                actor: Some(admin.actor().clone()),
                subject: None,
                client_id: None,
                ip: admin.ip().map(str::to_owned),
                details: serde_json::json!({ "call": call }),
                at: self.ports.clock.now(),
            })
            .await;
    }
}
