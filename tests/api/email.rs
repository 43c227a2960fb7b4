//! Email to the person, against a real SMTP server (Python's `aiosmtpd`,
//! `tests/support/smtp_sink.py`): the notice of every approval in their
//! name, and the password change and reset by an emailed single-use link.

use crate::helpers::{Backend, PASSWORD, TestApp, behind_proxy, hidden_input, spawn_app_with};
use crate::on_every_backend;
use gatehouse::config::{Config, SmtpConfig};
use gatehouse_core::ports::{AuditKind, AuditQuery};
use serde_json::Value;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running SMTP server that keeps every message it is given.
pub struct SmtpSink {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl SmtpSink {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3 tests/support/smtp_sink.py (pip install aiosmtpd)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the SMTP sink did not start: {line:?}"));
        Self { child, dir, port }
    }

    /// The mail server settings for this sink, without TLS (it is on this
    /// machine).
    pub fn plain_config(&self) -> SmtpConfig {
        SmtpConfig::new(&format!("smtp://127.0.0.1:{}", self.port), "Gatehouse <gatehouse@example.com>")
            .expect("smtp settings")
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .expect("read dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json")).collect()
    }

    /// Waits until `count` messages have arrived (sending is off the
    /// request path), and returns them.
    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(std::time::Instant::now() < deadline, "{count} emails expected, {} arrived", messages.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with_mail(sink: &SmtpSink) -> impl FnOnce(&mut Config) + '_ {
    move |config: &mut Config| config.smtp = Some(sink.plain_config())
}

async fn events(app: &TestApp, kind: AuditKind) -> Vec<gatehouse_core::ports::AuditRecord> {
    let query = AuditQuery { kind: Some(kind), limit: 50, ..AuditQuery::default() };
    app.services.ports().audit.search(&query).await.expect("audit")
}

/// The link in an email's text that starts with `prefix`.
fn link(text: &str, prefix: &str) -> String {
    text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} link in:\n{text}")).to_owned()
}

on_every_backend!(
    approving_a_device_emails_the_person_over_tls,
    an_sso_persons_approval_is_emailed_to_them,
    a_person_changes_their_password,
    a_forgotten_password_is_reset_by_a_single_use_link,
    reset_links_expire_are_limited_and_die_with_a_newer_password,
    without_a_mail_server_nobody_is_offered_a_reset,
    both_people_who_took_up_one_code_are_emailed,
);

/// The approval notice names the client, the device as it reported itself,
/// both addresses and their networks, the time, and where to revoke; sent
/// over SMTPS to a server whose certificate only `GATEHOUSE_CA_FILE` trusts.
async fn approving_a_device_emails_the_person_over_tls(backend: Backend) {
    let sink = SmtpSink::start();
    let ca = crate::tls::TestCa::new();
    let tls_port = ca.terminate_tls(sink.port).await;
    let app = spawn_app_with(backend, |config| {
        behind_proxy(config, &["127.0.0.1"]);
        config.ca = ca.roots();
        config.smtp = Some(
            SmtpConfig::new(&format!("smtps://localhost:{tls_port}"), "Gatehouse <gatehouse@example.com>")
                .expect("smtp settings"),
        );
    })
    .await;
    let ada = app.ada().await;
    let flow: Value = app
        .device
        .post(app.url("/v1/oauth/device/code"))
        .header("x-forwarded-for", "2001:db8:1:2::7")
        .form(&[("client_id", crate::helpers::CLI), ("device_label", "ada's build box")])
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    app.approve(flow["user_code"].as_str().expect("user_code"), &ada).await;

    let messages = sink.wait_for(1).await;
    let email = &messages[0];
    assert_eq!(email["rcpt_tos"], serde_json::json!(["ada@example.com"]));
    assert_eq!(email["from"], "Gatehouse <gatehouse@example.com>");
    assert_eq!(email["subject"], "Gatehouse CLI was approved to act as you");
    let text = email["text"].as_str().expect("text");
    let when = app.clock_now().format("%Y-%m-%d at %H:%M UTC").to_string();
    for expected in [
        "Gatehouse CLI (gatehouse-cli) was just approved to act as you, ada@example.com.",
        "Device:          \"ada's build box\" (as reported by the device)",
        "Requested from:  2001:db8:1:2::7 (network 2001:db8:1:2::/64)",
        "Approved from:   127.0.0.1\n",
        &format!("When:            {when}"),
        "different network",
        &app.url("/settings/authorized-apps"),
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }

    // A denial tells nobody anything.
    let denied = app.start_flow(&[]).await;
    app.services
        .device_flows
        .decide_as_account(
            denied["user_code"].as_str().expect("user_code"),
            &ada,
            gatehouse_core::services::device_flow::DecisionKind::Deny,
            &gatehouse_core::rate_limit::Visitor::from_ip(Some("127.0.0.1".into())),
        )
        .await
        .expect("deny");
    let approved = app.start_flow(&[]).await;
    app.approve(approved["user_code"].as_str().expect("user_code"), &ada).await;
    let messages = sink.wait_for(2).await;
    assert_eq!(messages.len(), 2, "the denial sent nothing");
}

