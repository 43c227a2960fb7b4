//! The external-SSO branch (SPEC §2.2) against a real (in-process) OpenID
//! provider: the whole path, and every refusal leaving the flow pending and
//! setting no cookie.

use crate::helpers::{Backend, TestApp, expect_oauth_error, spawn_app, spawn_app_with};
use crate::on_both_backends;
use crate::sso_provider::{CLIENT_ID, SAM_SUB, Spoil, TestProvider};
use base64::Engine;
use gatehouse::config::SsoConfig;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

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

/// Re-signs (or mangles) the claims of a real state envelope.
fn forge(state: &str, header: Header, key: &EncodingKey, change: impl FnOnce(&mut Value)) -> String {
    let payload = state.split('.').nth(1).expect("payload");
    let mut claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64"))
            .expect("claims");
    change(&mut claims);
    jsonwebtoken::encode(&header, &claims, key).expect("sign")
}

async fn bad_state_envelopes_are_refused(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &[]).await;
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    let secret = EncodingKey::from_secret(SECRET.as_bytes());
    let rsa = EncodingKey::from_rsa_der(
        &base64::engine::general_purpose::STANDARD.decode(crate::sso_keys::KEY_A_DER_B64).expect("key"),
    );
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());

    type Mangle = Box<dyn Fn(&str) -> String>;
    let cases: Vec<(&str, Mangle)> = vec![
        (
            "a flipped byte",
            Box::new(|s: &str| {
                let mut bytes = s.as_bytes().to_vec();
                let at = s.find('.').expect("dot") + 5;
                bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
                String::from_utf8(bytes).expect("utf8")
            }),
        ),
        (
            "alg none",
            Box::new(move |s: &str| {
                let payload = s.split('.').nth(1).expect("payload").to_owned();
                format!("{}.{payload}.", b64(&json!({"alg": "none", "typ": "JWT"})))
            }),
        ),
        (
            "HS512",
            Box::new({
                let secret = secret.clone();
                move |s: &str| forge(s, Header::new(Algorithm::HS512), &secret, |_| {})
            }),
        ),
        (
            "a forged RS256",
            Box::new({
                let rsa = rsa.clone();
                move |s: &str| forge(s, Header::new(Algorithm::RS256), &rsa, |_| {})
            }),
        ),
        (
            "an expired exp",
            Box::new({
                let secret = secret.clone();
                move |s: &str| {
                    forge(s, Header::new(Algorithm::HS256), &secret, |c| {
                        c["exp"] = json!(c["iat"].as_i64().unwrap_or(0) - 60)
                    })
                }
            }),
        ),
    ];
    for (case, mangle) in cases {
        let started = initiate(&app, user_code).await;
        let code = provider.sign_in(&started.authorize_url, Spoil::default(), app.clock_now());
        let response = complete(&app, &[("state", &mangle(&started.state)), ("code", &code)]).await;
        eprintln!("case: {case}");
        refused(&app, response, 400, "invalid_sso_state", user_code).await;
    }

    // A replayed jti: the first use spends it.
    let started = initiate(&app, user_code).await;
    let code = provider.sign_in(&started.authorize_url, Spoil::default(), app.clock_now());
    let first = complete(&app, &[("state", &started.state), ("code", &code)]).await;
    assert_eq!(first.status(), 302);
    let again = provider.sign_in(&started.authorize_url, Spoil::default(), app.clock_now());
    let response = complete(&app, &[("state", &started.state), ("code", &again)]).await;
    refused(&app, response, 400, "invalid_sso_state", user_code).await;

    // Another browser (no binding cookie) cannot finish this browser's sign-in.
    let started = initiate(&app, user_code).await;
    let code = provider.sign_in(&started.authorize_url, Spoil::default(), app.clock_now());
    let response = app
        .device
        .get(app.url("/v1/device/sso-complete"))
        .query(&[("state", started.state.as_str()), ("code", code.as_str())])
        .send()
        .await
        .expect("complete");
    refused(&app, response, 400, "invalid_sso_state", user_code).await;
}

