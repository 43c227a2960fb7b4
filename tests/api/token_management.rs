//! Token lifecycle across components: disabled clients, the bearer switch,
//! and revocation, rotation and expiry beating a warm lookup cache.

use crate::helpers::{Backend, CLI, spawn_app};
use crate::on_every_backend;
use gatehouse_core::rate_limit::Visitor;
use serde_json::Value;

async fn a_disabled_client_can_do_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let flow = app.start_flow(&[]).await;
    assert!(app.services.clients.disable(&gatehouse_core::Admin::command_line(), CLI).await.expect("disable"));
    assert!(
        !app.services.clients.disable(&gatehouse_core::Admin::command_line(), CLI).await.expect("disable again"),
        "already disabled"
    );
    let (status, body) = app.poll(flow["device_code"].as_str().expect("code")).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let start = app.device.post(app.url("/v1/oauth/device/code")).form(&[("client_id", CLI)]).send().await.expect("r");
    assert_eq!(start.status(), 401);
    let listed = app.services.clients.list().await.expect("list");
    assert!(listed.iter().any(|c| c.client_id == CLI && c.disabled));
}

async fn revocation_rotation_and_expiry_beat_a_warm_cache(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.token_for("cached").await;
    for _ in 0..2 {
        assert_eq!(app.me(&first).await.status(), 200, "warming the cache");
    }
    // Rotation: the cached old secret dies on the next request.
    let second = app.token_for("cached").await;
    assert_eq!(app.me(&first).await.status(), 401);
    for _ in 0..2 {
        assert_eq!(app.me(&second).await.status(), 200);
    }
    // Revocation (RFC 7009) of a cached token.
    let revoked =
        app.device.post(app.url("/v1/oauth/revoke")).form(&[("client_id", CLI), ("token", &second)]).send().await;
    assert_eq!(revoked.expect("request").status(), 200);
    assert_eq!(app.me(&second).await.status(), 401);
    // Expiry of a cached token, on the first request past it.
    let third = app.token_for("expiring").await;
    assert_eq!(app.me(&third).await.status(), 200);
    app.advance(30 * 24 * 3600);
    let expired = app.me(&third).await;
    assert_eq!(expired.status(), 401);
    assert_eq!(expired.json::<Value>().await.expect("json")["error_description"], "token expired");
    assert_eq!(app.me(&third).await.status(), 401, "hard-expired: the hash is gone");
}

async fn switching_bearer_auth_off_answers_503(backend: Backend) {
    let on = spawn_app(backend).await;
    let token = on.token_for("laptop").await;
    let off = crate::helpers::spawn_app_with(backend, |config| config.settings.enable_oauth_bearer = false).await;
    let me = off.me(&token).await;
    assert_eq!(me.status(), 503);
    assert_eq!(me.json::<Value>().await.expect("json")["error"], "bearer_auth_disabled");
    // Approving is refused too: nothing may mint tokens while it is off.
    let account = off.create_account("ada@example.com").await;
    let flow = off.start_flow(&[]).await;
    let approved = off
        .services
        .device_flows
        .decide_as_account(
            flow["user_code"].as_str().expect("code"),
            &account,
            gatehouse_core::services::device_flow::DecisionKind::Approve,
            &Visitor::default(),
        )
        .await;
    assert!(matches!(approved, Err(gatehouse_core::services::device_flow::DecideError::BearerAuthDisabled)));
}

on_every_backend!(
    switching_bearer_auth_off_answers_503,
    a_disabled_client_can_do_nothing,
    revocation_rotation_and_expiry_beat_a_warm_cache,
);
