//! The admin REST API (`/v1/admin/…`) on both backend pairs: who may hold
//! the `admin` scope and how (device flow approved by an admin, a
//! confidential client's `client_credentials`), that losing admin rights
//! ends what such a token may do at its next call, and that every route does
//! what its admin page does, with the REST surface's errors and an audit
//! trail naming the caller.

use crate::helpers::{Backend, PASSWORD, TestApp, expect_oauth_error, spawn_app};
use crate::on_every_backend;
use gatehouse_core::Actor;
use gatehouse_core::model::ClientType;
use gatehouse_core::ports::{AccountChange, AuditEvent, AuditKind};
use gatehouse_core::rate_limit::Visitor;
use gatehouse_core::services::device_flow::{DecideError, DecisionKind};
use serde_json::{Value, json};

const CLIENTS: &str = "/v1/admin/clients";

/// Stored events of `kind`, newest first.
async fn events(app: &TestApp, kind: AuditKind) -> Vec<AuditEvent> {
    let all = app.services.ports().audit.recent(500).await.expect("read audit log");
    all.into_iter().filter(|e| e.kind == kind).collect()
}

/// A device-flow token for `scope`, approved by `approver`.
async fn approved_token(app: &TestApp, scope: &str, approver: &gatehouse_core::model::Account) -> Value {
    let flow = app.start_flow(&[("scope", scope), ("device_label", "admin laptop")]).await;
    app.approve(flow["user_code"].as_str().expect("code"), approver).await;
    let (status, token) = app.poll(flow["device_code"].as_str().expect("code")).await;
    assert_eq!(status, 200, "{token}");
    token
}

/// An admin's device-flow token holding `admin`.
async fn admin_token(app: &TestApp) -> String {
    let root = app.create_admin("root@example.com").await;
    let token = approved_token(app, "full admin", &root).await;
    assert_eq!(token["scope"], "full admin");
    token["access_token"].as_str().expect("token").to_owned()
}

async fn call(app: &TestApp, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.device.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = response.text().await.expect("body");
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("json") })
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, reqwest::Method::GET, path, token, None).await
}

/// `grant_type=client_credentials` with HTTP Basic client authentication.
async fn client_token(app: &TestApp, client_id: &str, secret: &str, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    app.device
        .post(app.url("/v1/oauth/device/token"))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .expect("request")
}

async fn only_admins_can_hold_the_admin_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.ada().await;

    // Ada is no admin: she cannot approve a request for `admin`, even her
    // own, and the request stays pending for an admin to refuse or approve.
    let flow = app.start_flow(&[("scope", "admin")]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    let refused = app
        .services
        .device_flows
        .decide_as_account(user_code, &ada, DecisionKind::Approve, &Visitor::from_ip(Some("127.0.0.1".into())))
        .await;
    assert!(matches!(refused, Err(DecideError::AdminRequired)), "{refused:?}");
    let (status, pending) = app.poll(flow["device_code"].as_str().expect("code")).await;
    assert_eq!((status, pending["error"].as_str()), (400, Some("authorization_pending")));
    // Denying is always allowed.
    app.services
        .device_flows
        .decide_as_account(user_code, &ada, DecisionKind::Deny, &Visitor::from_ip(None))
        .await
        .expect("deny");

    // A request naming no scope never asks for `admin`.
    assert_eq!(app.redeemed(&[]).await["scope"], "full");

    // `full` is everything Ada can do, which is not administering.
    let full = approved_token(&app, "full", &ada).await["access_token"].as_str().expect("token").to_owned();
    let (status, body) = get(&app, CLIENTS, &full).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")), "{body}");
    // No token at all: RFC 6750 §3.1.
    let response = app.device.get(app.url(CLIENTS)).send().await.expect("request");
    assert_eq!(response.status(), 401);

    // An admin's approval of a request for `admin` gives a token that works.
    let token = admin_token(&app).await;
    let (status, body) = get(&app, CLIENTS, &token).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["clients"].as_array().expect("clients").iter().any(|c| c["client_id"] == "gatehouse-cli"));

    // Admin rights taken away: the same token is refused at its next call.
    let root = app.services.ports().accounts.find_by_email("root@example.com").await.expect("find").expect("root").0;
    app.create_admin("second@example.com").await;
    app.services
        .accounts
        .change(&gatehouse_core::Admin::command_line(), root.id, AccountChange::RemoveAdmin, None)
        .await
        .expect("remove admin");
    let (status, body) = get(&app, CLIENTS, &token).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")), "{body}");
    assert!(body["error_description"].as_str().expect("words").contains("no longer"), "{body}");
}

