//! The rate limiters' state: one GCRA arrival time per key, in process or in
//! Redis. Both run `gatehouse_core::rate_limit::gcra_step` over every key of
//! a check and store the new times only when every key allows (all or
//! nothing), atomically: under one lock, or in one Lua script.

use super::redis_connection::RedisConnection;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::ports::RateLimiter;
use gatehouse_core::rate_limit::{RateCheck, RateLimited, RateMode, epoch_ms, gcra_refund, gcra_step};
use redis::{Script, ScriptInvocation};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The keys' arrival times in process (the embedded default).
#[derive(Default)]
pub struct MemoryRateLimiter {
    state: Mutex<Arrivals>,
}

#[derive(Default)]
struct Arrivals {
    /// Key → theoretical arrival time (epoch ms). A key whose time has passed
    /// is as good as absent.
    tats: HashMap<String, f64>,
    /// Sweep once the map has grown to this size.
    sweep_at: usize,
}

/// Keys kept before the first sweep.
const FIRST_SWEEP: usize = 1024;

impl Arrivals {
    /// Drops keys whose time has passed. Run when the map has doubled since
    /// the last sweep, so its cost is spread over as many inserts as it visits.
    fn sweep_if_grown(&mut self, now_ms: f64) {
        if self.tats.len() < self.sweep_at.max(FIRST_SWEEP) {
            return;
        }
        self.tats.retain(|_, tat| *tat > now_ms);
        self.sweep_at = self.tats.len() * 2;
    }
}

