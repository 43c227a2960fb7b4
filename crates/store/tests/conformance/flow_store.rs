//! The same cases against every `DeviceFlowStore`: in-process, and Redis when
//! `GATEHOUSE_TEST_REDIS_URL` is set (skipped by name otherwise; a failure
//! under `CI=true`).

use chrono::{DateTime, Duration, Utc};
use gatehouse_core::UserCode;
use gatehouse_core::flow::{Decision, FlowChange, FlowKey, Verdict};
use gatehouse_core::model::{FlowSubject, LOCAL_ISSUER};
use gatehouse_core::ports::DeviceFlowStore;
use gatehouse_core::testing::{hash_of, pending_flow as flow};
use std::sync::Arc;

use crate::common;

fn approve(now: DateTime<Utc>) -> FlowChange {
    FlowChange::Approve(Decision {
        subject: FlowSubject::new(None, "ada@example.com".into(), LOCAL_ISSUER.into()),
        at: now,
        from_ip: None,
        browser: None,
        from_ip_proven: false,
    })
}

async fn stores(test: &str) -> common::Cases<(&'static str, Arc<dyn DeviceFlowStore>)> {
    common::state_stores(test).await.map(|(name, state)| (name, state.flows))
}

#[tokio::test]
async fn user_codes_are_unique_while_retained() {
    let now = Utc::now();
    for (name, store) in stores("user_codes_are_unique_while_retained").await {
        let first = flow("hash-a", "BCDF-GHJK", now);
        assert!(store.insert(&first, now + Duration::seconds(1200)).await.expect("insert"), "{name}");
        let clash = flow("hash-b", "BCDF-GHJK", now);
        assert!(!store.insert(&clash, now + Duration::seconds(1200)).await.expect("insert"), "{name}");
        let found = store.find_by_user_code(&first.user_code, now).await.expect("find");
        assert_eq!(found.map(|f| f.device_code_hash), Some(hash_of("hash-a")), "{name}");
        let missing = FlowKey::DeviceCodeHash(hash_of("hash-b"));
        assert!(store.apply(&missing, &FlowChange::ReleaseClaim, now).await.expect("apply").is_none(), "{name}");
    }
}

/// 20 concurrent inserts of one user code under different device codes,
/// many rounds: exactly one is stored, and the code finds that one. (In
/// process, the device codes fall in different shards from their code.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_inserts_of_one_user_code_store_exactly_one() {
    let now = Utc::now();
    for (name, store) in stores("racing_inserts_of_one_user_code_store_exactly_one").await {
        for round in 0..40 {
            let code = UserCode::generate(&gatehouse_store::crypto::OsRandom);
            let inserts = (0..20).map(|racer| {
                let store = store.clone();
                let mut f = flow(&format!("insert-race-{round}-{racer}"), code.as_str(), now);
                f.user_code = code.clone();
                tokio::spawn(
                    async move { (racer, store.insert(&f, now + Duration::seconds(1200)).await.expect("insert")) },
                )
            });
            let stored: Vec<usize> = futures::future::join_all(inserts)
                .await
                .into_iter()
                .map(|joined| joined.expect("task"))
                .filter_map(|(racer, stored)| stored.then_some(racer))
                .collect();
            assert_eq!(stored.len(), 1, "{name} round {round}: {stored:?}");
            let found = store.find_by_user_code(&code, now).await.expect("find").expect("the stored flow");
            assert_eq!(found.device_code_hash, hash_of(&format!("insert-race-{round}-{}", stored[0])), "{name}");
        }
    }
}

#[tokio::test]
async fn changes_apply_by_either_key_and_terminal_states_hold() {
    let now = Utc::now();
    for (name, store) in stores("changes_apply_by_either_key_and_terminal_states_hold").await {
        let f = flow("hash-c", "CDFG-HJKL", now);
        store.insert(&f, now + Duration::seconds(1200)).await.expect("insert");
        let by_code = FlowKey::UserCode(f.user_code.clone());
        let (_, t) = store.apply(&by_code, &approve(now), now).await.expect("apply").expect("flow");
        assert_eq!(t.verdict, Verdict::Decided, "{name}");
        let (_, t) = store.apply(&by_code, &approve(now), now).await.expect("apply").expect("flow");
        assert_eq!(t.verdict, Verdict::AlreadyResolved, "{name}");
        let by_hash = FlowKey::DeviceCodeHash(hash_of("hash-c"));
        let poll = FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() };
        let (_, t) = store.apply(&by_hash, &poll, now).await.expect("apply").expect("flow");
        assert!(matches!(t.verdict, Verdict::Claimed(_)), "{name}: {:?}", t.verdict);
    }
}