async fn bad_id_tokens_are_refused(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &["sso.example"]).await;
    let cases = [
        ("a wrong aud", Spoil { aud: Some("someone-else".into()), ..Default::default() }),
        ("a wrong iss", Spoil { iss: Some("https://evil.example".into()), ..Default::default() }),
        ("expired", Spoil { expired_by: Some(120), ..Default::default() }),
        ("a wrong nonce", Spoil { nonce: Some("not-the-nonce".into()), ..Default::default() }),
        ("a key not in the key set", Spoil { unknown_key: true, ..Default::default() }),
        ("a forged signature", Spoil { wrong_signature: true, ..Default::default() }),
        ("an unverified email", Spoil { email_verified: Some(Some(false)), ..Default::default() }),
        ("no email_verified claim", Spoil { email_verified: Some(None), ..Default::default() }),
        (
            "a Kelvin sign passing for k",
            Spoil { email: Some(Some("\u{212a}im@sso.example".into())), ..Default::default() },
        ),
        ("a bidi override", Spoil { email: Some(Some("sam\u{202e}@sso.example".into())), ..Default::default() }),
        ("no email", Spoil { email: Some(None), ..Default::default() }),
        (
            "an email outside the allowed domains",
            Spoil { email: Some(Some("sam@other.example".into())), ..Default::default() },
        ),
    ];
    for (case, spoil) in cases {
        eprintln!("case: {case}");
        // A request per case: sign-ins per pending code are limited.
        let flow = app.start_flow(&[]).await;
        let user_code = flow["user_code"].as_str().expect("code");
        let started = initiate(&app, user_code).await;
        let code = provider.sign_in(&started.authorize_url, spoil, app.clock_now());
        let response = complete(&app, &[("state", &started.state), ("code", &code)]).await;
        refused(&app, response, 400, "invalid_sso_assertion", user_code).await;
    }
    // Counted by reason in one row for the minute, written at its end.
    assert!(refusal_rows(&app).await.is_empty(), "no row per refusal");
    app.services.sso.as_ref().expect("sso").flush_refusals(true).await;
    let rows = refusal_rows(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let reasons = &rows[0]["reasons"];
    for (reason, count) in [
        ("id_token_rejected", 6),
        ("email_not_verified", 2),
        ("email_lookalike", 2),
        ("no_email", 1),
        ("email_domain_not_allowed", 1),
    ] {
        assert_eq!(reasons[reason], count, "{reason}: {rows:?}");
    }
}

/// The details of every `sso.failed` row of the audit log, newest first.
async fn refusal_rows(app: &TestApp) -> Vec<Value> {
    let events = app.services.ports().audit.recent(200).await.expect("audit");
    events.into_iter().filter(|e| e.kind.as_str() == "sso.failed").map(|e| e.details).collect()
}

