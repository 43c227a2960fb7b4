//! The operator's scope registry.

use super::*;

#[tokio::test]
async fn scopes_are_created_once_edited_and_deleted_unless_built_in() {
    for (name, repos, _dir, _) in databases("scopes_are_created_once_edited_and_deleted_unless_built_in").await {
        let shipped = repos.scopes.list_scopes().await.expect("list");
        let built_in: Vec<&str> = shipped.iter().filter(|s| s.built_in).map(|s| s.name.as_str()).collect();
        assert_eq!(built_in, ["full", "apps:run", "apps:read:permitted-external", "admin"], "{name}");
        let reports = ScopeDefinition {
            name: "reports:read".into(),
            description: "Read your team's reports".into(),
            holders: ScopeHolders::Everyone,
            built_in: false,
            created_at: now(),
        };
        assert!(repos.scopes.create_scope(&reports).await.expect("create"), "{name}");
        let taken = ScopeDefinition { description: "Another".into(), ..reports.clone() };
        assert!(!repos.scopes.create_scope(&taken).await.expect("create"), "{name}: a name is taken once");
        let listed = repos.scopes.list_scopes().await.expect("list");
        assert_eq!(listed.last(), Some(&reports), "{name}: after the built-in ones");

        assert!(repos.scopes.update_scope("reports:read", "Read reports", ScopeHolders::Accounts).await.expect("u"));
        assert!(!repos.scopes.update_scope("nonsense", "x", ScopeHolders::Accounts).await.expect("u"), "{name}");
        let updated = repos.scopes.list_scopes().await.expect("list").pop().expect("scope");
        assert_eq!((updated.description.as_str(), updated.holders), ("Read reports", ScopeHolders::Accounts));

        assert!(!repos.scopes.delete_scope("full").await.expect("delete"), "{name}: built-in scopes stay");
        assert!(repos.scopes.delete_scope("reports:read").await.expect("delete"), "{name}");
        assert!(!repos.scopes.delete_scope("reports:read").await.expect("delete"), "{name}: gone");
        assert_eq!(repos.scopes.list_scopes().await.expect("list"), shipped, "{name}");
    }
}
