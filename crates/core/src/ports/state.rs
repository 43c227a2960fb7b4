//! The state store (in-process or Redis): device flows, single-use records,
//! rate-limit state and the token cache, shared by every instance.

use crate::error::StoreError;
use crate::flow::{DeviceFlow, FlowChange, FlowKey, Transition};
use crate::formats::user_code::UserCode;
use crate::model::AccessTokenRecord;
use crate::rate_limit::{RateCheck, RateLimited, RateMode};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Where in-flight device flows live (in-process or Redis).
#[async_trait]
pub trait DeviceFlowStore: Send + Sync {
    /// Spends one unit of each of `limits` (as `RateLimiter::check` with
    /// `RateMode::Take` at the flow's creation, over the same state as the
    /// backend's limiter), then stores the new flow, kept until
    /// `retain_until` (its expiry plus the tombstone period). A store that
    /// holds flows and limits side by side does both in one atomic step: for
    /// Redis that is one script call instead of two, which is most of what
    /// the limits cost issuance.
    ///
    /// A refusal spends and stores nothing. A user code already taken stores
    /// nothing but keeps the units spent: the caller retries with a fresh
    /// code and no limits, as the same request.
    async fn insert_within(
        &self,
        flow: &DeviceFlow,
        retain_until: DateTime<Utc>,
        limits: &[RateCheck],
    ) -> Result<Inserted, StoreError>;

    /// Stores a new flow with no limits to spend; false, storing nothing,
    /// when the user code is already taken.
    async fn insert(&self, flow: &DeviceFlow, retain_until: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.insert_within(flow, retain_until, &[]).await? == Inserted::Stored)
    }

    /// The flow with this user code, if it is still retained.
    async fn find_by_user_code(&self, code: &UserCode, now: DateTime<Utc>) -> Result<Option<DeviceFlow>, StoreError>;

    /// Applies `change` atomically with respect to every other change to the
    /// same flow: `DeviceFlow::apply` on the current value, then the new value
    /// stored only if nothing changed it meanwhile. `None` when no flow is
    /// retained under `key`.
    async fn apply(
        &self,
        key: &FlowKey,
        change: &FlowChange,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceFlow, Transition)>, StoreError>;

    /// Checks the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// What `DeviceFlowStore::insert_within` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The flow is stored and the limits spent.
    Stored,
    /// Another retained flow holds the user code: nothing stored, the
    /// limits spent.
    UserCodeTaken,
    /// A limit refused: nothing stored, nothing spent.
    Limited(RateLimited),
}

/// Short-lived records each used at most once, shared by every instance
/// through the state store (in-process or Redis): the SSO sign-ins in
/// progress and the approval grants not yet used. `take` is atomic, so of
/// two racing callers exactly one gets the record.
#[async_trait]
pub trait SingleUseStore: Send + Sync {
    /// Stores `value` under `key` from `now` until `until`; false, storing
    /// nothing, when the key is already held.
    async fn put(&self, key: &str, value: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The value under `key`, leaving it in place.
    async fn peek(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;
    /// Removes and returns the value under `key`.
    async fn take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;
}

/// The rate limiters' shared state (in-process or Redis): one GCRA
/// arrival time per key (`rate_limit::gcra_step`), so every instance counts
/// against the same quota.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Checks every key at `now`. With `RateMode::Take`, spends one unit
    /// from each key only if every key has one, atomically. `Some` names the
    /// limiter that refused (the one with the longest wait).
    async fn check(
        &self,
        checks: &[RateCheck],
        mode: RateMode,
        now: DateTime<Utc>,
    ) -> Result<Option<RateLimited>, StoreError>;
}

/// What the token cache remembers about a token hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CachedLookup {
    /// The row (active when cached; expiry is re-checked on every use).
    Found(Box<AccessTokenRecord>),
    /// No usable row has this hash.
    Missing,
}

/// A shared cache of token lookups, so bearer requests on a warm token skip
/// SQL. Lives in the state store (in-process or Redis), so invalidation
/// reaches every instance at once.
#[async_trait]
pub trait TokenCache: Send + Sync {
    /// The cached lookup for a token hash; when it is a positive entry, also
    /// spends one unit of each of `limits` at `now`, in the same step, over
    /// the same state as the backend's limiter (for Redis one call instead
    /// of two on every bearer request). A refusal spends nothing; a miss or
    /// a negative entry spends nothing and is never refused.
    async fn get_within(
        &self,
        token_hash: &str,
        limits: &[RateCheck],
        now: DateTime<Utc>,
    ) -> Result<(Option<CachedLookup>, Option<RateLimited>), StoreError>;

    /// The cached lookup for a token hash at `now`, spending nothing.
    async fn get(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<CachedLookup>, StoreError> {
        Ok(self.get_within(token_hash, &[], now).await?.0)
    }
    /// Caches a lookup for `ttl`. A positive entry is refused (silently)
    /// while its token id is invalidated, so a lookup that raced a
    /// revocation cannot resurrect the token.
    /// (`now` is the injected clock's; Redis expires entries by its own.)
    async fn put(
        &self,
        token_hash: &str,
        lookup: &CachedLookup,
        ttl: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Forgets the token with this id, after the database committed its
    /// revocation, rotation or expiry.
    async fn invalidate(&self, token_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError>;
}
