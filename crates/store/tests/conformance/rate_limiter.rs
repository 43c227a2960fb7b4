//! The same cases against every `RateLimiter`: in-process, and Redis when
//! `GATEHOUSE_TEST_REDIS_URL` is set (skipped by name otherwise; a failure
//! under `CI=true`). Time is passed in, so the cases move it by hand.

use chrono::{DateTime, Duration, Utc};
use gatehouse_core::ports::{DeviceFlowStore, Inserted, RateLimiter};
use gatehouse_core::rate_limit::{Limiter, Quota, RateCheck, RateMode};
use gatehouse_core::testing::pending_flow;
use std::sync::Arc;

use crate::common;

async fn limiters(test: &str) -> common::Cases<(&'static str, Arc<dyn RateLimiter>)> {
    common::state_stores(test).await.map(|(name, state)| (name, state.rate_limiter))
}

/// Each backend's flow store with the limiter it spends from.
async fn flow_stores_with_limiters(
    test: &str,
) -> common::Cases<(&'static str, Arc<dyn DeviceFlowStore>, Arc<dyn RateLimiter>)> {
    common::state_stores(test).await.map(|(name, state)| (name, state.flows, state.rate_limiter))
}

fn check(limiter: Limiter, subject: &str, limit: u32, secs: u64) -> RateCheck {
    RateCheck {
        limiter,
        key: format!("{}:{subject}", limiter.as_str()),
        quota: Quota { limit, period: std::time::Duration::from_secs(secs) },
    }
}

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("time")
}

#[tokio::test]
async fn a_burst_of_the_limit_then_refusals_that_say_how_long() {
    for (name, limiter) in limiters("a_burst_of_the_limit_then_refusals_that_say_how_long").await {
        let ten_an_hour = [check(Limiter::CodeFailuresPerIp, "203.0.113.9", 10, 3600)];
        let now = start();
        for i in 0..10 {
            let refused = limiter.check(&ten_an_hour, RateMode::Take, now).await.expect("check");
            assert_eq!(refused, None, "{name}: event {i}");
        }
        let refused = limiter.check(&ten_an_hour, RateMode::Take, now).await.expect("check").expect("refused");
        assert_eq!(refused.limiter, Limiter::CodeFailuresPerIp, "{name}");
        assert_eq!(refused.retry_after, std::time::Duration::from_secs(360), "{name}");
        // Another subject has its own quota.
        let other = [check(Limiter::CodeFailuresPerIp, "198.51.100.7", 10, 3600)];
        assert_eq!(limiter.check(&other, RateMode::Take, now).await.expect("check"), None, "{name}");
        // One emission interval later, exactly one more.
        let later = now + Duration::seconds(360);
        assert_eq!(limiter.check(&ten_an_hour, RateMode::Take, later).await.expect("check"), None, "{name}");
        assert!(limiter.check(&ten_an_hour, RateMode::Take, later).await.expect("check").is_some(), "{name}");
    }
}

#[tokio::test]
async fn a_refused_take_spends_nothing() {
    for (name, limiter) in limiters("a_refused_take_spends_nothing").await {
        let two = [check(Limiter::SignInFailuresPerAccount, "ada@example.com", 2, 60)];
        let now = start();
        for _ in 0..2 {
            assert_eq!(limiter.check(&two, RateMode::Take, now).await.expect("take"), None, "{name}");
        }
        // Refused again and again, the wait stays one emission interval.
        for _ in 0..5 {
            let refused = limiter.check(&two, RateMode::Take, now).await.expect("take").expect("spent out");
            assert_eq!(refused.retry_after, std::time::Duration::from_secs(30), "{name}");
        }
    }
}

