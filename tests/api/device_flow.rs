//! The account-branch device flow over HTTP, with the RFC 8628 answers.

use crate::helpers::{Backend, CLI, spawn_app};
use crate::on_every_backend;
use serde_json::Value;

fn code_of(flow: &Value, field: &str) -> String {
    flow[field].as_str().expect("field").to_owned()
}

async fn full_flow_mints_a_token_that_me_accepts_and_self_revocation_ends(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.create_account("ada@example.com").await;
    let flow = app.start_flow(&[("device_label", "ada-laptop")]).await;

    // The response carries everything RFC 8628 §3.2 names.
    let user_code = code_of(&flow, "user_code");
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(flow["verification_uri"], app.url("/device"));
    assert_eq!(flow["verification_uri_complete"], app.url(&format!("/device?user_code={user_code}")));
    assert_eq!(flow["expires_in"], 600);
    assert_eq!(flow["interval"], 5);
    let device_code = code_of(&flow, "device_code");
    assert!(device_code.len() >= 43);

    let (status, body) = app.poll(&device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")));

    app.approve(&user_code, &account).await;
    app.advance(5);
    let (status, token) = app.poll(&device_code).await;
    assert_eq!(status, 200, "{token}");
    let access_token = token["access_token"].as_str().expect("token");
    assert!(access_token.starts_with("gtha_") && access_token.len() == 41);
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "full");
    assert_eq!(token["subject_type"], "account");
    assert_eq!(token["account"]["email"], "ada@example.com");
    assert_eq!(token["workspaces"][0]["name"], "Research");
    assert_eq!(token["workspaces"][0]["role"], "owner");
    assert_eq!(token["default_workspace_id"], token["workspaces"][0]["id"]);
    assert_eq!(token["expires_in"], 3600, "an hour; the grant lives on through its refresh token");

    let me = app.me(access_token).await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers()["cache-control"], "no-store");
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["account"]["id"], account.id.to_string());
    assert_eq!(me["client_id"], CLI);
    assert_eq!(me["scopes"], serde_json::json!(["full"]));
    assert_eq!(me["token_id"], token["token_id"]);

    // Exactly one redemption: the code is spent.
    app.advance(5);
    let (status, body) = app.poll(&device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    let revoked = app
        .device
        .delete(app.url("/v1/oauth/authorizations/self"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("delete");
    assert_eq!(revoked.status(), 204);
    let after = app.me(access_token).await;
    assert_eq!(after.status(), 401);
    assert!(after.headers()["www-authenticate"].to_str().unwrap_or_default().contains("invalid_token"));
}

async fn approving_the_same_device_again_rotates_its_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.create_account("ada@example.com").await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let flow = app.start_flow(&[("device_label", "build-box")]).await;
        app.approve(flow["user_code"].as_str().expect("code"), &account).await;
        let (status, token) = app.poll(&code_of(&flow, "device_code")).await;
        assert_eq!(status, 200);
        tokens.push(token);
    }
    // Rotated in place: same row, new secret, the old secret dead at once.
    assert_eq!(tokens[0]["token_id"], tokens[1]["token_id"]);
    assert_eq!(app.me(tokens[0]["access_token"].as_str().expect("t")).await.status(), 401);
    assert_eq!(app.me(tokens[1]["access_token"].as_str().expect("t")).await.status(), 200);
}

async fn racing_pollers_get_exactly_one_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.create_account("ada@example.com").await;
    for _round in 0..5 {
        let flow = app.start_flow(&[("device_label", "racer")]).await;
        let device_code = code_of(&flow, "device_code");
        app.approve(flow["user_code"].as_str().expect("code"), &account).await;
        let polls = (0..20).map(|_| app.poll(&device_code));
        let answers = futures::future::join_all(polls).await;
        // Polls after the redemption finished are handed the same token
        // again: one token among all the answers. (Polls racing before the
        // claim are too fast, and may hear slow_down.)
        let mut tokens: Vec<&str> = answers.iter().filter_map(|(_, body)| body["access_token"].as_str()).collect();
        tokens.sort_unstable();
        tokens.dedup();
        assert_eq!(tokens.len(), 1, "{answers:?}");
        assert!(answers.iter().all(|(status, _)| *status == 200 || *status == 400), "{answers:?}");
    }
}

on_every_backend!(
    full_flow_mints_a_token_that_me_accepts_and_self_revocation_ends,
    approving_the_same_device_again_rotates_its_token,
    racing_pollers_get_exactly_one_token,
);
