//! `/admin/clients` over HTTP on both backend pairs, and the command line's
//! equivalents: register (the secret shown once), edit, disable and enable,
//! rotate a secret (the old one stops at once).

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app};
use crate::on_every_backend;
use gatehouse_core::Actor;
use gatehouse_core::ports::AuditKind;
use serde_json::Value;

const CLIENTS: &str = "/admin/clients";
const REGISTER: &str = "/console/api/admin/clients/register";
const UPDATE: &str = "/console/api/admin/clients/update";
const ACTION: &str = "/console/api/admin/clients/action";

async fn introspect_status(app: &TestApp, client_id: &str, secret: &str) -> u16 {
    let response = app
        .device
        .post(app.url("/v1/oauth/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", "gtha_nonsense")])
        .send()
        .await
        .expect("request");
    response.status().as_u16()
}

/// The secret in a page's one-time secret panel.
fn shown_secret(html: &str) -> Option<String> {
    let start = html.find("<code class=\"secret\">")? + "<code class=\"secret\">".len();
    Some(html[start..start + html[start..].find('<')?].to_owned())
}

async fn an_admin_registers_a_confidential_client_and_sees_its_secret_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let csrf = app.as_admin(CLIENTS).await;
    for (id, scopes, status, error) in [
        ("bad id!", &["full"][..], 400, "invalid_client_id"),
        ("rs", &["full", "teleport"], 400, "invalid_scope"),
        ("rs", &[], 400, "invalid_scope"),
        ("gatehouse-cli", &["full"], 409, "client_id_taken"),
    ] {
        let mut form = vec![("client_id", id), ("name", "RS"), ("client_type", "confidential"), ("csrf_token", &csrf)];
        // The client editor's checkboxes.
        form.extend(scopes.iter().map(|scope| ("scopes[]", *scope)));
        let response = app.browser_post(REGISTER, &form).await;
        assert_eq!(response.status(), status, "{id} {scopes:?}");
        assert_eq!(response.json::<Value>().await.expect("json")["error"], error);
    }
    let form = [
        ("client_id", "resource-server"),
        ("name", "Resource server"),
        ("client_type", "confidential"),
        ("scopes[]", "full"),
        ("csrf_token", &csrf),
    ];
    assert_eq!(app.plain_form_post(REGISTER, &form).await, "/admin/clients?done=registered");
    let first = app.page_html("/admin/clients?done=registered").await;
    let secret = shown_secret(&first).expect("the secret is shown");
    assert!(first.contains("shown only this once") && first.contains("Resource server (resource-server)"));
    let again = app.page_html(CLIENTS).await;
    assert_eq!(shown_secret(&again), None, "never shown twice");
    assert_eq!(introspect_status(&app, "resource-server", &secret).await, 200);
    let rows = app.services.ports().clients.find("resource-server").await.expect("find").expect("client");
    assert_ne!(rows.secret_hash.as_deref(), Some(secret.as_str()), "only the hash is stored");

    // A new secret: the old one stops at once, the new one works.
    let confirm = app.page_html("/admin/clients?confirm=rotate%3Aresource-server").await;
    assert!(confirm.contains("The current secret stops working at once"), "{confirm}");
    let form = [("client_id", "resource-server"), ("action", "rotate_secret"), ("csrf_token", csrf.as_str())];
    assert_eq!(app.plain_form_post(ACTION, &form).await, "/admin/clients?done=rotated");
    let rotated = shown_secret(&app.page_html("/admin/clients?done=rotated").await).expect("new secret shown");
    assert_eq!(introspect_status(&app, "resource-server", &secret).await, 401);
    assert_eq!(introspect_status(&app, "resource-server", &rotated).await, 200);
    // A public client has no secret to rotate.
    let form = [("client_id", "gatehouse-cli"), ("action", "rotate_secret"), ("csrf_token", csrf.as_str())];
    assert_eq!(app.browser_post(ACTION, &form).await.status(), 400);

    let events = app.services.ports().audit.recent(50).await.expect("audit");
    for kind in [AuditKind::ClientCreated, AuditKind::ClientSecretRotated] {
        let event = events.iter().find(|e| e.kind == kind).unwrap_or_else(|| panic!("{kind:?}"));
        assert_eq!(event.actor, Some(Actor::Admin { email: "root@example.com".into() }));
        assert_eq!(event.ip.as_deref(), Some("127.0.0.1"), "{kind:?}: where the admin acted from");
    }
    assert!(!format!("{events:?}").contains(&secret) && !format!("{events:?}").contains(&rotated));
}

