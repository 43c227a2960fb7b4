//! Where a device may start, and where its approver must be.

use super::{Person, app, audited, poll, set_policy, start_from};
use crate::helpers::{Backend, behind_proxy, set_limit, spawn_app_with};
use crate::on_every_backend;
use gatehouse_core::approval_policy::{ApprovalPolicy, ApproverNetwork};
use gatehouse_core::formats::network::Network;
use gatehouse_core::ports::AuditKind;
use gatehouse_core::rate_limit::Limiter;

on_every_backend!(
    a_phishing_drill_across_networks_gets_no_token_under_same_network,
    across_networks_under_any_the_approval_is_pointed_out_kept_and_found,
    listed_ranges_admit_only_established_addresses_inside_them,
    a_device_outside_its_clients_networks_is_refused_and_nothing_is_stored,
);

fn ranges(typed: &str) -> Vec<Network> {
    Network::parse_list(typed).expect("ranges")
}

/// A device at 198.51.100.9; the victim follows a mailed link at
/// 203.0.113.7. Under `same_network` nothing they do releases a token, and
/// the right person on the device's network still can.
async fn a_phishing_drill_across_networks_gets_no_token_under_same_network(backend: Backend) {
    let app = app(backend).await;
    set_policy(&app, ApprovalPolicy { approver_network: ApproverNetwork::SameNetwork, ..Default::default() }).await;
    let flow = start_from(&app, "198.51.100.9").await;
    let victim = Person::at(&app, "ada@example.com", "203.0.113.7").await;

    // The page says so before anyone decides, with both networks, and
    // offers the victim a Deny.
    let (status, page) = victim.page(&flow.user_code).await;
    assert_eq!(status, 403);
    assert!(page.contains("Approve from the same network as the device"), "{page}");
    assert!(page.contains("198.51.100.9") && page.contains("203.0.113.7"), "{page}");
    assert!(page.contains(">Deny<"), "{page}");

    // The server function: 403 with the named code and both networks.
    let (status, body) = victim.decide("approve", &flow.user_code).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("network_not_allowed")), "{body}");
    let description = body["error_description"].as_str().expect("description");
    assert!(description.contains("198.51.100.9") && description.contains("203.0.113.7"), "{description}");
    // JavaScript off: back to the page with the code.
    let back = victim.decide_js_off("approve", &flow.user_code).await;
    assert!(back.contains("error=network_not_allowed"), "{back}");

    // Nothing changed: the device is still pending, and it was audited.
    let (status, body) = poll(&app, &flow.device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");
    let refused = audited(&app, AuditKind::DeviceApprovalRefused).await;
    assert_eq!(refused.len(), 2, "each refused approval is audited");
    assert_eq!(refused[0].details["refusal"], "network_not_allowed");
    assert_eq!(refused[0].details["device_network"], "198.51.100.9");
    assert_eq!(refused[0].details["approver_network"], "203.0.113.7");
    // A refused person is nobody's second person: the owner, on the
    // device's network, approves and the device gets its token.
    let owner = Person::at(&app, "grace@example.com", "198.51.100.9").await;
    let (status, body) = owner.decide("approve", &flow.user_code).await;
    assert_eq!(status, 200, "{body}");
    let (status, token) = poll(&app, &flow.device_code).await;
    assert_eq!(status, 200, "{token}");
    let grant = app.services.ports().tokens.find_by_id(token["token_id"].as_str().expect("id").parse().expect("uuid"));
    let evidence = grant.await.expect("find").expect("grant").approval.expect("evidence kept");
    assert_eq!(evidence.proximity, gatehouse_core::approval_policy::Proximity::Same);
    assert_eq!(evidence.policy.approver_network, ApproverNetwork::SameNetwork);
}

