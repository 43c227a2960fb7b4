//! Passkeys: added once per credential, listed, renamed, used, and the two
//! rules that join them to the account's password switch, also under a race.

use super::accounts::account;
use super::*;
use gatehouse_core::ports::{PasskeyRecord, PasskeyRemoval, PasswordlessChange};

fn passkey(account_id: Uuid, credential_id: &str, at: DateTime<Utc>) -> PasskeyRecord {
    PasskeyRecord {
        id: Uuid::new_v4(),
        account_id,
        credential_id: credential_id.to_owned(),
        name: format!("key {credential_id}"),
        credential: format!("{{\"cred\":\"{credential_id}\"}}"),
        backed_up: false,
        created_at: at,
        last_used_at: None,
    }
}

#[tokio::test]
async fn passkeys_are_kept_per_credential_and_recorded_when_used() {
    for (name, repos, _dir, _) in databases("passkeys_are_kept_per_credential_and_recorded_when_used").await {
        let ada = account(&repos, "ada@example.com", false).await;
        let bob = account(&repos, "bob@example.com", false).await;
        let first = passkey(ada, "AAAA", now() - Duration::minutes(1));
        let second = passkey(ada, "BBBB", now());
        assert!(repos.passkeys.add(&first).await.expect("add"), "{name}");
        assert!(repos.passkeys.add(&second).await.expect("add"), "{name}");
        // A credential id is registered once, whoever asks.
        assert!(!repos.passkeys.add(&passkey(bob, "AAAA", now())).await.expect("add"), "{name}");
        let counts = repos.passkeys.count_by_account(&[ada, bob, Uuid::new_v4()]).await.expect("count");
        assert_eq!(counts, vec![(ada, 2)], "{name}: accounts with none left out");
        assert!(repos.passkeys.count_by_account(&[]).await.expect("count").is_empty(), "{name}");
        let listed = repos.passkeys.list(ada).await.expect("list");
        assert_eq!(listed, vec![first.clone(), second.clone()], "{name}: oldest first, as stored");
        assert!(repos.passkeys.list(bob).await.expect("list").is_empty(), "{name}");
        let found = repos.passkeys.find_by_credential_id("BBBB").await.expect("find");
        assert_eq!(found.as_ref(), Some(&second), "{name}");
        assert!(repos.passkeys.rename(ada, first.id, "work laptop").await.expect("rename"), "{name}");
        assert!(!repos.passkeys.rename(bob, first.id, "stolen").await.expect("rename"), "{name}: not bob's");
        let used_at = now();
        repos.passkeys.record_use(first.id, "{\"cred\":\"new\"}", true, used_at).await.expect("use");
        let after = repos.passkeys.find_by_credential_id("AAAA").await.expect("find").expect("there");
        assert_eq!(
            (after.name.as_str(), after.credential.as_str(), after.backed_up, after.last_used_at),
            ("work laptop", "{\"cred\":\"new\"}", true, Some(used_at)),
            "{name}"
        );
        assert_eq!(repos.passkeys.remove(bob, first.id).await.expect("remove"), PasskeyRemoval::NotFound, "{name}");
        assert_eq!(repos.passkeys.remove(ada, first.id).await.expect("remove"), PasskeyRemoval::Removed, "{name}");
        assert_eq!(repos.passkeys.list(ada).await.expect("list"), vec![second], "{name}");
    }
}

#[tokio::test]
async fn a_passwordless_account_keeps_its_last_passkey_even_under_a_race() {
    for (name, repos, _dir, _) in databases("a_passwordless_account_keeps_its_last_passkey_even_under_a_race").await {
        let ada = account(&repos, "ada@example.com", false).await;
        let off = |on| repos.passkeys.set_passwordless(ada, on);
        assert_eq!(off(true).await.expect("off"), PasswordlessChange::NoPasskey, "{name}: a passkey first");
        let unknown = repos.passkeys.set_passwordless(Uuid::new_v4(), true).await.expect("off");
        assert_eq!(unknown, PasswordlessChange::NotFound, "{name}");
        for round in 0..10 {
            let a = passkey(ada, &format!("A{round}"), now());
            let b = passkey(ada, &format!("B{round}"), now());
            repos.passkeys.add(&a).await.expect("add");
            repos.passkeys.add(&b).await.expect("add");
            assert_eq!(off(true).await.expect("off"), PasswordlessChange::Changed, "{name}");
            if round == 0 {
                assert_eq!(off(true).await.expect("off"), PasswordlessChange::Unchanged, "{name}");
                let found = repos.accounts.find_by_id(ada).await.expect("find").expect("ada");
                assert!(found.passwordless, "{name}");
            }
            // Both removals race: exactly one passes, whatever the order.
            let (first, second) = tokio::join!(repos.passkeys.remove(ada, a.id), repos.passkeys.remove(ada, b.id));
            let mut outcomes = [first.expect("remove"), second.expect("remove")];
            outcomes.sort_by_key(|o| *o == PasskeyRemoval::Removed);
            assert_eq!(outcomes, [PasskeyRemoval::LastWhilePasswordless, PasskeyRemoval::Removed], "{name} {round}");
            let left = repos.passkeys.list(ada).await.expect("list");
            assert_eq!(left.len(), 1, "{name} {round}");
            // With the password back on, the survivor may go too.
            assert_eq!(off(false).await.expect("on"), PasswordlessChange::Changed, "{name}");
            assert_eq!(repos.passkeys.remove(ada, left[0].id).await.expect("remove"), PasskeyRemoval::Removed);
        }
        repos.passkeys.add(&passkey(ada, "KEPT", now())).await.expect("add");
        assert_eq!(off(true).await.expect("off"), PasswordlessChange::Changed, "{name}");
        // An admin's "remove all" for a lost device turns the password back on.
        assert_eq!(repos.passkeys.remove_all(ada).await.expect("remove all"), 1, "{name}");
        let found = repos.accounts.find_by_id(ada).await.expect("find").expect("ada");
        assert!(!found.passwordless && repos.passkeys.list(ada).await.expect("list").is_empty(), "{name}");
    }
}
