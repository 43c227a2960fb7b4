//! `/v1/admin/audit`: the audit log, filtered and keyset-paginated, newest
//! first, as on `/admin/audit`.

use super::{AdminCall, Answer, Query, Refused, instant, ok};
use crate::http::AppState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use gatehouse_core::ports::{AuditKind, AuditQuery, AuditRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Who did something.
#[derive(Debug, Serialize, ToSchema)]
pub struct Actor {
    /// `account`, `external`, `admin`, `client`, `system` or `cli`.
    pub kind: String,
    /// An email, a client id, or the kind.
    pub name: String,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Grows with time; pass the page's `next_cursor` as `before` to go on.
    pub id: i64,
    /// e.g. `device.approved`, `token.revoked`, `client.updated`.
    pub kind: String,
    /// RFC 3339.
    pub at: String,
    pub actor: Option<Actor>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `before` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The search's filters and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// An event kind, e.g. `device.approved`.
    pub kind: Option<String>,
    /// The actor's name: an email, a client id, `system` or `cli`.
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    /// Events at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Events before this instant (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// A `next_cursor` from the page before.
    pub before: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

fn event(record: AuditRecord) -> AuditEvent {
    let e = record.event;
    AuditEvent {
        id: record.id,
        kind: e.kind.as_str().to_owned(),
        at: instant(e.at),
        actor: e.actor.map(|a| Actor { kind: a.kind().to_owned(), name: a.name().to_owned() }),
        subject: e.subject,
        client_id: e.client_id,
        ip: e.ip,
        details: e.details,
    }
}

/// Audit events matching every filter given, newest first.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "audit", security(("admin_token" = [])),
    params(AuditFilter),
    responses((status = 200, body = AuditPage), (status = "4XX", body = super::ErrorBody)))]
pub async fn search(State(state): State<AppState>, call: AdminCall, Query(f): Query<AuditFilter>) -> Answer {
    let kind = match f.kind.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(name) => {
            Some(AuditKind::parse(name).ok_or_else(|| Refused::invalid(format!("unknown event kind {name:?}")))?)
        }
    };
    let before_id = match f.before.as_deref() {
        None => None,
        Some(cursor) => Some(cursor.parse().map_err(|_| Refused::invalid("before is not a cursor"))?),
    };
    let text = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let query = AuditQuery {
        kind,
        actor: text(f.actor),
        subject: text(f.subject),
        client_id: text(f.client_id),
        from: f.from,
        until: f.until,
        before_id,
        limit: f.limit.unwrap_or(50),
    };
    // The search is read before this call's own read is recorded, so a
    // page never shows the call that asked for it.
    let page = state.services.audit.search(&call.admin, query).await?;
    call.read(&state).await;
    ok(AuditPage {
        events: page.items.into_iter().map(event).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    })
}
