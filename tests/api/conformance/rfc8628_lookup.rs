//! `GET /v1/oauth/device/lookup` (SPEC §3): pre-validates what a person
//! typed, accepting every normalized form, and reveals nothing about codes
//! that are not pending.

use crate::helpers::{Backend, CLI, expect_oauth_error, spawn_app};
use crate::on_every_backend;
use gatehouse_core::rate_limit::Visitor;
use gatehouse_core::services::device_flow::DecisionKind;
use serde_json::{Value, json};

async fn lookup(app: &crate::helpers::TestApp, user_code: &str) -> Value {
    let response =
        app.device.get(app.url("/v1/oauth/device/lookup")).query(&[("user_code", user_code)]).send().await.expect("r");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.expect("json")
}

async fn a_pending_code_is_valid_in_any_typed_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let flow = app.start_flow(&[]).await;
    let code = flow["user_code"].as_str().expect("code");
    let bare = code.replace('-', "");
    let full_width: String =
        bare.chars().map(|c| char::from_u32(c as u32 - 'A' as u32 + 'Ａ' as u32).unwrap_or(c)).collect();
    for typed in [
        code.to_owned(),
        code.to_lowercase(),
        format!(" {} {} ", &bare[..4], &bare[4..]),
        code.replace('-', "–"),
        full_width,
    ] {
        let body = lookup(&app, &typed).await;
        assert_eq!(body["valid"], true, "{typed}");
        assert_eq!(body["client_id"], CLI);
        assert_eq!(body["client_name"], "Gatehouse CLI");
        assert_eq!(body["expires_in_remaining"], 600);
    }
}

async fn unknown_decided_and_expired_codes_are_just_invalid(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.ada().await;
    let denied = app.start_flow(&[]).await;
    let denied = denied["user_code"].as_str().expect("code");
    app.services
        .device_flows
        .decide_as_account(denied, &account, DecisionKind::Deny, &Visitor::default())
        .await
        .expect("deny");
    let expiring = app.start_flow(&[]).await;
    app.advance(600);
    for code in ["BCDF-GHJK", "not a code", denied, expiring["user_code"].as_str().expect("code")] {
        assert_eq!(lookup(&app, code).await, json!({ "valid": false }), "{code}");
    }
}

async fn missing_user_code_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.device.get(app.url("/v1/oauth/device/lookup")).send().await.expect("request");
    expect_oauth_error(response, 400, "invalid_request").await;
}

on_every_backend!(
    a_pending_code_is_valid_in_any_typed_form,
    unknown_decided_and_expired_codes_are_just_invalid,
    missing_user_code_is_invalid_request,
);