async fn an_admin_edits_disables_and_enables_a_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let csrf = app.as_admin(CLIENTS).await;
    let edit = [
        ("client_id", "gatehouse-cli"),
        ("name", "Company CLI"),
        ("scopes[]", "apps:run"),
        ("csrf_token", csrf.as_str()),
    ];
    // No `device_grant`: the unticked checkbox turns device sign-in off.
    assert_eq!(app.browser_post(UPDATE, &edit).await.status(), 200);
    let refused = app.post_form("/v1/oauth/device/code", &[("client_id", "gatehouse-cli")]).await;
    crate::helpers::expect_oauth_error(refused, 400, "unauthorized_client").await;
    let edit = [
        ("client_id", "gatehouse-cli"),
        ("name", "Company CLI"),
        ("scopes[]", "apps:run"),
        ("device_grant", "on"),
        ("csrf_token", csrf.as_str()),
    ];
    assert_eq!(app.browser_post(UPDATE, &edit).await.status(), 200);
    let flow = app.start_flow(&[]).await;
    assert_eq!(flow["user_code"].as_str().map(str::len), Some(9));
    let listed = app.page_html(CLIENTS).await;
    assert!(listed.contains("Company CLI (gatehouse-cli)") && listed.contains("scopes: apps:run"), "{listed}");
    let unknown = [("client_id", "nobody"), ("name", "X"), ("scopes[]", "full"), ("csrf_token", csrf.as_str())];
    assert_eq!(app.browser_post(UPDATE, &unknown).await.status(), 404);

    let disable = [("client_id", "gatehouse-cli"), ("action", "disable"), ("csrf_token", csrf.as_str())];
    assert_eq!(app.browser_post(ACTION, &disable).await.status(), 200);
    let refused = app.post_form("/v1/oauth/device/code", &[("client_id", "gatehouse-cli")]).await;
    crate::helpers::expect_oauth_error(refused, 401, "invalid_client").await;
    assert_eq!(app.browser_post(ACTION, &disable).await.status(), 404, "already disabled");
    let enable = [("client_id", "gatehouse-cli"), ("action", "enable"), ("csrf_token", csrf.as_str())];
    assert_eq!(app.browser_post(ACTION, &enable).await.status(), 200);
    app.start_flow(&[]).await;

    let kinds: Vec<AuditKind> =
        app.services.ports().audit.recent(50).await.expect("audit").iter().map(|e| e.kind).collect();
    for kind in [AuditKind::ClientUpdated, AuditKind::ClientDisabled, AuditKind::ClientEnabled] {
        assert!(kinds.contains(&kind), "{kind:?}");
    }
}

