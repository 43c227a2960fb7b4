//! SSO people in the console (issue 20, item 2): signing in through the
//! provider from `/signin`, their own devices at `/settings/authorized-apps`,
//! sign-out, and admin rights from the provider's groups, re-evaluated at
//! every sign-in and audited when they change.

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_every_backend;
use crate::sso::{approve_external_as, external_grant_as};
use crate::sso_provider::{Spoil, TestProvider};
use serde_json::json;

const MY_APPS: &str = "/settings/authorized-apps";
const ADMIN_APPS: &str = "/admin/authorized-apps";
const ADMINS: &str = "gatehouse-admins";

/// An SSO-first company: people sign in through the provider, and members
/// of `gatehouse-admins` (in the `groups_claim` claim) are admins.
async fn sso_company(backend: Backend, provider: &TestProvider, groups_claim: &str) -> TestApp {
    let mut sso = provider.config(&[]);
    sso.admin_groups = vec![ADMINS.to_owned(), "other-admins".to_owned()];
    sso.groups_claim = groups_claim.to_owned();
    spawn_app_with(backend, move |config| config.sso = Some(sso)).await
}

/// A provider account: its `sub`, email and groups (under `claim`).
fn person(sub: &str, email: &str, claim: &'static str, groups: &[&str]) -> Spoil {
    Spoil {
        sub: Some(sub.to_owned()),
        email: Some(Some(email.to_owned())),
        extra_claims: vec![(claim, json!(groups))],
        ..Spoil::default()
    }
}

/// Signs the browser in to the console through the provider as `who`,
/// asking to go on to `next`; the callback's answer.
async fn console_sign_in(app: &TestApp, provider: &TestProvider, who: Spoil, next: &str) -> reqwest::Response {
    let started = app.browser.get(app.url("/signin/sso")).query(&[("next", next)]).send().await.expect("start");
    assert_eq!(started.status(), 302);
    let authorize_url = started.headers()["location"].to_str().expect("location").to_owned();
    assert!(authorize_url.starts_with(&provider.issuer), "{authorize_url}");
    let url = url::Url::parse(&authorize_url).expect("url");
    let state = url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).expect("state");
    let code = provider.sign_in(&authorize_url, who, app.clock_now());
    app.browser
        .get(app.url("/v1/device/sso-complete"))
        .query(&[("state", state.as_str()), ("code", code.as_str())])
        .send()
        .await
        .expect("complete")
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let response = app.browser.get(app.url(path)).send().await.expect("page");
    let status = response.status().as_u16();
    (status, response.text().await.expect("html").replace("<!>", ""))
}

/// The audit rows of `kind`, newest first.
async fn audited(app: &TestApp, kind: &str) -> Vec<gatehouse_core::ports::AuditEvent> {
    let events = app.services.ports().audit.recent(200).await.expect("audit");
    events.into_iter().filter(|e| e.kind.as_str() == kind).collect()
}

async fn an_sso_person_signs_in_and_manages_only_their_own_devices(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_company(backend, &provider, "groups").await;
    let sam = person("sam-1", "sam@sso.example", "groups", &[]);
    let laptop = external_grant_as(&app, &provider, "sams-laptop", sam.clone()).await;
    // Another provider account with the same address: not Sam.
    let other = person("sam-2", "sam@sso.example", "groups", &[]);
    let theirs = external_grant_as(&app, &provider, "their-desk", other).await;

    // /signin offers the provider, keeping where to go.
    let (status, signin) = page(&app, "/signin?next=%2Fsettings%2Fauthorized-apps").await;
    assert_eq!(status, 200);
    assert!(signin.contains("Continue with Test SSO"), "{signin}");
    assert!(signin.contains("href=\"/signin/sso?next=%2Fsettings%2Fauthorized-apps\""), "{signin}");

    let done = console_sign_in(&app, &provider, sam, MY_APPS).await;
    assert_eq!(done.status(), 302);
    assert_eq!(done.headers()["location"], MY_APPS);
    let (status, html) = page(&app, MY_APPS).await;
    assert_eq!(status, 200);
    assert!(html.contains("sams-laptop") && !html.contains("their-desk"), "{html}");
    assert!(html.contains("Sam External"), "the header greets them: {html}");
    assert!(!html.contains(">Admin<"), "no admin link for a non-admin");
    assert_eq!(page(&app, ADMIN_APPS).await.0, 403);

    // Revoking all of their own devices leaves the other account's alone.
    let csrf = app.csrf_of(MY_APPS).await;
    let revoked = app.browser_post("/console/api/settings/authorized-apps/revoke-all", &[("csrf_token", &csrf)]).await;
    assert_eq!(revoked.status(), 200, "{:?}", revoked.text().await);
    assert_eq!(app.me(laptop["access_token"].as_str().expect("token")).await.status(), 401);
    assert_eq!(app.me(theirs["access_token"].as_str().expect("token")).await.status(), 200);
    let signed_in = audited(&app, "sso.signed_in").await;
    assert_eq!(signed_in[0].details["console"], true, "{:?}", signed_in[0]);

    // Sign-out ends the console session.
    let signed_out = app.browser_post("/console/api/signout", &[("csrf_token", &csrf)]).await;
    assert_eq!(signed_out.status(), 200);
    let response = app.browser.get(app.url(MY_APPS)).send().await.expect("page");
    assert_eq!(response.status(), 302, "signed out: to /signin");
}

