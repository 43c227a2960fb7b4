//! Passkeys end to end over HTTP, with a software authenticator that makes
//! discoverable credentials (`helpers::authenticator`): registration and
//! sign-in ceremonies as the page's script runs them, on both backend
//! pairs; `policy.rs` covers what may require one, `management.rs` the
//! settings, the admin's view and the command line.

mod management;
mod policy;

use crate::helpers::authenticator::SoftPasskey;
use crate::helpers::{Backend, PASSWORD, TestApp, hidden_input, spawn_app_with};
use crate::on_every_backend;
use gatehouse_core::ports::{AuditKind, AuditQuery};
use serde_json::Value;

/// The public URL (and so the relying party and the only origin accepted):
/// a host name in a secure context, as passkeys need. The tests reach the
/// server on its bound address; the authenticator reports this origin.
pub const ORIGIN: &str = "http://localhost:8443";

/// A server whose passkeys are on.
pub async fn passkey_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| c.public_url = Some(ORIGIN.into())).await
}

/// A browser (its own cookie jar).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The CSRF token on a page `browser` loads.
pub async fn csrf(app: &TestApp, browser: &reqwest::Client, path: &str) -> String {
    let page = browser.get(app.url(path)).send().await.expect("page").text().await.expect("html");
    hidden_input(&page, "csrf_token").unwrap_or_else(|| panic!("no csrf_token on {path}"))
}

