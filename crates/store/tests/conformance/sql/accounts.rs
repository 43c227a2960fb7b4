//! Accounts (creation, search, the last-admin rule, passwords) and SSO people.

use super::*;

pub(super) async fn account(repos: &Repositories, email: &str, admin: bool) -> Uuid {
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
async fn a_new_password_voids_the_sessions_from_before_it() {
    for (name, repos, _dir, _) in databases("a_new_password_voids_the_sessions_from_before_it").await {
        let root = account(&repos, "root@example.com", true).await;
        let ada = account(&repos, "ada@example.com", false).await;
        let at = now();
        let changed = repos.accounts.set_password(ada, "new-hash", at).await.expect("set").expect("active");
        assert_eq!((changed.id, changed.sessions_valid_after), (ada, Some(at)), "{name}");
        let (found, hash) = repos.accounts.find_by_email("ada@example.com").await.expect("find").expect("ada");
        assert_eq!((found.sessions_valid_after, hash.as_str()), (Some(at), "new-hash"), "{name}");
        // Nobody, and a disabled account, get no password.
        assert!(repos.accounts.set_password(Uuid::new_v4(), "h", at).await.expect("set").is_none(), "{name}");
        let disabled = repos.accounts.change(ada, AccountChange::Disable, at).await.expect("disable");
        assert!(matches!(disabled, AccountChangeOutcome::Changed(_)), "{name}");
        assert!(repos.accounts.set_password(ada, "other-hash", at).await.expect("set").is_none(), "{name}");
        let (_, hash) = repos.accounts.find_by_email("ada@example.com").await.expect("find").expect("ada");
        assert_eq!(hash, "new-hash", "{name}: unchanged");
        assert!(repos.accounts.find_by_id(root).await.expect("find").expect("root").sessions_valid_after.is_none());
    }
}

#[tokio::test]
async fn sso_people_are_recorded_at_each_sign_in_and_their_admin_right_set_at_a_recheck() {
    for (name, repos, _dir, _) in
        databases("sso_people_are_recorded_at_each_sign_in_and_their_admin_right_set_at_a_recheck").await
    {
        let sam = person("sam@sso.example");
        let first = now() - Duration::hours(1);
        let at_sign_in = |email: &str, is_admin: bool, at: DateTime<Utc>| SsoPerson {
            subject: sam.clone(),
            email: email.to_owned(),
            name: Some("Sam".into()),
            is_admin,
            first_signed_in_at: at,
            last_signed_in_at: at,
        };
        assert_eq!(repos.accounts.find_sso_person(&sam).await.expect("find"), None, "{name}");
        let before = repos.accounts.record_sso_person(&at_sign_in("sam@sso.example", false, first)).await;
        assert_eq!(before.expect("record"), None, "{name}: nobody before");
        let later = now();
        let before = repos.accounts.record_sso_person(&at_sign_in("sam@new.example", true, later)).await;
        assert_eq!(before.expect("record").map(|p| (p.email, p.is_admin)), Some(("sam@sso.example".into(), false)));
        let found = repos.accounts.find_sso_person(&sam).await.expect("find").expect("sam");
        assert_eq!(found.email, "sam@new.example", "{name}: the address follows the provider");
        assert_eq!((found.first_signed_in_at, found.last_signed_in_at), (first, later), "{name}: the first kept");
        assert!(found.is_admin, "{name}");

        // A recheck sets the right alone, answering the one it replaced.
        assert_eq!(repos.accounts.set_sso_person_admin(&sam, false).await.expect("set"), Some(true), "{name}");
        assert_eq!(repos.accounts.set_sso_person_admin(&sam, false).await.expect("set"), Some(false), "{name}");
        let rechecked = repos.accounts.find_sso_person(&sam).await.expect("find").expect("sam");
        assert_eq!(rechecked, SsoPerson { is_admin: false, ..found }, "{name}: nothing else changed");
        let nobody = person("nobody@sso.example");
        assert_eq!(repos.accounts.set_sso_person_admin(&nobody, true).await.expect("set"), None, "{name}");
        assert_eq!(repos.accounts.find_sso_person(&nobody).await.expect("find"), None, "{name}: none made");
    }
}
