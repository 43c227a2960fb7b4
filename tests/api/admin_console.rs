//! `/admin/accounts` and `/admin/audit` over HTTP on both backend pairs, the
//! last-admin rule under a race, and `gatehouse user disable|enable`.

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app};
use crate::on_every_backend;
use gatehouse_core::ports::{AccountChange, AuditKind, AuditQuery};
use gatehouse_core::services::accounts::AccountAdminError;
use gatehouse_core::{Actor, Admin, Principal};
use serde_json::Value;

const ACCOUNTS: &str = "/admin/accounts";
const CHANGE: &str = "/console/api/admin/accounts/change";
const CREATE: &str = "/console/api/admin/accounts/create";

/// The listed events of an audit page (the filter's choices name every kind).
async fn listed_events(app: &TestApp, path: &str) -> String {
    let page = app.page_html(path).await;
    match (page.find("<ol class=\"audit-list\">"), page.find("</ol>")) {
        (Some(start), Some(end)) => page[start..end].to_owned(),
        _ => page[page.find("<main").unwrap_or_default()..].to_owned(),
    }
}

async fn an_admin_creates_finds_and_disables_an_account_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let laptop = app.token_for("ada-laptop").await;
    // Ada also has a browser session of her own.
    let ada_browser = app.another_browser_signed_in("ada@example.com", PASSWORD).await;
    let ada_page = || ada_browser.get(app.url("/settings/authorized-apps")).send();
    assert_eq!(ada_page().await.expect("page").status(), 200);

    let csrf = app.as_admin(ACCOUNTS).await;
    // Creating: every bad input is refused with its own answer.
    for (email, password, status, error) in [
        ("not-an-email", "long enough password", 400, "invalid_email"),
        ("grace@example.com", "short", 400, "weak_password"),
        ("ada@example.com", "long enough password", 409, "email_taken"),
    ] {
        let form = [("email", email), ("name", "Grace Hopper"), ("password", password), ("csrf_token", &csrf)];
        let response = app.browser_post(CREATE, &form).await;
        assert_eq!(response.status(), status, "{email}");
        assert_eq!(response.json::<Value>().await.expect("json")["error"], error);
    }
    let form = [
        ("email", "Grace@Example.com"),
        ("name", "Grace Hopper"),
        ("password", "long enough password"),
        ("is_admin", "on"),
        ("csrf_token", &csrf),
    ];
    assert_eq!(app.browser_post(CREATE, &form).await.status(), 200);
    let found = app.page_html(&format!("{ACCOUNTS}?q=grace")).await;
    assert!(found.contains("Grace Hopper (grace@example.com)") && found.contains("administrator"), "{found}");
    assert!(!found.contains("ada@example.com"), "the search narrows: {found}");

    // Disabling asks first, then revokes every token and ends every session.
    let ada = app.ada().await;
    let confirm = app.page_html(&format!("{ACCOUNTS}?confirm=disable%3Aada%40example.com")).await;
    assert!(confirm.contains("Disable Ada Lovelace (ada@example.com)?"), "{confirm}");
    assert_eq!(app.me(&laptop).await.status(), 200);
    let id = ada.id.to_string();
    let response = app.browser_post(CHANGE, &[("account_id", &id), ("change", "disable"), ("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.expect("json")["disabled"], true);
    assert_eq!(app.me(&laptop).await.status(), 401, "her tokens stop at once");
    let ended = ada_page().await.expect("page");
    assert_eq!(ended.status(), 302, "her session ended");
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 401, "she cannot sign in");

    // Enabling lets her sign in afresh, but does not revive the old session.
    app.advance(1);
    let response = app.browser_post(CHANGE, &[("account_id", &id), ("change", "enable"), ("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(ada_page().await.expect("page").status(), 302, "the old session stays void");

    let events = app.services.ports().audit.recent(100).await.expect("audit");
    let by_root = Some(Actor::Admin { email: "root@example.com".into() });
    for kind in [AuditKind::AccountCreated, AuditKind::AccountDisabled, AuditKind::AccountEnabled] {
        let event = events.iter().find(|e| e.kind == kind).unwrap_or_else(|| panic!("{kind:?} audited"));
        assert_eq!(event.actor, by_root, "{kind:?}");
        assert_eq!(event.ip.as_deref(), Some("127.0.0.1"), "{kind:?}: where the admin acted from");
    }
    let revoked = events.iter().find(|e| e.kind == AuditKind::TokenRevoked).expect("revocation audited");
    assert_eq!(revoked.details["by"], "account_disabled");
}

async fn the_last_active_admin_can_be_neither_demoted_nor_disabled(backend: Backend) {
    let app = spawn_app(backend).await;
    let csrf = app.as_admin(ACCOUNTS).await;
    let root = app.services.ports().accounts.find_by_email("root@example.com").await.expect("find").expect("root").0;
    let id = root.id.to_string();
    for change in ["remove_admin", "disable"] {
        let response =
            app.browser_post(CHANGE, &[("account_id", &id), ("change", change), ("csrf_token", &csrf)]).await;
        assert_eq!(response.status(), 409, "{change}");
        assert_eq!(response.json::<Value>().await.expect("json")["error"], "last_admin");
    }
    let unknown = [("account_id", "not-a-uuid"), ("change", "disable"), ("csrf_token", &csrf)];
    assert_eq!(app.browser_post(CHANGE, &unknown).await.status(), 400);
    let nobody = uuid::Uuid::new_v4().to_string();
    let missing = [("account_id", nobody.as_str()), ("change", "disable"), ("csrf_token", csrf.as_str())];
    assert_eq!(app.browser_post(CHANGE, &missing).await.status(), 404);
    let bad_change = [("account_id", id.as_str()), ("change", "promote"), ("csrf_token", csrf.as_str())];
    assert_eq!(app.browser_post(CHANGE, &bad_change).await.status(), 400);

    // Two admins demoted at the same time: one always remains.
    let admin = Admin::command_line();
    let accounts = &app.services.accounts;
    let mut sole = root.id;
    for round in 0..20 {
        let a = app.create_admin(&format!("a{round}@example.com")).await;
        let b = app.create_admin(&format!("b{round}@example.com")).await;
        accounts.change(&admin, sole, AccountChange::RemoveAdmin, None).await.expect("hand over");
        let (first, second) = tokio::join!(
            accounts.change(&admin, a.id, AccountChange::RemoveAdmin, None),
            accounts.change(&admin, b.id, AccountChange::Disable, None),
        );
        let refused = [&first, &second].iter().filter(|r| matches!(r, Err(AccountAdminError::LastAdmin))).count();
        assert_eq!(refused, 1, "round {round}: {first:?} {second:?}");
        sole = if first.is_err() { a.id } else { b.id };
        let survivor = app.services.ports().accounts.find_by_id(sole).await.expect("find").expect("survivor");
        assert!(survivor.is_admin && !survivor.disabled, "round {round}");
    }
}

async fn a_non_admin_is_refused_the_account_and_audit_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.ada().await;
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    for path in [ACCOUNTS, "/admin/audit", "/admin/audit?kind=token.revoked"] {
        assert_eq!(app.browser.get(app.url(path)).send().await.expect("page").status(), 403, "{path}");
    }
    let csrf = app.csrf_of("/settings/authorized-apps").await;
    let id = ada.id.to_string();
    let change =
        app.browser_post(CHANGE, &[("account_id", &id), ("change", "grant_admin"), ("csrf_token", &csrf)]).await;
    assert_eq!(change.status(), 403, "nobody makes themselves an admin");
    let form = [("email", "x@example.com"), ("name", "X"), ("password", "long enough password"), ("csrf_token", &csrf)];
    assert_eq!(app.browser_post(CREATE, &form).await.status(), 403);
    assert!(!app.services.ports().accounts.find_by_id(ada.id).await.expect("find").expect("ada").is_admin);
}

async fn the_audit_log_filters_pages_and_never_holds_a_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.redeemed(&[("device_label", "laptop")]).await;
    let access_token = token["access_token"].as_str().expect("token").to_owned();
    let flow = app.start_flow(&[("device_label", "denied-box")]).await;
    let device_code = flow["device_code"].as_str().expect("code").to_owned();
    app.sign_in("ada@example.com", "wrong password").await;
    app.device.delete(app.url("/v1/oauth/authorizations/self")).bearer_auth(&access_token).send().await.expect("rq");
    app.as_admin(ACCOUNTS).await;

    // Filters.
    let page = listed_events(&app, "/admin/audit?kind=token.revoked").await;
    assert!(page.contains("token.revoked") && !page.contains("device.approved"), "{page}");
    let page = listed_events(&app, "/admin/audit?actor=ada%40example.com").await;
    assert!(page.contains("device.approved") && !page.contains("signin.failed"), "{page}");
    let today = app.clock_now().format("%Y-%m-%d").to_string();
    let page = listed_events(&app, &format!("/admin/audit?from={today}&until={today}&subject=ada%40example.com")).await;
    assert!(page.contains("signin.failed") && page.contains("device.redeemed"), "{page}");
    let tomorrow = (app.clock_now() + chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let page = app.page_html(&format!("/admin/audit?from={tomorrow}")).await;
    assert!(page.contains("No events match"), "{page}");
    // An unreadable filter is a 400 that says so; a date past the last day
    // the calendar holds is one too, never a dropped connection.
    for filter in ["from=yesterday", "until=%2B262142-12-31", "until=9999999-01-01", "kind=nonsense"] {
        let response = app.browser.get(app.url(&format!("/admin/audit?{filter}"))).send().await.expect("page");
        assert_eq!(response.status(), 400, "{filter}");
        let page = response.text().await.expect("html");
        assert!(page.contains("Something was missing from the form"), "{filter}: the page says so: {page}");
    }

    // Keyset pages: every event once, newest first.
    let admin = Admin::command_line();
    let all = app.services.audit.search(&admin, AuditQuery { limit: 200, ..AuditQuery::default() }).await.expect("all");
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let query = AuditQuery { limit: 2, before_id: before, ..AuditQuery::default() };
        let page = app.services.audit.search(&admin, query).await.expect("page");
        seen.extend(page.items.iter().map(|r| r.id));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let ids: Vec<i64> = all.items.iter().map(|r| r.id).collect();
    assert_eq!(seen, ids);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");

    // No token, device code or password anywhere in the log.
    let text = format!("{:?}", all.items);
    for secret in [access_token.as_str(), device_code.as_str(), PASSWORD, "wrong password"] {
        assert!(!text.contains(secret), "the audit log holds a secret");
    }
}

async fn the_command_line_disables_and_enables_an_account(backend: Backend) {
    let app = spawn_app(backend).await;
    app.token_for("laptop").await;
    app.create_admin("root@example.com").await;
    let run = |args: &[&str]| app.run_command(args);
    let out = run(&["user", "disable", "--email", "ada@example.com"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is disabled; its tokens are revoked"));
    let ada = app.ada().await;
    assert!(ada.disabled);
    let principal = Principal::Account(ada);
    assert!(app.services.authorizations.list_own(&principal).await.expect("list").is_empty());
    let out = run(&["user", "enable", "--email", "ADA@example.com"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!app.ada().await.disabled);
    let out = run(&["user", "disable", "--email", "root@example.com"]);
    assert!(!out.status.success(), "the last admin stays");
    assert!(String::from_utf8_lossy(&out.stderr).contains("last active admin"));
    let out = run(&["user", "disable", "--email", "nobody@example.com"]);
    assert!(!out.status.success());
}

on_every_backend!(
    an_admin_creates_finds_and_disables_an_account_at_once,
    the_last_active_admin_can_be_neither_demoted_nor_disabled,
    a_non_admin_is_refused_the_account_and_audit_pages,
    the_audit_log_filters_pages_and_never_holds_a_secret,
    the_command_line_disables_and_enables_an_account,
);
