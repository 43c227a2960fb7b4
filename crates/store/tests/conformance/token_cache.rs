//! The same cases against every `TokenCache`: in-process, and Redis when
//! `GATEHOUSE_TEST_REDIS_URL` is set (skipped by name otherwise; a failure
//! under `CI=true`).

use chrono::{Duration, Utc};
use gatehouse_core::model::AccessTokenRecord;
use gatehouse_core::ports::{CachedLookup, RateLimiter, TokenCache};
use gatehouse_core::rate_limit::{Limiter, Quota, RateCheck, RateMode};
use std::sync::Arc;

use crate::common;
use uuid::Uuid;

pub(crate) fn record(id: Uuid) -> AccessTokenRecord {
    let now = Utc::now();
    AccessTokenRecord {
        id,
        subject_email: "ada@example.com".into(),
        subject_issuer: "local".into(),
        subject_id: Some(Uuid::nil().to_string()),
        account_id: None,
        client_id: "cli".into(),
        device_label: String::new(),
        prefix: "gtha_".into(),
        scopes: vec!["full".into()],
        access_scopes: None,
        created_at: now,
        last_used_at: None,
        last_used_ip: None,
        expires_at: now + Duration::days(30),
        access_expires_at: Some(now + Duration::hours(1)),
        max_expires_at: Some(now + Duration::days(90)),
        refreshable: true,
        refreshed_at: None,
        revoked_at: None,
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
        // Set, so the caches show the evidence round-trips.
        approval: Some(gatehouse_core::approval_policy::ApprovalEvidence {
            device_network: Some("198.51.100.9".into()),
            approver_network: None,
            proximity: gatehouse_core::approval_policy::Proximity::Unknown,
            policy: Default::default(),
            confirmed_on_device: true,
        }),
    }
}

async fn caches(test: &str) -> common::Cases<(&'static str, Arc<dyn TokenCache>)> {
    common::state_stores(test).await.map(|(name, state)| (name, state.token_cache))
}

#[tokio::test]
async fn entries_round_trip_and_invalidation_removes_them() {
    for (name, cache) in caches("entries_round_trip_and_invalidation_removes_them").await {
        let now = Utc::now();
        let id = Uuid::new_v4();
        let found = CachedLookup::Found(Box::new(record(id)));
        cache.put("hash-1", &found, Duration::seconds(60), now).await.expect("put");
        cache.put("hash-2", &CachedLookup::Missing, Duration::seconds(10), now).await.expect("put");
        assert_eq!(cache.get("hash-1", now).await.expect("get"), Some(found.clone()), "{name}");
        assert_eq!(cache.get("hash-2", now).await.expect("get"), Some(CachedLookup::Missing), "{name}");
        assert_eq!(cache.get("hash-3", now).await.expect("get"), None, "{name}");

        cache.invalidate(id, now).await.expect("invalidate");
        assert_eq!(cache.get("hash-1", now).await.expect("get"), None, "{name}");
        // A lookup that read the row before the revocation cannot cache it after.
        cache.put("hash-1", &found, Duration::seconds(60), now).await.expect("put");
        assert_eq!(cache.get("hash-1", now).await.expect("get"), None, "{name}: resurrected after invalidation");
    }
}

#[tokio::test]
async fn entries_expire() {
    for (name, cache) in caches("entries_expire").await {
        let now = Utc::now();
        cache.put("short", &CachedLookup::Missing, Duration::milliseconds(50), now).await.expect("put");
        assert_eq!(cache.get("short", now).await.expect("get"), Some(CachedLookup::Missing), "{name}");
        // Redis expires entries by its own clock, the in-process cache by
        // the time it is given: both have moved past the entry's life.
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        let later = now + Duration::milliseconds(120);
        assert_eq!(cache.get("short", later).await.expect("get"), None, "{name}");
    }
}

/// Each backend's token cache with the limiter it spends from.
async fn caches_with_limiters(test: &str) -> common::Cases<(&'static str, Arc<dyn TokenCache>, Arc<dyn RateLimiter>)> {
    common::state_stores(test).await.map(|(name, state)| (name, state.token_cache, state.rate_limiter))
}

#[tokio::test]
async fn a_positive_lookup_spends_the_limiters_units_and_nothing_else_does() {
    for (name, cache, limiter) in
        caches_with_limiters("a_positive_lookup_spends_the_limiters_units_and_nothing_else_does").await
    {
        let now = Utc::now();
        let two = |subject: &str| {
            [RateCheck {
                limiter: Limiter::BearerPerToken,
                key: format!("bearer_per_token:{subject}"),
                quota: Quota { limit: 2, period: std::time::Duration::from_secs(60) },
            }]
        };
        let found = CachedLookup::Found(Box::new(record(Uuid::new_v4())));
        cache.put("known", &found, Duration::seconds(60), now).await.expect("put");
        cache.put("unknown", &CachedLookup::Missing, Duration::seconds(10), now).await.expect("put");
        for i in 0..2 {
            let (entry, refused) = cache.get_within("known", &two("known"), now).await.expect("get");
            assert_eq!((entry, refused), (Some(found.clone()), None), "{name}: lookup {i}");
        }
        // Spent out: still the entry, with the refusal; and the limiter agrees.
        let (entry, refused) = cache.get_within("known", &two("known"), now).await.expect("get");
        assert_eq!(entry, Some(found.clone()), "{name}");
        let refused = refused.expect("refused");
        assert_eq!(refused.limiter, Limiter::BearerPerToken, "{name}");
        assert_eq!(refused.retry_after, std::time::Duration::from_secs(30), "{name}");
        assert!(limiter.check(&two("known"), RateMode::Take, now).await.expect("check").is_some(), "{name}");
        // A negative entry or a miss spends nothing and is never refused.
        for hash in ["unknown", "absent"] {
            for _ in 0..3 {
                let (_, refused) = cache.get_within(hash, &two(hash), now).await.expect("get");
                assert_eq!(refused, None, "{name}: {hash}");
            }
            assert_eq!(limiter.check(&two(hash), RateMode::Take, now).await.expect("check"), None, "{name}: {hash}");
        }
    }
}
