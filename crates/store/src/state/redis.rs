//! The Redis flow store, for several instances sharing state.
//!
//! A flow is one Redis hash under `<prefix>flow:<device-code hash>`: its
//! value (`flow_blob`) in field `v`, its *poll clock* (the epoch-ms time of
//! its client's last poll) in field `p:<client id>`, and its `slow_down`
//! count in field `s`. A key beside it maps its user code to the hash; both
//! expire with the flow's retention. One key per flow means a poll costs
//! Redis one lookup in its keyspace (`docs/benchmarks.md`). Flows stored in
//! the layout before this one are converted when first met (`legacy`).
//!
//! Every rule is `DeviceFlow::apply`, run in Rust on the value read; Redis
//! only makes each change atomic:
//! - A poll reads the value, the clock and the `slow_down` count and moves
//!   the clock (only if its field exists) in one script call (no rule in
//!   it; concurrent polls share one call, see `redis_poll_batch`). That
//!   puts every poll in a total order and tells it the poll before it,
//!   which is all the `slow_down` rule needs. A pending poll changes
//!   nothing else, so it ends there, with no write-back.
//! - A `slow_down` is the one change a client can make as often as it
//!   likes, so it does not go through compare-and-set: the value keeps the
//!   flow's base interval, `HINCRBY` adds one to the count field, and the
//!   interval the rules see is `flow::interval_after(base, count)`.
//! - Every other change to the value (approve, deny, a claim, finish,
//!   release) is compare-and-set: written through a Lua script only if the
//!   value is still byte-for-byte what was read. A lost race retries on the
//!   fresh value, so no interleaving can apply a change to a state it was
//!   not computed from.
//!
//! The clock's field names the flow's own client and is created with the
//! flow, and a poll only moves an existing clock, so another client's poll
//! (an `invalid_grant`) touches nothing, as the rules require.

use super::flow_blob;
use super::rate_limits;
use super::redis_connection::RedisConnection;
use super::redis_err;
use super::redis_poll_batch::{Poll, PollBatcher, Polled};
use crate::ConnectError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::UserCode;
use gatehouse_core::flow::{DeviceFlow, FlowChange, FlowKey, Transition, interval_after};
use gatehouse_core::ports::{DeviceFlowStore, Inserted};
use gatehouse_core::rate_limit::RateCheck;
use legacy::is_wrong_type;
use redis::Script;

/// A lost compare-and-set means another change landed; this bounds retries
/// far above any realistic contention on one flow.
const MAX_CAS_ATTEMPTS: usize = 256;

mod legacy;

/// Spends the limits (`gcra_take` over KEYS[3..], with ARGV[4] now and the
/// quotas from ARGV[6]), then stores the user-code index (KEYS[1]) only if
/// free, and the flow (KEYS[2]): its value and its unset poll clock (field
/// ARGV[5]); both with the same TTL (ARGV[3]). Returns `{1, 0, 0}` stored,
/// `{0, 0, 0}` user code taken, or `{2, index, wait ms}` limited.
const INSERT_MAIN: &str = r"
local worst, wait = gcra_take(3, 6, tonumber(ARGV[4]))
if worst > 0 then return {2, worst, wait} end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3]) then
  redis.call('HSET', KEYS[2], 'v', ARGV[2], ARGV[5], '')
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return {1, 0, 0}
end
return {0, 0, 0}";

/// Counts one more `slow_down` for a flow that still exists (KEYS[1]).
/// Returns the new count, or nothing when the flow is gone.
const ADD_SLOW_DOWN: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HINCRBY', KEYS[1], 's', 1)";

/// Follows the user-code index to the flow's value in one round trip.
const FIND_BY_USER_CODE: &str = r"
local hash = redis.call('GET', KEYS[1])
if not hash then return false end
return {hash, redis.call('HGET', ARGV[1] .. hash, 'v')}";

/// Writes the value ARGV[2] only if the flow (KEYS[1]) still holds ARGV[1]
/// (the key keeps its TTL).
const COMPARE_AND_SET: &str = r"
if redis.call('HGET', KEYS[1], 'v') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'v', ARGV[2])
  return 1
end
return 0";