/// A call of a passkey server function as the page's script makes it.
pub async fn call(app: &TestApp, browser: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = browser
        .post(app.url(&format!("/console/api/passkeys/{path}")))
        .header("accept", "application/json")
        .header("sec-fetch-site", "same-origin")
        .form(form)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A started ceremony's id and options.
pub fn started(answer: &(u16, Value)) -> (String, Value) {
    assert_eq!(answer.0, 200, "{}", answer.1);
    let options = serde_json::from_str(answer.1["options"].as_str().expect("options")).expect("options json");
    (answer.1["ceremony_id"].as_str().expect("id").to_owned(), options)
}

/// Signs `browser` in with a password.
pub async fn sign_in_with_password(app: &TestApp, browser: &reqwest::Client, email: &str) -> u16 {
    let csrf = csrf(app, browser, "/signin").await;
    let response = browser
        .post(app.url("/console/api/signin"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", email), ("password", PASSWORD), ("csrf_token", &csrf)])
        .send()
        .await
        .expect("sign in");
    response.status().as_u16()
}

/// Registers a passkey named `name` for the account `browser` is signed in as.
pub async fn register(
    app: &TestApp,
    browser: &reqwest::Client,
    authenticator: &mut SoftPasskey,
    name: &str,
) -> (u16, Value) {
    let csrf = csrf(app, browser, "/settings/security").await;
    let (id, options) = started(&call(app, browser, "register/start", &[("csrf_token", &csrf)]).await);
    let answer = authenticator.create(&options);
    let form = [("csrf_token", csrf.as_str()), ("ceremony_id", &id), ("name", name), ("answer", &answer)];
    call(app, browser, "register/finish", &form).await
}

/// Starts a passkey sign-in in `browser`: the CSRF token and the ceremony.
pub async fn start_sign_in(app: &TestApp, browser: &reqwest::Client) -> (String, String, Value) {
    let csrf = csrf(app, browser, "/signin").await;
    let (id, options) = started(&call(app, browser, "signin/start", &[("csrf_token", &csrf)]).await);
    (csrf, id, options)
}

/// Finishes a passkey sign-in with `answer`.
pub async fn finish_sign_in(
    app: &TestApp,
    browser: &reqwest::Client,
    (csrf, id): (&str, &str),
    answer: &str,
) -> (u16, Value) {
    let form = [("csrf_token", csrf), ("ceremony_id", id), ("answer", answer), ("next", "/settings/security")];
    call(app, browser, "signin/finish", &form).await
}

/// A whole passkey sign-in in a fresh browser, which it returns.
pub async fn sign_in_with_passkey(app: &TestApp, authenticator: &mut SoftPasskey) -> (reqwest::Client, (u16, Value)) {
    let browser = browser();
    let (csrf, id, options) = start_sign_in(app, &browser).await;
    let answer = authenticator.get(&options);
    let finished = finish_sign_in(app, &browser, (&csrf, &id), &answer).await;
    (browser, finished)
}

/// How many audit events of `kind` there are.
pub async fn audited(app: &TestApp, kind: AuditKind) -> Vec<gatehouse_core::ports::AuditRecord> {
    let query = AuditQuery { kind: Some(kind), limit: 50, ..AuditQuery::default() };
    app.services.ports().audit.search(&query).await.expect("audit")
}

on_every_backend!(
    a_passkey_registered_signs_in_without_an_address,
    replayed_expired_and_foreign_ceremonies_change_nothing,
    a_counter_going_back_is_refused_and_audited,
    a_ceremony_started_on_one_instance_finishes_on_another,
    passkeys_are_off_without_a_host_name_and_say_why,
);

async fn a_passkey_registered_signs_in_without_an_address(backend: Backend) {
    let app = passkey_app(backend).await;
    app.create_account("ada@example.com").await;
    let ada = browser();
    assert_eq!(sign_in_with_password(&app, &ada, "ada@example.com").await, 200);
    let mut phone = SoftPasskey::at(ORIGIN);
    let (status, done) = register(&app, &ada, &mut phone, "  phone ").await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["redirect_to"], "/settings/security?done=added");
    let page = ada.get(app.url("/settings/security?done=added")).send().await.expect("page").text().await.unwrap();
    assert!(page.contains("phone") && page.contains("Your passkey was added"), "{page}");
    assert_eq!(audited(&app, AuditKind::PasskeyAdded).await.len(), 1);

    // A new browser signs in with it, typing nothing.
    let (browser, (status, finished)) = sign_in_with_passkey(&app, &mut phone).await;
    assert_eq!(status, 200, "{finished}");
    assert_eq!(finished["redirect_to"], "/settings/security");
    let page = browser.get(app.url("/settings/security")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("ada@example.com") && page.contains("last used"), "signed in as Ada: {page}");
    assert_eq!(audited(&app, AuditKind::PasskeySignedIn).await.len(), 1);

    // The same credential cannot be registered twice (the browser would
    // refuse too, from the excluded list the start sends).
    let csrf = csrf(&app, &ada, "/settings/security").await;
    let (_, options) = started(&call(&app, &ada, "register/start", &[("csrf_token", &csrf)]).await);
    let excluded = options["publicKey"]["excludeCredentials"].as_array().expect("excluded").len();
    assert_eq!(excluded, 1, "{options}");
}

async fn replayed_expired_and_foreign_ceremonies_change_nothing(backend: Backend) {
    let app = passkey_app(backend).await;
    app.create_account("ada@example.com").await;
    let ada = browser();
    sign_in_with_password(&app, &ada, "ada@example.com").await;
    let mut phone = SoftPasskey::at(ORIGIN);
    assert_eq!(register(&app, &ada, &mut phone, "phone").await.0, 200);

    // Replayed: a ceremony is taken once.
    let browser = browser();
    let (csrf, id, options) = start_sign_in(&app, &browser).await;
    let answer = phone.get(&options);
    assert_eq!(finish_sign_in(&app, &browser, (&csrf, &id), &answer).await.0, 200);
    let other = self::browser();
    let other_csrf = self::csrf(&app, &other, "/signin").await;
    let (status, body) = finish_sign_in(&app, &other, (&other_csrf, &id), &answer).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("passkey_ceremony_expired")), "{body}");

    // Expired: past its five minutes on the server's clock.
    let (csrf, id, options) = start_sign_in(&app, &other).await;
    let answer = phone.get(&options);
    app.advance(301);
    let (status, body) = finish_sign_in(&app, &other, (&csrf, &id), &answer).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("passkey_ceremony_expired")), "{body}");

    // Another origin (a look-alike site relaying the ceremony): refused.
    phone.moved_to("http://localhost.evil.example:8443");
    let (csrf, id, options) = start_sign_in(&app, &other).await;
    let answer = phone.get(&options);
    let (status, body) = finish_sign_in(&app, &other, (&csrf, &id), &answer).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("passkey_failed")), "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| d.contains("nothing was changed")), "{body}");
    // Nobody is signed in in that browser.
    let page = other.get(app.url("/settings/security")).send().await.expect("page");
    assert_eq!(page.status(), 302, "still signed out");
    assert!(!audited(&app, AuditKind::PasskeyFailed).await.is_empty());

    // Not an answer at all, and a registration answer from nobody signed in.
    let (csrf, id, _) = start_sign_in(&app, &other).await;
    let (status, body) = finish_sign_in(&app, &other, (&csrf, &id), "{not json").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("passkey_failed")), "{body}");
    let (status, _) = call(&app, &other, "register/start", &[("csrf_token", &csrf)]).await;
    assert_eq!(status, 401, "registering needs a signed-in account");
    // A wrong CSRF token starts nothing.
    let (status, body) = call(&app, &other, "signin/start", &[("csrf_token", "forged")]).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("csrf_mismatch")), "{body}");
}

