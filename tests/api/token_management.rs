//! RFC 7009 revocation, RFC 7662 introspection, and disabled clients.

use crate::helpers::{Backend, CLI, TestApp, spawn_app};
use crate::on_both_backends;
use gatehouse_core::model::ClientType;
use gatehouse_core::services::clients::ClientRegistration;
use serde_json::Value;

/// A redeemed account token for `label`.
async fn token_for(app: &TestApp, label: &str) -> String {
    let account = match app.services.ports.accounts.find_by_email("ada@example.com").await.expect("find") {
        Some((account, _)) => account,
        None => app.create_account("ada@example.com").await,
    };
    let flow = app.start_flow(&[("device_label", label)]).await;
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    let (status, token) = app.poll(flow["device_code"].as_str().expect("code")).await;
    assert_eq!(status, 200);
    token["access_token"].as_str().expect("token").to_owned()
}

/// Registers a confidential client; returns its secret.
async fn confidential(app: &TestApp, id: &str) -> String {
    let registration = ClientRegistration {
        client_id: id.to_owned(),
        name: "Resource server".to_owned(),
        client_type: ClientType::Confidential,
        allowed_scopes: vec!["full".to_owned()],
        device_grant: false,
    };
    let (_, secret) = app.services.clients.register(registration, "test").await.expect("register").expect("new");
    secret.expect("confidential clients get a secret").expose().to_owned()
}

async fn revocation_follows_rfc_7009(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = token_for(&app, "laptop").await;
    let revoke = |form: Vec<(&'static str, String)>| app.device.post(app.url("/v1/oauth/revoke")).form(&form).send();

    // Unknown and malformed tokens: 200, nothing said.
    for unknown in ["gtha_nonsense", "definitely-not-a-token"] {
        let response = revoke(vec![("client_id", CLI.into()), ("token", unknown.into())]).await.expect("request");
        assert_eq!(response.status(), 200);
    }
    // Another client cannot revoke it (and is not told whether it exists).
    let secret = confidential(&app, "rs").await;
    let other = app
        .device
        .post(app.url("/v1/oauth/revoke"))
        .basic_auth("rs", Some(&secret))
        .form(&[("token", token.as_str()), ("token_type_hint", "access_token")])
        .send()
        .await
        .expect("request");
    assert_eq!(other.status(), 200);
    assert_eq!(app.me(&token).await.status(), 200);
    // Missing token and unauthenticated client.
    let missing = revoke(vec![("client_id", CLI.into())]).await.expect("request");
    assert_eq!(missing.json::<Value>().await.expect("json")["error"], "invalid_request");
    let nobody = revoke(vec![("client_id", "nobody".into()), ("token", token.clone())]).await.expect("request");
    assert_eq!(nobody.status(), 401);
    // Its own client revokes it, effective on the very next request.
    let own = revoke(vec![("client_id", CLI.into()), ("token", token.clone())]).await.expect("request");
    assert_eq!(own.status(), 200);
    assert_eq!(own.headers()["cache-control"], "no-store");
    assert_eq!(app.me(&token).await.status(), 401);
}

async fn introspection_follows_rfc_7662(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = token_for(&app, "laptop").await;
    let secret = confidential(&app, "rs").await;
    let introspect = |token: String| {
        app.device
            .post(app.url("/v1/oauth/introspect"))
            .basic_auth("rs", Some(&secret))
            .form(&[("token", token)])
            .send()
    };
    let active: Value = introspect(token.clone()).await.expect("request").json().await.expect("json");
    assert_eq!(active["active"], true);
    assert_eq!(active["scope"], "full");
    assert_eq!(active["client_id"], CLI);
    assert_eq!(active["username"], "ada@example.com");
    assert_eq!(active["token_type"], "Bearer");
    assert!(active["exp"].as_i64() > active["iat"].as_i64());

    let unknown: Value = introspect("gtha_x".into()).await.expect("request").json().await.expect("json");
    assert_eq!(unknown, serde_json::json!({ "active": false }));

    // Public clients and wrong secrets may not introspect.
    let public = app.device.post(app.url("/v1/oauth/introspect")).form(&[("client_id", CLI), ("token", &token)]).send();
    let public = public.await.expect("request");
    assert_eq!(public.status(), 401);
    assert!(public.headers().contains_key("www-authenticate"));
    let wrong = app
        .device
        .post(app.url("/v1/oauth/introspect"))
        .basic_auth("rs", Some("wrong"))
        .form(&[("token", &token)])
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), 401);

    app.device.delete(app.url("/v1/oauth/authorizations/self")).bearer_auth(&token).send().await.expect("revoke");
    let revoked: Value = introspect(token).await.expect("request").json().await.expect("json");
    assert_eq!(revoked["active"], false);
}

async fn a_disabled_client_can_do_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let flow = app.start_flow(&[]).await;
    assert!(app.services.clients.disable(CLI, "test").await.expect("disable"));
    assert!(!app.services.clients.disable(CLI, "test").await.expect("disable again"), "already disabled");
    let (status, body) = app.poll(flow["device_code"].as_str().expect("code")).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let start = app.device.post(app.url("/v1/oauth/device/code")).form(&[("client_id", CLI)]).send().await.expect("r");
    assert_eq!(start.status(), 401);
    let listed = app.services.clients.list().await.expect("list");
    assert!(listed.iter().any(|c| c.client_id == CLI && c.disabled));
}

async fn revocation_rotation_and_expiry_beat_a_warm_cache(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = token_for(&app, "cached").await;
    for _ in 0..2 {
        assert_eq!(app.me(&first).await.status(), 200, "warming the cache");
    }
    // Rotation: the cached old secret dies on the next request.
    let second = token_for(&app, "cached").await;
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
    let third = token_for(&app, "expiring").await;
    assert_eq!(app.me(&third).await.status(), 200);
    app.advance(30 * 24 * 3600);
    let expired = app.me(&third).await;
    assert_eq!(expired.status(), 401);
    assert_eq!(expired.json::<Value>().await.expect("json")["error_description"], "token expired");
    assert_eq!(app.me(&third).await.status(), 401, "hard-expired: the hash is gone");
}

async fn a_client_without_the_device_grant_is_unauthorized(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = confidential(&app, "rs").await;
    let response = app
        .device
        .post(app.url("/v1/oauth/device/code"))
        .basic_auth("rs", Some(&secret))
        .form(&[("scope", "full")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.expect("json")["error"], "unauthorized_client");
}

async fn switching_bearer_auth_off_answers_503(backend: Backend) {
    let on = spawn_app(backend).await;
    let token = token_for(&on, "laptop").await;
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
            None,
        )
        .await;
    assert!(matches!(approved, Err(gatehouse_core::services::device_flow::DecideError::BearerAuthDisabled)));
}

on_both_backends!(
    a_client_without_the_device_grant_is_unauthorized,
    switching_bearer_auth_off_answers_503,
    revocation_follows_rfc_7009,
    introspection_follows_rfc_7662,
    a_disabled_client_can_do_nothing,
    revocation_rotation_and_expiry_beat_a_warm_cache,
);
