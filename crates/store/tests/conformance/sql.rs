//! The same cases against every SQL backend: each repository query is
//! checked once, on SQLite and on PostgreSQL (when
//! `GATEHOUSE_TEST_DATABASE_URL` is set; skipped by name otherwise, and a
//! failure under `CI=true`), below the HTTP layer.

use chrono::{DateTime, Duration, DurationRound, Utc};
use gatehouse_core::Actor;
use gatehouse_core::listing::{ActivityCursor, TokenQuery, TokenSelector, TokenStatus};
use gatehouse_core::model::{
    ClientType, DpopMode, FlowSubject, GrantRotation, NewAccessToken, OAuthClient, ProviderSession, RefreshLookup,
    SubjectId, TokenPolicy,
};
use gatehouse_core::ports::{
    AccountChange, AccountChangeOutcome, AccountQuery, AuditEvent, AuditKind, AuditQuery, ClientEdit,
    CreateAccountError, NewAccount, Prunable,
};
use gatehouse_store::Database;
use gatehouse_store::sql::Repositories;
use gatehouse_store::testing::TestDatabase;
use gatehouse_store::tls::ExtraRoots;
use uuid::Uuid;

use crate::common::service;

/// What keeps a test's database alive until the test ends.
#[allow(dead_code)]
enum Kept {
    File(tempfile::TempDir),
    Postgres(TestDatabase),
}

/// Every backend with a fresh, migrated database.
async fn databases(test: &str) -> Vec<(&'static str, Repositories, Kept, Database)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = Database::connect(&format!("sqlite://{}/conformance.db", dir.path().display()), &ExtraRoots::none())
        .await
        .expect("sqlite");
    sqlite.migrate().await.expect("migrate sqlite");
    let mut all = vec![("sqlite", sqlite.repositories(), Kept::File(dir), sqlite)];
    if let Some(base) = service::backend_url("GATEHOUSE_TEST_DATABASE_URL", "postgres", test) {
        let database = TestDatabase::create(&base).await;
        let postgres = Database::connect(database.url(), &ExtraRoots::none()).await.expect("postgres");
        all.push(("postgres", postgres.repositories(), Kept::Postgres(database), postgres));
    }
    all
}

/// Now, to the second: SQLite keeps whole seconds.
fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).expect("truncate")
}

async fn client(repos: &Repositories, id: &str) {
    let client = OAuthClient {
        client_id: id.to_owned(),
        name: format!("{id} app"),
        client_type: ClientType::Public,
        secret_hash: None,
        allowed_scopes: vec!["full".into()],
        device_grant_enabled: true,
        disabled: false,
        created_at: now(),
        policy: TokenPolicy::default(),
    };
    assert!(repos.clients.create(&client).await.expect("create client"));
}

/// The SSO issuer the tokens below are minted under.
const ISSUER: &str = "https://idp.example";

/// The person who goes by `email` at [`ISSUER`] (their `sub` is made from it).
fn person(email: &str) -> SubjectId {
    SubjectId { issuer: ISSUER.into(), id: format!("sub-{email}") }
}

/// An SSO person's flow subject: `sub` and `email` at [`ISSUER`].
fn flow_subject(sub: Option<&str>, email: &str) -> FlowSubject {
    FlowSubject { sub: sub.map(str::to_owned), ..FlowSubject::new(None, email.to_owned(), ISSUER.into()) }
}

/// A token for one person's device, valid for 30 days from `created`.
fn new_token(email: &str, client_id: &str, label: &str, created: DateTime<Utc>) -> NewAccessToken {
    NewAccessToken {
        id: Uuid::new_v4(),
        subject: flow_subject(Some(&person(email).id), email),
        client_id: client_id.to_owned(),
        device_label: label.to_owned(),
        prefix: "gtha_".into(),
        token_hash: format!("hash-{}", Uuid::new_v4()),
        refresh_token_hash: Some(format!("refresh-{}", Uuid::new_v4())),
        scopes: vec!["full".into()],
        created_at: created,
        expires_at: created + Duration::days(30),
        access_expires_at: created + Duration::hours(1),
        max_expires_at: created + Duration::days(90),
        dpop_jkt: Some(format!("jkt-{}", Uuid::new_v4())),
        provider_session: None,
    }
}

async fn token(repos: &Repositories, email: &str, client_id: &str, label: &str, created: DateTime<Utc>) -> Uuid {
    repos.tokens.issue(&new_token(email, client_id, label, created)).await.expect("issue").id
}

