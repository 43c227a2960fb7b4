//! What only the PostgreSQL state store has to show, beside the suites every
//! state store runs: each instance keeps its own token cache, so a
//! revocation must reach the others through `LISTEN`/`NOTIFY`, a lost
//! listener must turn the cache off until it listens again (and then start
//! empty), and rows past their time are swept. Two instances here are two
//! sets of stores on one database, as two servers would build them.
//!
//! Every wait is for a condition, bounded far above what it takes (a
//! notification arrives within a commit's round trip); never a fixed sleep.

use crate::common::service::backend_url;
use crate::token_cache::record;
use chrono::{Duration, Utc};
use gatehouse_core::flow::{FlowChange, FlowKey};
use gatehouse_core::ports::CachedLookup;
use gatehouse_core::testing::{hash_of, pending_flow};
use gatehouse_store::testing::TestDatabase;
use gatehouse_store::tls::ExtraRoots;
use gatehouse_store::{Database, StateStores, connect_state};
use std::future::Future;
use uuid::Uuid;

/// How long a condition may take before the test fails: far above a
/// notification's round trip or a listener's reconnection.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

struct TwoInstances {
    first: StateStores,
    second: StateStores,
    database: Database,
    _own: TestDatabase,
}

async fn two_instances(test: &str) -> Option<TwoInstances> {
    let url = backend_url("GATEHOUSE_TEST_DATABASE_URL", "postgres", test)?;
    let own = TestDatabase::create(&url).await;
    let roots = ExtraRoots::none();
    let connect = || async { Database::connect(own.url(), &roots).await.expect("postgres") };
    let (first_db, second_db) = (connect().await, connect().await);
    let first = connect_state(None, "", &roots, &first_db).await.expect("first instance");
    let second = connect_state(None, "", &roots, &second_db).await.expect("second instance");
    Some(TwoInstances { first, second, database: first_db, _own: own })
}

/// Waits until `condition` holds, failing after [`PATIENCE`].
async fn eventually<F: Future<Output = bool>>(what: &str, mut condition: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn pool(database: &Database) -> &sqlx::PgPool {
    match database {
        Database::Postgres(pool) => pool,
        Database::Sqlite(_) => unreachable!("a PostgreSQL test database"),
    }
}

/// A token looked up on the second instance, then revoked on the first: the
/// first refuses it at once, the second as soon as the notification arrives,
/// and a lookup on the second that read the row before cannot cache it after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_the_other_instance_by_notification() {
    let Some(two) = two_instances("a_revocation_reaches_the_other_instance_by_notification").await else {
        return;
    };
    let now = Utc::now();
    let id = Uuid::new_v4();
    let found = CachedLookup::Found(Box::new(record(id)));
    for cache in [&two.first.token_cache, &two.second.token_cache] {
        cache.put("revoked-hash", &found, Duration::seconds(60), now).await.expect("put");
        assert_eq!(cache.get("revoked-hash", now).await.expect("get"), Some(found.clone()));
    }
    // A lookup on the second instance misses before the revocation...
    assert_eq!(two.second.token_cache.get("other-hash", now).await.expect("get"), None);

    two.first.token_cache.invalidate(id, now).await.expect("invalidate");
    assert_eq!(two.first.token_cache.get("revoked-hash", now).await.expect("get"), None, "the revoking instance");
    let second = two.second.token_cache.clone();
    eventually("the second instance forgets the token", || {
        let second = second.clone();
        async move { second.get("revoked-hash", now).await.expect("get").is_none() }
    })
    .await;
    // ...and stores what it read after the notification: refused.
    second.put("revoked-hash", &found, Duration::seconds(60), now).await.expect("put");
    assert_eq!(second.get("revoked-hash", now).await.expect("get"), None, "resurrected on the second instance");
}

