//! Grants and their tokens: listing, issuing and rotating in place, refresh
//! rotation, hard expiry, use recorded, subjects.

use super::*;

#[tokio::test]
async fn token_listing_pages_filters_and_revokes_once() {
    for (name, repos, _dir, _) in databases("token_listing_pages_filters_and_revokes_once").await {
        client(&repos, "cli").await;
        client(&repos, "bot").await;
        let t0 = now() - Duration::hours(1);
        let a = token(&repos, "ada@example.com", "cli", "a", t0).await;
        let b = token(&repos, "ada@example.com", "bot", "b", t0 + Duration::seconds(1)).await;
        let c = token(&repos, "grace@example.com", "cli", "c", t0 + Duration::seconds(2)).await;
        // Used last, so listed first.
        repos.tokens.touch(a, t0 + Duration::minutes(5), Some("192.0.2.1")).await.expect("touch");
        let now = now();

        let ids =
            |rows: Vec<gatehouse_core::model::AccessTokenRecord>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(repos.tokens.search(&query(now)).await.expect("search")), vec![a, c, b], "{name}");
        // Keyset: after the first row.
        let first = repos.tokens.find_by_id(a).await.expect("find").expect("a");
        let after = ActivityCursor { last_activity: first.last_used_at.expect("used"), id: a };
        let page = TokenQuery { after: Some(after), limit: 1, ..query(now) };
        assert_eq!(ids(repos.tokens.search(&page).await.expect("search")), vec![c], "{name}");
        let by_user = TokenQuery { subject_email: Some("ada@example.com".into()), ..query(now) };
        assert_eq!(ids(repos.tokens.search(&by_user).await.expect("search")), vec![a, b], "{name}");
        let by_client = TokenQuery { client_id: Some("cli".into()), ..query(now) };
        assert_eq!(ids(repos.tokens.search(&by_client).await.expect("search")), vec![a, c], "{name}");

        let mut expected = vec![a, b];
        expected.sort();
        for ada in [
            TokenSelector::Subject(person("ada@example.com")),
            TokenSelector::Email { email: "ada@example.com".into(), issuer: ISSUER.into() },
        ] {
            let mut selected = repos.tokens.unrevoked_ids(&ada).await.expect("ids");
            selected.sort();
            assert_eq!(selected, expected, "{name}");
        }
        assert_eq!(repos.tokens.unrevoked_ids(&TokenSelector::Client("bot".into())).await.expect("ids"), vec![b]);

        let revoked = repos.tokens.revoke(&[a, b], now).await.expect("revoke");
        assert_eq!(revoked.len(), 2, "{name}");
        assert!(revoked.iter().all(|r| r.revoked_at == Some(now)), "{name}");
        assert!(repos.tokens.revoke(&[a, b], now).await.expect("again").is_empty(), "{name}: once only");
        assert!(repos.tokens.revoke(&[], now).await.expect("none").is_empty());
        assert_eq!(ids(repos.tokens.search(&query(now)).await.expect("search")), vec![c], "{name}");
        let revoked_query = TokenQuery { status: TokenStatus::Revoked, ..query(now) };
        assert_eq!(repos.tokens.search(&revoked_query).await.expect("search").len(), 2, "{name}");
        let later = now + Duration::days(31);
        let expired = TokenQuery { status: TokenStatus::Expired, ..query(later) };
        assert_eq!(ids(repos.tokens.search(&expired).await.expect("search")), vec![c], "{name}: revoked stays revoked");
        assert!(repos.tokens.find_by_id(Uuid::new_v4()).await.expect("find").is_none());
    }
}

