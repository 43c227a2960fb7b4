//! Device flows in PostgreSQL (`state_flows`): one row per flow, its value
//! beside its poll clock and `slow_down` count (`split_flow`).
//!
//! - A poll is one statement: it locks the row, reads the value, the clock
//!   and the count, and moves the clock when the poll is the flow's own
//!   client's (another client's poll, an `invalid_grant`, touches nothing).
//!   Concurrent polls of one flow queue on the row lock, so each sees the
//!   poll before it. It commits without waiting (`synchronous_commit = off`).
//! - A `slow_down` adds one to the count in one statement.
//! - Every other change is compare-and-set on the value (`UPDATE … WHERE
//!   flow = <value read>`), committed as the server is set up, so a person
//!   told "approved" keeps that approval through a failover to a
//!   synchronous standby.
//! - A user code is unique among retained flows: the insert takes a code
//!   whose flow's retention ended, in the same statement.

use super::super::split_flow::{self, PollState, SplitFlows, apply_by_compare_and_set};
use super::PgRateLimiter;
use super::{AbortOnDrop, pg_err, timed};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::UserCode;
use gatehouse_core::flow::{DeviceFlow, FlowChange, FlowKey, Transition};
use gatehouse_core::ports::RateLimiter;
use gatehouse_core::ports::{DeviceFlowStore, Inserted};
use gatehouse_core::rate_limit::{RateCheck, RateMode};
use sqlx::PgPool;
use std::sync::Arc;

/// Stores a new flow, or takes the user code of a flow whose retention
/// ended ($6 is now); nothing when a retained flow holds the code.
const INSERT: &str = "INSERT INTO state_flows \
     (device_code_hash, user_code, client_id, flow, polled_at, slow_downs, retain_until) \
     VALUES ($1, $2, $3, $4, NULL, 0, $5) \
     ON CONFLICT (user_code) DO UPDATE SET device_code_hash = EXCLUDED.device_code_hash, \
       client_id = EXCLUDED.client_id, flow = EXCLUDED.flow, polled_at = NULL, slow_downs = 0, \
       retain_until = EXCLUDED.retain_until \
     WHERE state_flows.retain_until <= $6";

/// One poll: the value, the clock before this poll (only the flow's own
/// client's, $2) and the count, the clock moved to $3, under the row lock.
const POLL: &str = "WITH before AS ( \
       SELECT device_code_hash, flow, polled_at, slow_downs, client_id = $2 AS own FROM state_flows \
       WHERE device_code_hash = $1 AND retain_until > $3 FOR UPDATE), \
     moved AS ( \
       UPDATE state_flows f SET polled_at = $3 FROM before \
       WHERE f.device_code_hash = before.device_code_hash AND before.own) \
     SELECT flow, CASE WHEN own THEN polled_at END AS polled_at, slow_downs FROM before";

/// A retained flow's value, clock and count.
type Row = (Vec<u8>, Option<DateTime<Utc>>, i32);

/// Device flows in PostgreSQL, shared by every instance.
pub struct PgFlowStore {
    /// Inserts and decisions: committed as the server is set up.
    durable: PgPool,
    /// Polls and `slow_down` counts: committed without waiting.
    relaxed: PgPool,
    /// The limits an insert spends.
    limiter: Arc<PgRateLimiter>,
    /// The sweep of rows past their time, ended with the store.
    _sweeper: Arc<AbortOnDrop>,
}

impl PgFlowStore {
    pub(super) fn new(
        durable: PgPool,
        relaxed: PgPool,
        limiter: Arc<PgRateLimiter>,
        sweeper: Arc<AbortOnDrop>,
    ) -> Self {
        Self { durable, relaxed, limiter, _sweeper: sweeper }
    }

    async fn resolve(&self, key: &FlowKey, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        match key {
            FlowKey::DeviceCodeHash(hash) => Ok(Some(hash.clone())),
            FlowKey::UserCode(code) => timed(
                sqlx::query_scalar(
                    "SELECT device_code_hash FROM state_flows WHERE user_code = $1 AND retain_until > $2",
                )
                .bind(code.as_str())
                .bind(now)
                .fetch_optional(&self.durable),
            )
            .await
            .map_err(pg_err),
        }
    }

    async fn read_row(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<Row>, StoreError> {
        timed(
            sqlx::query_as(
                "SELECT flow, polled_at, slow_downs FROM state_flows \
                 WHERE device_code_hash = $1 AND retain_until > $2",
            )
            .bind(hash)
            .bind(now)
            .fetch_optional(&self.durable),
        )
        .await
        .map_err(pg_err)
    }
}

fn poll_state(polled_at: Option<DateTime<Utc>>, slow_downs: i32) -> PollState {
    PollState { last_polled_at: polled_at, slow_downs: u32::try_from(slow_downs).unwrap_or(0) }
}

#[async_trait]
impl SplitFlows for PgFlowStore {
    async fn read_value(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read_row(hash, now).await?.map(|(value, _, _)| value))
    }