fn query(now: DateTime<Utc>) -> TokenQuery {
    TokenQuery { subject_email: None, client_id: None, status: TokenStatus::Active, after: None, limit: 100, now }
}

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

async fn account(repos: &Repositories, email: &str, admin: bool) -> Uuid {
    let id = Uuid::new_v4();
    let new = NewAccount {
        id,
        email: email.to_owned(),
        name: format!("Name of {email}"),
        password_hash: "not-a-hash".into(),
        is_admin: admin,
        workspace_id: Uuid::new_v4(),
        workspace_name: "W".into(),
        created_at: now(),
    };
    repos.accounts.create(&new).await.expect("create");
    id
}

#[tokio::test]
async fn account_search_and_changes_keep_an_admin() {
    for (name, repos, _dir, _) in databases("account_search_and_changes_keep_an_admin").await {
        let root = account(&repos, "root@example.com", true).await;
        let ada = account(&repos, "ada@example.com", false).await;
        account(&repos, "100%_sure@example.com", false).await;
        let search = |text: Option<&str>, after: Option<&str>, limit| AccountQuery {
            text: text.map(str::to_owned),
            after_email: after.map(str::to_owned),
            limit,
        };
        let emails = |rows: Vec<gatehouse_core::model::Account>| rows.into_iter().map(|a| a.email).collect::<Vec<_>>();
        let all = emails(repos.accounts.search(&search(None, None, 10)).await.expect("search"));
        assert_eq!(all, ["100%_sure@example.com", "ada@example.com", "root@example.com"], "{name}");
        let after = emails(repos.accounts.search(&search(None, Some("ada@example.com"), 10)).await.expect("search"));
        assert_eq!(after, ["root@example.com"], "{name}");
        let text = emails(repos.accounts.search(&search(Some("NAME OF ADA"), None, 10)).await.expect("search"));
        assert_eq!(text, ["ada@example.com"], "{name}: case-insensitive, in names too");
        let literal = emails(repos.accounts.search(&search(Some("%_"), None, 10)).await.expect("search"));
        assert_eq!(literal, ["100%_sure@example.com"], "{name}: % and _ are literal");

        let at = now();
        let changed = repos.accounts.change(ada, AccountChange::Disable, at).await.expect("disable");
        let AccountChangeOutcome::Changed(disabled) = changed else { panic!("{name}: {changed:?}") };
        assert!(disabled.disabled && disabled.sessions_valid_after == Some(at), "{name}");
        assert!(matches!(
            repos.accounts.change(ada, AccountChange::Disable, at).await.expect("again"),
            AccountChangeOutcome::Unchanged(_)
        ));
        assert!(
            matches!(repos.accounts.change(ada, AccountChange::Enable, at).await.expect("enable"), AccountChangeOutcome::Changed(a) if !a.disabled)
        );
        for change in [AccountChange::RemoveAdmin, AccountChange::Disable] {
            let outcome = repos.accounts.change(root, change, at).await.expect("change");
            assert_eq!(outcome, AccountChangeOutcome::LastAdmin, "{name}: {change:?}");
        }
        assert!(
            matches!(repos.accounts.change(ada, AccountChange::GrantAdmin, at).await.expect("grant"), AccountChangeOutcome::Changed(a) if a.is_admin)
        );
        assert!(
            matches!(repos.accounts.change(root, AccountChange::RemoveAdmin, at).await.expect("demote"), AccountChangeOutcome::Changed(a) if !a.is_admin)
        );
        assert_eq!(
            repos.accounts.change(ada, AccountChange::Disable, at).await.expect("last"),
            AccountChangeOutcome::LastAdmin,
            "{name}"
        );
        assert_eq!(
            repos.accounts.change(Uuid::new_v4(), AccountChange::Enable, at).await.expect("none"),
            AccountChangeOutcome::NotFound
        );
    }
}

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
async fn clients_are_edited_enabled_and_given_secrets() {
    for (name, repos, _dir, _) in databases("clients_are_edited_enabled_and_given_secrets").await {
        client(&repos, "cli").await;
        let edit = ClientEdit {
            name: "Renamed".into(),
            allowed_scopes: vec!["apps:run".into()],
            device_grant_enabled: false,
            policy: TokenPolicy {
                refresh_allowed: true,
                access_token_ttl: Some(600),
                grant_ttl: Some(7 * 86_400),
                grant_idle_ttl: Some(86_400),
                poll_interval: Some(9),
                dpop: DpopMode::Required,
            },
        };
        assert!(repos.clients.update("cli", &edit).await.expect("update"), "{name}");
        assert!(!repos.clients.update("nobody", &edit).await.expect("update"), "{name}");
        let found = repos.clients.find("cli").await.expect("find").expect("cli");
        assert_eq!(
            (found.name.as_str(), found.allowed_scopes.clone(), found.device_grant_enabled),
            ("Renamed", vec!["apps:run".to_owned()], false)
        );
        assert_eq!(found.policy, edit.policy, "{name}: the token settings round-trip");
        assert!(
            !repos.clients.set_secret_hash("cli", "hash").await.expect("secret"),
            "{name}: public clients have none"
        );
        assert!(!repos.clients.enable("cli").await.expect("enable"), "{name}: not disabled");
        assert!(repos.clients.disable("cli", now()).await.expect("disable"));
        assert!(repos.clients.enable("cli").await.expect("enable"), "{name}");
        assert!(!repos.clients.find("cli").await.expect("find").expect("cli").disabled);
    }
}

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