/// Anyone can call the callback with junk: each refusal is counted in the
/// metrics at once, and the audit log gets one row per minute with the
/// counts, never a row per request.
async fn junk_at_the_callback_is_counted_not_logged_row_by_row(backend: Backend) {
    let provider = TestProvider::start().await;
    let sso = provider.config(&[]);
    let app = spawn_app_with(backend, move |config| {
        config.sso = Some(sso);
        config.metrics_bind = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    for _ in 0..30 {
        let response = complete(&app, &[("state", "x")]).await;
        expect_oauth_error(response, 400, "invalid_sso_state").await;
    }
    assert!(refusal_rows(&app).await.is_empty(), "nothing written within the minute");

    // The first refusal after the minute writes the minute's row.
    app.advance(61);
    expect_oauth_error(complete(&app, &[("state", "y")]).await, 400, "invalid_sso_state").await;
    let rows = refusal_rows(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["refusals"].as_u64(), rows[0]["reasons"]["invalid_sso_state"].as_u64()), (Some(30), Some(30)));
    assert_eq!(rows[0]["addresses"], json!(["127.0.0.1"]));
    // The periodic job (or shutdown) writes a minute no refusal closes.
    let sso = app.services.sso.as_ref().expect("sso");
    sso.flush_refusals(false).await;
    assert_eq!(refusal_rows(&app).await.len(), 1, "the minute in progress is not over");
    app.advance(61);
    sso.flush_refusals(false).await;
    let rows = refusal_rows(&app).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["refusals"], 1);

    let metrics_address = app.metrics_address.clone().expect("metrics listener");
    let text = app.device.get(format!("{metrics_address}/metrics")).send().await.expect("scrape").text().await;
    let text = text.expect("text");
    assert!(text.contains(r#"gatehouse_sso_refusals_total{reason="invalid_sso_state"}"#), "{text}");
}

async fn starting_sign_ins_is_limited_per_code_and_per_address(backend: Backend) {
    use gatehouse_core::rate_limit::Limiter;
    let provider = TestProvider::start().await;
    let sso = provider.config(&[]);
    let app = spawn_app_with(backend, |config| {
        config.sso = Some(sso);
        crate::helpers::set_limit(config, Limiter::SsoInitiatePerFlow, "2/10m");
        crate::helpers::set_limit(config, Limiter::SsoInitiatePerIp, "3/10m");
    })
    .await;
    let start = async |user_code: &str| {
        let path = format!("/v1/oauth/device/sso-initiate?user_code={user_code}");
        app.device.get(app.url(&path)).send().await.expect("initiate").status().as_u16()
    };
    let first = app.start_flow(&[]).await;
    let first = first["user_code"].as_str().expect("code");
    assert_eq!((start(first).await, start(first).await, start(first).await), (302, 302, 429), "per pending code");
    let second = app.start_flow(&[]).await;
    let second = second["user_code"].as_str().expect("code");
    assert_eq!((start(second).await, start(second).await), (302, 429), "per address");
}

async fn a_provider_whose_emails_are_trusted_may_omit_email_verified(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app_with(backend, SsoConfig { trust_emails: true, ..provider.config(&[]) }).await;
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    let started = initiate(&app, user_code).await;
    let omitted = Spoil { email_verified: Some(None), ..Default::default() };
    let code = provider.sign_in(&started.authorize_url, omitted, app.clock_now());
    let response = complete(&app, &[("state", &started.state), ("code", &code)]).await;
    assert_eq!(response.status(), 302, "{:?}", response.text().await);
    // An explicit false is still refused.
    let started = initiate(&app, user_code).await;
    let unverified = Spoil { email_verified: Some(Some(false)), ..Default::default() };
    let code = provider.sign_in(&started.authorize_url, unverified, app.clock_now());
    let response = complete(&app, &[("state", &started.state), ("code", &code)]).await;
    refused(&app, response, 400, "invalid_sso_assertion", user_code).await;
}

async fn a_rotated_provider_key_is_fetched_again(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &[]).await;
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    // Discovery (and the key set with only `a`) happens at the first initiate.
    let started = initiate(&app, user_code).await;
    provider.rotate_keys();
    let code =
        provider.sign_in(&started.authorize_url, Spoil { unknown_key: true, ..Default::default() }, app.clock_now());
    let response = complete(&app, &[("state", &started.state), ("code", &code)]).await;
    assert_eq!(response.status(), 302, "an ID token signed with the new key verifies after one fetch");
}

async fn the_provider_cancelling_or_failing_leaves_the_flow_pending(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &[]).await;
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code");

    // error=access_denied on the callback: a page for the browser.
    let started = initiate(&app, user_code).await;
    let response = app
        .browser
        .get(app.url("/v1/device/sso-complete"))
        .header("accept", "text/html")
        .query(&[("state", started.state.as_str()), ("error", "access_denied")])
        .send()
        .await
        .expect("complete");
    assert_eq!(response.status(), 400);
    assert!(response.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    let page = response.text().await.expect("html");
    assert!(page.contains("Sign-in cancelled") && page.contains("/device"), "{page}");
    still_pending(&app, user_code).await;

    // An unknown code at initiate.
    let response =
        app.device.get(app.url("/v1/oauth/device/sso-initiate?user_code=BCDF-GHJK")).send().await.expect("initiate");
    expect_oauth_error(response, 400, "invalid_user_code").await;

    // The flow decided elsewhere between initiate and callback.
    let other = app.start_flow(&[]).await;
    let other_code = other["user_code"].as_str().expect("code");
    let started = initiate(&app, other_code).await;
    let ada = app.ada().await;
    app.approve(other_code, &ada).await;
    let code = provider.sign_in(&started.authorize_url, Spoil::default(), app.clock_now());
    let response = complete(&app, &[("state", &started.state), ("code", &code)]).await;
    expect_oauth_error(response, 409, "user_code_not_pending").await;
}

async fn an_unreachable_provider_is_a_502(backend: Backend) {
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://127.0.0.1:{}", closed.local_addr().expect("addr").port());
    drop(closed);
    let app = sso_app_with(backend, SsoConfig { issuer, ..TestProvider::start().await.config(&[]) }).await;
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    let response = app
        .browser
        .get(app.url(&format!("/v1/oauth/device/sso-initiate?user_code={user_code}")))
        .send()
        .await
        .expect("initiate");
    assert!(set_cookies(&response).is_empty());
    expect_oauth_error(response, 502, "sso_initiate_failed").await;
    let page = app
        .browser
        .get(app.url(&format!("/v1/oauth/device/sso-initiate?user_code={user_code}")))
        .header("accept", "text/html")
        .send()
        .await
        .expect("initiate");
    assert_eq!(page.status(), 502);
    assert!(page.text().await.expect("html").contains("could not be reached"));
    still_pending(&app, user_code).await;
}

async fn approval_grants_are_single_use_bound_and_short_lived(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &[]).await;
    let first = app.start_flow(&[]).await;
    let first_code = first["user_code"].as_str().expect("code");
    let second = app.start_flow(&[]).await;
    let second_code = second["user_code"].as_str().expect("code");

    // No cookie at all.
    let response = app.device.get(app.url(CONTEXT)).send().await.expect("context");
    expect_app_error(response, 401, "no_session").await;
    let response = app
        .device
        .post(app.url("/v1/oauth/device/approve-external"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("user_code", first_code), ("csrf_token", "x")])
        .send()
        .await
        .expect("approve");
    expect_app_error(response, 401, "invalid_session").await;

    signed_in(&app, &provider, first_code).await;
    let context = approval_context(app.browser.get(app.url(CONTEXT))).await;
    let csrf = context["csrf_token"].as_str().expect("csrf").to_owned();

    // A wrong CSRF token, and the grant used for another flow.
    let response = app
        .browser_post("/v1/oauth/device/approve-external", &[("user_code", first_code), ("csrf_token", "wrong")])
        .await;
    expect_app_error(response, 403, "csrf_mismatch").await;
    let response = app
        .browser_post("/v1/oauth/device/approve-external", &[("user_code", second_code), ("csrf_token", &csrf)])
        .await;
    expect_app_error(response, 400, "user_code_mismatch").await;
    still_pending(&app, first_code).await;
    still_pending(&app, second_code).await;

    // Past its Max-Age the grant is worth nothing.
    app.advance(301 + 30);
    let response = app
        .browser_post("/v1/oauth/device/approve-external", &[("user_code", first_code), ("csrf_token", &csrf)])
        .await;
    expect_app_error(response, 401, "invalid_session").await;
    still_pending(&app, first_code).await;

    // A fresh grant is good only in the browser session that signed in: the
    // cookie copied to another browser is worth nothing there.
    let (grant_value, session_value) = {
        let started = initiate(&app, second_code).await;
        let code = provider.sign_in(&started.authorize_url, Spoil::default(), app.clock_now());
        let response = complete(&app, &[("state", &started.state), ("code", &code)]).await;
        let pairs: Vec<String> =
            set_cookies(&response).iter().map(|c| c.split(';').next().expect("pair").to_owned()).collect();
        let grant = pairs.iter().find(|c| c.starts_with("gatehouse_approval_grant=")).expect("grant").clone();
        // The new session id the sign-in was bound to.
        let session = pairs.iter().find(|c| c.starts_with("gatehouse_session=")).expect("session").clone();
        (grant, session)
    };
    let context = approval_context(app.browser.get(app.url(CONTEXT))).await;
    let second_csrf = context["csrf_token"].as_str().expect("csrf").to_owned();
    let elsewhere = app.device.get(app.url(CONTEXT)).header("cookie", &grant_value).send().await.expect("context");
    expect_app_error(elsewhere, 401, "no_session").await;
    let copied = app
        .device
        .post(app.url("/v1/oauth/device/approve-external"))
        .header("cookie", &grant_value)
        .header("sec-fetch-site", "same-origin")
        .form(&[("user_code", second_code), ("csrf_token", second_csrf.as_str())])
        .send()
        .await
        .expect("approve");
    expect_app_error(copied, 401, "invalid_session").await;
    still_pending(&app, second_code).await;

    // In its own session it works once; its replay (the cookie kept by
    // hand) does not.
    let approved = app
        .browser_post("/v1/oauth/device/approve-external", &[("user_code", second_code), ("csrf_token", &second_csrf)])
        .await;
    assert_eq!(approved.status(), 200);
    let replayed = app
        .device
        .post(app.url("/v1/oauth/device/approve-external"))
        .header("cookie", format!("{grant_value}; {session_value}"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("user_code", second_code), ("csrf_token", second_csrf.as_str())])
        .send()
        .await
        .expect("approve");
    expect_app_error(replayed, 401, "session_already_consumed").await;
}

