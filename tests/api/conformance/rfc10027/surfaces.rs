//! Setting a policy: the admin API (a field left out keeps its value), the
//! command line, the editor with JavaScript off, and the audit of a change.

use super::app;
use crate::helpers::{Backend, CLI, TestApp};
use crate::on_every_backend;
use gatehouse_core::ports::AuditKind;
use serde_json::{Value, json};

on_every_backend!(
    the_admin_api_changes_only_the_fields_a_request_names,
    the_command_line_sets_each_control_and_says_the_policy_in_words,
    the_editor_sets_the_policy_with_javascript_off_and_refuses_nonsense,
);

/// An admin token for the admin API, through the client-credentials grant.
async fn admin_token(app: &TestApp) -> String {
    let secret = app
        .register_client("ops", gatehouse_core::model::ClientType::Confidential, &["admin"], false)
        .await
        .expect("secret");
    let response = app
        .device
        .post(app.url("/v1/oauth/device/token"))
        .basic_auth("ops", Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .send()
        .await
        .expect("token");
    let body: Value = response.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

async fn put_client(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .device
        .put(app.url(&format!("/v1/admin/clients/{CLI}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("put");
    (response.status().as_u16(), response.json().await.expect("json"))
}

async fn the_admin_api_changes_only_the_fields_a_request_names(backend: Backend) {
    let app = app(backend).await;
    let token = admin_token(&app).await;
    let base = json!({ "name": "Gatehouse CLI", "allowed_scopes": ["full", "admin"], "refresh": true });
    let mut first = base.clone();
    first["approver_network"] = json!("listed");
    first["approver_networks"] = json!(["192.0.2.0/24", "2001:db8::1/32"]);
    first["max_code_age_secs"] = json!(120);
    first["device_confirmation"] = json!("required");
    let (status, client) = put_client(&app, &token, first).await;
    assert_eq!(status, 200, "{client}");
    assert_eq!(client["approver_networks"], json!(["192.0.2.0/24", "2001:db8::/32"]));
    assert_eq!(client["one_person_per_code"], true, "on unless turned off");
    // A request naming only the approvers keeps everything else.
    let mut second = base.clone();
    second["approvers"] = json!("group:eng,group:ops");
    let (_, client) = put_client(&app, &token, second).await;
    assert_eq!(
        (&client["approver_network"], &client["max_code_age_secs"], &client["device_confirmation"]),
        (&json!("listed"), &json!(120), &json!("required")),
        "{client}"
    );
    assert_eq!(client["approvers"], "group:eng,group:ops");
    // `null` gives a lifetime back to its default.
    let mut third = base.clone();
    third["max_code_age_secs"] = Value::Null;
    assert_eq!(put_client(&app, &token, third).await.1["max_code_age_secs"], Value::Null);
    for (field, bad) in [
        ("approver_networks", json!(["office"])),
        ("approvers", json!("everybody")),
        ("code_lifetime_secs", json!(30)),
        ("approver_network", json!("nearby")),
    ] {
        let mut body = base.clone();
        body[field] = bad;
        let (status, answer) = put_client(&app, &token, body).await;
        assert_eq!((status, answer["error"].as_str()), (400, Some("invalid_request")), "{field}: {answer}");
    }
    // Audited with every setting, naming what changed.
    let updates: Vec<_> = app
        .services
        .ports()
        .audit
        .recent(100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.kind == AuditKind::ClientUpdated)
        .collect();
    assert_eq!(updates[0].details["changed"], json!(["max_code_age_secs"]));
    assert_eq!(updates[1].details["changed"], json!(["approvers"]));
    assert_eq!(updates[1].details["approver_network"], "listed");
    // The OpenAPI document names every field.
    let openapi: Value =
        app.device.get(app.url("/v1/openapi.json")).send().await.expect("doc").json().await.expect("json");
    let text = openapi.to_string();
    for field in [
        "device_networks",
        "approver_network",
        "approver_networks",
        "max_code_age_secs",
        "code_lifetime_secs",
        "one_person_per_code",
        "device_confirmation",
        "approvers",
        "crossed_networks",
        "confirmed_on_device",
    ] {
        assert!(text.contains(field), "{field} missing from the OpenAPI document");
    }
}

async fn the_command_line_sets_each_control_and_says_the_policy_in_words(backend: Backend) {
    let app = app(backend).await;
    let out = app.run_command(&[
        "client",
        "update",
        "--id",
        CLI,
        "--device-networks",
        "10.0.0.0/8,2001:db8::/32",
        "--approver-network",
        "same_network",
        "--max-code-age",
        "90",
        "--code-lifetime",
        "600",
        "--one-person-per-code",
        "false",
        "--device-confirmation",
        "required",
        "--approvers",
        "admins",
    ]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains("devices start from 10.0.0.0/8, 2001:db8::/32"), "{printed}");
    assert!(
        printed.contains("approvers from the device's network") && printed.contains("approvers: admins"),
        "{printed}"
    );
    let admin = gatehouse_core::Admin::command_line();
    let client = app.services.clients.get(&admin, CLI).await.expect("get").expect("client");
    let policy = &client.approval;
    assert_eq!((policy.max_code_age_secs, policy.code_lifetime_secs), (Some(90), Some(600)));
    assert!(!policy.one_person_per_code);
    // An empty list clears it; `default` gives a lifetime back.
    let out = app.run_command(&["client", "update", "--id", CLI, "--device-networks", "", "--max-code-age", "default"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let client = app.services.clients.get(&admin, CLI).await.expect("get").expect("client");
    assert!(client.approval.device_networks.is_empty());
    assert_eq!(client.approval.max_code_age_secs, None);
    assert_eq!(client.approval.code_lifetime_secs, Some(600), "kept");
    let out = app.run_command(&["client", "update", "--id", CLI, "--approver-network", "listed"]);
    assert!(!out.status.success(), "listed without ranges is refused");
}

async fn the_editor_sets_the_policy_with_javascript_off_and_refuses_nonsense(backend: Backend) {
    let app = app(backend).await;
    let csrf = app.as_admin("/admin/clients?edit=gatehouse-cli").await;
    let html = app.page_html("/admin/clients?edit=gatehouse-cli").await;
    assert!(html.contains("Approval policy") && html.contains("Anyone who can sign in may approve."), "{html}");
    let form = |approver_networks: &'static str| {
        vec![
            ("client_id", CLI),
            ("device_networks", ""),
            ("approver_network", "listed"),
            ("approver_networks", approver_networks),
            ("max_code_age", "120"),
            ("code_lifetime", ""),
            ("one_person_per_code", "on"),
            ("device_confirmation", "off"),
            ("approvers", "everyone"),
        ]
    };
    let mut bad = form("not a range");
    bad.push(("csrf_token", &csrf));
    let back = app.plain_form_post("/console/api/admin/clients/approval-policy", &bad).await;
    assert!(back.ends_with("?edit=gatehouse-cli&error=invalid_approval_policy"), "{back}");
    let html = app.page_html(&back).await;
    assert!(html.contains("Nothing was changed: check the approval policy"), "{html}");
    let mut good = form("192.0.2.0/24");
    good.push(("csrf_token", &csrf));
    let done = app.plain_form_post("/console/api/admin/clients/approval-policy", &good).await;
    assert!(done.contains("done=policy_updated"), "{done}");
    let html = app.page_html("/admin/clients?edit=gatehouse-cli").await;
    assert!(html.contains("Approvals are accepted only from 192.0.2.0/24."), "{html}");
    assert!(html.contains("A code must be entered within 2 minutes"), "{html}");
}
