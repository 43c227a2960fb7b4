//! SPEC §7 audit events: each one is stored with who did what, from where,
//! and read back here through the audit port.

use crate::helpers::{Backend, CLI, PASSWORD, TestApp, spawn_app};
use crate::on_every_backend;
use gatehouse_core::Actor;
use gatehouse_core::ports::{AuditEvent, AuditKind};
use gatehouse_core::rate_limit::Visitor;
use gatehouse_core::services::device_flow::DecisionKind;

/// Stored events of `kind`, newest first.
async fn events(app: &TestApp, kind: AuditKind) -> Vec<AuditEvent> {
    let all = app.services.ports().audit.recent(500).await.expect("read audit log");
    all.into_iter().filter(|e| e.kind == kind).collect()
}

async fn approvals_denials_and_redemptions_are_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.ada().await;

    // Approved from one address, redeemed (polled) from another.
    let flow = app.start_flow(&[("device_label", "build-box")]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    app.services
        .device_flows
        .decide_as_account(user_code, &account, DecisionKind::Approve, &Visitor::from_ip(Some("198.51.100.7".into())))
        .await
        .expect("approve");
    let (status, first) = app.poll(flow["device_code"].as_str().expect("code")).await;
    assert_eq!(status, 200);

    let approved = events(&app, AuditKind::DeviceApproved).await;
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].actor, Some(Actor::Account { email: "ada@example.com".into() }));
    assert_eq!(approved[0].client_id.as_deref(), Some(CLI));
    assert_eq!(approved[0].ip.as_deref(), Some("198.51.100.7"));
    // The flow is named by its public id, never by its user code.
    let details = approved[0].details.to_string();
    assert!(!details.contains(user_code) && !details.contains(&user_code.replace('-', "")), "{details}");
    let flow_id = approved[0].details["flow"].as_str().expect("flow id");
    assert!(flow_id.len() == 32 && flow_id.chars().all(|c| c.is_ascii_hexdigit()), "{flow_id}");
    assert_eq!(approved[0].details["device_label"], "build-box");

    let redeemed = events(&app, AuditKind::DeviceRedeemed).await;
    assert_eq!(redeemed.len(), 1);
    assert_eq!(redeemed[0].details["rotated"], false);
    assert_eq!(redeemed[0].details["token_id"], first["token_id"]);
    assert_eq!(redeemed[0].subject.as_deref(), Some("ada@example.com"));

    let moved = events(&app, AuditKind::PollFromDifferentIp).await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].details["approved_from_ip"], "198.51.100.7");
    assert_eq!(moved[0].ip.as_deref(), Some("127.0.0.1"));

    // The same device again: the redemption says it rotated.
    let again = app.redeemed(&[("device_label", "build-box")]).await;
    let redeemed = events(&app, AuditKind::DeviceRedeemed).await;
    assert_eq!(redeemed.len(), 2);
    assert_eq!(redeemed[0].details["rotated"], true);
    assert_eq!(redeemed[0].details["token_id"], again["token_id"]);
    assert_eq!(events(&app, AuditKind::PollFromDifferentIp).await.len(), 1, "same address: no event");

    let denied_flow = app.start_flow(&[]).await;
    let denied_code = denied_flow["user_code"].as_str().expect("code");
    app.services
        .device_flows
        .decide_as_account(denied_code, &account, DecisionKind::Deny, &Visitor::default())
        .await
        .expect("deny");
    let denied = events(&app, AuditKind::DeviceDenied).await;
    assert_eq!(denied.len(), 1);
    assert!(denied[0].details["user_code"].is_null());
    assert_ne!(denied[0].details["flow"], approved[0].details["flow"]);
}

async fn revocations_say_by_whom_and_expiry_is_recorded_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let by_self = app.token_for("laptop").await;
    let response = app.device.delete(app.url("/v1/oauth/authorizations/self")).bearer_auth(&by_self).send().await;
    assert_eq!(response.expect("request").status(), 204);
    let by_client = app.token_for("phone").await;
    let response = app.post_form("/v1/oauth/revoke", &[("client_id", CLI), ("token", &by_client)]).await;
    assert_eq!(response.status(), 200);

    let revoked = events(&app, AuditKind::TokenRevoked).await;
    assert_eq!(revoked.len(), 2);
    assert_eq!(
        (revoked[0].details["by"].as_str(), revoked[0].actor.clone()),
        (Some("client"), Some(Actor::Client { client_id: CLI.into() }))
    );
    assert_eq!(
        (revoked[1].details["by"].as_str(), revoked[1].actor.clone()),
        (Some("self"), Some(Actor::Account { email: "ada@example.com".into() }))
    );

    // An expired token met by several requests at once is recorded once.
    let expiring = app.token_for("expiring").await;
    app.advance(30 * 24 * 3600);
    let requests = (0..8).map(|_| app.me(&expiring));
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.status(), 401);
    }
    let expired = events(&app, AuditKind::TokenExpired).await;
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0].actor, Some(Actor::System));
}

async fn failed_sign_ins_are_recorded_without_the_password(backend: Backend) {
    let app = spawn_app(backend).await;
    app.ada().await;
    let response = app.sign_in("ada@example.com", "not the password").await;
    assert!(!response.status().is_server_error());
    let failed = events(&app, AuditKind::SignInFailed).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].subject.as_deref(), Some("ada@example.com"));
    let stored = format!("{:?}", failed[0]);
    assert!(!stored.contains("not the password") && !stored.contains(PASSWORD));
}

on_every_backend!(
    approvals_denials_and_redemptions_are_recorded,
    revocations_say_by_whom_and_expiry_is_recorded_once,
    failed_sign_ins_are_recorded_without_the_password,
);
