//! RFC 8628 §3.4–3.5 token requests: every answer a poll can get, and the
//! rules SPEC §4 adds (slow_down persisted, tombstones, binding, re-check).

use crate::helpers::{Backend, CLI, expect_oauth_error, spawn_app};
use crate::on_every_backend;
use gatehouse_core::model::ClientType;
use gatehouse_core::rate_limit::Visitor;
use gatehouse_core::services::device_flow::DecisionKind;

const PATH: &str = "/v1/oauth/device/token";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn device_code(flow: &serde_json::Value) -> String {
    flow["device_code"].as_str().expect("device_code").to_owned()
}

async fn missing_grant_type_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let code = device_code(&app.start_flow(&[]).await);
    let response = app.post_form(PATH, &[("client_id", CLI), ("device_code", &code)]).await;
    expect_oauth_error(response, 400, "invalid_request").await;
}

async fn other_grant_types_are_unsupported_grant_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let code = device_code(&app.start_flow(&[]).await);
    // (refresh_token and client_credentials are the other grants this
    // endpoint serves: rfc6749_refresh.rs and admin_api.rs.)
    for grant in ["authorization_code", "password", "urn:ietf:params:oauth:grant-type:jwt"] {
        let response = app.post_form(PATH, &[("grant_type", grant), ("client_id", CLI), ("device_code", &code)]).await;
        expect_oauth_error(response, 400, "unsupported_grant_type").await;
    }
}

async fn missing_device_code_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_form(PATH, &[("grant_type", GRANT), ("client_id", CLI)]).await;
    expect_oauth_error(response, 400, "invalid_request").await;
}

async fn unknown_device_code_is_invalid_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app.poll("not-a-device-code-anyone-was-given").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
}

async fn unknown_client_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let code = device_code(&app.start_flow(&[]).await);
    let response = app.post_form(PATH, &[("grant_type", GRANT), ("client_id", "nobody"), ("device_code", &code)]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
}

async fn another_clients_device_code_is_invalid_grant_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_client("other-cli", ClientType::Public, &["full"], true).await;
    let flow = app.start_flow(&[]).await;
    let code = device_code(&flow);
    for _ in 0..3 {
        assert_eq!(app.poll_as(&code, "other-cli").await.1["error"], "invalid_grant");
    }
    // Its polls neither counted as the owner's first poll nor slowed it down.
    assert_eq!(app.poll(&code).await.1["error"], "authorization_pending");
    let account = app.ada().await;
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    app.advance(5);
    assert_eq!(app.poll_as(&code, "other-cli").await.1["error"], "invalid_grant");
    assert_eq!(app.poll(&code).await.0, 200, "the owner still redeems it");
}

async fn confidential_client_must_authenticate_to_poll(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.register_client("backup-agent", ClientType::Confidential, &["full"], true).await.expect("secret");
    let start =
        app.post_form("/v1/oauth/device/code", &[("client_id", "backup-agent"), ("client_secret", &secret)]).await;
    let code = device_code(&start.json().await.expect("json"));
    let bare =
        app.post_form(PATH, &[("grant_type", GRANT), ("client_id", "backup-agent"), ("device_code", &code)]).await;
    expect_oauth_error(bare, 401, "invalid_client").await;
    let form = [
        ("grant_type", GRANT),
        ("client_id", "backup-agent"),
        ("client_secret", secret.as_str()),
        ("device_code", &code),
    ];
    let authenticated = app.post_form(PATH, &form).await;
    expect_oauth_error(authenticated, 400, "authorization_pending").await;
}

async fn pending_flow_answers_authorization_pending(backend: Backend) {
    let app = spawn_app(backend).await;
    let code = device_code(&app.start_flow(&[]).await);
    let response = app.post_form(PATH, &[("grant_type", GRANT), ("client_id", CLI), ("device_code", &code)]).await;
    expect_oauth_error(response, 400, "authorization_pending").await;
}

async fn first_poll_is_never_slowed_and_a_client_honouring_interval_never_is(backend: Backend) {
    let app = spawn_app(backend).await;
    let code = device_code(&app.start_flow(&[]).await);
    for _ in 0..20 {
        assert_eq!(app.poll(&code).await.1["error"], "authorization_pending");
        app.advance(5);
    }
}

