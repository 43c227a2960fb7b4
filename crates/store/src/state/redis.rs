//! The Redis flow store, for several instances sharing state.
//!
//! A flow is one JSON value under `<prefix>flow:<device-code hash>` with a
//! second key mapping its user code to that hash; both expire with the flow's
//! retention. Changes are compare-and-set: read the value, apply the rule in
//! Rust (the same code the in-process store runs), and write back through a
//! Lua script only if the value is still byte-for-byte what was read. A lost
//! race retries on the fresh value, so no interleaving can apply a change to
//! a state it was not computed from.

use crate::ConnectError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::UserCode;
use gatehouse_core::flow::{DeviceFlow, FlowChange, FlowKey, Transition, Verdict};
use gatehouse_core::ports::DeviceFlowStore;
use redis::Script;
use redis::aio::ConnectionManager;

/// A lost compare-and-set means another change landed; this bounds retries
/// far above any realistic contention on one flow.
const MAX_CAS_ATTEMPTS: usize = 256;

/// Stores the user-code index only if free, then the flow; both with a TTL.
const INSERT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0";

/// Follows the user-code index to the flow in one round trip.
const FIND_BY_USER_CODE: &str = r"
local hash = redis.call('GET', KEYS[1])
if not hash then return false end
return {hash, redis.call('GET', ARGV[1] .. hash)}";

/// The hot path in one round trip: a poll of a pending, unexpired flow by its
/// own client only records the poll (or, too soon, applies `slow_down`). It
/// mirrors `DeviceFlow::apply` for that case alone; every other case returns
/// the value untouched for the Rust rules to decide. Times are epoch ms.
/// Replies: {0} no flow; {1, raw} not the hot case; {2, raw} pending;
/// {3, raw, interval} slow_down (raw is always the value before the poll).
const POLL_PENDING: &str = r"
local raw = redis.call('GET', KEYS[1])
if not raw then return {0} end
local flow = cjson.decode(raw)
local now = tonumber(ARGV[2])
if flow.client_id ~= ARGV[1] or type(flow.status) ~= 'table' or flow.status.state ~= 'pending'
   or now >= flow.expires_at then
  return {1, raw}
end
local last = flow.last_polled_at
flow.last_polled_at = now
if last ~= cjson.null and now - last < flow.interval_secs * 1000 then
  flow.interval_secs = flow.interval_secs + tonumber(ARGV[3])
  redis.call('SET', KEYS[1], cjson.encode(flow), 'KEEPTTL')
  return {3, raw, flow.interval_secs}
end
redis.call('SET', KEYS[1], cjson.encode(flow), 'KEEPTTL')
return {2, raw}";

/// Writes ARGV[2] only if the key still holds ARGV[1]; keeps the TTL.
const COMPARE_AND_SET: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0";

/// Device flows in Redis.
#[derive(Clone)]
pub struct RedisFlowStore {
    connection: ConnectionManager,
    prefix: String,
    insert: Script,
    find_by_user_code: Script,
    compare_and_set: Script,
    poll_pending: Script,
}

fn redis_err(err: redis::RedisError) -> StoreError {
    StoreError::from_err(err)
}

impl RedisFlowStore {
    /// Connects (and checks the server answers).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ConnectError> {
        let client = redis::Client::open(url).map_err(|e| ConnectError::Redis(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(std::time::Duration::from_secs(5))
            .set_response_timeout(std::time::Duration::from_secs(5))
            .set_number_of_retries(2);
        let connection =
            ConnectionManager::new_with_config(client, config).await.map_err(|e| ConnectError::Redis(e.to_string()))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            insert: Script::new(INSERT),
            find_by_user_code: Script::new(FIND_BY_USER_CODE),
            compare_and_set: Script::new(COMPARE_AND_SET),
            poll_pending: Script::new(POLL_PENDING),
        })
    }

    /// The shared (multiplexed, reconnecting) connection.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    fn flow_key(&self, hash: &str) -> String {
        format!("{}flow:{hash}", self.prefix)
    }

    fn user_code_key(&self, code: &UserCode) -> String {
        format!("{}uc:{}", self.prefix, code.as_str())
    }

    fn decode(raw: &str) -> Result<DeviceFlow, StoreError> {
        serde_json::from_str(raw).map_err(StoreError::from_err)
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
}

/// What the one-round-trip poll script did.
enum FastPoll {
    Missing,
    /// It handled the poll: the value before, and the transition applied.
    Done(Box<(DeviceFlow, Transition)>),
    /// Not a pending poll; the current raw value, for the general path.
    NotPending(String),
}