#[tokio::test]
async fn several_keys_are_all_or_nothing_and_the_longest_wait_is_named() {
    for (name, limiter) in limiters("several_keys_are_all_or_nothing_and_the_longest_wait_is_named").await {
        let now = start();
        let per_ip = check(Limiter::DeviceAuthorizationPerIp, "203.0.113.9", 1, 60);
        let per_client = check(Limiter::DeviceAuthorizationPerClient, "cli", 3, 3600);
        // Spend the per-IP unit alone.
        assert_eq!(limiter.check(std::slice::from_ref(&per_ip), RateMode::Take, now).await.expect("take"), None);
        // Both together: the IP refuses, so the client spends nothing either.
        for _ in 0..5 {
            let both = [per_ip.clone(), per_client.clone()];
            let refused = limiter.check(&both, RateMode::Take, now).await.expect("take").expect("refused");
            assert_eq!(refused.limiter, Limiter::DeviceAuthorizationPerIp, "{name}");
        }
        for _ in 0..3 {
            let client_only = std::slice::from_ref(&per_client);
            assert_eq!(limiter.check(client_only, RateMode::Take, now).await.expect("take"), None, "{name}");
        }
        // Both spent out: the refusal names the one with the longer wait.
        let both = [per_ip.clone(), per_client.clone()];
        let refused = limiter.check(&both, RateMode::Take, now).await.expect("take").expect("refused");
        assert_eq!(refused.limiter, Limiter::DeviceAuthorizationPerClient, "{name}");
        assert_eq!(refused.retry_after, std::time::Duration::from_secs(1200), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_takes_never_spend_more_than_the_limit() {
    for (name, limiter) in limiters("racing_takes_never_spend_more_than_the_limit").await {
        let now = start();
        let quota = [check(Limiter::BearerPerToken, "token-1", 50, 60)];
        let attempts = (0..200).map(|_| {
            let (limiter, quota) = (limiter.clone(), quota.clone());
            tokio::spawn(async move { limiter.check(&quota, RateMode::Take, now).await.expect("take").is_none() })
        });
        let mut allowed = 0;
        for attempt in attempts {
            allowed += usize::from(attempt.await.expect("task"));
        }
        assert_eq!(allowed, 50, "{name}");
    }
}

#[tokio::test]
async fn a_refund_gives_back_one_unit() {
    for (name, limiter) in limiters("a_refund_gives_back_one_unit").await {
        let now = start();
        let three = [check(Limiter::CodeFailuresPerSession, "session-hash", 3, 3600)];
        // Nothing stored: a refund gives nothing (no credit beyond the burst).
        assert_eq!(limiter.check(&three, RateMode::Refund, now).await.expect("refund"), None, "{name}");
        for _ in 0..3 {
            assert_eq!(limiter.check(&three, RateMode::Take, now).await.expect("take"), None, "{name}");
        }
        assert!(limiter.check(&three, RateMode::Take, now).await.expect("take").is_some(), "{name}");
        // A reserved attempt that succeeded gives its unit back: one more fits.
        assert_eq!(limiter.check(&three, RateMode::Refund, now).await.expect("refund"), None, "{name}");
        assert_eq!(limiter.check(&three, RateMode::Take, now).await.expect("take"), None, "{name}");
        assert!(limiter.check(&three, RateMode::Take, now).await.expect("take").is_some(), "{name}");
    }
}

#[tokio::test]
async fn a_flow_insert_spends_the_limiters_units_all_or_nothing() {
    for (name, flows, limiter) in
        flow_stores_with_limiters("a_flow_insert_spends_the_limiters_units_all_or_nothing").await
    {
        let now = start();
        let retain = now + Duration::seconds(1200);
        let per_ip = check(Limiter::DeviceAuthorizationPerIp, "203.0.113.9", 10, 3600);
        let per_client = check(Limiter::DeviceAuthorizationPerClient, "gatehouse-cli", 2, 3600);
        let limits = [per_ip.clone(), per_client.clone()];
        for (hash, code) in [("a", "BCDF-GHJK"), ("b", "CDFG-HJKL")] {
            let inserted = flows.insert_within(&pending_flow(hash, code, now), retain, &limits).await.expect("insert");
            assert_eq!(inserted, Inserted::Stored, "{name}: {code}");
        }
        // The client's two are spent: refused, nothing stored, nothing spent.
        let third = pending_flow("c", "DFGH-JKLM", now);
        let Inserted::Limited(refused) = flows.insert_within(&third, retain, &limits).await.expect("insert") else {
            panic!("{name}: the third insert was not limited");
        };
        assert_eq!(refused.limiter, Limiter::DeviceAuthorizationPerClient, "{name}");
        assert_eq!(refused.retry_after, std::time::Duration::from_secs(1800), "{name}");
        assert!(flows.find_by_user_code(&third.user_code, now).await.expect("find").is_none(), "{name}");
        // The limiter sees the same state: the client is spent out, and the
        // address has exactly eight of its ten left.
        assert!(limiter.check(&[per_client], RateMode::Take, now).await.expect("check").is_some(), "{name}");
        for i in 0..8 {
            let refused = limiter.check(std::slice::from_ref(&per_ip), RateMode::Take, now).await.expect("check");
            assert_eq!(refused, None, "{name}: address unit {i}");
        }
        assert!(limiter.check(&[per_ip], RateMode::Take, now).await.expect("check").is_some(), "{name}");
        // A user code already taken stores nothing and keeps the unit spent.
        let one = [check(Limiter::DeviceAuthorizationPerIp, "198.51.100.7", 1, 3600)];
        let clash = pending_flow("d", "BCDF-GHJK", now);
        assert_eq!(flows.insert_within(&clash, retain, &one).await.expect("insert"), Inserted::UserCodeTaken, "{name}");
        assert!(limiter.check(&one, RateMode::Take, now).await.expect("check").is_some(), "{name}");
    }
}
