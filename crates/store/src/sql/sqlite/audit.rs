//! SQLite: the audit log.

use super::*;
use async_trait::async_trait;
use gatehouse_core::Actor;
use gatehouse_core::ports::{AuditQuery, AuditRecord};
use sqlx::{QueryBuilder, Sqlite};

#[async_trait]
impl AuditLog for SqliteRepository {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        log_audit(&event);
        sqlx::query(
            "INSERT INTO audit_events (occurred_at, kind, actor_kind, actor, subject, client_id, ip, details) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(secs(event.at))
        .bind(event.kind.as_str())
        .bind(event.actor.as_ref().map(Actor::kind))
        .bind(event.actor.as_ref().map(Actor::name))
        .bind(&event.subject)
        .bind(&event.client_id)
        .bind(&event.ip)
        .bind(event.details.to_string())
        .execute(&self.pool)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, kind = event.kind.as_str(), "could not store audit event");
            store_err(err)
        })?;
        Ok(())
    }

    async fn recent(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT occurred_at, kind, actor_kind, actor, subject, client_id, ip, details FROM audit_events \
             ORDER BY id DESC LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter().map(audit_event).collect()
    }

    async fn search(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT id, occurred_at, kind, actor_kind, actor, subject, client_id, ip, details FROM audit_events WHERE 1 = 1",
        );
        if let Some(kind) = query.kind {
            sql.push(" AND kind = ").push_bind(kind.as_str());
        }
        for (column, value) in [("actor", &query.actor), ("subject", &query.subject), ("client_id", &query.client_id)] {
            if let Some(value) = value {
                sql.push(format!(" AND {column} = ")).push_bind(value.clone());
            }
        }
        if let Some(from) = query.from {
            sql.push(" AND occurred_at >= ").push_bind(secs(from));
        }
        if let Some(until) = query.until {
            sql.push(" AND occurred_at < ").push_bind(secs(until));
        }
        if let Some(before) = query.before_id {
            sql.push(" AND id < ").push_bind(before);
        }
        sql.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(store_err)?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord { id: row.try_get::<i64, _>("id").map_err(store_err)?, event: audit_event(row)? })
            })
            .collect()
    }
}

fn audit_event(row: &SqliteRow) -> Result<AuditEvent, StoreError> {
    let kind = text(row, "kind")?;
    Ok(AuditEvent {
        kind: AuditKind::parse(&kind).ok_or_else(|| StoreError::new(format!("unknown audit kind {kind}")))?,
        actor: actor(row.try_get("actor_kind").map_err(store_err)?, row.try_get("actor").map_err(store_err)?),
        subject: row.try_get("subject").map_err(store_err)?,
        client_id: row.try_get("client_id").map_err(store_err)?,
        ip: row.try_get("ip").map_err(store_err)?,
        details: serde_json::from_str(&text(row, "details")?).map_err(StoreError::from_err)?,
        at: instant(row, "occurred_at")?,
    })
}

/// An actor from its stored columns (rows from before typed actors may lack a kind).
fn actor(kind: Option<String>, name: Option<String>) -> Option<Actor> {
    Actor::from_stored(kind.as_deref()?, name.as_deref()?)
}
