//! The audit log: JSON details, newest first.

use super::SqlRepository;
use crate::sql::dialect::{Columns, Dialect, Statement};
use async_trait::async_trait;
use gatehouse_core::ports::{AuditEvent, AuditKind, AuditLog, AuditQuery, AuditRecord};
use gatehouse_core::{Actor, StoreError};

#[async_trait]
impl<D: Dialect> AuditLog for SqlRepository<D> {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        log_audit(&event);
        let insert = Statement::new(format!(
            "INSERT INTO audit_events (occurred_at, kind, actor_kind, actor, subject, client_id, ip, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8{})",
            D::AS_JSON
        ))
        .bind(event.at)
        .bind(event.kind.as_str())
        .bind(event.actor.as_ref().map(Actor::kind))
        .bind(event.actor.as_ref().map(Actor::name))
        .bind(&event.subject)
        .bind(&event.client_id)
        .bind(&event.ip)
        .bind(event.details.to_string());
        if let Err(err) = self.execute(insert).await {
            tracing::error!(error = %err.report(), kind = event.kind.as_str(), "could not store audit event");
            return Err(err);
        }
        Ok(())
    }

    async fn recent(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = self
            .fetch_all(Statement::new(format!("{} ORDER BY id DESC LIMIT $1", select::<D>())).bind(i64::from(limit)))
            .await?;
        rows.iter().map(audit_event::<D>).collect()
    }

    async fn search(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let mut sql = Statement::new(format!("{} WHERE 1 = 1", select::<D>()));
        if let Some(kind) = query.kind {
            sql.push(" AND kind = ").push_bind(kind.as_str());
        }
        for (column, value) in [("actor", &query.actor), ("subject", &query.subject), ("client_id", &query.client_id)] {
            if let Some(value) = value {
                sql.push(&format!(" AND {column} = ")).push_bind(value);
            }
        }
        if let Some(from) = query.from {
            sql.push(" AND occurred_at >= ").push_bind(from);
        }
        if let Some(until) = query.until {
            sql.push(" AND occurred_at < ").push_bind(until);
        }
        if let Some(before) = query.before_id {
            sql.push(" AND id < ").push_bind(before);
        }
        sql.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(query.limit));
        let rows = self.fetch_all(sql).await?;
        rows.iter()
            .map(|row| Ok(AuditRecord { id: Columns::<D>(row).int("id")?, event: audit_event::<D>(row)? }))
            .collect()
    }
}

fn select<D: Dialect>() -> String {
    format!(
        "SELECT id, occurred_at, kind, actor_kind, actor, subject, client_id, ip, details{} AS details \
         FROM audit_events",
        D::JSON_AS_TEXT
    )
}

fn audit_event<D: Dialect>(row: &D::Row) -> Result<AuditEvent, StoreError> {
    let row = Columns::<D>(row);
    let kind = row.text("kind")?;
    Ok(AuditEvent {
        kind: AuditKind::parse(&kind).ok_or_else(|| StoreError::new(format!("unknown audit kind {kind}")))?,
        actor: actor(row.optional_text("actor_kind")?, row.optional_text("actor")?),
        subject: row.optional_text("subject")?,
        client_id: row.optional_text("client_id")?,
        ip: row.optional_text("ip")?,
        details: serde_json::from_str(&row.text("details")?).map_err(StoreError::from_err)?,
        at: row.instant("occurred_at")?,
    })
}

/// An actor from its stored columns (rows from before typed actors may lack a kind).
fn actor(kind: Option<String>, name: Option<String>) -> Option<Actor> {
    Actor::from_stored(kind.as_deref()?, name.as_deref()?)
}

/// Logs an audit event as it is stored, so the log and the table agree.
fn log_audit(event: &AuditEvent) {
    tracing::info!(
        target: "gatehouse::audit",
        kind = event.kind.as_str(),
        actor = event.actor.as_ref().map(tracing::field::display),
        subject = event.subject.as_deref(),
        client_id = event.client_id.as_deref(),
        ip = event.ip.as_deref(),
        details = %event.details,
        "audit"
    );
}
