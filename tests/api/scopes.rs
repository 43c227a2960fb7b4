//! The operator's scope registry on both backend pairs: an admin adds a
//! scope on `/admin/scopes` (or with `gatehouse scope`), allows it to a
//! client by ticking it in the client editor, and a device then asks for it;
//! the approval page shows its words, discovery lists it, and `/v1/me` and
//! introspection answer it. Built-in scopes stay; a scope a client allows
//! cannot be deleted.

use crate::helpers::{Backend, CLI, PASSWORD, TestApp, expect_oauth_error, spawn_app};
use crate::on_every_backend;
use gatehouse_core::model::ClientType;
use gatehouse_core::ports::AuditKind;
use serde_json::Value;

const SCOPES: &str = "/admin/scopes";
const CREATE: &str = "/console/api/admin/scopes/create";
const UPDATE: &str = "/console/api/admin/scopes/update";
const DELETE: &str = "/console/api/admin/scopes/delete";
const UPDATE_CLIENT: &str = "/console/api/admin/clients/update";

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

async fn discovered_scopes(app: &TestApp) -> Vec<String> {
    let metadata = app.metadata().await;
    serde_json::from_value(metadata["scopes_supported"].clone()).expect("scopes")
}

async fn an_operator_defined_scope_reaches_the_approval_page_and_the_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let csrf = app.as_admin(SCOPES).await;
    assert_eq!(
        discovered_scopes(&app).await,
        ["full", "apps:run", "apps:read:permitted-external", "admin"],
        "the seed"
    );

    // Refused as they are typed: nothing is created.
    for (name, description, status, error) in [
        ("has space", "Read reports", 400, "invalid_scope_name"),
        ("reports:read", "evil\u{202e}txt", 400, "invalid_scope_description"),
        ("reports:read", "", 400, "invalid_scope_description"),
        ("apps:run", "Again", 409, "scope_exists"),
    ] {
        let form = [("name", name), ("description", description), ("holders", "everyone"), ("csrf_token", &csrf)];
        assert_eq!(error_of(app.browser_post(CREATE, &form).await).await, (status, error.to_owned()), "{name}");
    }
    let form = [
        ("name", "reports:read"),
        ("description", "Read your team's reports"),
        ("holders", "everyone"),
        ("csrf_token", &csrf),
    ];
    assert_eq!(app.plain_form_post(CREATE, &form).await, "/admin/scopes?done=created");
    let page = app.page_html(SCOPES).await;
    assert!(page.contains("reports:read") && page.contains("Read your team's reports"), "{page}");
    assert!(discovered_scopes(&app).await.contains(&"reports:read".to_owned()));

    // The client editor offers it as a box to tick; ticking it allows it.
    let editor = app.page_html("/admin/clients?edit=gatehouse-cli").await;
    assert!(editor.contains(r#"name="scopes[]""#) && editor.contains(r#"value="reports:read""#), "{editor}");
    let edit = [
        ("client_id", CLI),
        ("name", "Gatehouse CLI"),
        ("scopes[]", "full"),
        ("scopes[]", "reports:read"),
        ("device_grant", "on"),
        ("refresh", "on"),
        ("csrf_token", &csrf),
    ];
    assert_eq!(app.browser_post(UPDATE_CLIENT, &edit).await.status(), 200);

    // A device asks for it; the person reads its words; the token carries it.
    let account = app.ada().await;
    let flow = app.start_flow(&[("scope", "reports:read")]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    let approval = app.page_html(&format!("/device?user_code={user_code}")).await;
    assert!(approval.contains("Read your team's reports"), "{approval}");
    app.approve(user_code, &account).await;
    let (status, token) = app.poll(flow["device_code"].as_str().expect("device code")).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["scope"], "reports:read");
    let access_token = token["access_token"].as_str().expect("token");
    let me: Value = app.me(access_token).await.json().await.expect("json");
    assert_eq!(me["scopes"], serde_json::json!(["reports:read"]));
    let secret = app.register_client("rs", ClientType::Confidential, &["full"], false).await.expect("secret");
    let introspected = app.introspect(&secret, access_token).await;
    assert_eq!(introspected["scope"], "reports:read");
    // Unknown scopes are still invalid_scope, at the start and at refresh.
    let unknown = app.post_form("/v1/oauth/device/code", &[("client_id", CLI), ("scope", "reports:write")]).await;
    expect_oauth_error(unknown, 400, "invalid_scope").await;
    let refresh_token = token["refresh_token"].as_str().expect("refresh token");
    let widened = app
        .post_form(
            "/v1/oauth/device/token",
            &[("grant_type", "refresh_token"), ("client_id", CLI), ("refresh_token", refresh_token), ("scope", "full")],
        )
        .await;
    expect_oauth_error(widened, 400, "invalid_scope").await;
    // The registry changes (this browser is Ada's now, so at the command
    // line): SSO people only. Ada's next refresh finds nothing she may
    // still hold.
    let holders = gatehouse_core::model::ScopeHolders::External;
    let admin = gatehouse_core::Admin::command_line();
    app.services.scopes.update(&admin, "reports:read", "Read your team's reports", holders).await.expect("update");
    let refreshed = app
        .post_form(
            "/v1/oauth/device/token",
            &[("grant_type", "refresh_token"), ("client_id", CLI), ("refresh_token", refresh_token)],
        )
        .await;
    let body = expect_oauth_error(refreshed, 400, "invalid_grant").await;
    assert_eq!(body["error_description"], "none of the grant's scopes may be held any more");
}

async fn built_in_scopes_stay_and_an_allowed_scope_cannot_be_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let csrf = app.as_admin(SCOPES).await;
    let create = [("name", "deploy"), ("description", "Deploy apps"), ("holders", "accounts"), ("csrf_token", &csrf)];
    assert_eq!(app.browser_post(CREATE, &create).await.status(), 200);
    app.register_client("ci", ClientType::Public, &["deploy"], true).await;

    // Who may hold `full` is fixed; its words are not.
    let widen = [("name", "full"), ("description", "Everything"), ("holders", "everyone"), ("csrf_token", &csrf)];
    assert_eq!(error_of(app.browser_post(UPDATE, &widen).await).await, (409, "scope_built_in".to_owned()));
    let reword =
        [("name", "full"), ("description", "Everything you can do"), ("holders", "accounts"), ("csrf_token", &csrf)];
    assert_eq!(app.browser_post(UPDATE, &reword).await.status(), 200);
    let delete_full = [("name", "full"), ("csrf_token", csrf.as_str())];
    assert_eq!(error_of(app.browser_post(DELETE, &delete_full).await).await, (409, "scope_built_in".to_owned()));

    // `deploy` is allowed to `ci`: the confirmation names the consequence,
    // and deleting is refused until no client allows it.
    let confirm = app.page_html("/admin/scopes?confirm=deploy").await;
    assert!(confirm.contains("Delete the scope deploy?"), "{confirm}");
    let delete = [("name", "deploy"), ("csrf_token", csrf.as_str())];
    assert_eq!(error_of(app.browser_post(DELETE, &delete).await).await, (409, "scope_in_use".to_owned()));
    let move_holders =
        [("name", "deploy"), ("description", "Deploy apps"), ("holders", "external"), ("csrf_token", &csrf)];
    assert_eq!(app.browser_post(UPDATE, &move_holders).await.status(), 200);
    let edit = [("client_id", "ci"), ("name", "CI"), ("scopes[]", "apps:run"), ("csrf_token", csrf.as_str())];
    assert_eq!(app.browser_post(UPDATE_CLIENT, &edit).await.status(), 200);
    assert_eq!(app.plain_form_post(DELETE, &delete).await, "/admin/scopes?done=deleted");
    assert!(!discovered_scopes(&app).await.contains(&"deploy".to_owned()));
    // A client can no longer be allowed it.
    let edit = [("client_id", "ci"), ("name", "CI"), ("scopes[]", "deploy"), ("csrf_token", csrf.as_str())];
    assert_eq!(error_of(app.browser_post(UPDATE_CLIENT, &edit).await).await, (400, "invalid_scope".to_owned()));

    let events = app.services.ports().audit.recent(100).await.expect("audit");
    for kind in [AuditKind::ScopeCreated, AuditKind::ScopeUpdated, AuditKind::ScopeDeleted] {
        let event = events.iter().find(|e| e.kind == kind).unwrap_or_else(|| panic!("{kind:?} audited"));
        assert_eq!(event.actor, Some(gatehouse_core::Actor::Admin { email: "root@example.com".into() }), "{kind:?}");
    }
    // Not for anyone else.
    app.create_account("mallory@example.com").await;
    assert_eq!(app.sign_in("mallory@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.browser.get(app.url(SCOPES)).send().await.expect("page").status(), 403);
}

async fn an_account_only_scope_is_never_in_an_external_token_and_the_reverse(backend: Backend) {
    // The registry's holders decide what a token of each kind carries.
    let app = spawn_app(backend).await;
    let admin = gatehouse_core::Admin::command_line();
    let scopes = &app.services.scopes;
    scopes
        .create(&admin, "sso:only", "Something for SSO people", gatehouse_core::model::ScopeHolders::External)
        .await
        .expect("create");
    app.register_client("tool", ClientType::Public, &["sso:only", "apps:run"], true).await;
    // An account approving a request for both gets only what accounts may hold.
    let account = app.ada().await;
    let flow = app.start_flow_as("tool", &[("scope", "sso:only apps:run")]).await;
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    let (status, token) = app.poll_as(flow["device_code"].as_str().expect("code"), "tool").await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["scope"], "apps:run");
}

async fn the_command_line_manages_the_registry(backend: Backend) {
    let app = spawn_app(backend).await;
    let run = |args: &[&str]| app.run_command(args);
    let out = run(&["scope", "create", "reports:read", "--description", "Read your reports", "--holders", "external"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = String::from_utf8_lossy(&run(&["scope", "list"]).stdout).into_owned();
    assert!(
        listed.contains("reports:read") && listed.contains("external") && listed.contains("Read your reports"),
        "{listed}"
    );
    let out = run(&["scope", "update", "reports:read", "--holders", "sideways"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--holders"));
    let out = run(&["scope", "update", "reports:read", "--holders", "everyone"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["scope", "delete", "apps:run"]);
    assert!(!out.status.success(), "built in");
    let out = run(&["scope", "delete", "reports:read"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = String::from_utf8_lossy(&run(&["scope", "list"]).stdout).into_owned();
    assert!(!listed.contains("reports:read"), "{listed}");
}

on_every_backend!(
    an_operator_defined_scope_reaches_the_approval_page_and_the_token,
    built_in_scopes_stay_and_an_allowed_scope_cannot_be_deleted,
    an_account_only_scope_is_never_in_an_external_token_and_the_reverse,
    the_command_line_manages_the_registry,
);