/// Signing out of the browser voids an approval grant it holds: the person
/// who walks away from a shared computer leaves nothing to approve with.
async fn signing_out_voids_the_approval_grant(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &[]).await;
    app.ada().await;
    assert_eq!(app.sign_in("ada@example.com", crate::helpers::PASSWORD).await.status(), 200);
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code");
    signed_in(&app, &provider, user_code).await;
    let context = approval_context(app.browser.get(app.url(CONTEXT))).await;
    let csrf = context["csrf_token"].as_str().expect("csrf").to_owned();

    let session_csrf = app.csrf_of("/settings/authorized-apps").await;
    let signed_out = app.browser_post("/console/api/signout", &[("csrf_token", &session_csrf)]).await;
    assert!(signed_out.status().is_success() || signed_out.status().is_redirection(), "{}", signed_out.status());

    let response = app.browser.get(app.url(CONTEXT)).send().await.expect("context");
    expect_app_error(response, 401, "no_session").await;
    let response =
        app.browser_post("/v1/oauth/device/approve-external", &[("user_code", user_code), ("csrf_token", &csrf)]).await;
    expect_app_error(response, 401, "invalid_session").await;
    still_pending(&app, user_code).await;
}

/// A person is (issuer, `sub`): two provider accounts sharing an address
/// hold their own grants, neither replacing the other's, and the address
/// on a person's grants follows what the provider says at each sign-in.
async fn two_provider_accounts_sharing_an_email_are_two_people(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = sso_app(backend, &provider, &[]).await;
    let sam = external_grant(&app, &provider, "laptop").await;
    let other_account = Spoil { sub: Some("sam-5678".into()), ..Spoil::default() };
    let other = external_grant_as(&app, &provider, "laptop", other_account).await;
    for token in [&sam, &other] {
        let me = app.me(token["access_token"].as_str().expect("token")).await;
        assert_eq!(me.status(), 200, "neither approval replaced the other's grant");
    }
    let ports = app.services.ports();
    let sams = gatehouse_core::model::SubjectId { issuer: provider.issuer.clone(), id: SAM_SUB.into() };
    let held = ports.tokens.list_active_for_subject(&sams, app.clock_now()).await.expect("list");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].subject_email, "sam@sso.example");

    // Sam's address changes at the provider: the next sign-in records it on
    // Sam's grants, not on the other account's.
    let flow = app.start_flow(&[]).await;
    let renamed = Spoil { email: Some(Some("samuel@sso.example".into())), ..Spoil::default() };
    signed_in_as(&app, &provider, flow["user_code"].as_str().expect("code"), renamed).await;
    let held = ports.tokens.list_active_for_subject(&sams, app.clock_now()).await.expect("list");
    assert_eq!(held[0].subject_email, "samuel@sso.example");
    let search = gatehouse_core::listing::TokenQuery {
        subject_email: Some("sam@sso.example".into()),
        client_id: None,
        status: gatehouse_core::listing::TokenStatus::Active,
        after: None,
        limit: 10,
        now: app.clock_now(),
    };
    let still_sam = ports.tokens.search(&search).await.expect("search");
    assert_eq!(still_sam.len(), 1, "only the other account still goes by the old address");
    assert_eq!(still_sam[0].subject_id.as_deref(), Some("sam-5678"));
}