/// A person of the SSO provider is told too, at the address the provider
/// vouched for.
async fn an_sso_persons_approval_is_emailed_to_them(backend: Backend) {
    let sink = SmtpSink::start();
    let provider = crate::sso_provider::TestProvider::start().await;
    let sso = provider.config(&["sso.example"]);
    let app = spawn_app_with(backend, |config| {
        config.sso = Some(sso);
        config.smtp = Some(sink.plain_config());
    })
    .await;
    crate::sso::external_grant(&app, &provider, "sam-laptop").await;
    let messages = sink.wait_for(1).await;
    assert_eq!(messages[0]["rcpt_tos"], serde_json::json!(["sam@sso.example"]));
    let text = messages[0]["text"].as_str().expect("text");
    assert!(text.contains("approved to act as you, sam@sso.example."), "{text}");
    assert!(text.contains("\"sam-laptop\""), "{text}");
}

/// Signed in, with the current password: a wrong one or two different new
/// ones change nothing; the change signs out every browser of the account
/// and, as the form asks by default, its devices and apps; it is audited
/// and emailed.
async fn a_person_changes_their_password(backend: Backend) {
    let sink = SmtpSink::start();
    let app = spawn_app_with(backend, with_mail(&sink)).await;
    app.ada().await;
    let laptop = app.token_for("laptop").await;
    sink.wait_for(1).await; // the approval's notice
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    let elsewhere = app.another_browser_signed_in("ada@example.com", PASSWORD).await;

    let page = app.page_html("/settings/password").await;
    assert!(page.contains("Change your password"), "{page}");
    assert!(
        page.contains(r#"name="sign_out_devices" type="checkbox" value="on" checked"#),
        "signing out devices is offered, ticked: {page}"
    );
    assert!(app.page_html("/signin").await.contains("href=\"/settings/password\""), "the header links to it");
    let csrf = hidden_input(&page, "csrf_token").expect("csrf");
    let new = "a much longer new passphrase";
    let change = |current: &'static str, confirm: &'static str| {
        [("current_password", current), ("new_password", new), ("confirm_password", confirm)]
    };
    for (current, confirm, status, error) in [
        ("not my password", new, 401, "wrong_password"),
        (PASSWORD, "a different passphrase", 400, "password_mismatch"),
    ] {
        let mut form = change(current, confirm).to_vec();
        form.push(("csrf_token", &csrf));
        let response = app.browser_post("/console/api/settings/password", &form).await;
        assert_eq!(response.status(), status, "{error}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], error);
    }
    let short = [
        ("current_password", PASSWORD),
        ("new_password", "short"),
        ("confirm_password", "short"),
        ("csrf_token", &csrf),
    ];
    let body: Value = app.browser_post("/console/api/settings/password", &short).await.json().await.expect("json");
    assert_eq!(body["error"], "weak_password");
    assert_eq!(sink.messages().len(), 1, "nothing changed, nothing sent");
    assert_eq!(app.me(&laptop).await.status(), 200, "a refused change signs nothing out");

    // JavaScript off: the plain form post (the box ticked, as it comes)
    // redirects to sign in, with the news; the device is signed out too.
    let mut form = change(PASSWORD, new).to_vec();
    form.extend([("sign_out_devices", "on"), ("csrf_token", &csrf)]);
    let location = app.plain_form_post("/console/api/settings/password", &form).await;
    assert_eq!(location, "/signin?done=password_changed");
    assert!(app.page_html(&location).await.contains("every browser, device and app signed in as you was signed out"));
    assert_eq!(app.me(&laptop).await.status(), 401, "the device's grant ended with the old password");
    let revoked = events(&app, AuditKind::TokenRevoked).await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].event.details["by"], "password_changed", "{:?}", revoked[0]);

    // Both browsers are signed out; the old password is gone, the new works.
    for browser in [&app.browser, &elsewhere] {
        let response = browser.get(app.url("/settings/authorized-apps")).send().await.expect("page");
        assert_eq!(response.status(), 302, "signed out");
    }
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 401);
    // Signing in with the new password holds, even in the same second (the
    // injected clock stands still).
    assert_eq!(app.sign_in("ada@example.com", new).await.status(), 200);
    assert_eq!(app.browser.get(app.url("/settings/password")).send().await.expect("page").status(), 200);

    let messages = sink.wait_for(2).await;
    assert_eq!(messages[1]["subject"], "Your Gatehouse password was changed");
    assert!(messages[1]["text"].as_str().expect("text").contains("was changed on"));
    assert_eq!(events(&app, AuditKind::PasswordChanged).await.len(), 1);

    // Unticked, the box is not sent: devices and apps stay signed in.
    let desktop = app.token_for("desktop").await;
    let csrf = app.csrf_of("/settings/password").await;
    let third = "a third and even longer passphrase";
    let form = [("current_password", new), ("new_password", third), ("confirm_password", third), ("csrf_token", &csrf)];
    let location = app.plain_form_post("/console/api/settings/password", &form).await;
    assert_eq!(location, "/signin?done=password_changed_kept_devices");
    assert!(app.page_html(&location).await.contains("Your devices and apps stay signed in"));
    assert_eq!(app.me(&desktop).await.status(), 200);
    assert_eq!(events(&app, AuditKind::TokenRevoked).await.len(), 1, "nothing more revoked");
    let messages = sink.wait_for(4).await; // and the desktop's approval notice
    assert!(messages[3]["text"].as_str().expect("text").contains("Devices and apps stay signed in"));
}

