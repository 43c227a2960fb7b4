//! The external-SSO branch (SPEC §2.2) against a real (in-process) OpenID
//! provider: the whole path, and every refusal leaving the flow pending and
//! setting no cookie.

use crate::helpers::{Backend, TestApp, expect_oauth_error, spawn_app, spawn_app_with};
use crate::on_every_backend;
use crate::sso_provider::{CLIENT_ID, SAM_SUB, Spoil, TestProvider};
use base64::Engine;
use gatehouse::config::SsoConfig;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

mod approval_grants;
mod approvers;
mod refusals;

const SECRET: &str = "test-secret-that-is-long-enough-0123456789";
const CONTEXT: &str = "/v1/oauth/device/approval-context";

/// The JSON `approval-context` answers `request` with.
async fn approval_context(request: reqwest::RequestBuilder) -> Value {
    request.send().await.expect("context").json().await.expect("json")
}

async fn sso_app(backend: Backend, provider: &TestProvider, domains: &[&str]) -> TestApp {
    sso_app_with(backend, provider.config(domains)).await
}

pub(crate) async fn sso_app_with(backend: Backend, sso: SsoConfig) -> TestApp {
    spawn_app_with(backend, move |config| config.sso = Some(sso)).await
}

/// A started sign-in: the provider URL Gatehouse redirected to, and the
/// state envelope in it.
pub(crate) struct Initiated {
    pub(crate) authorize_url: String,
    state: String,
}

pub(crate) async fn initiate(app: &TestApp, user_code: &str) -> Initiated {
    let response = app
        .browser
        .get(app.url(&format!("/v1/oauth/device/sso-initiate?user_code={user_code}")))
        .send()
        .await
        .expect("initiate");
    assert_eq!(response.status(), 302);
    let authorize_url = response.headers()["location"].to_str().expect("location").to_owned();
    let url = url::Url::parse(&authorize_url).expect("url");
    let state = url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).expect("state");
    Initiated { authorize_url, state }
}

async fn complete(app: &TestApp, query: &[(&str, &str)]) -> reqwest::Response {
    app.browser.get(app.url("/v1/device/sso-complete")).query(query).send().await.expect("complete")
}

/// Initiates and completes a good sign-in for `user_code`.
async fn signed_in(app: &TestApp, provider: &TestProvider, user_code: &str) {
    signed_in_as(app, provider, user_code, Spoil::default()).await;
}

/// Initiates and completes a sign-in for `user_code` that `as_who` shapes.
async fn signed_in_as(app: &TestApp, provider: &TestProvider, user_code: &str, as_who: Spoil) {
    let started = initiate(app, user_code).await;
    let code = provider.sign_in(&started.authorize_url, as_who, app.clock_now());
    let response = complete(app, &[("state", &started.state), ("code", &code)]).await;
    assert_eq!(response.status(), 302, "{:?}", response.text().await);
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect()
}

async fn still_pending(app: &TestApp, user_code: &str) {
    let lookup: Value = app
        .device
        .get(app.url(&format!("/v1/oauth/device/lookup?user_code={user_code}")))
        .send()
        .await
        .expect("lookup")
        .json()
        .await
        .expect("json");
    assert_eq!(lookup["valid"], true, "the flow must stay pending");
}

/// A refusal of the callback: the status and code, the flow left pending,
/// and no approval-grant cookie.
async fn refused(app: &TestApp, response: reqwest::Response, status: u16, error: &str, user_code: &str) {
    assert!(
        !set_cookies(&response).iter().any(|c| c.contains("approval_grant")),
        "{error}: no approval-grant cookie on a refusal"
    );
    expect_oauth_error(response, status, error).await;
    still_pending(app, user_code).await;
}

/// A server function's refusal: status, JSON body with the code, never cached.
async fn expect_app_error(response: reqwest::Response, status: u16, error: &str) {
    assert_eq!(response.status(), status, "status for {error}");
    assert_eq!(response.headers().get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]), "{error}");
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["error"], error, "{body}");
}