#[tokio::test]
async fn a_refresh_rotates_once_and_remembers_the_token_it_retired() {
    for (name, repos, _dir, _) in databases("a_refresh_rotates_once_and_remembers_the_token_it_retired").await {
        client(&repos, "cli").await;
        let t0 = now() - Duration::hours(2);
        let first = new_token("ada@example.com", "cli", "laptop", t0);
        repos.tokens.issue(&first).await.expect("issue");
        let presented = first.refresh_token_hash.clone().expect("refresh");
        let found = repos.tokens.find_by_refresh_hash(&presented).await.expect("find");
        assert!(matches!(&found, RefreshLookup::Current(g) if g.id == first.id && g.refreshable), "{name}: {found:?}");

        let at = t0 + Duration::hours(1);
        let rotation = GrantRotation {
            grant_id: first.id,
            presented_refresh_hash: presented.clone(),
            token_hash: "access-2".into(),
            refresh_token_hash: "refresh-2".into(),
            access_scopes: Some(vec!["apps:run".into()]),
            access_expires_at: at + Duration::hours(1),
            expires_at: at + Duration::days(30),
            at,
        };
        let rotated = repos.tokens.rotate(&rotation).await.expect("rotate").expect("won");
        assert_eq!(rotated.refreshed_at, Some(at), "{name}");
        assert_eq!(rotated.access_scopes(), ["apps:run".to_owned()], "{name}: the access token narrowed");
        assert_eq!(rotated.scopes, vec!["full".to_owned()], "{name}: the grant keeps its scope");
        assert_eq!(
            (rotated.access_ends_at(), rotated.max_expires_at),
            (at + Duration::hours(1), Some(first.max_expires_at))
        );
        assert!(
            repos.tokens.find_by_hash(&first.token_hash).await.expect("find").is_none(),
            "{name}: old access token"
        );
        assert_eq!(repos.tokens.find_by_hash("access-2").await.expect("find").map(|g| g.id), Some(first.id));

        // The same presented token again matches nothing, and is now retired.
        assert!(
            repos
                .tokens
                .rotate(&GrantRotation {
                    token_hash: "access-3".into(),
                    refresh_token_hash: "refresh-3".into(),
                    ..rotation.clone()
                })
                .await
                .expect("rotate")
                .is_none(),
            "{name}"
        );
        let found = repos.tokens.find_by_refresh_hash(&presented).await.expect("find");
        assert!(matches!(&found, RefreshLookup::Retired(g) if g.id == first.id), "{name}: {found:?}");
        assert_eq!(repos.tokens.find_by_refresh_hash("nothing").await.expect("find"), RefreshLookup::Unknown, "{name}");

        // A revoked grant cannot be rotated.
        repos.tokens.revoke(&[first.id], at).await.expect("revoke");
        let after_revoke = GrantRotation {
            presented_refresh_hash: "refresh-2".into(),
            token_hash: "access-4".into(),
            refresh_token_hash: "refresh-4".into(),
            ..rotation.clone()
        };
        assert!(repos.tokens.rotate(&after_revoke).await.expect("rotate").is_none(), "{name}");

        // A new approval for the device is a new grant: the tokens the old
        // one retired are forgotten (presenting them is not reuse of it).
        let second = new_token("ada@example.com", "cli", "laptop", at);
        let again = repos.tokens.issue(&second).await.expect("issue");
        assert!(!again.rotated, "{name}: the old grant was revoked, so this is a new row");
        let third = new_token("ada@example.com", "cli", "laptop", at + Duration::minutes(1));
        let replaced = repos.tokens.issue(&third).await.expect("issue");
        assert!(replaced.rotated, "{name}");
        let old = second.refresh_token_hash.clone().expect("refresh");
        assert_eq!(repos.tokens.find_by_refresh_hash(&old).await.expect("find"), RefreshLookup::Unknown, "{name}");
    }
}