/// Device flows in Redis.
#[derive(Clone)]
pub struct RedisFlowStore {
    connection: RedisConnection,
    prefix: String,
    insert: Script,
    find_by_user_code: Script,
    compare_and_set: Script,
    add_slow_down: Script,
    convert_legacy_flow: Script,
    polls: PollBatcher,
}

impl RedisFlowStore {
    /// Connects (and checks the server answers).
    /// `rediss://` connects over TLS, trusting the system's roots and `roots`.
    pub async fn connect(url: &str, prefix: &str, roots: &crate::tls::ExtraRoots) -> Result<Self, ConnectError> {
        let client = match roots.for_redis().filter(|_| url.starts_with("rediss:")) {
            Some(bundle) => {
                redis::Client::build_with_tls(url, redis::TlsCertificates { client_tls: None, root_cert: Some(bundle) })
            }
            None => redis::Client::open(url),
        }
        .map_err(|e| ConnectError::Redis(e.to_string()))?;
        // Fail fast and come back fast: an answer or a connection that takes
        // longer than the fault deadline is a fault (503), and reconnecting
        // retries at most every 250 ms, so the first request after Redis
        // returns finds it.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(crate::FAULT_DEADLINE)
            .set_response_timeout(crate::FAULT_DEADLINE)
            .set_number_of_retries(1)
            .set_max_delay(250);
        let connection = redis::aio::ConnectionManager::new_with_config(client, config)
            .await
            .map(RedisConnection)
            .map_err(|e| ConnectError::Redis(e.to_string()))?;
        Ok(Self {
            prefix: prefix.to_owned(),
            insert: Script::new(&format!("{}{INSERT_MAIN}", rate_limits::GCRA_LUA)),
            find_by_user_code: Script::new(FIND_BY_USER_CODE),
            compare_and_set: Script::new(COMPARE_AND_SET),
            add_slow_down: Script::new(ADD_SLOW_DOWN),
            convert_legacy_flow: Script::new(legacy::CONVERT_LEGACY_FLOW),
            polls: PollBatcher::start(&connection),
            connection,
        })
    }

    /// The shared (multiplexed, reconnecting) connection.
    pub fn connection(&self) -> RedisConnection {
        self.connection.clone()
    }

    fn flow_key(&self, hash: &str) -> String {
        format!("{}flow:{hash}", self.prefix)
    }

    fn user_code_key(&self, code: &UserCode) -> String {
        format!("{}uc:{}", self.prefix, code.as_str())
    }

    /// The flow's value, converting it first if an earlier release stored it.
    async fn read_value(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.flow_key(hash);
        let mut conn = self.connection.clone();
        let mut read = redis::cmd("HGET");
        read.arg(&key).arg("v");
        match read.query_async(&mut conn).await {
            Err(err) if is_wrong_type(&err) => {
                self.convert_legacy_flow(hash).await?;
                read.query_async(&mut conn).await.map_err(redis_err)
            }
            answer => answer.map_err(redis_err),
        }
    }

    /// A stored value. Its `last_polled_at` is always unset: the poll clock
    /// field holds that.
    fn decode(hash: &str, raw: &[u8]) -> Result<DeviceFlow, StoreError> {
        flow_blob::decode(hash.to_owned(), raw)
    }

    /// The value to store: `flow` without the poll time, which lives in the
    /// clock field (so the value changes only when something else does).
    fn encode(flow: &DeviceFlow) -> Result<Vec<u8>, StoreError> {
        let mut stored = flow.clone();
        stored.last_polled_at = None;
        flow_blob::encode(stored)
    }

    async fn resolve(&self, key: &FlowKey) -> Result<Option<String>, StoreError> {
        match key {
            FlowKey::DeviceCodeHash(hash) => Ok(Some(hash.clone())),
            FlowKey::UserCode(code) => {
                let mut conn = self.connection.clone();
                redis::cmd("GET").arg(self.user_code_key(code)).query_async(&mut conn).await.map_err(redis_err)
            }
        }
    }

