//! What the two shared flow stores (Redis, PostgreSQL) have in common: a
//! flow rests as a value (`flow_blob`, with its base interval and no poll
//! time) beside its *poll clock* (the time of its client's last poll) and
//! its `slow_down` count, and every change but a poll is compare-and-set on
//! the value.
//!
//! Every rule is `DeviceFlow::apply`, run in Rust on the value read; the
//! store only makes each step atomic:
//! - A poll reads the value, the clock and the count and moves the clock in
//!   one step of the store's own (a Redis script, one SQL statement). That
//!   puts every poll in a total order and tells it the poll before it, which
//!   is all the `slow_down` rule needs. A pending poll changes nothing else,
//!   so it ends there, with no write-back.
//! - A `slow_down` is the one change a client can make as often as it
//!   likes, so it does not go through compare-and-set: the value keeps the
//!   base interval, the count goes up by one, and the interval the rules see
//!   is `flow::interval_after(base, count)`.
//! - Every other change to the value (approve, deny, a claim, finish,
//!   release) is written only if the value is still byte-for-byte what was
//!   read. A lost race retries on the fresh value, so no interleaving can
//!   apply a change to a state it was not computed from.

use super::flow_blob;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::flow::{DeviceFlow, FlowChange, Transition, Verdict, interval_after};

/// A lost compare-and-set means another change landed; this bounds retries
/// far above any realistic contention on one flow.
pub(super) const MAX_CAS_ATTEMPTS: usize = 256;

/// The steps a store with split flows provides.
#[async_trait]
pub(super) trait SplitFlows: Sync {
    /// The flow's value, if it is still retained.
    async fn read_value(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError>;
    /// Counts one more `slow_down`; the new count, or `None` when the flow is gone.
    async fn add_slow_down(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<u32>, StoreError>;
    /// Writes `new` only if the value is still `old` (and retained); whether it did.
    async fn compare_and_set(
        &self,
        hash: &str,
        old: &[u8],
        new: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// What lives beside a flow's value: its poll clock and `slow_down` count.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PollState {
    pub(super) last_polled_at: Option<DateTime<Utc>>,
    pub(super) slow_downs: u32,
}

impl PollState {
    /// Puts the clock and the interval the count adds into a decoded flow.
    pub(super) fn apply_to(&self, flow: &mut DeviceFlow) {
        flow.last_polled_at = self.last_polled_at;
        flow.interval_secs = interval_after(flow.interval_secs, self.slow_downs);
    }

    /// Puts the clock and the count into what a change other than a poll
    /// returns (it neither reads nor moves them), so the flows returned
    /// carry them, as in every store.
    pub(super) fn apply_to_change(&self, applied: (DeviceFlow, Transition)) -> (DeviceFlow, Transition) {
        let (mut before, mut transition) = applied;
        self.apply_to(&mut before);
        if let Some(next) = &mut transition.next {
            self.apply_to(next);
        }
        (before, transition)
    }
}

/// A stored value. Its `last_polled_at` is always unset: the poll clock holds that.
pub(super) fn decode(hash: &str, raw: &[u8]) -> Result<DeviceFlow, StoreError> {
    flow_blob::decode(hash.to_owned(), raw)
}

/// The value to store: `flow` without the poll time, which lives in the
/// clock (so the value changes only when something else does).
pub(super) fn encode(flow: &DeviceFlow) -> Result<Vec<u8>, StoreError> {
    let mut stored = flow.clone();
    stored.last_polled_at = None;
    flow_blob::encode(stored)
}

/// Read, apply the rule in Rust, compare-and-set; retry on a lost race.
/// `known` is a raw value already read (saves the first read); `poll` is the
/// poll clock and `slow_down` count the rule sees.
pub(super) async fn apply_by_compare_and_set(
    store: &impl SplitFlows,
    hash: &str,
    change: &FlowChange,
    now: DateTime<Utc>,
    mut known: Option<Vec<u8>>,
    poll: PollState,
) -> Result<Option<(DeviceFlow, Transition)>, StoreError> {
    for _ in 0..MAX_CAS_ATTEMPTS {
        let raw = match known.take() {
            Some(raw) => Some(raw),
            None => store.read_value(hash, now).await?,
        };
        let Some(raw) = raw else {
            return Ok(None);
        };
        let mut before = decode(hash, &raw)?;
        let base_interval = before.interval_secs;
        poll.apply_to(&mut before);
        let mut transition = before.apply(change, now);
        let Some(next) = &mut transition.next else {
            return Ok(Some((before, transition)));
        };
        if same_apart_from_poll_state(&before, next) {
            if next.interval_secs == before.interval_secs {
                // A pending poll: the clock already moved with the read.
                return Ok(Some((before, transition)));
            }
            // A slow_down: one more on the count, no compare-and-set.
            let Some(count) = store.add_slow_down(hash, now).await? else {
                return Ok(None);
            };
            let interval = interval_after(base_interval, count);
            next.interval_secs = interval;
            transition.verdict = Verdict::SlowDown { interval };
            return Ok(Some((before, transition)));
        }
        // The value keeps the base interval; the count holds the rest.
        let mut stored = next.clone();
        stored.interval_secs = base_interval.saturating_add(next.interval_secs.saturating_sub(before.interval_secs));
        if store.compare_and_set(hash, &raw, encode(&stored)?, now).await? {
            return Ok(Some((before, transition)));
        }
    }
    Err(StoreError::new("flow changed too often to update"))
}

/// Whether `next` differs from `before` in nothing the stored value holds
/// (the poll clock and the `slow_down` interval live beside it). Written
/// field by field without `..`, so a new field cannot be forgotten.
fn same_apart_from_poll_state(before: &DeviceFlow, next: &DeviceFlow) -> bool {
    let DeviceFlow {
        device_code_hash,
        user_code,
        client_id,
        client_name,
        scopes,
        device_label,
        requester_ip,
        requester_user_agent,
        created_at,
        expires_at,
        interval_secs: _,
        last_polled_at: _,
        status,
        dpop_jkt,
        policy,
        requester_ip_proven,
        holders,
        confirmation_failures,
    } = before;
    *device_code_hash == next.device_code_hash
        && *user_code == next.user_code
        && *client_id == next.client_id
        && *client_name == next.client_name
        && *scopes == next.scopes
        && *device_label == next.device_label
        && *requester_ip == next.requester_ip
        && *requester_user_agent == next.requester_user_agent
        && *created_at == next.created_at
        && *expires_at == next.expires_at
        && *status == next.status
        && *dpop_jkt == next.dpop_jkt
        && *policy == next.policy
        && *requester_ip_proven == next.requester_ip_proven
        && *holders == next.holders
        && *confirmation_failures == next.confirmation_failures
}
