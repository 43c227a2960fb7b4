//! RFC 8628 §3.1–3.2 device authorization requests, with the RFC 6749 §2.3
//! and §5.2 error answers and SPEC §3's body rules.

use crate::helpers::{Backend, CLI, expect_oauth_error, spawn_app};
use crate::on_every_backend;
use gatehouse_core::model::ClientType;
use serde_json::{Value, json};

const PATH: &str = "/v1/oauth/device/code";
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

fn is_user_code(code: &str) -> bool {
    let consonant = |c: char| "BCDFGHJKLMNPQRSTVWXZ".contains(c);
    code.len() == 9 && code.char_indices().all(|(i, c)| if i == 4 { c == '-' } else { consonant(c) })
}

async fn answers_with_every_field_rfc_8628_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_form(PATH, &[("client_id", CLI), ("device_label", "ada-laptop")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.expect("json");
    let user_code = body["user_code"].as_str().expect("user_code");
    assert!(is_user_code(user_code), "{user_code}");
    // ≥ 256 bits, base64url without padding.
    assert!(body["device_code"].as_str().is_some_and(|c| c.len() >= 43), "{body}");
    assert_eq!(body["verification_uri"], app.url("/device"));
    assert_eq!(body["verification_uri_complete"], app.url(&format!("/device?user_code={user_code}")));
    assert_eq!((body["expires_in"].as_u64(), body["interval"].as_u64()), (Some(600), Some(5)));
}

async fn accepts_a_json_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({ "client_id": CLI, "device_label": "json-client", "scope": null }).to_string();
    let response = app.post_raw(PATH, Some("application/json; charset=utf-8"), body).await;
    assert_eq!(response.status(), 200);
}

async fn missing_client_id_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    expect_oauth_error(app.post_form(PATH, &[("scope", "full")]).await, 400, "invalid_request").await;
}

async fn unknown_client_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    expect_oauth_error(app.post_form(PATH, &[("client_id", "nobody")]).await, 401, "invalid_client").await;
}

async fn disabled_client_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    assert!(app.services.clients.disable(&gatehouse_core::Admin::command_line(), CLI).await.expect("disable"));
    expect_oauth_error(app.post_form(PATH, &[("client_id", CLI)]).await, 401, "invalid_client").await;
}

async fn confidential_client_without_its_secret_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_client("backup-agent", ClientType::Confidential, &["full"], true).await;
    let response = app.post_form(PATH, &[("client_id", "backup-agent")]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
}

async fn confidential_client_with_a_wrong_secret_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_client("backup-agent", ClientType::Confidential, &["full"], true).await;
    let response = app.post_form(PATH, &[("client_id", "backup-agent"), ("client_secret", "wrong")]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
    let basic = app.device.post(app.url(PATH)).basic_auth("backup-agent", Some("wrong")).form(&[("scope", "full")]);
    expect_oauth_error(basic.send().await.expect("request"), 401, "invalid_client").await;
}

async fn confidential_client_authenticates_by_basic_or_post(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.register_client("backup-agent", ClientType::Confidential, &["full"], true).await.expect("secret");
    let post = app.post_form(PATH, &[("client_id", "backup-agent"), ("client_secret", &secret)]).await;
    assert_eq!(post.status(), 200);
    let basic = app.device.post(app.url(PATH)).basic_auth("backup-agent", Some(&secret)).form(&[("scope", "full")]);
    assert_eq!(basic.send().await.expect("request").status(), 200);
}

async fn public_client_presenting_a_secret_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_form(PATH, &[("client_id", CLI), ("client_secret", "anything")]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
}

async fn malformed_basic_credentials_are_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .device
        .post(app.url(PATH))
        .header("authorization", "Basic !!!not-base64")
        .form(&[("scope", "full")])
        .send()
        .await
        .expect("request");
    expect_oauth_error(response, 401, "invalid_client").await;
}

async fn two_client_authentication_methods_are_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.register_client("backup-agent", ClientType::Confidential, &["full"], true).await.expect("secret");
    let both = app
        .device
        .post(app.url(PATH))
        .basic_auth("backup-agent", Some(&secret))
        .form(&[("client_secret", secret.as_str())])
        .send()
        .await
        .expect("request");
    expect_oauth_error(both, 400, "invalid_request").await;
    let mismatch = app
        .device
        .post(app.url(PATH))
        .basic_auth("backup-agent", Some(&secret))
        .form(&[("client_id", CLI)])
        .send()
        .await
        .expect("request");
    expect_oauth_error(mismatch, 400, "invalid_request").await;
}

