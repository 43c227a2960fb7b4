//! Confirm on the device: the approval page's six digits, sent back with
//! the poll, or no token; and `gatehouse login` doing so end to end.

use super::{Person, app, audited, poll, poll_confirming, set_policy, start_from};
use crate::command_line::read_until_waiting;
use crate::helpers::{Backend, TestApp};
use crate::on_every_backend;
use gatehouse_core::approval_policy::{ApprovalPolicy, DeviceConfirmation};
use gatehouse_core::ports::AuditKind;
use std::io::Write;
use std::process::Stdio;

on_every_backend!(
    an_approval_waits_for_the_code_the_browser_shows,
    three_wrong_codes_deny_the_request_and_no_code_is_ever_audited,
    gatehouse_login_asks_for_the_code_and_signs_in,
);

fn confirming() -> ApprovalPolicy {
    ApprovalPolicy { device_confirmation: DeviceConfirmation::Required, ..Default::default() }
}

/// The six digits the approving browser shows for `user_code`.
async fn shown_code(app: &TestApp, person: &Person, user_code: &str) -> String {
    let (status, page) = person.page(user_code).await;
    assert_eq!(status, 200);
    assert!(page.contains("Approved: now confirm on your device"), "{page}");
    let start = page.find("confirmation-code").expect("the code on the page");
    let digits: String = page[start..].chars().skip_while(|c| *c != '>').filter(char::is_ascii_digit).take(6).collect();
    assert_eq!(digits.len(), 6, "{page}");
    let flow = app.services.device_flows.find_any(user_code).await.expect("find").expect("flow");
    assert_eq!(digits, app.services.device_flows.confirmation_code(&flow));
    digits
}

async fn an_approval_waits_for_the_code_the_browser_shows(backend: Backend) {
    let app = app(backend).await;
    set_policy(&app, confirming()).await;
    let answer: serde_json::Value = app.start_flow_forwarded("198.51.100.9").await.json().await.expect("json");
    assert_eq!(answer["confirmation_required"], true);
    let device_code = answer["device_code"].as_str().expect("dc").to_owned();
    let user_code = answer["user_code"].as_str().expect("uc").to_owned();
    let ada = Person::at(&app, "ada@example.com", "198.51.100.9").await;
    assert_eq!(ada.decide("approve", &user_code).await.0, 200);
    let code = shown_code(&app, &ada, &user_code).await;

    // A stock client polling without the code keeps hearing pending.
    let (status, body) = poll(&app, &device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| d.contains("confirmation code")), "{body}");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = poll_confirming(&app, &device_code, wrong).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("confirmation_failed")), "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| d.contains("2 tries left")), "{body}");
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let (status, token) = poll_confirming(&app, &device_code, &spaced).await;
    assert_eq!(status, 200, "{token}");
    let grant = app.services.ports().tokens.find_by_id(token["token_id"].as_str().expect("id").parse().expect("uuid"));
    assert!(grant.await.expect("find").expect("grant").approval.expect("evidence").confirmed_on_device);
    // A client without the setting is unaffected by a stray code.
    assert!(start_from(&app, "198.51.100.9").await.device_code.len() > 10);
}

async fn three_wrong_codes_deny_the_request_and_no_code_is_ever_audited(backend: Backend) {
    let app = app(backend).await;
    set_policy(&app, confirming()).await;
    let flow = start_from(&app, "198.51.100.9").await;
    let ada = Person::at(&app, "ada@example.com", "198.51.100.9").await;
    assert_eq!(ada.decide("approve", &flow.user_code).await.0, 200);
    let code = shown_code(&app, &ada, &flow.user_code).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in ["2 tries left", "1 try left"] {
        let (_, body) = poll_confirming(&app, &flow.device_code, wrong).await;
        assert!(body["error_description"].as_str().is_some_and(|d| d.contains(left)), "{body}");
    }
    let (status, body) = poll_confirming(&app, &flow.device_code, wrong).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "{body}");
    let (status, body) = poll_confirming(&app, &flow.device_code, &code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "denied for good: {body}");
    assert_eq!(audited(&app, AuditKind::DeviceConfirmationFailed).await.len(), 1);
    // The approver's page no longer shows a code to type: the request is denied.
    let (_, page) = ada.page(&flow.user_code).await;
    assert!(page.contains(">Denied<") && !page.contains("confirmation-code"), "{page}");
    let everything = app.services.ports().audit.recent(500).await.expect("audit");
    for event in everything {
        assert!(!event.details.to_string().contains(&code), "{:?} names the code", event.kind);
    }
}

async fn gatehouse_login_asks_for_the_code_and_signs_in(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    set_policy(&app, confirming()).await;
    let ada = app.ada().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let _time = app.let_time_pass();
    let mut login = crate::helpers::gatehouse_command()
        .args(["login", "--no-qr", "--device-label", "confirming", "--server", &app.address])
        .env("GATEHOUSE_CREDENTIALS_FILE", dir.path().join("credentials.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("login");
    let printed = read_until_waiting(login.stdout.take().expect("stdout")).await;
    assert!(printed.iter().any(|l| l.contains("six-digit code")), "{printed:?}");
    let user_code = printed.iter().map(|l| l.trim()).find(|l| l.len() == 9 && l.as_bytes()[4] == b'-').expect("code");
    app.approve(user_code, &ada).await;
    let flow = app.services.device_flows.find_any(user_code).await.expect("find").expect("flow");
    let code = app.services.device_flows.confirmation_code(&flow);
    let mut stdin = login.stdin.take().expect("stdin");
    writeln!(stdin, "{code}").expect("type the code");
    let status = tokio::task::spawn_blocking(move || login.wait()).await.expect("join").expect("wait");
    assert!(status.success());
    let ada_id = gatehouse_core::model::SubjectId::account(ada.id);
    let grants = app.services.ports().tokens.list_active_for_subject(&ada_id, app.clock_now()).await.expect("list");
    let confirmed = |g: &gatehouse_core::model::AccessTokenRecord| {
        g.device_label == "confirming" && g.approval.as_ref().is_some_and(|a| a.confirmed_on_device)
    };
    assert!(grants.iter().any(confirmed), "{grants:?}");
}
