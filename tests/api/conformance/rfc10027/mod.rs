//! RFC 10027 (BCP 247, cross-device flows): each client's approval policy,
//! enforced through every way in (the page with JavaScript on and off, the
//! server functions, the token endpoint and the admin surfaces), with
//! addresses set through a trusted proxy's header as a real deployment's
//! would be (docs/security.md, "Defences against device-code phishing").

mod codes;
mod confirmation;
mod networks;
mod surfaces;

use crate::helpers::{Backend, CLI, PASSWORD, TestApp, behind_proxy, hidden_input, spawn_app_with};
use gatehouse_core::approval_policy::ApprovalPolicy;
use gatehouse_core::ports::{AuditEvent, AuditKind};
use serde_json::Value;

/// An app behind a proxy on loopback, so each request names its client.
async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| behind_proxy(config, &["127.0.0.1"])).await
}

/// Sets the CLI client's approval policy as an admin would.
async fn set_policy(app: &TestApp, policy: ApprovalPolicy) {
    app.set_approval_policy(CLI, policy).await;
}

/// A started flow: its device code and user code.
struct Started {
    device_code: String,
    user_code: String,
}

/// Starts a flow for the CLI client from `ip` (a forwarding header's line),
/// its device named after it (one grant per device: approvals of two
/// devices are two grants).
async fn start_from(app: &TestApp, ip: &str) -> Started {
    let label = format!("device at {ip}");
    let response = app
        .device
        .post(app.url("/v1/oauth/device/code"))
        .header("x-forwarded-for", ip)
        .form(&[("client_id", CLI), ("device_label", label.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "started from {ip}");
    let flow: Value = response.json().await.expect("json");
    Started {
        device_code: flow["device_code"].as_str().expect("device code").to_owned(),
        user_code: flow["user_code"].as_str().expect("user code").to_owned(),
    }
}

/// A person in a browser of their own, signed in, whose requests come from
/// `ip` (what the proxy puts in `X-Forwarded-For`).
struct Person {
    browser: reqwest::Client,
    ip: String,
    base: String,
}

impl Person {
    /// Signs `email` in (creating the account the first time).
    async fn at(app: &TestApp, email: &str, ip: &str) -> Self {
        if app.services.ports().accounts.find_by_email(email).await.expect("find").is_none() {
            app.create_account(email).await;
        }
        Self::signed_in(app, email, ip).await
    }

    async fn signed_in(app: &TestApp, email: &str, ip: &str) -> Self {
        let browser = app.another_browser_signed_in(email, PASSWORD).await;
        Self { browser, ip: ip.to_owned(), base: app.address.clone() }
    }

    /// The same browser, seen from another address.
    fn from(&self, ip: &str) -> Self {
        Self { browser: self.browser.clone(), ip: ip.to_owned(), base: self.base.clone() }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.browser.get(format!("{}{path}", self.base)).header("x-forwarded-for", &self.ip)
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.browser
            .post(format!("{}{path}", self.base))
            .header("x-forwarded-for", &self.ip)
            .header("sec-fetch-site", "same-origin")
    }

    /// `/device?user_code=`, as a link opens it: the status and the page.
    async fn page(&self, user_code: &str) -> (u16, String) {
        let response = self.get(&format!("/device?user_code={user_code}")).send().await.expect("page");
        (response.status().as_u16(), response.text().await.expect("html").replace("<!>", ""))
    }

    /// The session's form token, from the code-entry page.
    async fn csrf(&self) -> String {
        let html = self.get("/device").send().await.expect("page").text().await.expect("html");
        hidden_input(&html, "csrf_token").expect("csrf field")
    }

    /// Types the code into `/device`'s form with JavaScript off: where the
    /// browser is sent next.
    async fn enter(&self, user_code: &str) -> String {
        let csrf = self.csrf().await;
        let response = self
            .post("/console/api/device/enter-code")
            .header("accept", "text/html")
            .form(&[("user_code", user_code), ("csrf_token", &csrf)])
            .send()
            .await
            .expect("enter");
        assert_eq!(response.status(), 302);
        response.headers()["location"].to_str().expect("location").to_owned()
    }

    /// Approves or denies (`decision`) as a script would: status and JSON.
    async fn decide(&self, decision: &str, user_code: &str) -> (u16, Value) {
        let csrf = self.csrf().await;
        let response = self
            .post(&format!("/console/api/oauth/device/{decision}"))
            .form(&[("user_code", user_code), ("csrf_token", &csrf)])
            .send()
            .await
            .expect("decide");
        (response.status().as_u16(), response.json().await.expect("json"))
    }

    /// The same with JavaScript off: where the form post sends the browser.
    async fn decide_js_off(&self, decision: &str, user_code: &str) -> String {
        let csrf = self.csrf().await;
        let response = self
            .post(&format!("/console/api/oauth/device/{decision}"))
            .header("accept", "text/html")
            .form(&[("user_code", user_code), ("csrf_token", &csrf)])
            .send()
            .await
            .expect("decide");
        assert_eq!(response.status(), 302);
        response.headers()["location"].to_str().expect("location").to_owned()
    }
}

/// The audit events of `kind`, newest first.
async fn audited(app: &TestApp, kind: AuditKind) -> Vec<AuditEvent> {
    let all = app.services.ports().audit.recent(500).await.expect("audit");
    all.into_iter().filter(|event| event.kind == kind).collect()
}

/// Polls after the interval has passed; returns (status, body).
async fn poll(app: &TestApp, device_code: &str) -> (u16, Value) {
    app.advance(6);
    app.poll(device_code).await
}

/// Polls with a confirmation code after the interval has passed.
async fn poll_confirming(app: &TestApp, device_code: &str, code: &str) -> (u16, Value) {
    app.advance(6);
    let response = app
        .device
        .post(app.url("/v1/oauth/device/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", CLI),
            ("confirmation_code", code),
        ])
        .send()
        .await
        .expect("poll");
    (response.status().as_u16(), response.json().await.expect("json"))
}
