//! The audit log and its webhook outbox.

use super::*;

#[tokio::test]
async fn audit_search_filters_and_pages_by_id() {
    for (name, repos, _dir, _) in databases("audit_search_filters_and_pages_by_id").await {
        let t0 = now() - Duration::days(2);
        let events = [
            (
                AuditKind::DeviceApproved,
                Some(Actor::Account { email: "ada@example.com".into() }),
                "ada@example.com",
                t0,
            ),
            (
                AuditKind::TokenRevoked,
                Some(Actor::Admin { email: "root@example.com".into() }),
                "ada@example.com",
                t0 + Duration::days(1),
            ),
            (AuditKind::SignInFailed, None, "grace@example.com", t0 + Duration::days(1)),
            (AuditKind::ClientDisabled, Some(Actor::Cli), "cli", t0 + Duration::days(2)),
        ];
        for (kind, actor, subject, at) in &events {
            let event = AuditEvent {
                kind: *kind,
                actor: actor.clone(),
                subject: Some((*subject).to_owned()),
                client_id: Some("cli".into()),
                ip: Some("192.0.2.1".into()),
                details: serde_json::json!({ "n": 1 }),
                at: *at,
            };
            repos.audit.record(event).await.expect("record");
        }
        let search = |q: AuditQuery| {
            let audit = repos.audit.clone();
            async move { audit.search(&AuditQuery { limit: 10, ..q }).await.expect("search") }
        };
        let all = search(AuditQuery::default()).await;
        assert_eq!(
            all.iter().map(|r| r.event.kind).collect::<Vec<_>>(),
            events.iter().rev().map(|e| e.0).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(
            all[2].event.actor,
            Some(Actor::Admin { email: "root@example.com".into() }),
            "{name}: actors round-trip"
        );
        assert_eq!(all[1].event.actor, None);
        let kind = search(AuditQuery { kind: Some(AuditKind::TokenRevoked), ..AuditQuery::default() }).await;
        assert_eq!(kind.len(), 1, "{name}");
        let actor = search(AuditQuery { actor: Some("ada@example.com".into()), ..AuditQuery::default() }).await;
        assert_eq!(actor.len(), 1, "{name}");
        let subject = search(AuditQuery { subject: Some("ada@example.com".into()), ..AuditQuery::default() }).await;
        assert_eq!(subject.len(), 2, "{name}");
        let day = search(AuditQuery {
            from: Some(t0 + Duration::days(1)),
            until: Some(t0 + Duration::days(2)),
            ..AuditQuery::default()
        })
        .await;
        assert_eq!(day.len(), 2, "{name}: from inclusive, until exclusive");
        let older = search(AuditQuery { before_id: Some(all[1].id), ..AuditQuery::default() }).await;
        assert_eq!(older.iter().map(|r| r.id).collect::<Vec<_>>(), vec![all[2].id, all[3].id], "{name}");
    }
}

#[tokio::test]
async fn recent_audit_events_come_newest_first_and_the_database_answers_pings() {
    for (name, repos, _dir, _) in
        databases("recent_audit_events_come_newest_first_and_the_database_answers_pings").await
    {
        repos.health.ping().await.expect("ping");
        for (n, kind) in
            [AuditKind::AccountCreated, AuditKind::DeviceApproved, AuditKind::TokenRevoked].into_iter().enumerate()
        {
            let event = AuditEvent {
                kind,
                actor: None,
                subject: None,
                client_id: None,
                ip: None,
                details: serde_json::json!({ "n": n, "nested": { "list": [1, 2] } }),
                at: now(),
            };
            repos.audit.record(event).await.expect("record");
        }
        let recent = repos.audit.recent(2).await.expect("recent");
        assert_eq!(
            recent.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [AuditKind::TokenRevoked, AuditKind::DeviceApproved],
            "{name}"
        );
        assert_eq!(recent[0].details, serde_json::json!({ "n": 2, "nested": { "list": [1, 2] } }), "{name}");
    }
}

/// An event about `subject` at `at`, as the use cases record them.
fn event_about(subject: &str, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        kind: AuditKind::TokenRevoked,
        actor: Some(Actor::System),
        subject: Some(subject.to_owned()),
        client_id: None,
        ip: None,
        details: serde_json::json!({ "by": "admin" }),
        at,
    }
}