    async fn add_slow_down(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<u32>, StoreError> {
        let count: Option<i32> = timed(
            sqlx::query_scalar(
                "UPDATE state_flows SET slow_downs = slow_downs + 1 \
                 WHERE device_code_hash = $1 AND retain_until > $2 RETURNING slow_downs",
            )
            .bind(hash)
            .bind(now)
            .fetch_optional(&self.relaxed),
        )
        .await
        .map_err(pg_err)?;
        Ok(count.map(|count| u32::try_from(count).unwrap_or(0)))
    }

    async fn compare_and_set(
        &self,
        hash: &str,
        old: &[u8],
        new: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = timed(
            sqlx::query(
                "UPDATE state_flows SET flow = $3 WHERE device_code_hash = $1 AND flow = $2 AND retain_until > $4",
            )
            .bind(hash)
            .bind(old)
            .bind(new)
            .bind(now)
            .execute(&self.durable),
        )
        .await
        .map_err(pg_err)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl DeviceFlowStore for PgFlowStore {
    async fn insert_within(
        &self,
        flow: &DeviceFlow,
        retain_until: DateTime<Utc>,
        limits: &[RateCheck],
    ) -> Result<Inserted, StoreError> {
        // The limits first, in a transaction of their own that commits
        // without waiting, then the flow: the limiter's rows (one per
        // address and per client, shared by every request) stay locked for
        // a few statements, not through the flow's durable commit. A refusal
        // spends and stores nothing; a taken code keeps the units spent.
        if let Some(limited) = self.limiter.check(limits, RateMode::Take, flow.created_at).await? {
            return Ok(Inserted::Limited(limited));
        }
        let insert = sqlx::query(INSERT)
            .bind(&flow.device_code_hash)
            .bind(flow.user_code.as_str())
            .bind(&flow.client_id)
            .bind(split_flow::encode(flow)?)
            .bind(retain_until)
            .bind(flow.created_at);
        let stored = timed(insert.execute(&self.durable)).await.map_err(pg_err)?;
        Ok(if stored.rows_affected() == 1 { Inserted::Stored } else { Inserted::UserCodeTaken })
    }

    async fn find_by_user_code(&self, code: &UserCode, now: DateTime<Utc>) -> Result<Option<DeviceFlow>, StoreError> {
        let found: Option<(String, Vec<u8>, Option<DateTime<Utc>>, i32)> = timed(
            sqlx::query_as(
                "SELECT device_code_hash, flow, polled_at, slow_downs FROM state_flows \
                 WHERE user_code = $1 AND retain_until > $2",
            )
            .bind(code.as_str())
            .bind(now)
            .fetch_optional(&self.durable),
        )
        .await
        .map_err(pg_err)?;
        let Some((hash, value, polled_at, slow_downs)) = found else {
            return Ok(None);
        };
        let mut flow = split_flow::decode(&hash, &value)?;
        poll_state(polled_at, slow_downs).apply_to(&mut flow);
        Ok(Some(flow))
    }

    async fn apply(
        &self,
        key: &FlowKey,
        change: &FlowChange,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceFlow, Transition)>, StoreError> {
        let Some(hash) = self.resolve(key, now).await? else {
            return Ok(None);
        };
        if let FlowChange::Poll { client_id, .. } = change {
            let polled: Option<Row> =
                timed(sqlx::query_as(POLL).bind(&hash).bind(client_id).bind(now).fetch_optional(&self.relaxed))
                    .await
                    .map_err(pg_err)?;
            let Some((value, polled_at, slow_downs)) = polled else {
                return Ok(None);
            };
            return apply_by_compare_and_set(self, &hash, change, now, Some(value), poll_state(polled_at, slow_downs))
                .await;
        }
        // Other changes neither read nor move the clock; it is read (with
        // the value) only so the flows returned carry it, as in every store.
        let Some((value, polled_at, slow_downs)) = self.read_row(&hash, now).await? else {
            return Ok(None);
        };
        let applied = apply_by_compare_and_set(self, &hash, change, now, Some(value), PollState::default()).await?;
        Ok(applied.map(|applied| poll_state(polled_at, slow_downs).apply_to_change(applied)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        timed(sqlx::query("SELECT 1").execute(&self.durable)).await.map_err(pg_err)?;
        Ok(())
    }
}
