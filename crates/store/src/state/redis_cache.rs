//! The Redis token cache, shared by every instance: an entry per token hash,
//! an index from token id to hash (so revocation can find the entry), and a
//! short-lived "invalidated" marker per id that refuses positive entries, so
//! a lookup that raced a revocation cannot cache the revoked row again.

use super::rate_limits;
use super::redis_connection::RedisConnection;
use super::redis_err;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::ports::{CachedLookup, TokenCache};
use gatehouse_core::rate_limit::{RateCheck, RateLimited};
use redis::Script;
use uuid::Uuid;

use super::INVALIDATION_HOLD;

/// Caches a positive entry unless the id is marked invalidated.
const PUT_FOUND: &str = r"
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return 1";

/// Marks the id invalidated and deletes its entry.
const INVALIDATE: &str = r"
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
local hash = redis.call('GET', KEYS[1])
if hash then redis.call('DEL', ARGV[2] .. hash) end
redis.call('DEL', KEYS[1])
return 1";

/// Reads the entry (KEYS[1]); when it is a positive one, spends the limits
/// (`gcra_take` over KEYS[2..], ARGV[1] now, the quotas from ARGV[2]).
/// Returns `{entry or nil, 0, 0}` or, refused, `{entry, index, wait ms}`.
/// A positive entry is serialized `CachedLookup::Found`, a JSON object; a
/// negative one is the JSON string `"Missing"`.
const GET_WITHIN_MAIN: &str = r"
local entry = redis.call('GET', KEYS[1])
if entry and string.byte(entry, 1) == 123 then
  local worst, wait = gcra_take(2, 2, tonumber(ARGV[1]))
  return {entry, worst, wait}
end
return {entry, 0, 0}";

/// Token lookups cached in Redis.
#[derive(Clone)]
pub struct RedisTokenCache {
    connection: RedisConnection,
    prefix: String,
    get_within: Script,
    put_found: Script,
    invalidate: Script,
}

impl RedisTokenCache {
    /// A cache over an existing connection, with keys under `prefix`.
    pub fn new(connection: RedisConnection, prefix: &str) -> Self {
        Self {
            connection,
            prefix: prefix.to_owned(),
            get_within: Script::new(&format!("{}{GET_WITHIN_MAIN}", rate_limits::GCRA_LUA)),
            put_found: Script::new(PUT_FOUND),
            invalidate: Script::new(INVALIDATE),
        }
    }

    fn hash_key_prefix(&self) -> String {
        format!("{}tc:h:", self.prefix)
    }

    fn hash_key(&self, hash: &str) -> String {
        format!("{}{hash}", self.hash_key_prefix())
    }

    fn id_key(&self, id: Uuid) -> String {
        format!("{}tc:id:{id}", self.prefix)
    }

    fn invalidated_key(&self, id: Uuid) -> String {
        format!("{}tc:dead:{id}", self.prefix)
    }
}

#[async_trait]
impl TokenCache for RedisTokenCache {
    async fn get_within(
        &self,
        token_hash: &str,
        limits: &[RateCheck],
        now: DateTime<Utc>,
    ) -> Result<(Option<CachedLookup>, Option<RateLimited>), StoreError> {
        let mut invocation = self.get_within.prepare_invoke();
        invocation.key(self.hash_key(token_hash)).arg(now.timestamp_millis());
        // The same keys as `RedisRateLimiter`, which shares this prefix.
        rate_limits::push_checks(&mut invocation, &self.prefix, limits);
        let (raw, index, wait_ms): (Option<String>, usize, u64) =
            invocation.invoke_async(&mut self.connection.clone()).await.map_err(redis_err)?;
        let found = raw.map(|raw| serde_json::from_str(&raw).map_err(StoreError::from_err)).transpose()?;
        Ok((found, rate_limits::refusal(limits, index, wait_ms)))
    }

    async fn put(
        &self,
        token_hash: &str,
        lookup: &CachedLookup,
        ttl: chrono::Duration,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let ttl_ms = ttl.num_milliseconds();
        if ttl_ms <= 0 {
            return Ok(());
        }
        let json = serde_json::to_string(lookup).map_err(StoreError::from_err)?;
        let mut conn = self.connection.clone();
        match lookup {
            CachedLookup::Found(record) => {
                let _: i64 = self
                    .put_found
                    .key(self.hash_key(token_hash))
                    .key(self.id_key(record.id))
                    .key(self.invalidated_key(record.id))
                    .arg(json)
                    .arg(ttl_ms)
                    .arg(token_hash)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(redis_err)?;
            }
            CachedLookup::Missing => {
                let _: () = redis::cmd("SET")
                    .arg(self.hash_key(token_hash))
                    .arg(json)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_err)?;
            }
        }
        Ok(())
    }

    async fn invalidate(&self, token_id: Uuid, _now: DateTime<Utc>) -> Result<(), StoreError> {
        let hold_ms = i64::try_from(INVALIDATION_HOLD.as_millis()).unwrap_or(i64::MAX);
        let mut conn = self.connection.clone();
        let _: i64 = self
            .invalidate
            .key(self.id_key(token_id))
            .key(self.invalidated_key(token_id))
            .arg(hold_ms)
            .arg(self.hash_key_prefix())
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(())
    }
}
