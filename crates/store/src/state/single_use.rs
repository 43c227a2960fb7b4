//! Single-use records (SSO sign-ins in progress, unused approval grants):
//! in process under one lock, or in Redis, where `SET NX PX` stores and
//! `GETDEL` takes, each one atomic command.

use super::redis_connection::RedisConnection;
use super::redis_err;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::ports::SingleUseStore;
use std::collections::HashMap;
use std::sync::Mutex;

/// Records in process, each dropped once `until` passes.
#[derive(Default)]
pub struct MemorySingleUse {
    records: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
}

impl MemorySingleUse {
    fn with_live<T>(
        &self,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut HashMap<String, (String, DateTime<Utc>)>) -> T,
    ) -> Result<T, StoreError> {
        let mut records = self.records.lock().map_err(|_| StoreError::new("single-use store lock poisoned"))?;
        // Few records live at once (minutes each), so a sweep per call is cheap.
        records.retain(|_, (_, until)| *until > now);
        Ok(f(&mut records))
    }
}

#[async_trait]
impl SingleUseStore for MemorySingleUse {
    async fn put(&self, key: &str, value: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        self.with_live(now, |records| {
            if records.contains_key(key) {
                return false;
            }
            records.insert(key.to_owned(), (value.to_owned(), until));
            true
        })
    }

    async fn peek(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        self.with_live(now, |records| records.get(key).map(|(value, _)| value.clone()))
    }

    async fn take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        self.with_live(now, |records| records.remove(key).map(|(value, _)| value))
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