#[tokio::test]
async fn accounts_are_created_once_and_found_with_their_workspace() {
    for (name, repos, _dir, _) in databases("accounts_are_created_once_and_found_with_their_workspace").await {
        assert_eq!(repos.accounts.count().await.expect("count"), 0, "{name}");
        let ada = account(&repos, "ada@example.com", false).await;
        let again = NewAccount {
            id: Uuid::new_v4(),
            email: "ada@example.com".into(),
            name: "Another Ada".into(),
            password_hash: "other".into(),
            is_admin: true,
            workspace_id: Uuid::new_v4(),
            workspace_name: "Other".into(),
            created_at: now(),
        };
        assert!(
            matches!(repos.accounts.create(&again).await, Err(CreateAccountError::EmailTaken)),
            "{name}: one account per email"
        );
        assert_eq!(repos.accounts.count().await.expect("count"), 1, "{name}: nothing half-created");

        let (found, hash) = repos.accounts.find_by_email("ada@example.com").await.expect("find").expect("ada");
        assert_eq!(
            (found.id, found.is_admin, found.disabled, hash.as_str()),
            (ada, false, false, "not-a-hash"),
            "{name}"
        );
        assert_eq!(repos.accounts.find_by_id(ada).await.expect("find"), Some(found), "{name}");
        assert!(repos.accounts.find_by_email("nobody@example.com").await.expect("find").is_none(), "{name}");
        assert!(repos.accounts.find_by_id(Uuid::new_v4()).await.expect("find").is_none(), "{name}");

        let workspaces = repos.accounts.workspaces(ada).await.expect("workspaces");
        assert_eq!(
            workspaces.iter().map(|w| (w.name.as_str(), w.role.as_str())).collect::<Vec<_>>(),
            [("W", "owner")],
            "{name}"
        );
        assert!(repos.accounts.workspaces(Uuid::new_v4()).await.expect("workspaces").is_empty(), "{name}");
    }
}

#[tokio::test]
async fn clients_are_created_once_and_listed_oldest_first() {
    for (name, repos, _dir, _) in databases("clients_are_created_once_and_listed_oldest_first").await {
        let created = now();
        for id in ["zeta", "alpha"] {
            let client = OAuthClient {
                client_id: id.to_owned(),
                name: format!("{id} app"),
                client_type: ClientType::Confidential,
                secret_hash: Some(format!("{id}-hash")),
                allowed_scopes: vec!["full".into(), "apps:run".into()],
                device_grant_enabled: false,
                disabled: false,
                created_at: created,
                policy: TokenPolicy {
                    refresh_allowed: id == "alpha",
                    access_token_ttl: Some(120),
                    grant_ttl: None,
                    grant_idle_ttl: Some(3_600),
                    poll_interval: Some(10),
                    dpop: if id == "alpha" { DpopMode::Off } else { DpopMode::Allowed },
                },
            };
            assert!(repos.clients.create(&client).await.expect("create"), "{name}");
        }
        let duplicate = repos.clients.find("zeta").await.expect("find").expect("zeta");
        assert!(!repos.clients.create(&duplicate).await.expect("create"), "{name}: ids are unique");
        let listed = repos.clients.list().await.expect("list");
        // The same instant: then by id.
        assert_eq!(listed.iter().map(|c| c.client_id.as_str()).collect::<Vec<_>>(), ["alpha", "zeta"], "{name}");
        assert_eq!(listed[1], duplicate, "{name}: every field round-trips");
        assert!(repos.clients.find("nobody").await.expect("find").is_none(), "{name}");
        assert!(!repos.clients.disable("nobody", now()).await.expect("disable"), "{name}");
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