#[tokio::test]
async fn a_grant_keeps_its_provider_session_until_replaced_or_revoked() {
    for (name, repos, _dir, _) in databases("a_grant_keeps_its_provider_session_until_replaced_or_revoked").await {
        client(&repos, "cli").await;
        let t0 = now() - Duration::hours(2);
        let session = |sealed: &str, at| ProviderSession { sealed_refresh_token: sealed.to_owned(), checked_at: at };
        let first = NewAccessToken {
            provider_session: Some(session("v1.first", t0)),
            ..new_token("sam@sso.example", "cli", "laptop", t0)
        };
        let id = repos.tokens.issue(&first).await.expect("issue").id;
        let read = || async { repos.tokens.provider_session(id).await.expect("read") };
        assert_eq!(read().await, Some(session("v1.first", t0)), "{name}");
        let checked = t0 + Duration::hours(1);
        repos.tokens.provider_session_checked(id, "v1.rotated", checked).await.expect("checked");
        assert_eq!(read().await, Some(session("v1.rotated", checked)), "{name}");

        // A new approval for the device replaces the session with its own,
        // or with none.
        let again = NewAccessToken {
            provider_session: Some(session("v1.again", checked)),
            ..new_token("sam@sso.example", "cli", "laptop", checked)
        };
        assert_eq!(repos.tokens.issue(&again).await.expect("rotate").id, id, "{name}");
        assert_eq!(read().await, Some(session("v1.again", checked)), "{name}");
        repos.tokens.issue(&new_token("sam@sso.example", "cli", "laptop", checked)).await.expect("rotate");
        assert_eq!(read().await, None, "{name}: the new approval's provider issued none");

        // A revoked grant has none to ask about.
        let other = NewAccessToken {
            provider_session: Some(session("v1.other", t0)),
            ..new_token("sam@sso.example", "cli", "desktop", t0)
        };
        let other_id = repos.tokens.issue(&other).await.expect("issue").id;
        repos.tokens.revoke(&[other_id], now()).await.expect("revoke");
        assert_eq!(repos.tokens.provider_session(other_id).await.expect("read"), None, "{name}");
    }
}

#[tokio::test]
async fn issuing_again_for_a_device_rotates_its_token_in_place() {
    for (name, repos, _dir, _) in databases("issuing_again_for_a_device_rotates_its_token_in_place").await {
        client(&repos, "cli").await;
        let t0 = now() - Duration::hours(1);
        let first = new_token("ada@example.com", "cli", "laptop", t0);
        let issued = repos.tokens.issue(&first).await.expect("issue");
        assert_eq!((issued.id, issued.rotated), (first.id, false), "{name}");
        repos.tokens.touch(first.id, t0 + Duration::minutes(1), Some("192.0.2.1")).await.expect("touch");

        let second = new_token("ada@example.com", "cli", "laptop", t0 + Duration::minutes(10));
        let rotated = repos.tokens.issue(&second).await.expect("rotate");
        assert_eq!((rotated.id, rotated.rotated), (first.id, true), "{name}: the row keeps its id");
        assert!(repos.tokens.find_by_hash(&first.token_hash).await.expect("find").is_none(), "{name}: old secret");
        let row = repos.tokens.find_by_hash(&second.token_hash).await.expect("find").expect("new secret");
        assert_eq!(row.id, first.id, "{name}");
        assert_eq!(row.dpop_jkt, second.dpop_jkt, "{name}: the key binding is the new token's");
        assert_eq!((row.created_at, row.expires_at), (second.created_at, second.expires_at), "{name}");
        assert_eq!((row.last_used_at, row.last_used_ip), (None, None), "{name}: use starts over");
        let ada = person("ada@example.com");
        let active = repos.tokens.find_active_for_device(&ada, "cli", "laptop").await;
        assert_eq!(active.expect("find").map(|r| r.id), Some(first.id), "{name}");

        // Another device, another client or another issuer is another row.
        for (email, issuer_client, label) in
            [("ada@example.com", "cli", "desktop"), ("grace@example.com", "cli", "laptop")]
        {
            let other = repos.tokens.issue(&new_token(email, issuer_client, label, t0)).await.expect("issue");
            assert!(!other.rotated && other.id != first.id, "{name}: {email} {label}");
        }
        assert!(
            repos
                .tokens
                .find_active_for_device(
                    &SubjectId { issuer: "https://other.example".into(), ..ada.clone() },
                    "cli",
                    "laptop"
                )
                .await
                .expect("find")
                .is_none(),
            "{name}: the issuer is part of who"
        );

        // Once revoked, the device's next token is a new row.
        repos.tokens.revoke(&[first.id], now()).await.expect("revoke");
        assert!(repos.tokens.find_active_for_device(&ada, "cli", "laptop").await.expect("find").is_none(), "{name}");
        let third = new_token("ada@example.com", "cli", "laptop", now());
        let fresh = repos.tokens.issue(&third).await.expect("issue");
        assert_eq!((fresh.id, fresh.rotated), (third.id, false), "{name}");
    }
}