async fn early_poll_answers_slow_down_with_the_new_interval_which_holds(backend: Backend) {
    let app = spawn_app(backend).await;
    let code = device_code(&app.start_flow(&[]).await);
    assert_eq!(app.poll(&code).await.1["error"], "authorization_pending");
    let response = app.post_form(PATH, &[("grant_type", GRANT), ("client_id", CLI), ("device_code", &code)]).await;
    let body = expect_oauth_error(response, 400, "slow_down").await;
    assert_eq!(body["interval"], 10);
    // The new interval holds: 5 s is now too soon, and each early poll adds 5 s more.
    app.advance(5);
    let (_, body) = app.poll(&code).await;
    assert_eq!((body["error"].as_str(), body["interval"].as_u64()), (Some("slow_down"), Some(15)));
    app.advance(15);
    assert_eq!(app.poll(&code).await.1["error"], "authorization_pending");
    app.advance(15);
    assert_eq!(app.poll(&code).await.1["error"], "authorization_pending");
}

async fn denied_flow_answers_access_denied(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.ada().await;
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    app.services
        .device_flows
        .decide_as_account(user_code, &account, DecisionKind::Deny, &Visitor::default())
        .await
        .expect("deny");
    let code = device_code(&flow);
    let response = app.post_form(PATH, &[("grant_type", GRANT), ("client_id", CLI), ("device_code", &code)]).await;
    expect_oauth_error(response, 400, "access_denied").await;
    app.advance(5);
    assert_eq!(app.poll(&device_code(&flow)).await.1["error"], "access_denied", "a denial is final");
}

async fn expired_flow_answers_expired_token_until_its_tombstone_ends(backend: Backend) {
    let app = spawn_app(backend).await;
    let code = device_code(&app.start_flow(&[]).await);
    app.advance(600);
    let response = app.post_form(PATH, &[("grant_type", GRANT), ("client_id", CLI), ("device_code", &code)]).await;
    expect_oauth_error(response, 400, "expired_token").await;
    // The tombstone (600 s by default) keeps the answer, never invalid_grant.
    app.advance(599);
    assert_eq!(app.poll(&code).await.1["error"], "expired_token");
    // Its last instant included: no gap at the edge.
    app.advance(1);
    assert_eq!(app.poll(&code).await.1["error"], "expired_token");
    // Then the flow is forgotten. (Redis drops the key by its own clock,
    // which the injected test clock does not move.)
    if backend != Backend::PostgresRedis {
        app.advance(2);
        assert_eq!(app.poll(&code).await.1["error"], "invalid_grant");
    }
}

async fn approval_after_expiry_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.ada().await;
    let flow = app.start_flow(&[]).await;
    app.advance(600);
    let approved = app
        .services
        .device_flows
        .decide_as_account(
            flow["user_code"].as_str().expect("code"),
            &account,
            DecisionKind::Approve,
            &Visitor::default(),
        )
        .await;
    assert!(approved.is_err());
    assert_eq!(app.poll(&device_code(&flow)).await.1["error"], "expired_token");
}

async fn redeemed_code_answers_invalid_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.ada().await;
    let flow = app.start_flow(&[]).await;
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    assert_eq!(app.poll(&device_code(&flow)).await.0, 200);
    // Past the redelivery window (a retry of a lost answer) the code is spent.
    app.advance(gatehouse_core::flow::REDELIVERY_WINDOW.num_seconds());
    let response =
        app.post_form(PATH, &[("grant_type", GRANT), ("client_id", CLI), ("device_code", &device_code(&flow))]).await;
    expect_oauth_error(response, 400, "invalid_grant").await;
    // Still so after the flow's expiry, while its tombstone lasts.
    app.advance(900);
    assert_eq!(app.poll(&device_code(&flow)).await.1["error"], "invalid_grant");
}

async fn a_retry_whose_answer_was_lost_gets_the_same_token_until_it_is_used(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_client("other-cli", ClientType::Public, &["full"], true).await;
    let account = app.ada().await;
    let flow = app.start_flow(&[]).await;
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    let (status, first) = app.poll(&device_code(&flow)).await;
    assert_eq!(status, 200, "{first}");
    // Asking again at once is not slow_down (that would mean "still
    // pending", SPEC §4): the answer is final, the same token.
    let (status, at_once) = app.poll(&device_code(&flow)).await;
    assert_eq!((status, &at_once["access_token"]), (200, &first["access_token"]), "{at_once}");
    // The same client asks again within the window, honouring the interval:
    // the same token, with the lifetime it has left, and never a second row.
    app.advance(10);
    let (status, again) = app.poll(&device_code(&flow)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["access_token"], first["access_token"]);
    assert_eq!(again["token_id"], first["token_id"]);
    assert_eq!(again["expires_at"], first["expires_at"]);
    // What is left of its lifetime, in whole seconds (rounded down).
    let (first_left, left) = (first["expires_in"].as_u64().expect("secs"), again["expires_in"].as_u64().expect("secs"));
    assert!((first_left - 11..=first_left - 10).contains(&left), "{first_left} then {left}");
    // Audited as a redelivery once: the poll at once came too soon to be.
    let events = app.services.ports().audit.recent(50).await.expect("audit");
    let redelivered = events.iter().filter(|e| e.kind == gatehouse_core::ports::AuditKind::DeviceRedelivered).count();
    assert_eq!(redelivered, 1);
    // Another client presenting the code gets nothing.
    assert_eq!(app.poll_as(&device_code(&flow), "other-cli").await.1["error"], "invalid_grant");
    // Once the token is used its answer evidently arrived: the code is spent.
    let token = first["access_token"].as_str().expect("token");
    assert_eq!(app.me(token).await.status(), 200);
    app.advance(10);
    assert_eq!(app.poll(&device_code(&flow)).await.1["error"], "invalid_grant");
}

