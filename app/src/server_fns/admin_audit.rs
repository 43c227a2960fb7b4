//! `/admin/audit`: the audit log, newest first, filterable, keyset-paginated.

use crate::error::{AppError, AppErrorCode};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::navigation::ADMIN_AUDIT_PATH;
/// Events per page.
pub const AUDIT_PAGE_SIZE: u32 = 50;

/// The filters, as they travel in the URL (dates are `YYYY-MM-DD`, UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub kind: String,
    pub actor: String,
    pub subject: String,
    pub client: String,
    pub from: String,
    pub until: String,
}

impl AuditFilter {
    /// The audit URL with these filters and extra pairs.
    pub fn url(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs = vec![
            ("kind", self.kind.as_str()),
            ("actor", &self.actor),
            ("subject", &self.subject),
            ("client", &self.client),
            ("from", &self.from),
            ("until", &self.until),
        ];
        pairs.extend_from_slice(extra);
        crate::navigation::with_query(ADMIN_AUDIT_PATH, &pairs)
    }
}

/// One event as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub at: String,
    pub kind: String,
    /// `admin root@example.com`, `client gatehouse-cli`, `system`, or empty.
    pub actor: String,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    /// The event's details in words (never secrets).
    pub details: String,
}

/// The data of `/admin/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub filter: AuditFilter,
    /// Every event kind, for the filter.
    pub kinds: Vec<String>,
    pub events: Vec<AuditRow>,
    pub next_page: Option<String>,
    pub is_later_page: bool,
    pub notice: Option<AppErrorCode>,
}

/// Loads `/admin/audit`.
#[server(prefix = "/console/api", endpoint = "admin/audit/page")]
pub async fn load_admin_audit(filter: AuditFilter, before: Option<String>) -> Result<AuditPage, AppError> {
    use super::context::*;
    use gatehouse_core::ports::{AuditKind, AuditQuery};
    let guarded = guard(Need::Admin, &filter.url(&[])).await?;
    let admin = guarded.admin()?;
    let text = |value: &str| Some(value.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
    let kind = AuditKind::parse(filter.kind.trim());
    let from = day_start(&filter.from);
    // `until` is inclusive: events before the next day's start.
    // (Checked: the last day chrono knows has no next day.)
    let until = day_start(&filter.until).and_then(|d| d.checked_add_signed(chrono::Duration::days(1)));
    // A filter that does not parse is a mistake worth saying (400, and the
    // page says which), not silently dropped.
    let unreadable = (!filter.kind.trim().is_empty() && kind.is_none())
        || (!filter.from.trim().is_empty() && from.is_none())
        || (!filter.until.trim().is_empty() && until.is_none());
    if unreadable {
        set_status(400);
    }
    let before_id = before.as_deref().and_then(|b| b.parse::<i64>().ok());
    let query = AuditQuery {
        kind,
        actor: text(&filter.actor),
        subject: text(&filter.subject),
        client_id: text(&filter.client),
        from,
        until,
        before_id,
        limit: AUDIT_PAGE_SIZE,
    };
    let page = guarded.ctx.services.audit.search(admin, query).await?;
    Ok(AuditPage {
        kinds: AuditKind::ALL.iter().map(|k| k.as_str().to_owned()).collect(),
        events: page.items.iter().map(audit_row).collect(),
        next_page: page.next.map(|id| filter.url(&[("before", &id.to_string())])),
        is_later_page: before_id.is_some(),
        notice: unreadable.then_some(AppErrorCode::InvalidRequest),
        filter,
    })
}

/// Midnight UTC of a `YYYY-MM-DD` date.
#[cfg(feature = "ssr")]
fn day_start(date: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let day = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

#[cfg(feature = "ssr")]
fn audit_row(record: &gatehouse_core::ports::AuditRecord) -> AuditRow {
    let event = &record.event;
    AuditRow {
        at: super::views::moment_to_the_second(event.at),
        kind: event.kind.as_str().to_owned(),
        actor: event.actor.as_ref().map(super::views::actor_words).unwrap_or_default(),
        subject: event.subject.clone(),
        client_id: event.client_id.clone(),
        ip: event.ip.clone(),
        details: super::views::details_words(&event.details),
    }
}