/// 50 concurrent polls of one approved flow, many rounds: exactly one claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_polls_claim_an_approval_exactly_once() {
    let now = Utc::now();
    for (name, store) in stores("racing_polls_claim_an_approval_exactly_once").await {
        for round in 0..40 {
            let hash = format!("race-{round}");
            let code = UserCode::generate(&gatehouse_store::crypto::OsRandom);
            let mut f = flow(&hash, code.as_str(), now);
            f.user_code = code;
            store.insert(&f, now + Duration::seconds(1200)).await.expect("insert");
            store.apply(&FlowKey::DeviceCodeHash(hash_of(&hash)), &approve(now), now).await.expect("approve");
            let polls = (0..50).map(|_| {
                let store = store.clone();
                let key = FlowKey::DeviceCodeHash(hash_of(&hash));
                tokio::spawn(async move {
                    store
                        .apply(
                            &key,
                            &FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() },
                            now,
                        )
                        .await
                        .expect("poll")
                })
            });
            let mut claims = 0;
            for poll in futures::future::join_all(polls).await {
                let (_, transition) = poll.expect("task").expect("flow");
                if matches!(transition.verdict, Verdict::Claimed(_)) {
                    claims += 1;
                }
            }
            assert_eq!(claims, 1, "{name} round {round}");
        }
    }
}

/// 200 flows in four states (pending, approved, denied, and polled by
/// another client), all polled at once, then each pending one polled again:
/// every poll gets its own flow's answer. Concurrent Redis polls share one
/// script call, so this is what catches an answer handed to the wrong poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_polls_of_many_flows_each_get_their_own_answer() {
    let now = Utc::now();
    for (name, store) in stores("concurrent_polls_of_many_flows_each_get_their_own_answer").await {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let hashes: Vec<String> = (0..200).map(|i| format!("many-{run}-{i}")).collect();
        for (i, hash) in hashes.iter().enumerate() {
            let code = UserCode::generate(&gatehouse_store::crypto::OsRandom);
            let mut f = flow(hash, code.as_str(), now);
            f.user_code = code;
            store.insert(&f, now + Duration::seconds(1200)).await.expect("insert");
            let key = FlowKey::DeviceCodeHash(hash_of(hash));
            let decision = Decision {
                subject: FlowSubject::new(None, format!("person-{i}@example.com"), LOCAL_ISSUER.into()),
                at: now,
                from_ip: None,
                browser: None,
                from_ip_proven: false,
            };
            match i % 4 {
                1 => store.apply(&key, &FlowChange::Approve(decision), now).await.expect("approve"),
                2 => store.apply(&key, &FlowChange::Deny(decision), now).await.expect("deny"),
                _ => None,
            };
        }
        let poll_all = |at: DateTime<Utc>| {
            let polls = hashes.iter().enumerate().map(|(i, hash)| {
                let store = store.clone();
                let key = FlowKey::DeviceCodeHash(hash_of(hash));
                let client_id = if i % 4 == 3 { "other" } else { "cli" };
                tokio::spawn(async move {
                    let poll = FlowChange::Poll { client_id: client_id.into(), confirmation: Default::default() };
                    store.apply(&key, &poll, at).await.expect("poll").expect("flow").1.verdict
                })
            });
            futures::future::join_all(polls)
        };
        for (i, verdict) in poll_all(now).await.into_iter().enumerate() {
            let verdict = verdict.expect("task");
            match i % 4 {
                0 => assert_eq!(verdict, Verdict::AuthorizationPending, "{name} flow {i}"),
                1 => match verdict {
                    Verdict::Claimed(subject) => {
                        assert_eq!(subject.email, format!("person-{i}@example.com"), "{name} flow {i}")
                    }
                    other => panic!("{name} flow {i}: {other:?}"),
                },
                2 => assert_eq!(verdict, Verdict::AccessDenied, "{name} flow {i}"),
                _ => assert_eq!(verdict, Verdict::InvalidGrant, "{name} flow {i}"),
            }
        }
        // One second later every flow's own client has polled once (or not at
        // all), so only the pending ones it polled are too fast.
        for (i, verdict) in poll_all(now + Duration::seconds(1)).await.into_iter().enumerate() {
            let verdict = verdict.expect("task");
            if i % 4 == 0 {
                assert_eq!(verdict, Verdict::SlowDown { interval: 10 }, "{name} flow {i}");
            }
        }
    }
}