#[tokio::test]
async fn an_expired_token_is_hard_expired_once_and_forgets_its_hash() {
    for (name, repos, _dir, _) in databases("an_expired_token_is_hard_expired_once_and_forgets_its_hash").await {
        client(&repos, "cli").await;
        let new = new_token("ada@example.com", "cli", "laptop", now() - Duration::days(31));
        repos.tokens.issue(&new).await.expect("issue");
        let before_expiry = new.expires_at - Duration::seconds(1);
        assert!(!repos.tokens.hard_expire(new.id, before_expiry).await.expect("early"), "{name}: not yet expired");
        assert!(repos.tokens.find_by_hash(&new.token_hash).await.expect("find").is_some(), "{name}");

        let at = now();
        assert!(repos.tokens.hard_expire(new.id, at).await.expect("expire"), "{name}: the first caller wins");
        assert!(!repos.tokens.hard_expire(new.id, at).await.expect("again"), "{name}: only once");
        assert!(repos.tokens.find_by_hash(&new.token_hash).await.expect("find").is_none(), "{name}: hash forgotten");
        let row = repos.tokens.find_by_id(new.id).await.expect("find").expect("row kept");
        assert_eq!(row.revoked_at, Some(at), "{name}");
        assert!(!repos.tokens.hard_expire(Uuid::new_v4(), at).await.expect("unknown"), "{name}");
    }
}

#[tokio::test]
async fn a_persons_active_tokens_leave_out_revoked_expired_and_other_people() {
    for (name, repos, _dir, _) in databases("a_persons_active_tokens_leave_out_revoked_expired_and_other_people").await
    {
        client(&repos, "cli").await;
        let now = now();
        let older = token(&repos, "ada@example.com", "cli", "older", now - Duration::hours(2)).await;
        let newer = token(&repos, "ada@example.com", "cli", "newer", now - Duration::hours(1)).await;
        let revoked = token(&repos, "ada@example.com", "cli", "revoked", now - Duration::hours(1)).await;
        repos.tokens.revoke(&[revoked], now).await.expect("revoke");
        token(&repos, "ada@example.com", "cli", "expired", now - Duration::days(31)).await;
        token(&repos, "grace@example.com", "cli", "hers", now).await;
        // Used most recently, so listed first.
        repos.tokens.touch(older, now, None).await.expect("touch");

        let ada = person("ada@example.com");
        let listed = repos.tokens.list_active_for_subject(&ada, now).await.expect("list");
        assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![older, newer], "{name}");
        let elsewhere = SubjectId { issuer: "https://other.example".into(), ..ada };
        let other_issuer = repos.tokens.list_active_for_subject(&elsewhere, now).await.expect("list");
        assert!(other_issuer.is_empty(), "{name}: the same sub from another issuer is another person");
    }
}

