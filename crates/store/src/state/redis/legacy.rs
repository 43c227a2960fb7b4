//! Flows stored by the release before one key per flow: the value as a
//! plain string under `flow:<hash>`, its poll clock under
//! `polled:<hash>:<client>` and its `slow_down` count under `slow:<hash>`.
//! The first time this release meets one (Redis answers `WRONGTYPE` to a
//! hash command), it is converted in place, atomically and keeping its TTL,
//! clock and count, and the operation runs again. What an older instance
//! does with a converted flow: `docs/operations.md`, rolling upgrades.
//!
//! To be removed with its callers' retries in the release after next: a
//! flow lives at most its lifetime and tombstone (20 minutes by default)
//! past the last upgrade that could have stored it the old way.

use super::super::split_flow::{self, MAX_CAS_ATTEMPTS};
use super::{RedisFlowStore, poll_clock_field};
use crate::state::redis_err;
use gatehouse_core::StoreError;

/// Converts a flow an earlier release stored (KEYS[1] a plain value,
/// ARGV[1]; its poll clock at KEYS[2] and `slow_down` count at KEYS[3]) into
/// this release's hash, keeping its TTL, clock (into field ARGV[2]) and
/// count. Returns 1 when the flow is converted (by this call or before) or
/// gone, 0 when its value is no longer ARGV[1] (read again and retry).
pub(super) const CONVERT_LEGACY_FLOW: &str = r"
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 1 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
local clock = redis.call('GET', KEYS[2])
local slow_downs = redis.call('GET', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'v', ARGV[1])
if clock then redis.call('HSET', KEYS[1], ARGV[2], clock) end
if slow_downs then redis.call('HSET', KEYS[1], 's', slow_downs) end
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1";

impl RedisFlowStore {
    /// Where earlier releases kept a flow's `slow_down` count.
    fn legacy_slow_down_key(&self, hash: &str) -> String {
        format!("{}slow:{hash}", self.prefix)
    }

    /// Where earlier releases kept the poll clock of `client_id`'s polls.
    fn legacy_poll_clock_key(&self, hash: &str, client_id: &str) -> String {
        format!("{}polled:{hash}:{client_id}", self.prefix)
    }

    /// Converts the flow with this hash if an earlier release stored it (see
    /// the module's doc); nothing to do if it is converted or gone.
    pub(super) async fn convert_legacy_flow(&self, hash: &str) -> Result<(), StoreError> {
        let key = self.flow_key(hash);
        let mut conn = self.connection.clone();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let raw: Option<Vec<u8>> = match redis::cmd("GET").arg(&key).query_async(&mut conn).await {
                Ok(raw) => raw,
                Err(err) if is_wrong_type(&err) => return Ok(()), // already a hash
                Err(err) => return Err(redis_err(err)),
            };
            let Some(raw) = raw else {
                return Ok(());
            };
            // The clock's key names the flow's client, which the value holds.
            let flow = split_flow::decode(hash, &raw)?;
            let converted: i64 = self
                .convert_legacy_flow
                .key(&key)
                .key(self.legacy_poll_clock_key(hash, &flow.client_id))
                .key(self.legacy_slow_down_key(hash))
                .arg(&raw)
                .arg(poll_clock_field(&flow.client_id))
                .invoke_async(&mut conn)
                .await
                .map_err(redis_err)?;
            if converted == 1 {
                return Ok(());
            }
        }
        Err(StoreError::new("flow changed too often to convert"))
    }
}

/// Redis refused a command for the key's type: here, a flow an earlier
/// release stored as a plain value.
pub(super) fn is_wrong_type(err: &redis::RedisError) -> bool {
    err.code() == Some("WRONGTYPE") || err.to_string().contains("WRONGTYPE")
}
