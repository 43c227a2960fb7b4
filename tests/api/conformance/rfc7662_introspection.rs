//! RFC 7662 token introspection, for resource servers registered as
//! confidential clients.

use crate::helpers::{Backend, CLI, TestApp, expect_oauth_error, spawn_app};
use crate::on_every_backend;
use gatehouse_core::model::ClientType;
use serde_json::{Value, json};

const PATH: &str = "/v1/oauth/introspect";

/// Registers the resource server `rs` and returns its secret.
async fn resource_server(app: &TestApp) -> String {
    app.register_client("rs", ClientType::Confidential, &["full"], false).await.expect("secret")
}

async fn introspect(app: &TestApp, secret: &str, token: &str) -> reqwest::Response {
    app.device.post(app.url(PATH)).basic_auth("rs", Some(secret)).form(&[("token", token)]).send().await.expect("r")
}

async fn an_active_token_is_described(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.redeemed(&[("device_label", "laptop")]).await;
    let secret = resource_server(&app).await;
    let response = introspect(&app, &secret, token["access_token"].as_str().expect("token")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "full");
    assert_eq!(body["client_id"], CLI);
    assert_eq!(body["sub"], token["account"]["id"]);
    assert_eq!(body["username"], "ada@example.com");
    assert_eq!(body["email"], "ada@example.com");
    let me: Value = app.me(token["access_token"].as_str().expect("token")).await.json().await.expect("json");
    assert_eq!(me["sub"], body["sub"], "/v1/me names the same subject");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], app.address);
    assert!(body["exp"].as_i64() > body["iat"].as_i64());
}

async fn inactive_tokens_say_only_that(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = resource_server(&app).await;
    let revoked = app.token_for("revoked").await;
    app.device.delete(app.url("/v1/oauth/authorizations/self")).bearer_auth(&revoked).send().await.expect("revoke");
    let expiring = app.token_for("expiring").await;
    app.advance(30 * 24 * 3600);
    for token in ["gtha_x", "not-a-token", revoked.as_str(), expiring.as_str()] {
        let body: Value = introspect(&app, &secret, token).await.json().await.expect("json");
        assert_eq!(body, json!({ "active": false }), "{token}");
    }
}

async fn public_clients_may_not_introspect(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    let response = app.post_form(PATH, &[("client_id", CLI), ("token", &token)]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
}

async fn a_wrong_secret_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    resource_server(&app).await;
    let token = app.token_for("laptop").await;
    expect_oauth_error(introspect(&app, "wrong", &token).await, 401, "invalid_client").await;
}

async fn missing_token_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = resource_server(&app).await;
    let response = app.device.post(app.url(PATH)).basic_auth("rs", Some(&secret)).form(&[("x", "y")]).send().await;
    expect_oauth_error(response.expect("request"), 400, "invalid_request").await;
}

on_every_backend!(
    an_active_token_is_described,
    inactive_tokens_say_only_that,
    public_clients_may_not_introspect,
    a_wrong_secret_is_invalid_client,
    missing_token_is_invalid_request,
);
