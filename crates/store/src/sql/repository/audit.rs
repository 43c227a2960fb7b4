//! The audit log: JSON details, newest first.

use super::SqlRepository;
use crate::sql::dialect::{Columns, Dialect, Statement, store_err};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::ports::{AuditEvent, AuditKind, AuditLog, AuditOutbox, AuditQuery, AuditRecord, PendingDelivery};
use gatehouse_core::{Actor, StoreError};

#[async_trait]
impl<D: Dialect> AuditLog for SqlRepository<D> {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        log_audit(&event);
        let insert = Statement::new(format!(
            "INSERT INTO audit_events (occurred_at, kind, actor_kind, actor, subject, client_id, ip, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8{}) RETURNING id",
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
        // Queued for the webhook in the event's own transaction, so stored
        // means it will be delivered; without a webhook, one statement.
        let stored = if self.audit_outbox {
            self.record_queued(insert, event.at).await
        } else {
            self.execute(insert).await.map(drop)
        };
        if let Err(err) = stored {
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

impl<D: Dialect> SqlRepository<D> {
    /// Stores an event (`insert`, returning its id) and queues it in the
    /// webhook's outbox, in one transaction.
    async fn record_queued(&self, insert: Statement<'_>, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        let row = D::fetch_optional(&mut tx, insert).await?;
        let id = Columns::<D>(&row.ok_or_else(|| StoreError::new("the insert returned no id"))?).int("id")?;
        D::execute(
            &mut tx,
            Statement::new("INSERT INTO audit_outbox (event_id, next_attempt_at) VALUES ($1, $2)").bind(id).bind(at),
        )
        .await?;
        tx.commit().await.map_err(store_err)
    }
}

#[async_trait]
impl<D: Dialect> AuditOutbox for SqlRepository<D> {
    async fn lease(&self, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let taken = self
            .execute(
                Statement::new(
                    "UPDATE audit_outbox_lease SET holder = $1, held_until = $2 \
                     WHERE id = 1 AND (holder = $1 OR held_until < $3)",
                )
                .bind(holder)
                .bind(until)
                .bind(now),
            )
            .await?;
        Ok(taken == 1)
    }

    async fn pending(&self, limit: u32) -> Result<Vec<PendingDelivery>, StoreError> {
        let rows = self
            .fetch_all(
                Statement::new(format!(
                    "SELECT e.id, e.occurred_at, e.kind, e.actor_kind, e.actor, e.subject, e.client_id, e.ip, \
                     e.details{} AS details, o.attempts, o.next_attempt_at \
                     FROM audit_outbox o JOIN audit_events e ON e.id = o.event_id ORDER BY o.event_id LIMIT $1",
                    D::JSON_AS_TEXT
                ))
                .bind(i64::from(limit)),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let columns = Columns::<D>(row);
                Ok(PendingDelivery {
                    record: AuditRecord { id: columns.int("id")?, event: audit_event::<D>(row)? },
                    attempts: u32::try_from(columns.int("attempts")?).unwrap_or(u32::MAX),
                    next_attempt_at: columns.instant("next_attempt_at")?,
                })
            })
            .collect()
    }

    async fn delivered(&self, event_id: i64) -> Result<(), StoreError> {
        self.execute(Statement::new("DELETE FROM audit_outbox WHERE event_id = $1").bind(event_id)).await?;
        Ok(())
    }

    async fn failed(&self, event_id: i64, retry_at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.execute(
            Statement::new(
                "UPDATE audit_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 \
                 WHERE event_id = $1",
            )
            .bind(event_id)
            .bind(retry_at)
            .bind(error),
        )
        .await?;
        Ok(())
    }

    async fn backlog(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let row = self
            .fetch_one(Statement::new(
                "SELECT COUNT(*) AS waiting, MIN(e.occurred_at) AS oldest \
                 FROM audit_outbox o JOIN audit_events e ON e.id = o.event_id",
            ))
            .await?;
        let columns = Columns::<D>(&row);
        Ok((u64::try_from(columns.int("waiting")?).unwrap_or_default(), columns.optional_instant("oldest")?))
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