on_both_backends!(
    an_external_grant_refreshes_until_its_email_domain_is_no_longer_allowed,
    sso_paths_answer_404_without_an_issuer,
    the_whole_sso_path_mints_an_external_token,
    an_admin_revokes_an_external_persons_tokens_and_not_an_account_with_the_same_email,
    an_sso_deny_denies,
    bad_state_envelopes_are_refused,
    bad_id_tokens_are_refused,
    a_provider_whose_emails_are_trusted_may_omit_email_verified,
    starting_sign_ins_is_limited_per_code_and_per_address,
    the_provider_cancelling_or_failing_leaves_the_flow_pending,
    an_unreachable_provider_is_a_502,
    a_rotated_provider_key_is_fetched_again,
    approval_grants_are_single_use_bound_and_short_lived,
    signing_out_voids_the_approval_grant,
    two_provider_accounts_sharing_an_email_are_two_people,
    junk_at_the_callback_is_counted_not_logged_row_by_row,
);

/// A rotation of the server secret during a sign-in: started on an instance
/// with the old secret, finished on one that signs with the new secret and
/// still lists the old one; an instance that has dropped the old secret
/// refuses such a sign-in (as it refuses any envelope it did not sign).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sso_sign_in_in_flight_survives_a_rotation_of_the_secret() {
    if !crate::helpers::postgres_redis_available("sso::an_sso_sign_in_in_flight_survives_a_rotation_of_the_secret") {
        return;
    }
    let old = "test-secret-that-is-long-enough-0123456789";
    let new = "the-rotated-secret-that-is-long-enough-9876";
    let provider = TestProvider::start().await;
    let before = sso_app(Backend::PostgresRedis, &provider, &[]).await;
    let instance = async |current: &str, previous: &[&str]| {
        let (sso, database_url, prefix) =
            (provider.config(&[]), before.database_url.clone(), before.redis_key_prefix.clone());
        let (current, previous): (String, Vec<String>) =
            (current.to_owned(), previous.iter().map(|s| (*s).to_owned()).collect());
        spawn_app_with(Backend::PostgresRedis, move |config| {
            config.database_url = database_url;
            config.redis_key_prefix = prefix;
            config.secret_key = Some(gatehouse_core::SecretString::new(current));
            config.previous_secret_keys = previous.into_iter().map(gatehouse_core::SecretString::new).collect();
            config.sso = Some(sso);
        })
        .await
    };
    let sign_in_across = async |to: &TestApp| {
        let flow = before.start_flow(&[]).await;
        let user_code = flow["user_code"].as_str().expect("code").to_owned();
        let started = initiate(&before, &user_code).await;
        let code = provider.sign_in(&started.authorize_url, Spoil::default(), before.clock_now());
        // The same browser (its binding cookie) reaches the other instance.
        before
            .browser
            .get(to.url("/v1/device/sso-complete"))
            .query(&[("state", started.state.as_str()), ("code", code.as_str())])
            .send()
            .await
            .expect("complete")
    };
    let rotated = instance(new, &[old]).await;
    let finished = sign_in_across(&rotated).await;
    assert_eq!(finished.status(), 302, "{:?}", finished.text().await);
    let dropped_old = instance(new, &[]).await;
    let refused = sign_in_across(&dropped_old).await;
    assert_eq!(refused.status(), 400, "{:?}", refused.text().await);
}
