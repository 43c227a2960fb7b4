//! A small in-process map of recently read values, each reused for a fixed
//! time and bounded in number: what the client cache and the `/v1/me`
//! subject cache share. Time comes from the caller (the injected clock), so
//! tests move it rather than sleep.

use chrono::{DateTime, Duration, Utc};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Values recently read, with when.
pub(crate) struct Recent<K, V> {
    entries: Mutex<HashMap<K, (V, DateTime<Utc>)>>,
    ttl: Duration,
    limit: usize,
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    /// Reuses values for `ttl`, holding at most `limit` of them.
    pub(crate) fn new(ttl: Duration, limit: usize) -> Self {
        Self { entries: Mutex::default(), ttl, limit }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, DateTime<Utc>)>> {
        // Each change is one insert or remove, so a poisoned map is still sound.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value under `key`, if it was stored less than `ttl` before `now`.
    pub(crate) fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q, now: DateTime<Utc>) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.lock().get(key).filter(|(_, at)| now - *at < self.ttl).map(|(value, _)| value.clone())
    }

    /// Stores `value`. A full map first drops what has expired, and starts
    /// over if that is not enough, so a flood of keys cannot grow it.
    pub(crate) fn insert(&self, key: K, value: V, now: DateTime<Utc>) {
        let mut entries = self.lock();
        if entries.len() >= self.limit {
            entries.retain(|_, (_, at)| now - *at < self.ttl);
            if entries.len() >= self.limit {
                entries.clear();
            }
        }
        entries.insert(key, (value, now));
    }

    /// Forgets `key` (the value changed).
    pub(crate) fn remove<Q: Eq + Hash + ?Sized>(&self, key: &Q)
    where
        K: Borrow<Q>,
    {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_expire_and_the_map_stays_bounded() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let recent = Recent::new(Duration::seconds(60), 2);
        recent.insert("a".to_owned(), 1, t0);
        recent.insert("b".to_owned(), 2, t0);
        assert_eq!(recent.get("a", t0 + Duration::seconds(59)), Some(1));
        assert_eq!(recent.get("a", t0 + Duration::seconds(60)), None, "reused for exactly its time");
        recent.insert("c".to_owned(), 3, t0);
        assert!(recent.lock().len() <= 2);
        assert_eq!(recent.get("c", t0), Some(3));
        recent.remove("c");
        assert_eq!(recent.get("c", t0), None);
        // A full map drops what has expired before starting over.
        recent.insert("d".to_owned(), 4, t0 + Duration::seconds(61));
        recent.insert("e".to_owned(), 5, t0 + Duration::seconds(61));
        assert_eq!(recent.get("d", t0 + Duration::seconds(61)), Some(4));
    }
}
