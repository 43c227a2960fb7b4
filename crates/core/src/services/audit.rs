//! Reading the audit log (admins only).

use super::Ports;
use crate::actor::Admin;
use crate::error::StoreError;
use crate::listing::Page;
use crate::ports::{AuditQuery, AuditRecord};

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
}