#[tokio::test]
async fn the_outbox_is_leased_to_one_holder_at_a_time() {
    for (name, _, _kept, database) in databases("the_outbox_is_leased_to_one_holder_at_a_time").await {
        let outbox = database.repositories_with(true).audit_outbox;
        let t0 = now();
        let at = |secs: i64| t0 + Duration::seconds(secs);
        assert!(outbox.lease("one", at(0), at(30)).await.expect("lease"), "{name}: free at first");
        assert!(!outbox.lease("two", at(10), at(40)).await.expect("lease"), "{name}: held by another");
        assert!(outbox.lease("one", at(10), at(40)).await.expect("lease"), "{name}: renewed by its holder");
        assert!(!outbox.lease("two", at(39), at(69)).await.expect("lease"), "{name}: the renewal holds");
        assert!(outbox.lease("two", at(41), at(71)).await.expect("lease"), "{name}: taken over once lapsed");
        assert!(!outbox.lease("one", at(42), at(72)).await.expect("lease"), "{name}: the old holder is out");
        // Two instances asking at the same instant: exactly one holds it.
        let (a, b) = tokio::join!(outbox.lease("three", at(80), at(110)), outbox.lease("four", at(80), at(110)));
        assert!(a.expect("lease") != b.expect("lease"), "{name}: one of two racing holders");
    }
}

#[tokio::test]
async fn the_outbox_holds_events_in_order_until_delivered_and_counts_failures() {
    for (name, _, _kept, database) in
        databases("the_outbox_holds_events_in_order_until_delivered_and_counts_failures").await
    {
        let t0 = now() - Duration::minutes(5);
        // Without a webhook nothing is queued.
        database.repositories().audit.record(event_about("nobody", t0)).await.expect("record");
        let repos = database.repositories_with(true);
        for (i, subject) in ["ann", "bob", "cyd"].into_iter().enumerate() {
            repos.audit.record(event_about(subject, t0 + Duration::seconds(i as i64))).await.expect("record");
        }
        let outbox = &repos.audit_outbox;
        let pending = outbox.pending(10).await.expect("pending");
        let subjects: Vec<_> = pending.iter().map(|p| p.record.event.subject.clone().unwrap_or_default()).collect();
        assert_eq!(subjects, ["ann", "bob", "cyd"], "{name}: in event order");
        assert!(pending.iter().all(|p| p.attempts == 0), "{name}");
        assert_eq!(outbox.pending(1).await.expect("pending").len(), 1, "{name}: limited");
        assert_eq!(outbox.backlog().await.expect("backlog"), (3, Some(t0)), "{name}");

        let head = pending[0].record.id;
        outbox.failed(head, t0 + Duration::minutes(10), "answered 500").await.expect("failed");
        outbox.failed(head, t0 + Duration::minutes(20), "timed out").await.expect("failed");
        let again = outbox.pending(10).await.expect("pending");
        assert_eq!((again[0].record.id, again[0].attempts), (head, 2), "{name}: counted, still first");
        assert_eq!(again[0].next_attempt_at, t0 + Duration::minutes(20), "{name}");

        outbox.delivered(head).await.expect("delivered");
        let left = outbox.pending(10).await.expect("pending");
        assert_eq!(left.iter().map(|p| p.record.id).collect::<Vec<_>>(), [pending[1].record.id, pending[2].record.id]);
        assert_eq!(outbox.backlog().await.expect("backlog"), (2, Some(t0 + Duration::seconds(1))), "{name}");
        outbox.delivered(head).await.expect("delivering twice changes nothing");
        assert_eq!(outbox.backlog().await.expect("backlog").0, 2, "{name}");
    }
}