async fn the_admin_api_does_what_the_admin_pages_do(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = admin_token(&app).await;
    let admin = Some(Actor::Admin { email: "root@example.com".into() });

    // Clients: register (the secret in this answer only), read, change,
    // rotate the secret, disable and enable.
    let new = json!({ "client_id": "terraform", "client_type": "confidential", "name": "Terraform",
                      "allowed_scopes": ["admin"], "device_grant": false });
    let (status, made) = call(&app, reqwest::Method::POST, CLIENTS, &token, Some(new.clone())).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["client"]["client_type"], "confidential");
    assert_eq!(made["client"]["dpop"], "allowed");
    let first_secret = made["client_secret"].as_str().expect("secret").to_owned();
    let (status, body) = call(&app, reqwest::Method::POST, CLIENTS, &token, Some(new)).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("already_exists")));
    let (status, body) = get(&app, "/v1/admin/clients/terraform", &token).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Terraform")));
    assert!(body.get("client_secret").is_none());
    let (status, body) = get(&app, "/v1/admin/clients/nobody", &token).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let change = json!({ "name": "Terraform Cloud", "allowed_scopes": ["admin"], "device_grant": false,
                         "access_token_ttl": 600 });
    let (status, body) = call(&app, reqwest::Method::PUT, "/v1/admin/clients/terraform", &token, Some(change)).await;
    assert_eq!((status, body["access_token_ttl"].as_u64()), (200, Some(600)), "{body}");
    let bad = json!({ "name": "Terraform", "allowed_scopes": ["no-such-scope"] });
    let (status, body) = call(&app, reqwest::Method::PUT, "/v1/admin/clients/terraform", &token, Some(bad)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, rotated) = call(&app, reqwest::Method::POST, "/v1/admin/clients/terraform/secret", &token, None).await;
    assert_eq!(status, 200);
    let secret = rotated["client_secret"].as_str().expect("secret");
    assert_ne!(secret, first_secret);
    expect_oauth_error(client_token(&app, "terraform", &first_secret, None).await, 401, "invalid_client").await;
    assert_eq!(client_token(&app, "terraform", secret, None).await.status(), 200);
    let (status, body) = call(&app, reqwest::Method::POST, "/v1/admin/clients/terraform/disable", &token, None).await;
    assert_eq!((status, body["disabled"].as_bool()), (200, Some(true)));
    let (status, body) = call(&app, reqwest::Method::POST, "/v1/admin/clients/terraform/enable", &token, None).await;
    assert_eq!((status, body["disabled"].as_bool()), (200, Some(false)));
    let created = events(&app, AuditKind::ClientCreated).await;
    assert_eq!(created[0].actor, admin, "a change is audited with the admin who made it");

    // Accounts: create, find, make admin, disable (which ends their grants).
    let new = json!({ "email": "grace@example.com", "name": "Grace Hopper", "password": PASSWORD });
    let (status, grace) = call(&app, reqwest::Method::POST, "/v1/admin/accounts", &token, Some(new)).await;
    assert_eq!((status, grace["is_admin"].as_bool()), (201, Some(false)), "{grace}");
    let weak = json!({ "email": "weak@example.com", "name": "Weak", "password": "short" });
    let (status, body) = call(&app, reqwest::Method::POST, "/v1/admin/accounts", &token, Some(weak)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let (status, page) = get(&app, "/v1/admin/accounts?q=hopper", &token).await;
    assert_eq!(status, 200);
    assert_eq!(page["accounts"].as_array().expect("accounts").len(), 1);
    let grace_path = format!("/v1/admin/accounts/{}", grace["id"].as_str().expect("id"));
    let (status, body) =
        call(&app, reqwest::Method::PATCH, &grace_path, &token, Some(json!({ "is_admin": true }))).await;
    assert_eq!((status, body["is_admin"].as_bool()), (200, Some(true)));
    let grace_account =
        app.services.ports().accounts.find_by_email("grace@example.com").await.expect("find").expect("grace").0;
    let graces = approved_token(&app, "full", &grace_account).await["access_token"].as_str().expect("t").to_owned();
    assert_eq!(app.me(&graces).await.status(), 200);
    let (status, body) =
        call(&app, reqwest::Method::PATCH, &grace_path, &token, Some(json!({ "is_admin": false, "disabled": true })))
            .await;
    assert_eq!((status, body["disabled"].as_bool(), body["is_admin"].as_bool()), (200, Some(true), Some(false)));
    assert_eq!(app.me(&graces).await.status(), 401, "disabling ended her grants at once");

    // Authorizations: filter, read one, revoke one, revoke all of a client.
    let ada = app.ada().await;
    let adas = approved_token(&app, "full", &ada).await;
    let (status, page) = get(&app, "/v1/admin/authorizations?email=ADA@example.com", &token).await;
    assert_eq!(status, 200, "{page}");
    let listed = page["authorizations"].as_array().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["token_id"], adas["token_id"]);
    assert_eq!(listed[0]["subject"], json!({ "issuer": "local", "id": ada.id.to_string() }));
    assert_eq!(listed[0]["device_label"], "admin laptop");
    let (status, body) = get(&app, "/v1/admin/authorizations?after=garbage", &token).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let one = format!("/v1/admin/authorizations/{}", adas["token_id"].as_str().expect("id"));
    assert_eq!(get(&app, &one, &token).await.0, 200);
    assert_eq!(call(&app, reqwest::Method::DELETE, &one, &token, None).await.0, 204);
    assert_eq!(app.me(adas["access_token"].as_str().expect("token")).await.status(), 401);
    let (status, body) = call(&app, reqwest::Method::DELETE, &one, &token, None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let adas = approved_token(&app, "full", &ada).await;
    let which = json!({ "subject": { "issuer": "local", "id": ada.id.to_string() } });
    let (status, body) =
        call(&app, reqwest::Method::POST, "/v1/admin/authorizations/revoke", &token, Some(which)).await;
    assert_eq!((status, body["revoked"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(app.me(adas["access_token"].as_str().expect("token")).await.status(), 401);
    let (status, body) =
        call(&app, reqwest::Method::POST, "/v1/admin/authorizations/revoke", &token, Some(json!({ "nothing": 1 })))
            .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    // Three grants are revoked by now (Grace's, Ada's two): paged one by one.
    let (status, page) = get(&app, "/v1/admin/authorizations?status=revoked&limit=1", &token).await;
    assert_eq!(status, 200);
    assert_eq!(page["authorizations"].as_array().expect("list").len(), 1);
    let cursor = page["next_cursor"].as_str().expect("a second revoked grant follows");
    let (status, next) = get(&app, &format!("/v1/admin/authorizations?status=revoked&after={cursor}"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(next["authorizations"].as_array().expect("list").len(), 2);
    assert_ne!(next["authorizations"][0]["token_id"], page["authorizations"][0]["token_id"]);

    // Scopes: add, reword, delete.
    let new = json!({ "name": "reports:read", "description": "Read reports", "holders": "everyone" });
    assert_eq!(call(&app, reqwest::Method::POST, "/v1/admin/scopes", &token, Some(new)).await.0, 201);
    let words = json!({ "description": "Read every report", "holders": "accounts" });
    let (status, body) = call(&app, reqwest::Method::PUT, "/v1/admin/scopes/reports:read", &token, Some(words)).await;
    assert_eq!((status, body["holders"].as_str()), (200, Some("accounts")));
    assert_eq!(call(&app, reqwest::Method::DELETE, "/v1/admin/scopes/reports:read", &token, None).await.0, 204);
    let (status, body) = call(&app, reqwest::Method::DELETE, "/v1/admin/scopes/full", &token, None).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("built_in")));

    // The audit log, filtered and paged; reads are audited too.
    let (status, page) = get(&app, "/v1/admin/audit?kind=client.created&actor=root@example.com", &token).await;
    assert_eq!(status, 200, "{page}");
    let found = page["events"].as_array().expect("events");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["client_id"], "terraform");
    assert_eq!(found[0]["actor"], json!({ "kind": "admin", "name": "root@example.com" }));
    let (status, page) = get(&app, "/v1/admin/audit?limit=2", &token).await;
    assert_eq!(status, 200);
    let before = page["next_cursor"].as_str().expect("more events");
    let (_, older) = get(&app, &format!("/v1/admin/audit?limit=2&before={before}"), &token).await;
    assert!(older["events"][0]["id"].as_i64() < page["events"][1]["id"].as_i64());
    let (status, body) = get(&app, "/v1/admin/audit?kind=no.such", &token).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let reads = events(&app, AuditKind::AdminApiRead).await;
    assert!(reads.iter().any(|e| e.details["call"] == "GET /v1/admin/audit" && e.actor == admin));

    // A body that is not the right JSON is the REST surface's invalid_request.
    let response = app
        .device
        .post(app.url(CLIENTS))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"client_id\": 7}")
        .send()
        .await
        .expect("request");
    expect_oauth_error(response, 400, "invalid_request").await;
}

async fn automation_uses_client_credentials(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.register_client("offboarding", ClientType::Confidential, &["admin"], false).await.expect("s");

    let response = client_token(&app, "offboarding", &secret, None).await;
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.expect("json");
    let access = token["access_token"].as_str().expect("token").to_owned();
    assert!(access.starts_with("gthc_"), "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "admin");
    assert_eq!(token["subject_type"], "client");
    assert!(token.get("refresh_token").is_none_or(Value::is_null), "{token}");
    assert!(token["expires_in"].as_u64().expect("expires_in") <= 3600);

    // Each token is its own grant: a second run does not end the first's.
    let second = client_token(&app, "offboarding", &secret, Some("admin")).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.expect("json");
    assert_ne!(second["token_id"], token["token_id"]);

    // It revokes someone's device, and the audit log names the client.
    let ada = app.ada().await;
    let adas = approved_token(&app, "full", &ada).await;
    let which = json!({ "email": "ada@example.com" });
    let (status, body) =
        call(&app, reqwest::Method::POST, "/v1/admin/authorizations/revoke", &access, Some(which)).await;
    assert_eq!((status, body["revoked"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(app.me(adas["access_token"].as_str().expect("token")).await.status(), 401);
    let revoked = events(&app, AuditKind::TokenRevoked).await;
    assert_eq!(revoked[0].actor, Some(Actor::Client { client_id: "offboarding".into() }));
    let issued = events(&app, AuditKind::ClientTokenIssued).await;
    assert_eq!(issued.len(), 2);

    // Refusals: a public client, a wrong secret, a scope it was not allowed,
    // a client not allowed `admin`, a scope a client's token cannot carry.
    let response = app
        .device
        .post(app.url("/v1/oauth/device/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "gatehouse-cli")])
        .send()
        .await
        .expect("request");
    expect_oauth_error(response, 400, "unauthorized_client").await;
    expect_oauth_error(client_token(&app, "offboarding", "wrong", None).await, 401, "invalid_client").await;
    expect_oauth_error(client_token(&app, "offboarding", &secret, Some("full")).await, 400, "invalid_scope").await;
    let reader = app.register_client("reader", ClientType::Confidential, &["apps:run"], false).await.expect("s");
    expect_oauth_error(client_token(&app, "reader", &reader, None).await, 400, "invalid_scope").await;

    // `admin` taken from the client: its tokens are refused at their next call.
    let admin = gatehouse_core::Admin::command_line();
    let edit = gatehouse_core::ports::ClientEdit {
        name: "Off-boarding".into(),
        allowed_scopes: vec!["apps:run".into()],
        device_grant_enabled: false,
        policy: Default::default(),
        approval: Default::default(),
    };
    app.services.clients.update(&admin, "offboarding", edit).await.expect("update");
    let (status, body) = get(&app, CLIENTS, &access).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")), "{body}");
    expect_oauth_error(client_token(&app, "offboarding", &secret, None).await, 400, "invalid_scope").await;

    // Rotating the secret (it may have leaked) ends the tokens it got too.
    let rotator = app.register_client("rotator", ClientType::Confidential, &["admin"], false).await.expect("s");
    let rotators: Value = client_token(&app, "rotator", &rotator, None).await.json().await.expect("json");
    let rotators = rotators["access_token"].as_str().expect("token").to_owned();
    assert_eq!(app.me(&rotators).await.status(), 200);
    app.services.clients.rotate_secret(&admin, "rotator").await.expect("rotate");
    assert_eq!(app.me(&rotators).await.status(), 401);
    let revoked = events(&app, AuditKind::TokenRevoked).await;
    assert_eq!(revoked[0].details["by"], "client_secret_rotated", "{:?}", revoked[0]);
    assert_eq!(app.me(&access).await.status(), 200, "another client's tokens stay");

    // Discovery names the grant.
    let metadata = app.metadata().await;
    assert!(metadata["grant_types_supported"].as_array().expect("grants").contains(&json!("client_credentials")));
    assert!(metadata["scopes_supported"].as_array().expect("scopes").contains(&json!("admin")));
}

async fn the_openapi_document_lists_every_admin_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.device.get(app.url("/v1/openapi.json")).send().await.expect("request");
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/v1/admin/clients", "post"),
        ("/v1/admin/clients/{client_id}", "put"),
        ("/v1/admin/clients/{client_id}/secret", "post"),
        ("/v1/admin/accounts/{account_id}", "patch"),
        ("/v1/admin/accounts/{account_id}/passkeys", "delete"),
        ("/v1/admin/authorizations", "get"),
        ("/v1/admin/authorizations/revoke", "post"),
        ("/v1/admin/authorizations/{token_id}", "delete"),
        ("/v1/admin/audit", "get"),
        ("/v1/admin/scopes/{name}", "delete"),
    ] {
        let operation = &paths[path][method];
        assert!(operation.is_object(), "{method} {path} is documented");
        assert_eq!(operation["security"], json!([{ "admin_token": [] }]), "{method} {path}");
    }
    // Every documented route exists: without a token each answers 401, not 404.
    for (path, methods) in paths {
        let concrete = path.replace("{client_id}", "x").replace("{account_id}", "x").replace("{token_id}", "x");
        let concrete = concrete.replace("{name}", "x");
        for method in methods.as_object().expect("methods").keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let status = app.device.request(method.clone(), app.url(&concrete)).send().await.expect("r").status();
            assert_eq!(status, 401, "{method} {concrete}");
        }
    }
}

async fn the_command_line_goes_through_the_api_with_server(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = admin_token(&app).await;
    let server = app.url("");
    let server = server.trim_end_matches('/');
    // The sign-in `gatehouse login --server … --scope admin` saves.
    let dir = tempfile::tempdir().expect("dir");
    let credentials = dir.path().join("credentials.json");
    let saved = json!({ server: {
        "access_token": token,
        "token_id": uuid::Uuid::new_v4(),
        "expires_at": "2999-01-01T00:00:00Z",
        "subject": "root@example.com",
    }});
    std::fs::write(&credentials, saved.to_string()).expect("write credentials");
    // No database: only the server is reachable.
    let run = |args: &[&str], token: Option<&str>| {
        let mut command = crate::helpers::gatehouse_command();
        command.args(args).arg("--server").arg(server).env("GATEHOUSE_CREDENTIALS_FILE", &credentials);
        if let Some(token) = token {
            command.env("GATEHOUSE_ADMIN_TOKEN", token);
        }
        let out = command.output().expect("run gatehouse");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (ok, listed, err) = run(&["client", "list"], None);
    assert!(ok && listed.contains("gatehouse-cli"), "{listed}{err}");
    let (ok, out, err) =
        run(&["client", "create", "--id", "ci", "--name", "CI", "--confidential", "--scopes", "admin"], None);
    assert!(ok && out.contains("client secret (shown once"), "{out}{err}");
    let created = events(&app, AuditKind::ClientCreated).await;
    assert_eq!(
        created[0].actor,
        Some(Actor::Admin { email: "root@example.com".into() }),
        "the admin, not the command line"
    );
    let (ok, out, err) = run(&["scope", "create", "reports/read", "--description", "Read your reports"], None);
    assert!(ok && out.contains("created scope reports/read"), "{out}{err}");
    let (ok, out, err) = run(&["scope", "update", "reports/read", "--holders", "accounts"], None);
    assert!(ok && out.contains("held by accounts"), "{out}{err}");
    app.ada().await;
    let (ok, out, err) = run(&["user", "disable", "--email", "ADA@example.com"], None);
    assert!(ok && out.contains("is disabled"), "{out}{err}");
    assert!(app.ada().await.disabled);
    let (ok, _, err) = run(&["user", "disable", "--email", "nobody@example.com"], None);
    assert!(!ok && err.contains("no account with the email"), "{err}");

    // Automation's own token, from the environment.
    let (ok, out, _) = run(&["client", "rotate-secret", "--id", "ci"], None);
    assert!(ok);
    let secret = out.rsplit(' ').next().expect("secret").trim().to_owned();
    let own: Value = client_token(&app, "ci", &secret, Some("admin")).await.json().await.expect("json");
    let (ok, out, err) = run(&["client", "disable", "--id", "ci"], own["access_token"].as_str());
    assert!(ok && out.contains("disabled client ci"), "{out}{err}");

    // Without admin rights: refused in the API's words, with what to do.
    let ada = app.create_account("grace@example.com").await;
    let full = approved_token(&app, "full", &ada).await;
    let (ok, _, err) = run(&["client", "list"], full["access_token"].as_str());
    assert!(!ok && err.contains("--scope admin"), "{err}");
}

on_every_backend!(
    the_command_line_goes_through_the_api_with_server,
    only_admins_can_hold_the_admin_scope,
    the_admin_api_does_what_the_admin_pages_do,
    automation_uses_client_credentials,
    the_openapi_document_lists_every_admin_route,
);
