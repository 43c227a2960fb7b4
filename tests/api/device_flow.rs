//! The account-branch device flow over HTTP, with the RFC 8628 answers.

use crate::helpers::{Backend, CLI, spawn_app};
use crate::on_both_backends;
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
    assert_eq!(token["expires_in"], 2_592_000);

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

async fn polling_answers_follow_rfc_8628(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.create_account("ada@example.com").await;
    let flow = app.start_flow(&[]).await;
    let device_code = code_of(&flow, "device_code");

    // The first poll is never throttled; a second one too soon is, and the
    // interval grows by 5 s and holds.
    assert_eq!(app.poll(&device_code).await.1["error"], "authorization_pending");
    let (status, body) = app.poll(&device_code).await;
    assert_eq!((status, body["error"].as_str(), body["interval"].as_u64()), (400, Some("slow_down"), Some(10)));
    app.advance(5);
    assert_eq!(app.poll(&device_code).await.1["interval"], 15);
    app.advance(15);
    assert_eq!(app.poll(&device_code).await.1["error"], "authorization_pending");

    // Another client may not poll this code, and its poll changes nothing.
    app.services
        .clients
        .register(
            gatehouse_core::services::clients::ClientRegistration {
                client_id: "other-cli".into(),
                name: "Other".into(),
                client_type: gatehouse_core::model::ClientType::Public,
                allowed_scopes: vec!["full".into()],
                device_grant: true,
            },
            "test",
        )
        .await
        .expect("register");
    app.advance(15);
    assert_eq!(app.poll_as(&device_code, "other-cli").await.1["error"], "invalid_grant");
    assert_eq!(app.poll(&device_code).await.1["error"], "authorization_pending");

    // Unknown code, unknown client, wrong grant type, missing parameter.
    assert_eq!(app.poll("not-a-real-device-code").await.1["error"], "invalid_grant");
    let (status, body) = app.poll_as(&device_code, "nobody").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let wrong_grant = app
        .device
        .post(app.url("/v1/oauth/device/token"))
        .form(&[("grant_type", "authorization_code"), ("device_code", &device_code), ("client_id", CLI)])
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_grant.status(), 400);
    assert_eq!(wrong_grant.json::<Value>().await.expect("json")["error"], "unsupported_grant_type");
    let missing = app
        .device
        .post(app.url("/v1/oauth/device/token"))
        .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", CLI)])
        .send()
        .await
        .expect("request");
    assert_eq!(missing.json::<Value>().await.expect("json")["error"], "invalid_request");

    // A denied flow answers access_denied.
    let denied = app.start_flow(&[]).await;
    app.services
        .device_flows
        .decide_as_account(
            denied["user_code"].as_str().expect("code"),
            &account,
            gatehouse_core::services::device_flow::DecisionKind::Deny,
            None,
        )
        .await
        .expect("deny");
    assert_eq!(app.poll(&code_of(&denied, "device_code")).await.1["error"], "access_denied");

    // Past its expiry a flow answers expired_token, never invalid_grant or 5xx,
    // and can no longer be approved.
    let expiring = app.start_flow(&[]).await;
    app.advance(601);
    let (status, body) = app.poll(&code_of(&expiring, "device_code")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("expired_token")));
    let late = app
        .services
        .device_flows
        .decide_as_account(
            expiring["user_code"].as_str().expect("code"),
            &account,
            gatehouse_core::services::device_flow::DecisionKind::Approve,
            None,
        )
        .await;
    assert!(late.is_err());
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
        let winners = answers.iter().filter(|(status, _)| *status == 200).count();
        assert_eq!(winners, 1, "{answers:?}");
        assert!(answers.iter().all(|(status, _)| *status == 200 || *status == 400), "{answers:?}");
    }
}

async fn device_authorization_rejects_bad_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let post = |body: &'static str, content_type: &'static str| {
        app.device.post(app.url("/v1/oauth/device/code")).header("content-type", content_type).body(body).send()
    };
    let cases = [
        (post("client_id=nobody", "application/x-www-form-urlencoded").await, 401, "invalid_client"),
        (post("", "application/x-www-form-urlencoded").await, 400, "invalid_request"),
        (post("client_id=gatehouse-cli", "text/plain").await, 400, "invalid_request"),
        (
            post("client_id=gatehouse-cli&client_id=x", "application/x-www-form-urlencoded").await,
            400,
            "invalid_request",
        ),
        (post("client_id=gatehouse-cli&scope=admin", "application/x-www-form-urlencoded").await, 400, "invalid_scope"),
        (
            post("client_id=gatehouse-cli&device_label=a%E2%80%AEb", "application/x-www-form-urlencoded").await,
            400,
            "invalid_request",
        ),
        (post("{\"client_id\": 7}", "application/json").await, 400, "invalid_request"),
    ];
    for (response, status, error) in cases {
        let response = response.expect("request");
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.json::<Value>().await.expect("json")["error"], error);
    }
    let json = app
        .device
        .post(app.url("/v1/oauth/device/code"))
        .json(&serde_json::json!({ "client_id": CLI, "device_label": "json-client" }))
        .send()
        .await
        .expect("request");
    assert_eq!(json.status(), 200);
    let too_big = app
        .device
        .post(app.url("/v1/oauth/device/code"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("client_id=gatehouse-cli&device_label={}", "x".repeat(100_000)))
        .send()
        .await
        .expect("request");
    assert_eq!(too_big.status(), 413);
    assert_eq!(too_big.json::<Value>().await.expect("json")["error"], "invalid_request");
}

async fn bearer_errors_follow_rfc_6750(backend: Backend) {
    let app = spawn_app(backend).await;
    let missing = app.device.get(app.url("/v1/me")).send().await.expect("request");
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], r#"Bearer realm="gatehouse""#);
    for (token, why) in [
        ("ghp_abcdef", "unknown token prefix"),
        ("gtha_tooshort", "malformed token"),
        ("gtha_000000000000000000000000000000000000", "malformed token"),
    ] {
        let response = app.me(token).await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.expect("json");
        assert_eq!((body["error"].as_str(), body["error_description"].as_str()), (Some("invalid_token"), Some(why)));
    }
}

on_both_backends!(
    full_flow_mints_a_token_that_me_accepts_and_self_revocation_ends,
    polling_answers_follow_rfc_8628,
    approving_the_same_device_again_rotates_its_token,
    racing_pollers_get_exactly_one_token,
    device_authorization_rejects_bad_requests,
    bearer_errors_follow_rfc_6750,
);