/// The second instance's listener connection is cut: its cache serves and
/// stores nothing until it listens again, then starts empty, refuses what
/// a lookup missed before the cut, and hears revocations again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_turns_the_cache_off_until_it_listens_again_and_then_it_starts_empty() {
    let test = "a_lost_listener_turns_the_cache_off_until_it_listens_again_and_then_it_starts_empty";
    let Some(two) = two_instances(test).await else {
        return;
    };
    let now = Utc::now();
    let cache = two.second.token_cache.clone();
    let before = CachedLookup::Found(Box::new(record(Uuid::new_v4())));
    cache.put("cached-before", &before, Duration::seconds(300), now).await.expect("put");
    assert_eq!(cache.get("cached-before", now).await.expect("get"), Some(before.clone()));
    // A lookup in flight across the cut: it missed before.
    assert_eq!(cache.get("in-flight", now).await.expect("get"), None);

    // Cut every listener's connection (both instances'), as a failover would.
    let cut: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(pool(&two.database))
    .await
    .expect("find the listeners");
    assert_eq!(cut.len(), 2, "one listener per instance");
    for pid in cut {
        sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(pool(&two.database)).await.expect("cut");
    }
    eventually("the cache stops serving once its listener is lost", || {
        let cache = cache.clone();
        async move { cache.get("cached-before", now).await.expect("get").is_none() }
    })
    .await;

    // Listening again: a fresh lookup's answer is cached once more.
    let after = CachedLookup::Found(Box::new(record(Uuid::new_v4())));
    eventually("the cache serves again once its listener is back", || {
        let (cache, after) = (cache.clone(), after.clone());
        async move {
            assert_eq!(cache.get("fresh", now).await.expect("get").filter(|_| false), None);
            cache.put("fresh", &after, Duration::seconds(300), now).await.expect("put");
            cache.get("fresh", now).await.expect("get").is_some()
        }
    })
    .await;
    assert_eq!(cache.get("cached-before", now).await.expect("get"), None, "an entry from before the cut survived");
    cache.put("in-flight", &before, Duration::seconds(300), now).await.expect("put");
    assert_eq!(cache.get("in-flight", now).await.expect("get"), None, "a lookup from before the cut was cached");

    // And a revocation on the first instance reaches it again.
    let CachedLookup::Found(fresh) = &after else { unreachable!() };
    two.first.token_cache.invalidate(fresh.id, now).await.expect("invalidate");
    eventually("the second instance hears revocations again", || {
        let cache = cache.clone();
        async move { cache.get("fresh", now).await.expect("get").is_none() }
    })
    .await;
}

/// Rows past their time are dropped by the sweep (reads already ignored
/// them); rows still live stay.
#[tokio::test]
async fn the_sweep_drops_rows_past_their_time_and_keeps_the_rest() {
    let Some(two) = two_instances("the_sweep_drops_rows_past_their_time_and_keeps_the_rest").await else {
        return;
    };
    let db_now: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT now()").fetch_one(pool(&two.database)).await.expect("now");
    let past = db_now - Duration::hours(2);
    let flows = &two.first.flows;
    let old = pending_flow("swept-flow", "BCDF-GHJK", past);
    assert!(flows.insert(&old, past + Duration::minutes(30)).await.expect("insert"));
    let live = pending_flow("kept-flow", "LMNP-QRST", db_now);
    assert!(flows.insert(&live, db_now + Duration::minutes(30)).await.expect("insert"));
    let single_use = &two.first.single_use;
    assert!(single_use.put("swept-record", "v", past, past + Duration::minutes(5)).await.expect("put"));
    assert!(single_use.put("kept-record", "v", db_now, db_now + Duration::minutes(5)).await.expect("put"));
    let count = |table: &'static str| {
        let pool = pool(&two.database).clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    assert_eq!((count("state_flows").await, count("state_single_use").await), (2, 2));

    let dropped = gatehouse_store::state::postgres::sweep(pool(&two.database)).await.expect("sweep");
    assert_eq!(dropped, 2);
    assert_eq!((count("state_flows").await, count("state_single_use").await), (1, 1));
    let key = FlowKey::DeviceCodeHash(hash_of("kept-flow"));
    assert!(flows.apply(&key, &FlowChange::ReleaseClaim, db_now).await.expect("apply").is_some());
    assert_eq!(single_use.peek("kept-record", db_now).await.expect("peek").as_deref(), Some("v"));
}

/// A failover behind one address leaves the pool's connections on a server
/// that is now read-only: the first write refused as read-only (503 to its
/// caller) closes every connection opened before it when next taken, so
/// the next write reaches a fresh connection (the new primary) and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_refusal_closes_the_connections_opened_before_it() {
    let Some(two) = two_instances("a_read_only_refusal_closes_the_connections_opened_before_it").await else {
        return;
    };
    let pool = pool(&two.database);
    // Every connection the pool holds turns read-only, as on a demoted primary.
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        let mut connection = pool.acquire().await.expect("a connection");
        sqlx::query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            .execute(&mut *connection)
            .await
            .expect("read only");
        held.push(connection);
    }
    drop(held);
    let now = Utc::now();
    let until = now + Duration::minutes(5);
    let refused = two.first.single_use.put("after-failover", "v", now, until).await;
    assert!(refused.is_err(), "a write on a read-only connection");
    assert!(two.first.single_use.put("after-failover", "v", now, until).await.expect("the next write works"));
    assert_eq!(two.second.single_use.peek("after-failover", now).await.expect("peek").as_deref(), Some("v"));
}