async fn client_without_the_device_grant_is_unauthorized_client(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_client("web-only", ClientType::Public, &["full"], false).await;
    let response = app.post_form(PATH, &[("client_id", "web-only")]).await;
    expect_oauth_error(response, 400, "unauthorized_client").await;
}

async fn scope_outside_the_clients_is_invalid_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_client("runner", ClientType::Public, &["apps:run"], true).await;
    for scope in ["full", "apps:run full", "admin"] {
        let response = app.post_form(PATH, &[("client_id", "runner"), ("scope", scope)]).await;
        expect_oauth_error(response, 400, "invalid_scope").await;
    }
    let allowed = app.post_form(PATH, &[("client_id", "runner"), ("scope", "apps:run")]).await;
    assert_eq!(allowed.status(), 200);
}

async fn blank_scope_is_invalid_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_form(PATH, &[("client_id", CLI), ("scope", "   ")]).await;
    expect_oauth_error(response, 400, "invalid_scope").await;
}

async fn repeated_parameter_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_raw(PATH, FORM, "client_id=gatehouse-cli&client_id=gatehouse-cli").await;
    expect_oauth_error(response, 400, "invalid_request").await;
}

async fn other_content_types_are_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    for content_type in [Some("text/plain"), Some("multipart/form-data; boundary=x"), Some("application/xml"), None] {
        let response = app.post_raw(PATH, content_type, "client_id=gatehouse-cli").await;
        expect_oauth_error(response, 400, "invalid_request").await;
    }
}

async fn malformed_json_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    for body in ["{\"client_id\": ", "[\"gatehouse-cli\"]", "{\"client_id\": 7}", "{\"client_id\": [\"a\"]}"] {
        let response = app.post_raw(PATH, Some("application/json"), body).await;
        expect_oauth_error(response, 400, "invalid_request").await;
    }
}

async fn body_over_the_limit_is_413_in_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = format!("client_id=gatehouse-cli&device_label={}", "x".repeat(100_000));
    let response = app.post_raw(PATH, FORM, body).await;
    expect_oauth_error(response, 413, "invalid_request").await;
}

async fn over_long_device_label_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_form(PATH, &[("client_id", CLI), ("device_label", &"é".repeat(65))]).await;
    expect_oauth_error(response, 400, "invalid_request").await;
    let longest = app.post_form(PATH, &[("client_id", CLI), ("device_label", &"é".repeat(64))]).await;
    assert_eq!(longest.status(), 200);
}

async fn control_or_bidi_characters_in_device_label_are_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    for label in ["tab\there", "new\nline", "nul\u{0}", "evil\u{202E}gnp.exe", "isolate\u{2066}x"] {
        let response = app.post_form(PATH, &[("client_id", CLI), ("device_label", label)]).await;
        expect_oauth_error(response, 400, "invalid_request").await;
    }
}

async fn other_methods_are_405_in_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.device.get(app.url(PATH)).send().await.expect("request");
    expect_oauth_error(response, 405, "invalid_request").await;
}

on_every_backend!(
    answers_with_every_field_rfc_8628_names,
    accepts_a_json_body,
    missing_client_id_is_invalid_request,
    unknown_client_is_invalid_client,
    disabled_client_is_invalid_client,
    confidential_client_without_its_secret_is_invalid_client,
    confidential_client_with_a_wrong_secret_is_invalid_client,
    confidential_client_authenticates_by_basic_or_post,
    public_client_presenting_a_secret_is_invalid_client,
    malformed_basic_credentials_are_invalid_client,
    two_client_authentication_methods_are_invalid_request,
    client_without_the_device_grant_is_unauthorized_client,
    scope_outside_the_clients_is_invalid_scope,
    blank_scope_is_invalid_scope,
    repeated_parameter_is_invalid_request,
    other_content_types_are_invalid_request,
    malformed_json_is_invalid_request,
    body_over_the_limit_is_413_in_json,
    over_long_device_label_is_invalid_request,
    control_or_bidi_characters_in_device_label_are_invalid_request,
    other_methods_are_405_in_json,
);
