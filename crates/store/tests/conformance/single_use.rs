//! The same cases against every `SingleUseStore` (SSO sign-ins in progress,
//! approval grants, password reset links, DPoP proof ids): in-process, and
//! Redis when `GATEHOUSE_TEST_REDIS_URL` is set (skipped by name otherwise;
//! a failure under `CI=true`). Expiry is not compared: Redis keeps its own
//! clock, and each use checks the injected one itself.

use chrono::{Duration, Utc};
use gatehouse_core::ports::SingleUseStore;
use std::sync::Arc;
use uuid::Uuid;

use crate::common;

async fn stores(test: &str) -> common::Cases<(&'static str, Arc<dyn SingleUseStore>)> {
    common::state_stores(test).await.map(|(name, state)| (name, state.single_use))
}

#[tokio::test]
async fn a_key_is_stored_once_read_freely_and_taken_once() {
    for (name, store) in stores("a_key_is_stored_once_read_freely_and_taken_once").await {
        let (now, key) = (Utc::now(), format!("conformance:{}", Uuid::new_v4()));
        let until = now + Duration::minutes(5);
        assert!(store.put(&key, "first", now, until).await.expect("put"), "{name}");
        assert!(!store.put(&key, "second", now, until).await.expect("put"), "{name}: a held key is not replaced");
        for _ in 0..2 {
            assert_eq!(store.peek(&key, now).await.expect("peek").as_deref(), Some("first"), "{name}");
        }
        assert_eq!(store.take(&key, now).await.expect("take").as_deref(), Some("first"), "{name}");
        assert_eq!(store.take(&key, now).await.expect("take"), None, "{name}: taken once");
        assert_eq!(store.peek(&key, now).await.expect("peek"), None, "{name}");
        assert!(store.put(&key, "again", now, until).await.expect("put"), "{name}: free once taken");
        assert_eq!(store.peek("conformance:never-stored", now).await.expect("peek"), None, "{name}");
    }
}

#[tokio::test]
async fn of_racing_puts_and_takes_of_one_key_exactly_one_wins() {
    for (name, store) in stores("of_racing_puts_and_takes_of_one_key_exactly_one_wins").await {
        let (now, key) = (Utc::now(), format!("conformance:{}", Uuid::new_v4()));
        let until = now + Duration::minutes(5);
        let puts = (0..50).map(|i| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { store.put(&key, &format!("value-{i}"), now, until).await.expect("put") })
        });
        let stored =
            futures::future::join_all(puts).await.into_iter().filter(|won| *won.as_ref().expect("join")).count();
        assert_eq!(stored, 1, "{name}: one put holds the key");
        let takes = (0..50).map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { store.take(&key, now).await.expect("take") })
        });
        let taken: Vec<String> =
            futures::future::join_all(takes).await.into_iter().filter_map(|taken| taken.expect("join")).collect();
        assert_eq!(taken.len(), 1, "{name}: one take gets the value: {taken:?}");
    }
}