/// The first refusal among `checks`, or the new arrival times of all.
pub(super) fn step_all(
    checks: &[RateCheck],
    now_ms: f64,
    current: impl Fn(&str) -> Option<f64>,
) -> Result<Vec<f64>, RateLimited> {
    let mut refused: Option<RateLimited> = None;
    let mut next = Vec::with_capacity(checks.len());
    for check in checks {
        match gcra_step(current(&check.key), now_ms, &check.quota) {
            Ok(tat) => next.push(tat),
            Err(wait_ms) => {
                let retry_after = Duration::from_millis(wait_ms.ceil() as u64);
                if refused.is_none_or(|r| retry_after > r.retry_after) {
                    refused = Some(RateLimited { limiter: check.limiter, retry_after });
                }
            }
        }
    }
    match refused {
        Some(limited) => Err(limited),
        None => Ok(next),
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(
        &self,
        checks: &[RateCheck],
        mode: RateMode,
        now: DateTime<Utc>,
    ) -> Result<Option<RateLimited>, StoreError> {
        // No keys, nothing to count (an insert or a cache read without
        // limits passes none): no lock taken.
        if checks.is_empty() {
            return Ok(None);
        }
        let now_ms = epoch_ms(now);
        let mut state = self.state.lock().map_err(|_| StoreError::new("rate limiter lock poisoned"))?;
        if mode == RateMode::Refund {
            for check in checks {
                if let Some(tat) = gcra_refund(state.tats.get(&check.key).copied(), &check.quota) {
                    state.tats.insert(check.key.clone(), tat);
                }
            }
            return Ok(None);
        }
        let next = match step_all(checks, now_ms, |key| state.tats.get(key).copied()) {
            Ok(next) => next,
            Err(limited) => return Ok(Some(limited)),
        };
        state.sweep_if_grown(now_ms);
        for (check, tat) in checks.iter().zip(next) {
            state.tats.insert(check.key.clone(), tat);
        }
        Ok(None)
    }
}

/// GCRA in Lua, shared by the limiter's script, the flow insert's (which
/// spends the device-authorization limits in the same call) and the token
/// cache's read (which spends the bearer limit). The same steps as
/// `gcra_step` and `gcra_refund`.
///
/// `gcra_take(first, arg, now)` spends one unit of each of `KEYS[first..]`,
/// whose emission interval and period (ms) are the `ARGV` pairs from
/// `ARGV[arg]`, only if every key has one (all or nothing). It returns
/// `0, 0` when allowed, else the 1-based index among those keys of the one
/// with the longest wait, and that wait in ms. `gcra_refund(first, arg)`
/// gives one unit back to each.
pub(super) const GCRA_LUA: &str = r"
local function gcra_take(first, arg, now)
  local next_tats = {}
  local worst, worst_wait = 0, 0
  for i = first, #KEYS do
    local n = i - first
    local emission = tonumber(ARGV[arg + 2 * n])
    local period = tonumber(ARGV[arg + 1 + 2 * n])
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local new_tat = tat + emission
    local wait = new_tat - period - now
    if wait > 0 then
      if wait > worst_wait then worst, worst_wait = n + 1, wait end
    else
      next_tats[i] = new_tat
    end
  end
  if worst > 0 then return worst, math.ceil(worst_wait) end
  for i = first, #KEYS do
    redis.call('SET', KEYS[i], string.format('%.3f', next_tats[i]), 'PX', math.ceil(next_tats[i] - now))
  end
  return 0, 0
end
local function gcra_refund(first, arg)
  for i = first, #KEYS do
    local tat = tonumber(redis.call('GET', KEYS[i]))
    if tat then
      local emission = tonumber(ARGV[arg + 2 * (i - first)])
      redis.call('SET', KEYS[i], string.format('%.3f', tat - emission), 'KEEPTTL')
    end
  end
end
";

/// The limiter's script: KEYS are the rate keys; ARGV[1] is now (epoch ms),
/// ARGV[2] `1` to take or `2` to refund, then each key's emission interval
/// and period. Returns `gcra_take`'s pair (`{0, 0}` for a refund).
const LIMITER_MAIN: &str = r"
if ARGV[2] == '2' then
  gcra_refund(1, 3)
  return {0, 0}
end
return {gcra_take(1, 3, tonumber(ARGV[1]))}";

/// Appends `checks` to a script call for `gcra_take`: each one's key (under
/// `<prefix>rl:`) after the keys already there, and its emission interval
/// and period after the arguments already there.
pub(super) fn push_checks(invocation: &mut ScriptInvocation<'_>, prefix: &str, checks: &[RateCheck]) {
    for check in checks {
        invocation
            .key(format!("{prefix}rl:{}", check.key))
            .arg(check.quota.emission_ms())
            .arg(check.quota.period.as_millis() as u64);
    }
}

/// The refusal `gcra_take` reported as (`index`, `wait_ms`) over `checks`.
pub(super) fn refusal(checks: &[RateCheck], index: usize, wait_ms: u64) -> Option<RateLimited> {
    index
        .checked_sub(1)
        .and_then(|i| checks.get(i))
        .map(|check| RateLimited { limiter: check.limiter, retry_after: Duration::from_millis(wait_ms) })
}

/// The keys' arrival times in Redis under `<prefix>rl:<limiter>:<subject>`,
/// shared by every instance; each key expires when its time has passed.
#[derive(Clone)]
pub struct RedisRateLimiter {
    connection: RedisConnection,
    prefix: String,
    gcra: Script,
}

impl RedisRateLimiter {
    /// A limiter over an existing connection, with keys under `prefix`.
    pub fn new(connection: RedisConnection, prefix: &str) -> Self {
        Self { connection, prefix: prefix.to_owned(), gcra: Script::new(&format!("{GCRA_LUA}{LIMITER_MAIN}")) }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(
        &self,
        checks: &[RateCheck],
        mode: RateMode,
        now: DateTime<Utc>,
    ) -> Result<Option<RateLimited>, StoreError> {
        let mode = match mode {
            RateMode::Take => 1,
            RateMode::Refund => 2,
        };
        let mut invocation = self.gcra.prepare_invoke();
        invocation.arg(now.timestamp_millis()).arg(mode);
        push_checks(&mut invocation, &self.prefix, checks);
        let (index, wait_ms): (usize, u64) =
            invocation.invoke_async(&mut self.connection.clone()).await.map_err(super::redis_err)?;
        Ok(refusal(checks, index, wait_ms))
    }
}