/// Asking answers the same for an unknown address (and sends nothing);
/// the emailed link sets a new password once, with or without JavaScript,
/// and is refused after.
async fn a_forgotten_password_is_reset_by_a_single_use_link(backend: Backend) {
    let sink = SmtpSink::start();
    let app = spawn_app_with(backend, with_mail(&sink)).await;
    app.ada().await;
    let laptop = app.token_for("laptop").await;
    sink.wait_for(1).await; // the approval's notice
    let signin = app.page_html("/signin").await;
    assert!(signin.contains("href=\"/signin/forgot\""), "{signin}");

    let csrf = app.csrf_of("/signin/forgot").await;
    for email in ["nobody@example.com", "Ada@Example.com"] {
        let location =
            app.plain_form_post("/console/api/signin/forgot", &[("email", email), ("csrf_token", &csrf)]).await;
        assert_eq!(location, "/signin/forgot?sent=1", "the same answer for {email}");
    }
    assert!(app.page_html("/signin/forgot?sent=1").await.contains("If that address belongs to a Gatehouse account"));
    let messages = sink.wait_for(2).await;
    assert_eq!(messages[1]["rcpt_tos"], serde_json::json!(["ada@example.com"]));
    assert_eq!(messages[1]["subject"], "Reset your Gatehouse password");
    let link = link(messages[1]["text"].as_str().expect("text"), &app.url("/signin/reset?token="));
    let path = link.trim_start_matches(&app.address).to_owned();
    let token = path.trim_start_matches("/signin/reset?token=").to_owned();
    assert!(token.len() >= 43, "{token}");
    assert_eq!(events(&app, AuditKind::PasswordResetRequested).await.len(), 1, "only for the real account");

    // Only a hash of the token is stored.
    let stored = app.services.ports().single_use.peek(&format!("password_reset:{token}"), app.clock_now()).await;
    assert_eq!(stored.expect("store"), None);

    let page = app.page_html(&path).await;
    assert!(page.contains("Choose a new password"), "{page}");
    assert_eq!(hidden_input(&page, "token").as_deref(), Some(token.as_str()));
    let csrf = hidden_input(&page, "csrf_token").expect("csrf");
    let new = "a brand new passphrase";
    let mismatch =
        [("token", token.as_str()), ("new_password", new), ("confirm_password", "other"), ("csrf_token", &csrf)];
    let body: Value = app.browser_post("/console/api/signin/reset", &mismatch).await.json().await.expect("json");
    assert_eq!(body["error"], "password_mismatch");

    let form = [("token", token.as_str()), ("new_password", new), ("confirm_password", new), ("csrf_token", &csrf)];
    assert_eq!(app.me(&laptop).await.status(), 200, "asking for a link and a refused reset change nothing");
    let location = app.plain_form_post("/console/api/signin/reset", &form).await;
    assert_eq!(location, "/signin?done=password_reset");
    // Whoever knew the old password may have approved devices: a reset
    // ends every grant of the account, audited.
    assert_eq!(app.me(&laptop).await.status(), 401);
    let revoked = events(&app, AuditKind::TokenRevoked).await;
    assert_eq!((revoked.len(), &revoked[0].event.details["by"]), (1, &serde_json::json!("password_reset")));
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.sign_in("ada@example.com", new).await.status(), 200);

    // Used: the page says so, and posting it again changes nothing.
    let page = app.page_html(&path).await;
    assert!(page.contains("does not work any more"), "{page}");
    assert_eq!(hidden_input(&page, "token"), None);
    let csrf = app.csrf_of("/signin").await;
    let again = [
        ("token", token.as_str()),
        ("new_password", "third passphrase"),
        ("confirm_password", "third passphrase"),
        ("csrf_token", &csrf),
    ];
    let response = app.browser_post("/console/api/signin/reset", &again).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.expect("json")["error"], "invalid_reset_link");
    assert_eq!(app.sign_in("ada@example.com", new).await.status(), 200);

    let messages = sink.wait_for(3).await;
    assert_eq!(messages[2]["subject"], "Your Gatehouse password was changed");
    assert!(messages[2]["text"].as_str().expect("text").contains("reset with an emailed link"));
    assert_eq!(events(&app, AuditKind::PasswordReset).await.len(), 1);
}