async fn sso_paths_answer_404_without_an_issuer(backend: Backend) {
    let app = spawn_app(backend).await;
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    for path in [
        format!("/v1/oauth/device/sso-initiate?user_code={user_code}"),
        "/v1/device/sso-complete?state=x&code=y".to_owned(),
        "/v1/oauth/device/approval-context".to_owned(),
    ] {
        let response = app.browser.get(app.url(&path)).send().await.expect("request");
        assert_eq!(response.status(), 404, "{path}");
    }
    let response =
        app.browser_post("/v1/oauth/device/approve-external", &[("user_code", user_code), ("csrf_token", "x")]).await;
    assert_eq!(response.status(), 404);
    // And the device page offers no SSO choice: it goes straight to sign-in.
    let page = app
        .browser
        .get(app.url(&format!("/device?user_code={user_code}")))
        .header("accept", "text/html")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 302);
    assert!(page.headers()["location"].to_str().expect("location").starts_with("/signin"));
}

async fn the_whole_sso_path_mints_an_external_token(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &["sso.example"]).await;
    let flow = app.start_flow(&[("device_label", "sams-laptop")]).await;
    let user_code = flow["user_code"].as_str().expect("code");

    // The chooser: account or SSO.
    let chooser = app.page_html(&format!("/device?user_code={user_code}")).await;
    assert!(chooser.contains("Continue with Test SSO"), "{chooser}");
    assert!(chooser.contains("Continue with a Gatehouse account"));

    // Initiate: to the provider with code + PKCE S256 + nonce, the browser bound by a cookie.
    let response = app
        .browser
        .get(app.url(&format!("/v1/oauth/device/sso-initiate?user_code={user_code}")))
        .send()
        .await
        .expect("initiate");
    assert_eq!(response.status(), 302);
    let binding = set_cookies(&response).join("\n");
    assert!(binding.contains("gatehouse_sso_binding="), "{binding}");
    assert!(
        binding.contains("HttpOnly")
            && binding.contains("SameSite=Lax")
            && binding.contains("Path=/v1/device/sso-complete")
    );
    let location = response.headers()["location"].to_str().expect("location").to_owned();
    let url = url::Url::parse(&location).expect("url");
    let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert!(location.starts_with(&format!("{}/authorize?", provider.issuer)));
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["redirect_uri"], app.url("/v1/device/sso-complete"));
    let scopes: Vec<&str> = params["scope"].split(' ').collect();
    for scope in ["openid", "email", "profile"] {
        assert!(scopes.contains(&scope), "{scopes:?}");
    }
    assert!(!params.contains_key("code_verifier"));
    assert!(params["nonce"].len() >= 32);

    // The provider signs Sam in; the callback sets the approval grant.
    let code = provider.sign_in(&location, Spoil::default(), app.clock_now());
    let response = complete(&app, &[("state", &params["state"]), ("code", &code)]).await;
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/device?sso_verified=1");
    let cookies = set_cookies(&response).join("\n");
    let grant = cookies.lines().find(|c| c.starts_with("gatehouse_approval_grant=")).expect("grant cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/v1/oauth/device", "Max-Age=300"] {
        assert!(grant.contains(attribute), "{grant}");
    }

    // /device?sso_verified=1 → the authorize-sso view, filled from the cookie.
    let page = app.browser.get(app.url("/device?sso_verified=1")).send().await.expect("page");
    assert_eq!(page.status(), 302);
    assert_eq!(page.headers()["location"], "/v1/oauth/device/authorize-sso");
    let html = app.page_html("/v1/oauth/device/authorize-sso").await;
    for shown in
        ["sam@sso.example", &provider.issuer, "Gatehouse CLI", "sams-laptop", "Run apps you have access to", user_code]
    {
        assert!(html.contains(shown), "the view shows {shown}: {html}");
    }
    let context = approval_context(app.browser.get(app.url(CONTEXT))).await;
    assert_eq!(context["subject_email"], "sam@sso.example");
    assert_eq!(context["subject_issuer"], provider.issuer);
    assert_eq!(context["user_code"], user_code);
    let csrf = context["csrf_token"].as_str().expect("csrf").to_owned();

    // Approve (once), then the device redeems a gthe_ token.
    let approved =
        app.browser_post("/v1/oauth/device/approve-external", &[("user_code", user_code), ("csrf_token", &csrf)]).await;
    assert_eq!(approved.status(), 200);
    assert!(
        set_cookies(&approved).iter().any(|c| c.starts_with("gatehouse_approval_grant=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(approved.json::<Value>().await.expect("json")["status"], "approved");
    let replay =
        app.browser_post("/v1/oauth/device/approve-external", &[("user_code", user_code), ("csrf_token", &csrf)]).await;
    assert!(matches!(replay.status().as_u16(), 401), "a spent grant is refused");

    let (status, token) = app.poll(flow["device_code"].as_str().expect("device code")).await;
    assert_eq!(status, 200, "{token}");
    let access_token = token["access_token"].as_str().expect("token");
    assert!(access_token.starts_with("gthe_"));
    assert_eq!(token["subject_type"], "external_sso");
    assert_eq!(token["subject_email"], "sam@sso.example");
    assert_eq!(token["subject_issuer"], provider.issuer);
    assert_eq!(token["account"], Value::Null);
    assert_eq!(token["scope"], "apps:run apps:read:permitted-external");
    let me: Value = app.me(access_token).await.json().await.expect("json");
    assert_eq!(me["subject_type"], "external_sso");
    assert_eq!(me["subject_email"], "sam@sso.example");

    // The result page, once; the audit log has the sign-in and the approval.
    let result = app.page_html("/device").await;
    assert!(result.contains("Approved"), "{result}");
    let kinds: Vec<String> = app
        .services
        .ports()
        .audit
        .recent(20)
        .await
        .expect("audit")
        .iter()
        .map(|e| e.kind.as_str().to_owned())
        .collect();
    for kind in ["sso.signed_in", "device.approved", "device.redeemed"] {
        assert!(kinds.iter().any(|k| k == kind), "{kinds:?}");
    }
}

/// An external person's token for `label`, through the whole SSO path.
async fn external_token(app: &TestApp, provider: &TestProvider, label: &str) -> String {
    external_grant(app, provider, label).await["access_token"].as_str().expect("token").to_owned()
}

/// The whole token response for an external person's device `label`.
pub(crate) async fn external_grant(app: &TestApp, provider: &TestProvider, label: &str) -> Value {
    external_grant_as(app, provider, label, Spoil::default()).await
}

/// The whole token response for device `label` of the person `as_who` shapes.
pub(crate) async fn external_grant_as(app: &TestApp, provider: &TestProvider, label: &str, as_who: Spoil) -> Value {
    let flow = app.start_flow(&[("device_label", label)]).await;
    let approved = approve_external_as(app, provider, flow["user_code"].as_str().expect("code"), as_who).await;
    assert_eq!(approved.status(), 200);
    let (status, token) = app.poll(flow["device_code"].as_str().expect("device code")).await;
    assert_eq!(status, 200, "{token}");
    token
}

/// Signs in through the provider as `as_who` for `user_code` and presses
/// Approve; the approval's answer.
pub(crate) async fn approve_external_as(
    app: &TestApp,
    provider: &TestProvider,
    user_code: &str,
    as_who: Spoil,
) -> reqwest::Response {
    signed_in_as(app, provider, user_code, as_who).await;
    let context = approval_context(app.browser.get(app.url(CONTEXT))).await;
    let csrf = context["csrf_token"].as_str().expect("csrf");
    app.browser_post("/v1/oauth/device/approve-external", &[("user_code", user_code), ("csrf_token", csrf)]).await
}

/// Refreshes an external grant at `app` as the CLI client.
pub(crate) async fn refresh_at(app: &TestApp, refresh_token: &str) -> (u16, Value) {
    let response = app
        .post_form(
            "/v1/oauth/device/token",
            &[("grant_type", "refresh_token"), ("client_id", crate::helpers::CLI), ("refresh_token", refresh_token)],
        )
        .await;
    (response.status().as_u16(), response.json().await.expect("json"))
}

async fn an_external_grant_refreshes_until_its_email_domain_is_no_longer_allowed(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &[]).await;
    let first = external_grant(&app, &provider, "laptop").await;
    let (status, second) = refresh_at(&app, first["refresh_token"].as_str().expect("refresh")).await;
    assert_eq!(status, 200, "{second}");
    assert!(second["access_token"].as_str().is_some_and(|t| t.starts_with("gthe_")), "{second}");
    assert_eq!(second["subject_type"], "external_sso");

    // The operator allows only another domain (an instance started with the
    // new setting, sharing the database and state): the next refresh ends
    // the grant, everywhere.
    let sso = provider.config(&["elsewhere.example"]);
    let narrowed = spawn_app_with(backend, |config| {
        config.sso = Some(sso);
        config.database_url = app.database_url.clone();
        config.redis_key_prefix = app.redis_key_prefix.clone();
    })
    .await;
    let refresh_token = second["refresh_token"].as_str().expect("refresh");
    let (status, body) = refresh_at(&narrowed, refresh_token).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, _) = refresh_at(&app, refresh_token).await;
    assert_eq!(status, 400, "revoked, not only refused");
    assert_eq!(app.me(second["access_token"].as_str().expect("token")).await.status(), 401);
}