/// The same poll sequence (honest, too fast, another client, after approval,
/// after expiry) gives the same answers and the same final state in every
/// store. Redis keeps the poll clock in its own key, moved by a native
/// command outside the compare-and-set, so this is what keeps that split in
/// step with the Rust rules (another client's poll, the poll after expiry).
#[tokio::test]
async fn poll_sequences_agree_across_stores() {
    // Whole seconds: stores keep poll times to the millisecond.
    let start = DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now");
    let steps: [(i64, &str, bool); 12] = [
        (0, "cli", false),
        (1, "cli", false),
        (3, "cli", false),
        (9, "cli", false),
        (25, "other", false),
        (30, "cli", false),
        (31, "cli", false),
        (60, "cli", true),
        (70, "cli", false),
        (71, "cli", false),
        (200, "cli", false),
        (700, "cli", false),
    ];
    let mut transcripts = Vec::new();
    for (name, store) in stores("poll_sequences_agree_across_stores").await {
        let hash = format!("agree-{}", uuid::Uuid::new_v4().simple());
        let code = UserCode::generate(&gatehouse_store::crypto::OsRandom);
        let mut f = flow(&hash, code.as_str(), start);
        f.user_code = code;
        store.insert(&f, start + Duration::seconds(1200)).await.expect("insert");
        let key = FlowKey::DeviceCodeHash(hash_of(&hash));
        let mut transcript = Vec::new();
        for (at, client, approve_first) in steps {
            let now = start + Duration::seconds(at);
            if approve_first {
                store.apply(&key, &approve(now), now).await.expect("approve");
            }
            let (_, t) = store
                .apply(&key, &FlowChange::Poll { client_id: client.into(), confirmation: Default::default() }, now)
                .await
                .expect("poll")
                .expect("flow");
            transcript.push(format!("{at}s {client}: {:?}", t.verdict));
        }
        let (last, _) = store.apply(&key, &FlowChange::ReleaseClaim, start).await.expect("read").expect("flow");
        transcript.push(format!("final interval {} last poll {:?}", last.interval_secs, last.last_polled_at));
        transcripts.push((name, transcript));
    }
    for pair in transcripts.windows(2) {
        assert_eq!(pair[0].1, pair[1].1, "{} and {} disagree", pair[0].0, pair[1].0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_slow_downs_each_add_five_seconds_once() {
    let t0 = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now");
    for (name, store) in stores("racing_slow_downs_each_add_five_seconds_once").await {
        let pending = flow("hash-hot", "HJKL-MNPQ", t0);
        assert!(store.insert(&pending, t0 + Duration::seconds(1200)).await.expect("insert"), "{name}");
        let key = FlowKey::DeviceCodeHash(hash_of("hash-hot"));
        let poll = FlowChange::Poll { client_id: pending.client_id.clone(), confirmation: Default::default() };
        let (_, first) = store.apply(&key, &poll, t0).await.expect("poll").expect("flow");
        assert_eq!(first.verdict, Verdict::AuthorizationPending, "{name}");
        // Twenty polls at once, all too early: each a slow_down, each
        // counted once, so the answers are 10, 15, …, 105 in some order.
        let polls = (0..20).map(|_| {
            let (store, key, poll) = (store.clone(), key.clone(), poll.clone());
            tokio::spawn(async move { store.apply(&key, &poll, t0 + Duration::seconds(1)).await })
        });
        let mut intervals = Vec::new();
        for poll in polls {
            let (_, transition) = poll.await.expect("task").expect("poll").expect("flow");
            match transition.verdict {
                Verdict::SlowDown { interval } => intervals.push(interval),
                other => panic!("{name}: {other:?}"),
            }
        }
        intervals.sort_unstable();
        assert_eq!(intervals, (2..=21).map(|n| n * 5).collect::<Vec<u32>>(), "{name}");
        // Other changes keep the interval the slow_downs built.
        let (_, approved) =
            store.apply(&key, &approve(t0), t0 + Duration::seconds(2)).await.expect("approve").expect("flow");
        assert_eq!(approved.verdict, Verdict::Decided, "{name}");
        let found = store.find_by_user_code(&pending.user_code, t0).await.expect("find").expect("flow");
        assert_eq!(found.interval_secs, 105, "{name}");
        // A poll after the interval claims the approval.
        let (_, claim) = store.apply(&key, &poll, t0 + Duration::seconds(200)).await.expect("poll").expect("flow");
        assert!(matches!(claim.verdict, Verdict::Claimed(_)), "{name}: {:?}", claim.verdict);
    }
}