async fn a_counter_going_back_is_refused_and_audited(backend: Backend) {
    let app = passkey_app(backend).await;
    app.create_account("ada@example.com").await;
    let ada = browser();
    sign_in_with_password(&app, &ada, "ada@example.com").await;
    let mut key = SoftPasskey::at(ORIGIN);
    assert_eq!(register(&app, &ada, &mut key, "security key").await.0, 200);
    assert_eq!(sign_in_with_passkey(&app, &mut key).await.1.0, 200);
    assert_eq!(sign_in_with_passkey(&app, &mut key).await.1.0, 200);
    // A copy of the key that used an older counter.
    key.rewind(2);
    let (browser, (status, body)) = sign_in_with_passkey(&app, &mut key).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("passkey_failed")), "{body}");
    assert_eq!(browser.get(app.url("/settings/security")).send().await.unwrap().status(), 302);
    let suspected = audited(&app, AuditKind::PasskeyCloneSuspected).await;
    assert_eq!(suspected.len(), 1);
    assert_eq!(suspected[0].event.subject.as_deref(), Some("ada@example.com"));
}

async fn a_ceremony_started_on_one_instance_finishes_on_another(backend: Backend) {
    let first = passkey_app(backend).await;
    first.create_account("ada@example.com").await;
    // Another instance over the same database and state store (on the
    // embedded default the state is in process: the same instance).
    let second = match backend {
        Backend::Embedded => None,
        Backend::PostgresRedis | Backend::Postgres => {
            let (database_url, prefix) = (first.database_url.clone(), first.redis_key_prefix.clone());
            Some(
                spawn_app_with(backend, move |c| {
                    c.public_url = Some(ORIGIN.into());
                    c.database_url = database_url;
                    c.redis_key_prefix = prefix;
                })
                .await,
            )
        }
    };
    let other = second.as_ref().unwrap_or(&first);
    let ada = browser();
    sign_in_with_password(&first, &ada, "ada@example.com").await;
    // Registration started on the first, finished on the other.
    let mut phone = SoftPasskey::at(ORIGIN);
    let csrf = csrf(&first, &ada, "/settings/security").await;
    let (id, options) = started(&call(&first, &ada, "register/start", &[("csrf_token", &csrf)]).await);
    let answer = phone.create(&options);
    let form = [("csrf_token", csrf.as_str()), ("ceremony_id", &id), ("name", "phone"), ("answer", &answer)];
    // The browser's cookies are not kept per port, and its session lives in
    // the shared database, so the other instance knows it.
    let (status, body) = call(other, &ada, "register/finish", &form).await;
    assert_eq!(status, 200, "{body}");
    // Sign-in likewise.
    let browser = browser();
    let (csrf, id, options) = start_sign_in(&first, &browser).await;
    let answer = phone.get(&options);
    let form = [("csrf_token", csrf.as_str()), ("ceremony_id", &id), ("answer", &answer)];
    let (status, body) = call(other, &browser, "signin/finish", &form).await;
    assert_eq!(status, 200, "{body}");
}

async fn passkeys_are_off_without_a_host_name_and_say_why(backend: Backend) {
    // The bound address (an IP address) is the public URL.
    let app = crate::helpers::spawn_app(backend).await;
    app.create_account("ada@example.com").await;
    let signin = app.page_html("/signin").await;
    assert!(!signin.contains("Sign in with a passkey"), "not offered");
    let ada = browser();
    sign_in_with_password(&app, &ada, "ada@example.com").await;
    let page = ada.get(app.url("/settings/security")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Passkeys are not available on this server") && page.contains("IP address"), "{page}");
    let csrf = csrf(&app, &ada, "/settings/security").await;
    let (status, body) = call(&app, &ada, "register/start", &[("csrf_token", &csrf)]).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("passkeys_off")), "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| d.contains("IP address")), "{body}");
}
