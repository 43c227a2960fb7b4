//! Retention: what is past its cutoff, in batches.

use super::*;

#[tokio::test]
async fn pruning_deletes_only_what_is_past_the_cutoff_in_batches() {
    for (name, repos, _dir, _) in databases("pruning_deletes_only_what_is_past_the_cutoff_in_batches").await {
        client(&repos, "cli").await;
        let old = now() - Duration::days(90);
        let mut gone = Vec::new();
        for n in 0..3 {
            gone.push(token(&repos, "ada@example.com", "cli", &format!("old-{n}"), old).await);
        }
        let kept = token(&repos, "ada@example.com", "cli", "new", now()).await;
        let cutoff = now() - Duration::days(30);
        let mut deleted = 0;
        loop {
            let batch =
                repos.retention.prune_batch(Prunable::Tokens, cutoff, 2).await.expect("prune").expect("not locked");
            deleted += batch;
            if batch < 2 {
                break;
            }
        }
        assert_eq!(deleted, 3, "{name}");
        for id in gone {
            assert!(repos.tokens.find_by_id(id).await.expect("find").is_none(), "{name}");
        }
        assert!(repos.tokens.find_by_id(kept).await.expect("find").is_some(), "{name}");
        for what in [Prunable::Sessions, Prunable::AuditEvents] {
            assert_eq!(
                repos.retention.prune_batch(what, cutoff, 10).await.expect("prune"),
                Some(0),
                "{name}: {what:?}"
            );
        }
    }
}

#[tokio::test]
async fn pruning_sessions_compares_expiry_in_the_stores_own_form() {
    use tower_sessions::cookie::time::OffsetDateTime;
    use tower_sessions::session::{Id, Record};
    use tower_sessions::session_store::SessionStore;

    for (name, repos, _dir, database) in databases("pruning_sessions_compares_expiry_in_the_stores_own_form").await {
        let sessions = database.session_store().expect("session store");
        let now = now();
        let at = |instant: DateTime<Utc>| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(instant.timestamp_nanos_opt().expect("in range")))
                .expect("instant")
        };
        // A sub-second expiry, as tower-sessions writes them.
        let expired = Record {
            id: Id(1),
            data: Default::default(),
            expiry_date: at(now - Duration::days(40) + Duration::milliseconds(250)),
        };
        let live = Record { id: Id(2), data: Default::default(), expiry_date: at(now + Duration::days(1)) };
        sessions.save(&expired).await.expect("save");
        sessions.save(&live).await.expect("save");
        let cutoff = now - Duration::days(30);
        assert_eq!(
            repos.retention.prune_batch(Prunable::Sessions, cutoff, 10).await.expect("prune"),
            Some(1),
            "{name}"
        );
        assert_eq!(
            repos.retention.prune_batch(Prunable::Sessions, cutoff, 10).await.expect("prune"),
            Some(0),
            "{name}"
        );
        assert!(sessions.load(&Id(2)).await.expect("load").is_some(), "{name}: the live session stays");
    }
}
