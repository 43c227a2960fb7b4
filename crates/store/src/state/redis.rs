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
//! The rules' split between the value, the clock and the count, and how
//! each change is made atomic, are `split_flow`'s; here a poll's read and
//! clock move is one script call (concurrent polls share one call, see
//! `redis_poll_batch`), a `slow_down` is `HINCRBY`, and compare-and-set is a
//! Lua script.
//!
//! The clock's field names the flow's own client and is created with the
//! flow, and a poll only moves an existing clock, so another client's poll
//! (an `invalid_grant`) touches nothing, as the rules require.

use super::rate_limits;
use super::redis_connection::RedisConnection;
use super::redis_err;
use super::redis_poll_batch::{Poll, PollBatcher, Polled};
use super::split_flow::{self, PollState, SplitFlows, apply_by_compare_and_set};
use crate::ConnectError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::UserCode;
use gatehouse_core::flow::{DeviceFlow, FlowChange, FlowKey, Transition};
use gatehouse_core::ports::{DeviceFlowStore, Inserted};
use gatehouse_core::rate_limit::RateCheck;
use legacy::is_wrong_type;
use redis::Script;

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
    async fn read_raw(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
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
}

#[async_trait]
impl SplitFlows for RedisFlowStore {
    async fn read_value(&self, hash: &str, _now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_raw(hash).await
    }

    async fn add_slow_down(&self, hash: &str, _now: DateTime<Utc>) -> Result<Option<u32>, StoreError> {
        let mut conn = self.connection.clone();
        self.add_slow_down.key(self.flow_key(hash)).invoke_async(&mut conn).await.map_err(redis_err)
    }

    async fn compare_and_set(
        &self,
        hash: &str,
        old: &[u8],
        new: Vec<u8>,
        _now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.connection.clone();
        let swapped: i64 = self
            .compare_and_set
            .key(self.flow_key(hash))
            .arg(old)
            .arg(new)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(swapped == 1)
    }
}

/// The hash field of the poll clock of `client_id`'s polls.
fn poll_clock_field(client_id: &str) -> String {
    format!("p:{client_id}")
}

fn parse_poll_clock(raw: &str) -> Option<DateTime<Utc>> {
    raw.parse().ok().and_then(DateTime::from_timestamp_millis)
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
            .arg(split_flow::encode(flow)?)
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
        let mut flow = split_flow::decode(&hash, &raw)?;
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
            return apply_by_compare_and_set(self, &hash, change, now, raw, poll).await;
        }
        // Other changes neither read nor move the clock; it is read only so
        // the flows returned carry it, as in every store.
        let Some(applied) = apply_by_compare_and_set(self, &hash, change, now, None, PollState::default()).await?
        else {
            return Ok(None);
        };
        let poll = self.read_poll_state(&applied.0).await?;
        Ok(Some(poll.apply_to_change(applied)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.connection.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await.map_err(redis_err)?;
        Ok(())
    }
}