async fn a_retry_after_the_token_was_revoked_gets_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.ada().await;
    let flow = app.start_flow(&[]).await;
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    let (status, first) = app.poll(&device_code(&flow)).await;
    assert_eq!(status, 200, "{first}");
    let token = first["access_token"].as_str().expect("token");
    assert_eq!(app.post_form("/v1/oauth/revoke", &[("token", token), ("client_id", CLI)]).await.status(), 200);
    app.advance(5);
    assert_eq!(app.poll(&device_code(&flow)).await.1["error"], "invalid_grant");
}

async fn account_disabled_after_approval_gets_no_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.ada().await;
    let flow = app.start_flow(&[("device_label", "stolen-laptop")]).await;
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    app.disable_account_in_database(&account).await;
    let response =
        app.post_form(PATH, &[("grant_type", GRANT), ("client_id", CLI), ("device_code", &device_code(&flow))]).await;
    expect_oauth_error(response, 400, "access_denied").await;
    let now = app.clock_now();
    let ada = gatehouse_core::model::SubjectId::account(account.id);
    let rows = app.services.ports().tokens.list_active_for_subject(&ada, now).await.expect("list");
    assert!(rows.is_empty(), "no token row was minted: {rows:?}");
}

async fn success_carries_the_spec_fields_and_is_not_cached(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.ada().await;
    let flow = app.start_flow(&[("device_label", "ada-laptop")]).await;
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    let response =
        app.post_form(PATH, &[("grant_type", GRANT), ("client_id", CLI), ("device_code", &device_code(&flow))]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let token: serde_json::Value = response.json().await.expect("json");
    assert!(token["access_token"].as_str().is_some_and(|t| t.starts_with("gtha_") && t.len() == 41));
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!((token["expires_in"].as_u64(), token["scope"].as_str()), (Some(3600), Some("full")));
    assert!(token["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(token["token_id"].as_str().is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()));
    assert_eq!(token["subject_type"], "account");
    assert_eq!(token["account"]["id"], account.id.to_string());
    assert_eq!(token["account"]["email"], "ada@example.com");
    assert_eq!(token["workspaces"][0]["role"], "owner");
    assert_eq!(token["default_workspace_id"], token["workspaces"][0]["id"]);
}

async fn a_narrower_scope_is_what_the_token_carries(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_client("runner", ClientType::Public, &["full", "apps:run"], true).await;
    let account = app.ada().await;
    let start = app.post_form("/v1/oauth/device/code", &[("client_id", "runner"), ("scope", "apps:run")]).await;
    let flow: serde_json::Value = start.json().await.expect("json");
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    let (status, token) = app.poll_as(&device_code(&flow), "runner").await;
    assert_eq!((status, token["scope"].as_str()), (200, Some("apps:run")), "{token}");
}

on_every_backend!(
    missing_grant_type_is_invalid_request,
    other_grant_types_are_unsupported_grant_type,
    missing_device_code_is_invalid_request,
    unknown_device_code_is_invalid_grant,
    unknown_client_is_invalid_client,
    another_clients_device_code_is_invalid_grant_and_changes_nothing,
    confidential_client_must_authenticate_to_poll,
    pending_flow_answers_authorization_pending,
    first_poll_is_never_slowed_and_a_client_honouring_interval_never_is,
    early_poll_answers_slow_down_with_the_new_interval_which_holds,
    denied_flow_answers_access_denied,
    expired_flow_answers_expired_token_until_its_tombstone_ends,
    approval_after_expiry_is_refused,
    redeemed_code_answers_invalid_grant,
    a_retry_whose_answer_was_lost_gets_the_same_token_until_it_is_used,
    a_retry_after_the_token_was_revoked_gets_nothing,
    account_disabled_after_approval_gets_no_token,
    success_carries_the_spec_fields_and_is_not_cached,
    a_narrower_scope_is_what_the_token_carries,
);