async fn an_admin_sets_a_clients_token_settings(backend: Backend) {
    let app = spawn_app(backend).await;
    let csrf = app.as_admin(CLIENTS).await;
    let settings = |access: &'static str, interval: &'static str, dpop: &'static str| {
        [
            ("dpop", dpop),
            ("client_id", "gatehouse-cli"),
            ("name", "Gatehouse CLI"),
            ("scopes[]", "full"),
            ("device_grant", "on"),
            ("refresh", "on"),
            ("access_token_ttl", access),
            ("grant_ttl", ""),
            ("grant_idle_ttl", "86400"),
            ("poll_interval", interval),
        ]
    };
    let with_csrf = |form: [(&'static str, &'static str); 10]| {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.push(("csrf_token", csrf.as_str()));
        form
    };
    assert_eq!(app.browser_post(UPDATE, &with_csrf(settings("600", "10", "off"))).await.status(), 200);
    let editor = app.page_html(&format!("{CLIENTS}?edit=gatehouse-cli")).await;
    assert!(
        editor.contains(r#"name="access_token_ttl" type="number" min="1" inputmode="numeric" value="600""#),
        "{editor}"
    );
    assert!(editor.contains("refresh tokens issued"), "{editor}");
    assert!(editor.contains("DPoP off"), "{editor}");
    assert!(editor.contains(r#"<option value="off" selected"#), "{editor}");
    let flow = app.start_flow(&[]).await;
    assert_eq!(flow["interval"], 10, "the client's own polling interval");
    let account = app.ada().await;
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    let (status, token) = app.poll(flow["device_code"].as_str().expect("code")).await;
    assert_eq!((status, token["expires_in"].as_u64()), (200, Some(600)), "{token}");
    assert_eq!(token["token_type"], "Bearer", "DPoP off: bearer tokens");

    // Out of bounds or not a number: refused, nothing changed.
    for (access, interval, dpop) in [
        ("5", "10", "off"),
        ("abc", "10", "off"),
        ("600", "0", "off"),
        ("600", "61", "off"),
        ("600", "10", "sometimes"),
    ] {
        let response = app.browser_post(UPDATE, &with_csrf(settings(access, interval, dpop))).await;
        assert_eq!(response.status(), 400, "{access} {interval} {dpop}");
    }
    assert_eq!(app.start_flow(&[]).await["interval"], 10);
}

async fn a_non_admin_cannot_touch_clients(backend: Backend) {
    let app = spawn_app(backend).await;
    app.ada().await;
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.browser.get(app.url(CLIENTS)).send().await.expect("page").status(), 403);
    let csrf = app.csrf_of("/settings/authorized-apps").await;
    let disable = [("client_id", "gatehouse-cli"), ("action", "disable"), ("csrf_token", csrf.as_str())];
    assert_eq!(app.browser_post(ACTION, &disable).await.status(), 403);
    let form = [
        ("client_id", "mine"),
        ("name", "Mine"),
        ("client_type", "public"),
        ("scopes[]", "full"),
        ("csrf_token", &csrf),
    ];
    assert_eq!(app.browser_post(REGISTER, &form).await.status(), 403);
    app.start_flow(&[]).await;
}

async fn the_command_line_edits_rotates_and_enables_clients(backend: Backend) {
    let app = spawn_app(backend).await;
    let run = |args: &[&str]| app.run_command(args);
    let out = run(&["client", "create", "--id", "rs", "--name", "RS", "--confidential", "--no-device-grant"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let secret = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stdout).rsplit(' ').next().unwrap_or_default().trim().to_owned()
    };
    let first = secret(&out);
    assert_eq!(introspect_status(&app, "rs", &first).await, 200);
    let out = run(&["client", "rotate-secret", "--id", "rs"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let second = secret(&out);
    assert_eq!(introspect_status(&app, "rs", &first).await, 401);
    assert_eq!(introspect_status(&app, "rs", &second).await, 200);
    let out = run(&["client", "update", "--id", "rs", "--name", "Resource server", "--scopes", "apps:run"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("name \"Resource server\", scopes \"apps:run\""));
    let out = run(&[
        "client",
        "update",
        "--id",
        "rs",
        "--refresh",
        "true",
        "--access-token-ttl",
        "900",
        "--poll-interval",
        "7",
        "--dpop",
        "required",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "refresh tokens on, access token 900s, grant default, idle default, polling interval 7s, DPoP required"
        ),
        "{text}"
    );
    let out = run(&["client", "update", "--id", "rs", "--dpop", "sometimes"]);
    assert!(!out.status.success(), "not a DPoP mode");
    let out = run(&["client", "update", "--id", "rs", "--access-token-ttl", "default"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("refresh tokens on, access token default"));
    let out = run(&["client", "update", "--id", "rs", "--grant-ttl", "soon"]);
    assert!(!out.status.success(), "not a number of seconds");
    let out = run(&["client", "update", "--id", "rs", "--scopes", "teleport"]);
    assert!(!out.status.success(), "unknown scopes are refused");
    assert!(run(&["client", "disable", "--id", "rs"]).status.success());
    assert!(run(&["client", "enable", "--id", "rs"]).status.success());
    assert!(!run(&["client", "enable", "--id", "rs"]).status.success(), "already enabled");
}

on_every_backend!(
    an_admin_registers_a_confidential_client_and_sees_its_secret_once,
    an_admin_edits_disables_and_enables_a_client,
    an_admin_sets_a_clients_token_settings,
    a_non_admin_cannot_touch_clients,
    the_command_line_edits_rotates_and_enables_clients,
);