async fn an_admin_revokes_an_external_persons_tokens_and_not_an_account_with_the_same_email(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &[]).await;
    let external = external_token(&app, &provider, "sams-laptop").await;
    // A Gatehouse account that happens to have the same email is someone else.
    let account = app.create_account("sam@sso.example").await;
    let flow = app.start_flow(&[("device_label", "sams-desktop")]).await;
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    let (_, body) = app.poll(flow["device_code"].as_str().expect("code")).await;
    let local = body["access_token"].as_str().expect("token").to_owned();

    // The same browser signs in as an admin (SSO left it signed in as no one).
    let admin = &app;
    admin.create_admin("root@example.com").await;
    assert_eq!(admin.sign_in("root@example.com", crate::helpers::PASSWORD).await.status(), 200);
    let listing = admin.page_html("/admin/authorized-apps?email=sam%40sso.example").await;
    let through = format!("Signed in through single sign-on ({}), not a Gatehouse account.", provider.issuer);
    assert_eq!(listing.matches(&through).count(), 1, "only the external row says so: {listing}");
    let issuer = url::form_urlencoded::byte_serialize(provider.issuer.as_bytes()).collect::<String>();
    assert!(listing.contains(&format!("confirm=user%3Asam%40sso.example&amp;issuer={issuer}")), "{listing}");

    // The confirmation names the issuer and carries it to the form.
    let confirm =
        admin.page_html(&format!("/admin/authorized-apps?confirm=user%3Asam%40sso.example&issuer={issuer}")).await;
    let question =
        format!("Revoke every token of sam@sso.example signed in through single sign-on ({})?", provider.issuer);
    assert!(confirm.contains(&question), "{confirm}");
    assert_eq!(crate::helpers::hidden_input(&confirm, "issuer").as_deref(), Some(provider.issuer.as_str()));
    let csrf = crate::helpers::hidden_input(&confirm, "csrf_token").expect("csrf");
    let revoke = "/console/api/admin/authorized-apps/revoke-user";
    let response = admin
        .browser_post(
            revoke,
            &[("email", "sam@sso.example"), ("issuer", &provider.issuer), ("csrf_token", &csrf), ("back", "/")],
        )
        .await;
    assert_eq!(response.json::<Value>().await.expect("json")["revoked"], 1);
    assert_eq!(app.me(&external).await.status(), 401);
    assert_eq!(app.me(&local).await.status(), 200, "the account is another subject");

    // Without an issuer, the account's tokens.
    let response =
        admin.browser_post(revoke, &[("email", "sam@sso.example"), ("csrf_token", &csrf), ("back", "/")]).await;
    assert_eq!(response.json::<Value>().await.expect("json")["revoked"], 1);
    assert_eq!(app.me(&local).await.status(), 401);
}

async fn an_sso_deny_denies(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &[]).await;
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    signed_in(&app, &provider, user_code).await;
    let context = approval_context(app.browser.get(app.url(CONTEXT))).await;
    let csrf = context["csrf_token"].as_str().expect("csrf");
    // With JavaScript off: a redirect to the result page.
    let location =
        app.plain_form_post("/v1/oauth/device/deny-external", &[("user_code", user_code), ("csrf_token", csrf)]).await;
    assert_eq!(location, "/device");
    assert!(app.page_html("/device").await.contains("Denied"));
    let (status, body) = app.poll(flow["device_code"].as_str().expect("device code")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")));
}

on_every_backend!(
    an_external_grant_refreshes_until_its_email_domain_is_no_longer_allowed,
    sso_paths_answer_404_without_an_issuer,
    the_whole_sso_path_mints_an_external_token,
    an_admin_revokes_an_external_persons_tokens_and_not_an_account_with_the_same_email,
    an_sso_deny_denies,
);