    /// One poll's round trip (shared with concurrent polls): the value, the
    /// poll clock moved to `now`, and the `slow_down` count, atomically.
    /// Returns the value, the time of the poll before this one (`None` for
    /// the first poll, and for another client's poll, whose clock does not
    /// exist and so is not created) and the count.
    async fn record_poll(
        &self,
        hash: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(Option<Vec<u8>>, PollState), StoreError> {
        let poll = || Poll {
            key: self.flow_key(hash),
            clock_field: poll_clock_field(client_id),
            now_ms: now.timestamp_millis(),
        };
        let polled = match self.polls.record(poll()).await? {
            Polled::LegacyFlow => {
                self.convert_legacy_flow(hash).await?;
                self.polls.record(poll()).await?
            }
            polled => polled,
        };
        let Polled::Recorded((raw, previous, slow_downs)) = polled else {
            return Err(StoreError::new("a flow stayed in the earlier layout after its conversion"));
        };
        let state = PollState {
            last_polled_at: previous.as_deref().and_then(parse_poll_clock),
            slow_downs: slow_downs.unwrap_or(0),
        };
        Ok((raw, state))
    }

    /// The flow's poll clock and `slow_down` count, for a change that does
    /// not poll.
    async fn read_poll_state(&self, flow: &DeviceFlow) -> Result<PollState, StoreError> {
        let mut conn = self.connection.clone();
        let (clock, slow_downs): (Option<String>, Option<u32>) = redis::cmd("HMGET")
            .arg(self.flow_key(&flow.device_code_hash))
            .arg(poll_clock_field(&flow.client_id))
            .arg("s")
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(PollState {
            last_polled_at: clock.as_deref().and_then(parse_poll_clock),
            slow_downs: slow_downs.unwrap_or(0),
        })
    }

    /// Read, apply the rule in Rust, compare-and-set; retry on a lost race.
    /// `known` is a raw value already read (saves the first GET); `poll` is
    /// the poll clock and `slow_down` count the rule sees.
    async fn compare_and_set_loop(
        &self,
        hash: &str,
        change: &FlowChange,
        now: DateTime<Utc>,
        mut known: Option<Vec<u8>>,
        poll: PollState,
    ) -> Result<Option<(DeviceFlow, Transition)>, StoreError> {
        let flow_key = self.flow_key(hash);
        let mut conn = self.connection.clone();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let raw: Option<Vec<u8>> = match known.take() {
                Some(raw) => Some(raw),
                None => self.read_value(hash).await?,
            };
            let Some(raw) = raw else {
                return Ok(None);
            };
            let mut before = Self::decode(hash, &raw)?;
            let base_interval = before.interval_secs;
            poll.apply_to(&mut before);
            let mut transition = before.apply(change, now);
            let Some(next) = &mut transition.next else {
                return Ok(Some((before, transition)));
            };
            if same_apart_from_poll_state(&before, next) {
                if next.interval_secs == before.interval_secs {
                    // A pending poll: the clock already moved in record_poll.
                    return Ok(Some((before, transition)));
                }
                // A slow_down: one more on the count field, no compare-and-set.
                let count: Option<u32> =
                    self.add_slow_down.key(&flow_key).invoke_async(&mut conn).await.map_err(redis_err)?;
                let Some(count) = count else {
                    return Ok(None);
                };
                let interval = interval_after(base_interval, count);
                next.interval_secs = interval;
                transition.verdict = gatehouse_core::flow::Verdict::SlowDown { interval };
                return Ok(Some((before, transition)));
            }
            // The value keeps the base interval; the count field holds the rest.
            let mut stored = next.clone();
            stored.interval_secs =
                base_interval.saturating_add(next.interval_secs.saturating_sub(before.interval_secs));
            let swapped: i64 = self
                .compare_and_set
                .key(&flow_key)
                .arg(&raw)
                .arg(Self::encode(&stored)?)
                .invoke_async(&mut conn)
                .await
                .map_err(redis_err)?;
            if swapped == 1 {
                return Ok(Some((before, transition)));
            }
        }
        Err(StoreError::new("flow changed too often to update"))
    }
}

/// What lives beside a flow's value: its poll clock and `slow_down` count.
#[derive(Debug, Clone, Copy, Default)]
struct PollState {
    last_polled_at: Option<DateTime<Utc>>,
    slow_downs: u32,
}