/// Under `any` (every client's default) the approval goes through, with the
/// notice and the audit event; the grant keeps it, and the admin listing's
/// filter finds it.
async fn across_networks_under_any_the_approval_is_pointed_out_kept_and_found(backend: Backend) {
    let app = app(backend).await;
    let crossed = start_from(&app, "198.51.100.9").await;
    let ada = Person::at(&app, "ada@example.com", "203.0.113.7").await;
    let (status, page) = ada.page(&crossed.user_code).await;
    assert_eq!(status, 200);
    assert!(page.contains("That is a different network from yours"), "{page}");
    assert_eq!(ada.decide("approve", &crossed.user_code).await.0, 200);
    let approved = audited(&app, AuditKind::DeviceApproved).await;
    assert_eq!(approved[0].details["proximity"], "different");
    let (status, token) = poll(&app, &crossed.device_code).await;
    assert_eq!(status, 200, "{token}");

    let same = start_from(&app, "203.0.113.7").await;
    assert_eq!(ada.decide("approve", &same.user_code).await.0, 200);
    assert_eq!(poll(&app, &same.device_code).await.0, 200);

    let listed = |crossed_only: bool| {
        let app = &app;
        let admin = gatehouse_core::Admin::command_line();
        async move {
            let filter = gatehouse_core::services::authorizations::AuthorizationFilter {
                crossed_networks: crossed_only,
                ..Default::default()
            };
            let page = app.services.authorizations.search(&admin, &filter, None, 50).await.expect("search");
            page.items.into_iter().map(|item| item.record).collect::<Vec<_>>()
        }
    };
    let crossing = listed(true).await;
    assert_eq!(crossing.len(), 1, "only the approval that crossed networks");
    let evidence = crossing[0].approval.clone().expect("evidence");
    assert_eq!(evidence.device_network.as_deref(), Some("198.51.100.9"));
    assert_eq!(evidence.approver_network.as_deref(), Some("203.0.113.7"));
    assert!(!evidence.confirmed_on_device);
    assert_eq!(listed(false).await.len(), 2);
    // The console's listing says it in words.
    let csrf = app.as_admin("/admin/authorized-apps").await;
    assert!(!csrf.is_empty());
    let html = app.page_html("/admin/authorized-apps?crossed=yes").await;
    assert!(html.contains("Approved from 203.0.113.7 (a different network than the device"), "{html}");
}

/// `listed`: only an established address inside the ranges; an unreadable
/// forwarding header falls back to the proxy's own address, which matches
/// nothing even when a range holds it.
async fn listed_ranges_admit_only_established_addresses_inside_them(backend: Backend) {
    let app = app(backend).await;
    let policy = ApprovalPolicy {
        approver_network: ApproverNetwork::Listed,
        approver_networks: ranges("192.0.2.0/24, 127.0.0.0/8"),
        ..Default::default()
    };
    set_policy(&app, policy).await;
    let flow = start_from(&app, "198.51.100.9").await;
    let outside = Person::at(&app, "ada@example.com", "203.0.113.7").await;
    let (status, body) = outside.decide("approve", &flow.user_code).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("network_not_allowed")), "{body}");
    let (_, page) = outside.page(&flow.user_code).await;
    assert!(page.contains("listed networks"), "{page}");
    // The proxy could not read the header: its own 127.0.0.1 is no proof.
    let unreadable = outside.from("192.0.2.5, garbage");
    let (status, body) = unreadable.decide("approve", &flow.user_code).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("network_not_allowed")), "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| d.contains("could not be determined")), "{body}");
    let inside = outside.from("192.0.2.5");
    assert_eq!(inside.decide("approve", &flow.user_code).await.0, 200);
    assert_eq!(poll(&app, &flow.device_code).await.0, 200);
}

/// `device_networks`: a device outside them gets `400 unauthorized_client`
/// saying why, and nothing is stored (not even a unit of the client's
/// issuance quota spent); an unreadable header is outside.
async fn a_device_outside_its_clients_networks_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        behind_proxy(config, &["127.0.0.1"]);
        set_limit(config, Limiter::DeviceAuthorizationPerClient, "2/1h");
    })
    .await;
    set_policy(&app, ApprovalPolicy { device_networks: ranges("10.0.0.0/8, 127.0.0.0/8"), ..Default::default() }).await;
    for from in ["198.51.100.9", "10.1.2.3, garbage"] {
        let response = app.start_flow_forwarded(from).await;
        assert_eq!(response.status(), 400, "{from}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"], "unauthorized_client", "{from}: {body}");
        assert!(body["error_description"].as_str().is_some_and(|d| d.starts_with("network_not_allowed")), "{body}");
    }
    // Both units of the quota are still there (a third request would have
    // to fall back on the address's reserve).
    for _ in 0..2 {
        let started = start_from(&app, "10.1.2.3").await;
        assert_eq!(app.poll(&started.device_code).await.1["error"], "authorization_pending");
    }
}