/// A link works for 30 minutes, and only until the password changes by any
/// way; links are limited per address and per email.
async fn reset_links_expire_are_limited_and_die_with_a_newer_password(backend: Backend) {
    let sink = SmtpSink::start();
    let app = spawn_app_with(backend, with_mail(&sink)).await;
    app.ada().await;
    let accounts = &app.services.accounts;
    let ip = || Some("203.0.113.9".to_owned());
    let tokens = |messages: &[Value]| -> Vec<String> {
        messages
            .iter()
            .filter(|m| m["subject"] == "Reset your Gatehouse password")
            .map(|m| link(m["text"].as_str().expect("text"), &app.url("/signin/reset?token=")))
            .map(|l| l.rsplit('=').next().expect("token").to_owned())
            .collect()
    };

    for _ in 0..3 {
        accounts.request_password_reset("ada@example.com", ip()).await.expect("a link");
    }
    // Three an hour per email (known or not), from any address.
    let limited = accounts.request_password_reset("ADA@example.com", Some("198.51.100.1".into())).await;
    assert!(
        matches!(limited, Err(gatehouse_core::services::accounts::ResetRequestError::RateLimited(_))),
        "{limited:?}"
    );
    let sent = tokens(&sink.wait_for(3).await);
    assert!(accounts.reset_link_works(&sent[1]).await.expect("check"));
    let new = gatehouse_core::SecretString::new("the newest passphrase");
    accounts.reset_password(&sent[2], &new, ip()).await.expect("reset");
    for earlier in &sent[..2] {
        assert!(!accounts.reset_link_works(earlier).await.expect("check"), "void once the password changed");
    }
    let refused = accounts.reset_password(&sent[1], &new, ip()).await;
    assert!(matches!(refused, Err(gatehouse_core::services::accounts::ResetError::InvalidLink)), "{refused:?}");

    // Later, a new link works for its 30 minutes and not after.
    app.advance(30 * 60);
    accounts.request_password_reset("ada@example.com", ip()).await.expect("a later link");
    let later = tokens(&sink.wait_for(5).await)[3].clone();
    app.advance(29 * 60);
    assert!(accounts.reset_link_works(&later).await.expect("check"));
    app.advance(2 * 60);
    assert!(!accounts.reset_link_works(&later).await.expect("check"), "expired");
}