async fn a_console_sign_in_goes_on_only_to_a_local_path(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_company(backend, &provider, "groups").await;
    for next in ["https://evil.example/", "//evil.example/", "/\\evil.example"] {
        let done = console_sign_in(&app, &provider, Spoil::default(), next).await;
        assert_eq!(done.status(), 302);
        assert_eq!(done.headers()["location"], "/", "{next}");
    }
    // Junk at the console's start is refused like the device flow's: the
    // provider must be configured, and refusals set no session.
    let response = app.device.get(app.url("/v1/device/sso-complete?state=x")).send().await.expect("complete");
    assert_eq!(response.status(), 400);
}

async fn admin_rights_come_from_the_providers_groups_at_each_sign_in(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_company(backend, &provider, "roles").await;
    // Kim, not an admin, has a device; Ada, in gatehouse-admins, revokes it.
    let kim = external_grant_as(&app, &provider, "kims-box", person("kim-1", "kim@sso.example", "roles", &[])).await;
    let ada = person("ada-1", "ada@sso.example", "roles", &["staff", ADMINS]);
    console_sign_in(&app, &provider, ada.clone(), ADMIN_APPS).await;
    let (status, html) = page(&app, &format!("{ADMIN_APPS}?email=kim%40sso.example")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("kims-box"), "{html}");
    let granted = audited(&app, "account.admin_granted").await;
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0].subject.as_deref(), Some("ada@sso.example"));
    assert_eq!(granted[0].details["by"], "sso_groups");
    assert_eq!(granted[0].details["admin_groups_held"], json!([ADMINS]));

    let csrf = app.csrf_of(ADMIN_APPS).await;
    let revoked = app
        .browser_post(
            "/console/api/admin/authorized-apps/revoke-user",
            &[
                ("email", "kim@sso.example"),
                ("issuer", provider.issuer.as_str()),
                ("csrf_token", &csrf),
                ("back", ADMIN_APPS),
            ],
        )
        .await;
    assert_eq!(revoked.status(), 200, "{:?}", revoked.text().await);
    assert_eq!(app.me(kim["access_token"].as_str().expect("token")).await.status(), 401);
    let revocation = audited(&app, "token.revoked").await;
    assert_eq!(revocation[0].actor, Some(gatehouse_core::Actor::Admin { email: "ada@sso.example".into() }));

    // Signing in again as a member changes nothing and audits nothing new.
    console_sign_in(&app, &provider, ada, ADMIN_APPS).await;
    assert_eq!(audited(&app, "account.admin_granted").await.len(), 1);

    // Out of the group at the provider: the next sign-in (here to approve a
    // device) takes the rights away, and the console session already open
    // loses them at once.
    let removed = person("ada-1", "ada@sso.example", "roles", &["staff"]);
    external_grant_as(&app, &provider, "adas-laptop", removed).await;
    assert_eq!(page(&app, ADMIN_APPS).await.0, 403);
    let removals = audited(&app, "account.admin_removed").await;
    assert_eq!(removals.len(), 1);
    assert_eq!(removals[0].details["admin_groups_held"], json!([]));
}

async fn only_an_sso_admin_can_approve_the_admin_scope(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_company(backend, &provider, "groups").await;
    let flow = app.start_flow(&[("scope", "full admin"), ("device_label", "ops-box")]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    let device_code = flow["device_code"].as_str().expect("code");

    // Kim is not in an admin group: refused, and the request stays pending.
    let kim = person("kim-1", "kim@sso.example", "groups", &["staff"]);
    let refused = approve_external_as(&app, &provider, user_code, kim).await;
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "admin_required", "{body}");
    let (status, pending) = app.poll(device_code).await;
    assert_eq!((status, pending["error"].as_str()), (400, Some("authorization_pending")));

    // Ada is: her approval gives a token the admin API takes.
    let ada = person("ada-1", "ada@sso.example", "groups", &[ADMINS]);
    assert_eq!(approve_external_as(&app, &provider, user_code, ada).await.status(), 200);
    app.advance(6);
    let (status, token) = app.poll(device_code).await;
    assert_eq!(status, 200, "{token}");
    // `full` expands to what an external subject may have; `admin` is named.
    let granted: Vec<&str> = token["scope"].as_str().expect("scope").split(' ').collect();
    assert!(granted.contains(&"admin"), "{token}");
    let access = token["access_token"].as_str().expect("token");
    let clients = app.device.get(app.url("/v1/admin/clients")).bearer_auth(access).send().await.expect("clients");
    assert_eq!(clients.status(), 200);
    let read = audited(&app, "admin_api.read").await;
    assert_eq!(read[0].actor, Some(gatehouse_core::Actor::Admin { email: "ada@sso.example".into() }));

    // Out of the group at her next sign-in: the same token is refused.
    external_grant_as(&app, &provider, "adas-laptop", person("ada-1", "ada@sso.example", "groups", &[])).await;
    let clients = app.device.get(app.url("/v1/admin/clients")).bearer_auth(access).send().await.expect("clients");
    assert_eq!(clients.status(), 403);
}

on_every_backend!(
    only_an_sso_admin_can_approve_the_admin_scope,
    an_sso_person_signs_in_and_manages_only_their_own_devices,
    a_console_sign_in_goes_on_only_to_a_local_path,
    admin_rights_come_from_the_providers_groups_at_each_sign_in,
);
