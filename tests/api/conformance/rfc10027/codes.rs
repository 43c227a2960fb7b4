//! How long a code may be used, one person per code, and who may approve.

use super::{Person, app, audited, poll, set_policy, start_from};
use crate::helpers::Backend;
use crate::on_every_backend;
use gatehouse_core::approval_policy::{ApprovalPolicy, Approvers};
use gatehouse_core::ports::AuditKind;

on_every_backend!(
    a_code_past_its_clients_maximum_age_is_refused_and_its_device_told_expired,
    a_second_person_ends_a_pending_request_and_both_are_told,
    a_second_person_revokes_the_grant_a_redeemed_code_produced,
    the_same_browser_switching_accounts_is_not_a_second_person,
    a_person_the_policy_refuses_is_no_second_person,
    approvers_who_are_not_admins_are_refused_and_may_still_deny,
);

async fn a_code_past_its_clients_maximum_age_is_refused_and_its_device_told_expired(backend: Backend) {
    let app = app(backend).await;
    let policy = ApprovalPolicy { max_code_age_secs: Some(60), code_lifetime_secs: Some(300), ..Default::default() };
    set_policy(&app, policy).await;
    let started = app.start_flow_forwarded("198.51.100.9").await;
    let flow: serde_json::Value = started.json().await.expect("json");
    assert_eq!(flow["expires_in"], 300, "the client's own code lifetime");
    let (device_code, user_code) =
        (flow["device_code"].as_str().expect("dc").to_owned(), flow["user_code"].as_str().expect("uc").to_owned());
    let ada = Person::at(&app, "ada@example.com", "198.51.100.9").await;
    assert_eq!(ada.page(&user_code).await.0, 200, "young enough");
    app.advance(61);
    let (status, page) = ada.page(&user_code).await;
    assert_eq!(status, 403);
    assert!(page.contains("This code is too old") && page.contains("within a minute"), "{page}");
    assert!(!page.contains(">Deny<"), "past deciding: {page}");
    let (status, body) = ada.decide("approve", &user_code).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("code_too_old")), "{body}");
    // Entering it goes to the request, which says the same.
    assert!(ada.enter(&user_code).await.contains("user_code="));
    let (status, body) = app.poll(&device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("expired_token")), "{body}");
}

async fn a_second_person_ends_a_pending_request_and_both_are_told(backend: Backend) {
    let app = app(backend).await;
    let flow = start_from(&app, "198.51.100.9").await;
    let ada = Person::at(&app, "ada@example.com", "198.51.100.20").await;
    let eve = Person::at(&app, "eve@example.com", "203.0.113.7").await;
    // Ada types the code: she holds it. Eve following a link changes nothing,
    // and her page says someone else already has it.
    assert!(ada.enter(&flow.user_code).await.ends_with(&format!("user_code={}", flow.user_code)));
    let (status, page) = eve.page(&flow.user_code).await;
    assert_eq!(status, 200);
    assert!(page.contains("Someone else already entered this code"), "{page}");
    assert!(!ada.page(&flow.user_code).await.1.contains("Someone else already entered"), "not to Ada");
    assert_eq!(poll(&app, &flow.device_code).await.1["error"], "authorization_pending");

    // Eve types it too: the request ends.
    eve.enter(&flow.user_code).await;
    let (status, body) = poll(&app, &flow.device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "{body}");
    let (_, eves) = eve.page(&flow.user_code).await;
    assert!(eves.contains("Someone else had already entered this code"), "{eves}");
    let (_, adas) = ada.page(&flow.user_code).await;
    assert!(adas.contains("After you, someone else entered the same code"), "{adas}");
    let (status, body) = ada.decide("approve", &flow.user_code).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("already_resolved")), "{body}");
    let shared = audited(&app, AuditKind::DeviceCodeShared).await;
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].details["first"]["email"], "ada@example.com");
    assert_eq!(shared[0].details["first"]["network"], "198.51.100.20");
    assert_eq!(shared[0].details["second"]["network"], "203.0.113.7");
    assert_eq!(shared[0].details["device_network"], "198.51.100.9");
    // A third person sees the generic page.
    let mallory = Person::at(&app, "mallory@example.com", "192.0.2.1").await;
    assert!(mallory.page(&flow.user_code).await.1.contains("This code isn’t valid"));
}

