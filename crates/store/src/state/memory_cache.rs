//! The in-process token cache: one mutex; entries expire by the injected
//! clock's time, which every call brings.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::ports::{CachedLookup, RateLimiter, TokenCache};
use gatehouse_core::rate_limit::{RateCheck, RateLimited, RateMode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

use super::INVALIDATION_HOLD;
use super::rate_limits::MemoryRateLimiter;

/// Past this many entries, expired ones are swept (and if that is not
/// enough, everything): the cache only ever saves work.
const MAX_ENTRIES: usize = 200_000;

#[derive(Default)]
struct Entries {
    by_hash: HashMap<String, (CachedLookup, DateTime<Utc>)>,
    hash_by_id: HashMap<Uuid, String>,
    invalidated: HashMap<Uuid, DateTime<Utc>>,
}

/// Token lookups cached in this process.
pub struct MemoryTokenCache {
    entries: Mutex<Entries>,
    /// The limits a positive lookup spends: the embedded default's limiter,
    /// or PostgreSQL's (whose instances each keep a cache of their own).
    limiter: Arc<dyn RateLimiter>,
}

impl Default for MemoryTokenCache {
    fn default() -> Self {
        Self::new(Arc::new(MemoryRateLimiter::default()))
    }
}

impl MemoryTokenCache {
    /// A cache whose positive lookups spend their limits from `limiter`.
    pub fn new(limiter: Arc<dyn RateLimiter>) -> Self {
        Self { entries: Mutex::default(), limiter }
    }

    /// Forgets the token with this id, and refuses to cache it again for
    /// [`INVALIDATION_HOLD`] (`TokenCache::invalidate`).
    pub fn forget(&self, token_id: Uuid, now: DateTime<Utc>) {
        let hold = chrono::Duration::from_std(INVALIDATION_HOLD).unwrap_or(chrono::Duration::MAX);
        let mut entries = self.lock();
        entries.invalidated.insert(token_id, now + hold);
        if let Some(hash) = entries.hash_by_id.remove(&token_id) {
            entries.by_hash.remove(&hash);
        }
    }

    /// Forgets every entry (the invalidation holds stay).
    pub fn clear(&self) {
        let mut entries = self.lock();
        entries.by_hash.clear();
        entries.hash_by_id.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl TokenCache for MemoryTokenCache {
    async fn get_within(
        &self,
        token_hash: &str,
        limits: &[RateCheck],
        now: DateTime<Utc>,
    ) -> Result<(Option<CachedLookup>, Option<RateLimited>), StoreError> {
        let found = {
            let mut entries = self.lock();
            match entries.by_hash.get(token_hash) {
                Some((lookup, until)) if *until > now => Some(lookup.clone()),
                Some(_) => {
                    entries.by_hash.remove(token_hash);
                    None
                }
                None => None,
            }
        };
        let refused = match &found {
            Some(CachedLookup::Found(_)) => self.limiter.check(limits, RateMode::Take, now).await?,
            _ => None,
        };
        Ok((found, refused))
    }

    async fn put(
        &self,
        token_hash: &str,
        lookup: &CachedLookup,
        ttl: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let until = now + ttl.max(chrono::Duration::zero());
        let mut entries = self.lock();
        if entries.by_hash.len() >= MAX_ENTRIES {
            entries.by_hash.retain(|_, (_, until)| *until > now);
            entries.invalidated.retain(|_, until| *until > now);
            if entries.by_hash.len() >= MAX_ENTRIES {
                entries.by_hash.clear();
            }
            let live: std::collections::HashSet<&String> = entries.by_hash.keys().collect();
            let stale: Vec<Uuid> =
                entries.hash_by_id.iter().filter(|(_, hash)| !live.contains(hash)).map(|(id, _)| *id).collect();
            for id in stale {
                entries.hash_by_id.remove(&id);
            }
        }
        if let CachedLookup::Found(record) = lookup {
            if entries.invalidated.get(&record.id).is_some_and(|until| *until > now) {
                return Ok(());
            }
            entries.hash_by_id.insert(record.id, token_hash.to_owned());
        }
        entries.by_hash.insert(token_hash.to_owned(), (lookup.clone(), until));
        Ok(())
    }

    async fn invalidate(&self, token_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.forget(token_id, now);
        Ok(())
    }
}
