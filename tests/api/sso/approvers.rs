//! A client whose approvers are SSO groups: the groups of the sign-in that
//! approves decide, and anyone else is refused but may still deny.

use super::{CONTEXT, approval_context, expect_app_error, signed_in_as, sso_app, still_pending};
use crate::helpers::{Backend, CLI};
use crate::on_every_backend;
use crate::sso_provider::{Spoil, TestProvider};
use gatehouse_core::approval_policy::{ApprovalPolicy, Approvers};
use serde_json::json;

on_every_backend!(approvers_by_group_are_read_from_the_sign_in_that_approves);

async fn approvers_by_group_are_read_from_the_sign_in_that_approves(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &["sso.example"]).await;
    let admin = gatehouse_core::Admin::command_line();
    let client = app.services.clients.get(&admin, CLI).await.expect("get").expect("client");
    let approvers = Approvers::parse("group:platform").expect("approvers");
    let edit = gatehouse_core::ports::ClientEdit {
        name: client.name,
        allowed_scopes: client.allowed_scopes,
        device_grant_enabled: true,
        policy: client.policy,
        approval: ApprovalPolicy { approvers, ..ApprovalPolicy::default() },
    };
    app.services.clients.update(&admin, CLI, edit).await.expect("update");
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code");

    // Sam signs in without the group: the page says why and offers Deny only.
    signed_in_as(&app, &provider, user_code, Spoil::default()).await;
    let context = approval_context(app.browser.get(app.url(CONTEXT))).await;
    assert_eq!(context["refusal"]["code"], "approver_not_allowed", "{context}");
    let html = app.page_html("/v1/oauth/device/authorize-sso").await;
    assert!(html.contains("members of certain groups") && !html.contains(">Approve<"), "{html}");
    let csrf = context["csrf_token"].as_str().expect("csrf").to_owned();
    let refused =
        app.browser_post("/v1/oauth/device/approve-external", &[("user_code", user_code), ("csrf_token", &csrf)]).await;
    expect_app_error(refused, 403, "approver_not_allowed").await;
    still_pending(&app, user_code).await;

    // In the group, the same person approves.
    let member = Spoil { extra_claims: vec![("groups", json!(["sales", "platform"]))], ..Spoil::default() };
    signed_in_as(&app, &provider, user_code, member).await;
    let context = approval_context(app.browser.get(app.url(CONTEXT))).await;
    assert!(context["refusal"].is_null(), "{context}");
    let csrf = context["csrf_token"].as_str().expect("csrf").to_owned();
    let approved =
        app.browser_post("/v1/oauth/device/approve-external", &[("user_code", user_code), ("csrf_token", &csrf)]).await;
    assert_eq!(approved.status(), 200);
    app.advance(6);
    let (status, token) = app.poll(flow["device_code"].as_str().expect("device code")).await;
    assert_eq!(status, 200, "{token}");
}
