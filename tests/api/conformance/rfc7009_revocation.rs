//! RFC 7009 token revocation.

use crate::helpers::{Backend, CLI, expect_oauth_error, spawn_app};
use crate::on_every_backend;
use gatehouse_core::model::ClientType;

const PATH: &str = "/v1/oauth/revoke";

async fn own_token_is_revoked_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    assert_eq!(app.me(&token).await.status(), 200, "warm the lookup cache");
    let response =
        app.post_form(PATH, &[("client_id", CLI), ("token", &token), ("token_type_hint", "access_token")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(app.me(&token).await.status(), 401);
    // Revoking again is still 200 (§2.2: an invalid token is not an error).
    assert_eq!(app.post_form(PATH, &[("client_id", CLI), ("token", &token)]).await.status(), 200);
}

async fn unknown_or_malformed_tokens_answer_200(backend: Backend) {
    let app = spawn_app(backend).await;
    for token in ["gtha_nonsense", "definitely-not-a-token", "gtha_000000000000000000000000000000000000"] {
        let response = app.post_form(PATH, &[("client_id", CLI), ("token", token)]).await;
        assert_eq!(response.status(), 200, "{token}");
    }
}

async fn an_unknown_token_type_hint_is_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    let response =
        app.post_form(PATH, &[("client_id", CLI), ("token", &token), ("token_type_hint", "refresh_token")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.me(&token).await.status(), 401);
}

async fn another_clients_token_is_unauthorized_client_and_left_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    let secret = app.register_client("rs", ClientType::Confidential, &["full"], false).await.expect("secret");
    let response =
        app.device.post(app.url(PATH)).basic_auth("rs", Some(&secret)).form(&[("token", token.as_str())]).send().await;
    expect_oauth_error(response.expect("request"), 400, "unauthorized_client").await;
    assert_eq!(app.me(&token).await.status(), 200);
}

async fn missing_token_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    expect_oauth_error(app.post_form(PATH, &[("client_id", CLI)]).await, 400, "invalid_request").await;
}

async fn unauthenticated_client_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    let response = app.post_form(PATH, &[("client_id", "nobody"), ("token", &token)]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
    let secret_missing = app.register_client("rs", ClientType::Confidential, &["full"], false).await;
    assert!(secret_missing.is_some());
    let response = app.post_form(PATH, &[("client_id", "rs"), ("token", &token)]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
    assert_eq!(app.me(&token).await.status(), 200);
}

on_every_backend!(
    own_token_is_revoked_at_once,
    unknown_or_malformed_tokens_answer_200,
    an_unknown_token_type_hint_is_ignored,
    another_clients_token_is_unauthorized_client_and_left_alone,
    missing_token_is_invalid_request,
    unauthenticated_client_is_invalid_client,
);