/// Without `GATEHOUSE_SMTP_URL` the sign-in page offers no reset, and the
/// reset page and its form say plainly why.
async fn without_a_mail_server_nobody_is_offered_a_reset(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    app.ada().await;
    assert!(!app.page_html("/signin").await.contains("/signin/forgot"));
    let page = app.page_html("/signin/forgot").await;
    assert!(page.contains("This server cannot send email"), "{page}");
    let csrf = app.csrf_of("/signin").await;
    let response =
        app.browser_post("/console/api/signin/forgot", &[("email", "ada@example.com"), ("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.json::<Value>().await.expect("json")["error"], "password_reset_off");
}

/// One person per code: when a second person takes up a code, each of the
/// two is told by email what happened and what to do.
async fn both_people_who_took_up_one_code_are_emailed(backend: Backend) {
    use gatehouse_core::services::device_flow::DecisionKind;
    let sink = SmtpSink::start();
    let app = spawn_app_with(backend, with_mail(&sink)).await;
    let ada = app.ada().await;
    let eve = app.create_account("eve@example.com").await;
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("user_code");
    app.approve(user_code, &ada).await;
    sink.wait_for(1).await;
    let visitor = gatehouse_core::rate_limit::Visitor::from_ip(Some("203.0.113.7".into()));
    let refused = app.services.device_flows.decide_as_account(user_code, &eve, DecisionKind::Deny, &visitor).await;
    assert!(matches!(refused, Err(gatehouse_core::services::device_flow::DecideError::Refused(_))), "{refused:?}");
    let messages = sink.wait_for(3).await;
    let to = |who: &str| {
        messages.iter().find(|m| {
            m["rcpt_tos"] == serde_json::json!([who]) && m["subject"] == "A sign-in for Gatehouse CLI was stopped"
        })
    };
    let first = to("ada@example.com").expect("Ada told")["text"].as_str().expect("text").to_owned();
    assert!(first.contains("someone else entered the code of a sign-in you had taken up"), "{first}");
    let second = to("eve@example.com").expect("Eve told")["text"].as_str().expect("text").to_owned();
    assert!(second.contains("nothing was approved for you"), "{second}");
    assert!(!second.contains(user_code) && !first.contains(user_code), "no code in an email");
}