impl PollState {
    /// Puts the clock and the interval the count adds into a decoded flow.
    fn apply_to(&self, flow: &mut DeviceFlow) {
        flow.last_polled_at = self.last_polled_at;
        flow.interval_secs = interval_after(flow.interval_secs, self.slow_downs);
    }
}

/// The hash field of the poll clock of `client_id`'s polls.
fn poll_clock_field(client_id: &str) -> String {
    format!("p:{client_id}")
}

fn parse_poll_clock(raw: &str) -> Option<DateTime<Utc>> {
    raw.parse().ok().and_then(DateTime::from_timestamp_millis)
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

#[async_trait]
impl DeviceFlowStore for RedisFlowStore {
    async fn insert_within(
        &self,
        flow: &DeviceFlow,
        retain_until: DateTime<Utc>,
        limits: &[RateCheck],
    ) -> Result<Inserted, StoreError> {
        let ttl_ms = (retain_until - flow.created_at).num_milliseconds().max(1000);
        let mut invocation = self.insert.prepare_invoke();
        invocation
            .key(self.user_code_key(&flow.user_code))
            .key(self.flow_key(&flow.device_code_hash))
            .arg(&flow.device_code_hash)
            .arg(Self::encode(flow)?)
            .arg(ttl_ms)
            .arg(flow.created_at.timestamp_millis())
            .arg(poll_clock_field(&flow.client_id));
        // The same keys as `RedisRateLimiter`, which shares this prefix.
        rate_limits::push_checks(&mut invocation, &self.prefix, limits);
        let (outcome, index, wait_ms): (u8, usize, u64) =
            invocation.invoke_async(&mut self.connection.clone()).await.map_err(redis_err)?;
        Ok(match outcome {
            1 => Inserted::Stored,
            2 => Inserted::Limited(
                rate_limits::refusal(limits, index, wait_ms)
                    .ok_or_else(|| StoreError::new("the insert script named no limit"))?,
            ),
            _ => Inserted::UserCodeTaken,
        })
    }

    async fn find_by_user_code(&self, code: &UserCode, _now: DateTime<Utc>) -> Result<Option<DeviceFlow>, StoreError> {
        let mut conn = self.connection.clone();
        let mut find = self.find_by_user_code.prepare_invoke();
        find.key(self.user_code_key(code)).arg(format!("{}flow:", self.prefix));
        let found: Option<(String, Option<Vec<u8>>)> = match find.invoke_async(&mut conn).await {
            Err(err) if is_wrong_type(&err) => {
                if let Some(hash) = self.resolve(&FlowKey::UserCode(code.clone())).await? {
                    self.convert_legacy_flow(&hash).await?;
                }
                find.invoke_async(&mut conn).await.map_err(redis_err)?
            }
            found => found.map_err(redis_err)?,
        };
        let Some((hash, Some(raw))) = found else {
            return Ok(None);
        };
        let mut flow = Self::decode(&hash, &raw)?;
        self.read_poll_state(&flow).await?.apply_to(&mut flow);
        Ok(Some(flow))
    }

    async fn apply(
        &self,
        key: &FlowKey,
        change: &FlowChange,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceFlow, Transition)>, StoreError> {
        let Some(hash) = self.resolve(key).await? else {
            return Ok(None);
        };
        if let FlowChange::Poll { client_id, .. } = change {
            let (raw, poll) = self.record_poll(&hash, client_id, now).await?;
            if raw.is_none() {
                return Ok(None);
            }
            return self.compare_and_set_loop(&hash, change, now, raw, poll).await;
        }
        // Other changes neither read nor move the clock; it is read only so
        // the flows returned carry it, as in every store.
        let Some((mut before, mut transition)) =
            self.compare_and_set_loop(&hash, change, now, None, PollState::default()).await?
        else {
            return Ok(None);
        };
        let poll = self.read_poll_state(&before).await?;
        poll.apply_to(&mut before);
        if let Some(next) = &mut transition.next {
            poll.apply_to(next);
        }
        Ok(Some((before, transition)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.connection.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await.map_err(redis_err)?;
        Ok(())
    }
}
