//! Single-use records (SSO sign-ins in progress, unused approval grants):
//! in process under one lock, or in Redis, where `SET NX PX` stores and
//! `GETDEL` takes, each one atomic command.

use super::redis_connection::RedisConnection;
use super::redis_err;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::ports::SingleUseStore;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

/// Records in process. Every call does bounded work under the lock: expired
/// records are dropped a few at a time, earliest deadline first (a heap of
/// deadlines), and a record past its deadline counts as gone before it is
/// dropped. (A full sweep per call cost time in proportion to the records
/// held, and DPoP keeps one per proof for minutes.)
#[derive(Default)]
pub struct MemorySingleUse {
    records: Mutex<Records>,
}

/// Expired records dropped per call: more than the one a call can add, so
/// the store never holds many more than are live.
const SWEEP_PER_CALL: usize = 4;

#[derive(Default)]
struct Records {
    values: HashMap<String, (String, DateTime<Utc>)>,
    deadlines: BinaryHeap<Reverse<(DateTime<Utc>, String)>>,
}

impl Records {
    /// Drops up to [`SWEEP_PER_CALL`] records whose deadline passed.
    fn sweep(&mut self, now: DateTime<Utc>) {
        for _ in 0..SWEEP_PER_CALL {
            if self.deadlines.peek().is_none_or(|Reverse((until, _))| *until > now) {
                break;
            }
            let Some(Reverse((until, key))) = self.deadlines.pop() else { break };
            // A key taken and stored again has a later deadline of its own.
            if self.values.get(&key).is_some_and(|(_, held)| *held == until) {
                self.values.remove(&key);
            }
        }
    }

    fn is_live(&self, key: &str, now: DateTime<Utc>) -> bool {
        self.values.get(key).is_some_and(|(_, until)| *until > now)
    }
}

impl MemorySingleUse {
    fn with_records<T>(&self, now: DateTime<Utc>, f: impl FnOnce(&mut Records) -> T) -> Result<T, StoreError> {
        let mut records = self.records.lock().map_err(|_| StoreError::new("single-use store lock poisoned"))?;
        records.sweep(now);
        Ok(f(&mut records))
    }

    /// How many records are held, expired ones not yet dropped included.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.records.lock().map(|records| records.values.len()).unwrap_or_default()
    }
}

#[async_trait]
impl SingleUseStore for MemorySingleUse {
    async fn put(&self, key: &str, value: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        self.with_records(now, |records| {
            if records.is_live(key, now) {
                return false;
            }
            records.values.insert(key.to_owned(), (value.to_owned(), until));
            records.deadlines.push(Reverse((until, key.to_owned())));
            true
        })
    }

    async fn peek(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        self.with_records(now, |records| {
            records.is_live(key, now).then(|| records.values.get(key).map(|(value, _)| value.clone())).flatten()
        })
    }

    async fn take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        self.with_records(now, |records| {
            let live = records.is_live(key, now);
            records.values.remove(key).filter(|_| live).map(|(value, _)| value)
        })
    }
}

/// Records in Redis under `<prefix>once:<key>`, expiring by Redis TTL.
#[derive(Clone)]
pub struct RedisSingleUse {
    connection: RedisConnection,
    prefix: String,
}

impl RedisSingleUse {
    /// Records over an existing connection, with keys under `prefix`.
    pub fn new(connection: RedisConnection, prefix: &str) -> Self {
        Self { connection, prefix: prefix.to_owned() }
    }

    fn key(&self, key: &str) -> String {
        format!("{}once:{key}", self.prefix)
    }
}

#[async_trait]
impl SingleUseStore for RedisSingleUse {
    async fn put(&self, key: &str, value: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        // Redis keeps its own clock for the TTL; the lifetime is what matters.
        let ttl_ms = (until - now).num_milliseconds().max(1);
        let stored: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(redis_err)?;
        Ok(stored.is_some())
    }

    async fn peek(&self, key: &str, _now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        redis::cmd("GET").arg(self.key(key)).query_async(&mut self.connection.clone()).await.map_err(redis_err)
    }

    async fn take(&self, key: &str, _now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        redis::cmd("GETDEL").arg(self.key(key)).query_async(&mut self.connection.clone()).await.map_err(redis_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[tokio::test]
    async fn expired_records_count_as_gone_and_are_dropped_a_few_per_call() {
        let store = MemorySingleUse::default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        for i in 0..100 {
            assert!(store.put(&format!("k{i}"), "v", t0, t0 + Duration::seconds(10)).await.is_ok_and(|stored| stored));
        }
        assert!(store.put("long", "v", t0, t0 + Duration::seconds(60)).await.is_ok_and(|stored| stored));
        let later = t0 + Duration::seconds(11);
        assert_eq!(store.peek("k5", later).await.ok().flatten(), None, "past its deadline: gone");
        assert!(store.put("k5", "again", later, later + Duration::seconds(10)).await.is_ok_and(|stored| stored));
        assert!(store.held() > 50, "each call drops only a few");
        for _ in 0..30 {
            let _ = store.peek("nothing", later).await;
        }
        assert_eq!(store.held(), 2, "all expired dropped over later calls");
        assert_eq!(store.take("k5", later).await.ok().flatten().as_deref(), Some("again"));
        assert_eq!(store.peek("long", later).await.ok().flatten().as_deref(), Some("v"));
    }
}