#[tokio::test]
async fn a_subject_is_its_issuer_and_sub_and_the_email_only_an_attribute() {
    for (name, repos, _dir, _) in databases("a_subject_is_its_issuer_and_sub_and_the_email_only_an_attribute").await {
        client(&repos, "cli").await;
        let t0 = now() - Duration::hours(1);
        let issue = |sub: Option<&'static str>, email: &'static str, at: DateTime<Utc>| NewAccessToken {
            subject: flow_subject(sub, email),
            ..new_token(email, "cli", "laptop", at)
        };
        // Two provider accounts sharing an address: two subjects, neither
        // approval replacing the other's grant.
        let kim = repos.tokens.issue(&issue(Some("kim-1"), "kim@example.com", t0)).await.expect("issue");
        let other = repos.tokens.issue(&issue(Some("kim-2"), "kim@example.com", t0)).await.expect("issue");
        assert!(!other.rotated && other.id != kim.id, "{name}");
        let kim_1 = SubjectId { issuer: ISSUER.into(), id: "kim-1".into() };
        let mine = repos.tokens.list_active_for_subject(&kim_1, now()).await.expect("list");
        assert_eq!(mine.iter().map(|r| r.id).collect::<Vec<_>>(), vec![kim.id], "{name}");
        assert!(mine[0].belongs_to(&kim_1), "{name}");

        // The address changes at the provider: every grant of the subject follows.
        assert_eq!(repos.tokens.update_subject_email(&kim_1, "kim.lee@example.com").await.expect("update"), 1);
        assert_eq!(repos.tokens.update_subject_email(&kim_1, "kim.lee@example.com").await.expect("again"), 0);
        let row = repos.tokens.find_by_id(kim.id).await.expect("find").expect("row");
        assert_eq!(row.subject_email, "kim.lee@example.com", "{name}");
        let theirs = repos.tokens.find_by_id(other.id).await.expect("find").expect("row");
        assert_eq!(theirs.subject_email, "kim@example.com", "{name}: the other subject keeps theirs");

        // A grant from before subjects had ids (no `sub`) is claimed by the
        // next person minting with that address, and rotated in place when
        // it is for the same device.
        let legacy = repos.tokens.issue(&issue(None, "sam@example.com", t0)).await.expect("legacy");
        let legacy_desk = NewAccessToken { device_label: "desk".into(), ..issue(None, "sam@example.com", t0) };
        let legacy_desk = repos.tokens.issue(&legacy_desk).await.expect("legacy");
        let row = repos.tokens.find_by_id(legacy.id).await.expect("find").expect("row");
        assert_eq!((row.subject_id.clone(), row.subject()), (None, None), "{name}");
        let claimed = repos.tokens.issue(&issue(Some("sam"), "sam@example.com", t0)).await.expect("claim");
        assert_eq!((claimed.id, claimed.rotated), (legacy.id, true), "{name}");
        let sam = SubjectId { issuer: ISSUER.into(), id: "sam".into() };
        let mut held: Vec<Uuid> =
            repos.tokens.list_active_for_subject(&sam, now()).await.expect("list").iter().map(|r| r.id).collect();
        held.sort();
        let mut expected = vec![legacy.id, legacy_desk.id];
        expected.sort();
        assert_eq!(held, expected, "{name}: both unclaimed grants are Sam's now");
    }
}

#[tokio::test]
async fn use_is_recorded_at_most_once_a_minute() {
    for (name, repos, _dir, _) in databases("use_is_recorded_at_most_once_a_minute").await {
        client(&repos, "cli").await;
        let t0 = now() - Duration::hours(1);
        let id = token(&repos, "ada@example.com", "cli", "laptop", t0).await;
        let used = |repos: Repositories| async move {
            let row = repos.tokens.find_by_id(id).await.expect("find").expect("row");
            (row.last_used_at, row.last_used_ip)
        };
        repos.tokens.touch(id, t0, Some("192.0.2.1")).await.expect("touch");
        assert_eq!(used(repos.clone()).await, (Some(t0), Some("192.0.2.1".into())), "{name}");
        repos.tokens.touch(id, t0 + Duration::seconds(59), Some("192.0.2.2")).await.expect("touch");
        assert_eq!(used(repos.clone()).await, (Some(t0), Some("192.0.2.1".into())), "{name}: within the minute");
        let later = t0 + Duration::seconds(60);
        repos.tokens.touch(id, later, None).await.expect("touch");
        assert_eq!(used(repos.clone()).await, (Some(later), None), "{name}: a minute on");
    }
}