async fn a_second_person_revokes_the_grant_a_redeemed_code_produced(backend: Backend) {
    let app = app(backend).await;
    let flow = start_from(&app, "198.51.100.9").await;
    let victim = Person::at(&app, "ada@example.com", "203.0.113.7").await;
    assert_eq!(victim.decide("approve", &flow.user_code).await.0, 200);
    let (status, token) = poll(&app, &flow.device_code).await;
    assert_eq!(status, 200);
    let access = token["access_token"].as_str().expect("token").to_owned();
    assert_eq!(app.me(&access).await.status(), 200);

    // The kit mailed the same code to a second inbox.
    let second = Person::at(&app, "grace@example.com", "192.0.2.44").await;
    let (status, body) = second.decide("deny", &flow.user_code).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("code_shared")), "{body}");
    assert_eq!(app.me(&access).await.status(), 401, "revoked at once");
    let revoked = audited(&app, AuditKind::TokenRevoked).await;
    assert_eq!(revoked[0].details["by"], "code_shared", "{:?}", revoked[0].details);
    let shared = audited(&app, AuditKind::DeviceCodeShared).await;
    assert_eq!(shared[0].details["revoked_token_id"], token["token_id"]);
    let (_, page) = victim.page(&flow.user_code).await;
    assert!(page.contains("After you, someone else entered the same code"), "{page}");
}

async fn the_same_browser_switching_accounts_is_not_a_second_person(backend: Backend) {
    let app = app(backend).await;
    let flow = start_from(&app, "198.51.100.9").await;
    app.create_account("grace@example.com").await;
    let ada = Person::at(&app, "ada@example.com", "198.51.100.9").await;
    ada.enter(&flow.user_code).await;
    // "Not you? Switch account": sign out, and in as Grace, same browser.
    let csrf = ada.csrf().await;
    let out = ada.post("/console/api/signout").form(&[("csrf_token", csrf.as_str())]).send().await.expect("out");
    assert!(out.status().is_success() || out.status().is_redirection(), "{}", out.status());
    let csrf = hidden_input_of(&ada, "/signin").await;
    let signed = ada
        .post("/console/api/signin")
        .form(&[("email", "grace@example.com"), ("password", crate::helpers::PASSWORD), ("csrf_token", &csrf)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed.status(), 200);
    let (status, body) = ada.decide("approve", &flow.user_code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(poll(&app, &flow.device_code).await.0, 200);
    assert!(audited(&app, AuditKind::DeviceCodeShared).await.is_empty());
}

async fn hidden_input_of(person: &Person, path: &str) -> String {
    let html = person.get(path).send().await.expect("page").text().await.expect("html");
    crate::helpers::hidden_input(&html, "csrf_token").expect("csrf")
}

async fn a_person_the_policy_refuses_is_no_second_person(backend: Backend) {
    let app = app(backend).await;
    set_policy(&app, ApprovalPolicy { approvers: Approvers::Admins, ..Default::default() }).await;
    let flow = start_from(&app, "198.51.100.9").await;
    let ada = Person::at(&app, "ada@example.com", "198.51.100.9").await;
    // Ada may not approve: entering the code makes her no holder.
    ada.enter(&flow.user_code).await;
    let (status, page) = ada.page(&flow.user_code).await;
    assert_eq!(status, 403);
    assert!(page.contains("Gatehouse administrators"), "{page}");
    app.create_admin("root@example.com").await;
    let root = Person::signed_in(&app, "root@example.com", "198.51.100.9").await;
    assert!(!root.page(&flow.user_code).await.1.contains("Someone else already entered"));
    assert_eq!(root.decide("approve", &flow.user_code).await.0, 200);
    assert_eq!(poll(&app, &flow.device_code).await.0, 200);
}

async fn approvers_who_are_not_admins_are_refused_and_may_still_deny(backend: Backend) {
    let app = app(backend).await;
    set_policy(&app, ApprovalPolicy { approvers: Approvers::Admins, ..Default::default() }).await;
    let flow = start_from(&app, "198.51.100.9").await;
    let ada = Person::at(&app, "ada@example.com", "198.51.100.9").await;
    let (status, body) = ada.decide("approve", &flow.user_code).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("approver_not_allowed")), "{body}");
    assert_eq!(poll(&app, &flow.device_code).await.1["error"], "authorization_pending");
    // The refusal page's Deny works with JavaScript off.
    let back = ada.decide_js_off("deny", &flow.user_code).await;
    assert!(!back.contains("error="), "{back}");
    assert_eq!(poll(&app, &flow.device_code).await.1["error"], "access_denied");
}