impl RedisFlowStore {
    async fn poll_pending(
        &self,
        flow_key: &str,
        client_id: &str,
        change: &FlowChange,
        now: DateTime<Utc>,
    ) -> Result<FastPoll, StoreError> {
        let mut conn = self.connection.clone();
        let reply: Vec<redis::Value> = self
            .poll_pending
            .key(flow_key)
            .arg(client_id)
            .arg(now.timestamp_millis())
            .arg(gatehouse_core::flow::SLOW_DOWN_STEP_SECS)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        let field = |i: usize| reply.get(i).cloned().unwrap_or(redis::Value::Nil);
        let kind: i64 = redis::from_redis_value(&field(0)).map_err(redis_err)?;
        let raw: Option<String> = redis::from_redis_value(&field(1)).map_err(redis_err)?;
        let interval: Option<u32> = redis::from_redis_value(&field(2)).map_err(redis_err)?;
        let Some(raw) = raw.filter(|_| kind != 0) else {
            return Ok(FastPoll::Missing);
        };
        if kind == 1 {
            return Ok(FastPoll::NotPending(raw));
        }
        let before = Self::decode(&raw)?;
        // The script wrote what the Rust rules would have; say so loudly if
        // the two ever disagree (the conformance suite checks they do not).
        let transition = before.apply(change, now);
        let scripted = match (kind, interval) {
            (3, Some(interval)) => Verdict::SlowDown { interval },
            _ => Verdict::AuthorizationPending,
        };
        if transition.verdict != scripted {
            tracing::error!(rust = ?transition.verdict, script = ?scripted, "Redis poll script disagrees with the flow rules");
        }
        Ok(FastPoll::Done(Box::new((before, Transition { verdict: scripted, next: transition.next }))))
    }

    /// Read, apply the rule in Rust, compare-and-set; retry on a lost race.
    /// `known` is a raw value already read (saves the first GET).
    async fn compare_and_set_loop(
        &self,
        flow_key: &str,
        change: &FlowChange,
        now: DateTime<Utc>,
        mut known: Option<String>,
    ) -> Result<Option<(DeviceFlow, Transition)>, StoreError> {
        let mut conn = self.connection.clone();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let raw: Option<String> = match known.take() {
                Some(raw) => Some(raw),
                None => redis::cmd("GET").arg(flow_key).query_async(&mut conn).await.map_err(redis_err)?,
            };
            let Some(raw) = raw else {
                return Ok(None);
            };
            let before = Self::decode(&raw)?;
            let transition = before.apply(change, now);
            let Some(next) = &transition.next else {
                return Ok(Some((before, transition)));
            };
            let next = serde_json::to_string(next).map_err(StoreError::from_err)?;
            let swapped: i64 = self
                .compare_and_set
                .key(flow_key)
                .arg(&raw)
                .arg(next)
                .invoke_async(&mut conn)
                .await
                .map_err(redis_err)?;
            if swapped == 1 {
                return Ok(Some((before, transition)));
            }
        }
        Err(StoreError("flow changed too often to update".into()))
    }
}

#[async_trait]
impl DeviceFlowStore for RedisFlowStore {
    async fn insert(&self, flow: &DeviceFlow, retain_until: DateTime<Utc>) -> Result<bool, StoreError> {
        let ttl_ms = (retain_until - flow.created_at).num_milliseconds().max(1000);
        let json = serde_json::to_string(flow).map_err(StoreError::from_err)?;
        let mut conn = self.connection.clone();
        let stored: i64 = self
            .insert
            .key(self.user_code_key(&flow.user_code))
            .key(self.flow_key(&flow.device_code_hash))
            .arg(&flow.device_code_hash)
            .arg(json)
            .arg(ttl_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(stored == 1)
    }

    async fn find_by_user_code(&self, code: &UserCode, _now: DateTime<Utc>) -> Result<Option<DeviceFlow>, StoreError> {
        let mut conn = self.connection.clone();
        let found: Option<(String, Option<String>)> = self
            .find_by_user_code
            .key(self.user_code_key(code))
            .arg(format!("{}flow:", self.prefix))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        found.and_then(|(_, raw)| raw).map(|raw| Self::decode(&raw)).transpose()
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
        let flow_key = self.flow_key(&hash);
        let mut known = None;
        if let FlowChange::Poll { client_id } = change {
            match self.poll_pending(&flow_key, client_id, change, now).await? {
                FastPoll::Missing => return Ok(None),
                FastPoll::Done(done) => return Ok(Some(*done)),
                FastPoll::NotPending(raw) => known = Some(raw),
            }
        }
        self.compare_and_set_loop(&flow_key, change, now, known).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.connection.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await.map_err(redis_err)?;
        Ok(())
    }
}
