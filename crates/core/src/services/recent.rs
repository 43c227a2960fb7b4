//! A small in-process map of recently read values, each reused for a fixed
//! time and bounded in number: what the client cache and the `/v1/me`
//! subject cache share.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Values recently read, with when.
pub(crate) struct Recent<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    ttl: Duration,
    limit: usize,
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    /// Reuses values for `ttl`, holding at most `limit` of them.
    pub(crate) fn new(ttl: Duration, limit: usize) -> Self {
        Self { entries: Mutex::default(), ttl, limit }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        // Each change is one insert or remove, so a poisoned map is still sound.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value under `key`, if it was stored less than `ttl` ago.
    pub(crate) fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let now = Instant::now();
        self.lock().get(key).filter(|(_, at)| now.duration_since(*at) < self.ttl).map(|(value, _)| value.clone())
    }

    /// Stores `value`. A full map first drops what has expired, and starts
    /// over if that is not enough, so a flood of keys cannot grow it.
    pub(crate) fn insert(&self, key: K, value: V) {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= self.limit {
            entries.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
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
        let recent = Recent::new(Duration::from_secs(60), 2);
        recent.insert("a".to_owned(), 1);
        recent.insert("b".to_owned(), 2);
        assert_eq!(recent.get("a"), Some(1));
        recent.insert("c".to_owned(), 3);
        assert!(recent.lock().len() <= 2);
        assert_eq!(recent.get("c"), Some(3));
        recent.remove("c");
        assert_eq!(recent.get("c"), None);

        let expired = Recent::new(Duration::ZERO, 10);
        expired.insert(1, "x");
        assert_eq!(expired.get(&1), None);
    }
}
