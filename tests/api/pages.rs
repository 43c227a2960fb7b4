//! The browser side over HTTP: sign-in, the `/device` page and the approve
//! and deny server functions at their SPEC paths.

use crate::helpers::{Backend, PASSWORD, hidden_input, spawn_app, spawn_app_with};
use crate::on_every_backend;
use gatehouse_core::Clock;
use serde_json::Value;

async fn wrong_password_and_unknown_email_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com").await;
    let wrong = app.sign_in("ada@example.com", "not the password").await;
    let (wrong_status, wrong_body): (u16, Value) = (wrong.status().as_u16(), wrong.json().await.expect("json"));
    let unknown = app.sign_in("nobody@example.com", "not the password").await;
    let (unknown_status, unknown_body): (u16, Value) = (unknown.status().as_u16(), unknown.json().await.expect("json"));
    assert_eq!(wrong_status, 401);
    assert_eq!((wrong_status, &wrong_body), (unknown_status, &unknown_body));
    assert_eq!(wrong_body["error"], "invalid_credentials");

    let ok = app.sign_in("ADA@example.com", PASSWORD).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.expect("json")["redirect_to"], "/device");
}

async fn sign_in_issues_a_new_session_id(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com").await;
    let page = app.browser.get(app.url("/signin")).send().await.expect("page");
    let before = page.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let before = before.expect("the sign-in page starts a session for its CSRF token");
    assert!(before.contains("HttpOnly") && before.contains("SameSite=Lax"), "{before}");
    let csrf = hidden_input(&page.text().await.expect("html"), "csrf_token").expect("csrf");
    let signed_in = app
        .browser
        .post(app.url("/console/api/signin"))
        .form(&[("email", "ada@example.com"), ("password", PASSWORD), ("csrf_token", &csrf)])
        .send()
        .await
        .expect("sign in");
    let after = signed_in.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let id = |cookie: &str| cookie.split(';').next().unwrap_or_default().to_owned();
    assert_ne!(id(&before), id(&after.expect("a new session cookie")));
}

async fn approving_through_the_page_needs_the_session_csrf_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com").await;
    let flow = app.start_flow(&[("device_label", "ada-laptop")]).await;
    let user_code = flow["user_code"].as_str().expect("code").to_owned();
    let device_code = flow["device_code"].as_str().expect("code").to_owned();

    // Not signed in: the code link sends the browser to sign in, returning here.
    let page = app
        .browser
        .get(app.url(&format!("/device?user_code={user_code}")))
        .header("accept", "text/html")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 302);
    let location = page.headers()["location"].to_str().unwrap_or_default().to_owned();
    assert!(location.starts_with("/signin?next=%2Fdevice%3Fuser_code%3D"), "{location}");

    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    // A lower-case, spaced code finds the same request; viewing changes nothing.
    let typed = user_code.to_lowercase().replace('-', " ");
    let page = app.browser.get(app.url(&format!("/device?user_code={typed}"))).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("Gatehouse CLI") && html.contains("ada-laptop") && html.contains(&user_code), "{html}");
    assert!(html.contains("as reported by the device"));
    let csrf = hidden_input(&html, "csrf_token").expect("csrf");
    app.advance(5);
    assert_eq!(app.poll(&device_code).await.1["error"], "authorization_pending");

    let approve = |token: String| {
        let form = vec![("user_code".to_owned(), user_code.clone()), ("csrf_token".to_owned(), token)];
        app.browser.post(app.url("/console/api/oauth/device/approve")).form(&form).send()
    };
    let forged = approve("forged".to_owned()).await.expect("request");
    assert_eq!(forged.status(), 403);
    assert_eq!(forged.json::<Value>().await.expect("json")["error"], "csrf_mismatch");
    app.advance(5);
    assert_eq!(app.poll(&device_code).await.1["error"], "authorization_pending", "a refused approve changed nothing");

    let approved = approve(csrf.clone()).await.expect("request");
    assert_eq!(approved.status(), 200);
    assert_eq!(approved.json::<Value>().await.expect("json"), serde_json::json!({ "status": "approved" }));
    let again = approve(csrf).await.expect("request");
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.expect("json")["error"], "already_resolved");

    app.advance(5);
    let (status, token) = app.poll(&device_code).await;
    assert_eq!(status, 200, "{token}");
    let result = app.browser.get(app.url(&format!("/device?user_code={user_code}"))).send().await.expect("page");
    assert!(result.text().await.expect("html").contains("Approved"));
}

async fn a_plain_form_post_is_answered_with_a_redirect(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com").await;
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code").to_owned();
    let html = app.browser.get(app.url(&format!("/device?user_code={user_code}"))).send().await.expect("page");
    let csrf = hidden_input(&html.text().await.expect("html"), "csrf_token").expect("csrf");
    // What a browser with JavaScript off sends (with no-referrer, Chromium
    // reports `Origin: null` even for a same-origin form).
    let denied = app
        .browser
        .post(app.url("/console/api/oauth/device/deny"))
        .header("accept", "text/html,application/xhtml+xml")
        .header("sec-fetch-site", "same-origin")
        .header("origin", "null")
        .form(&[("user_code", user_code.as_str()), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(denied.status(), 302);
    assert_eq!(denied.headers()["location"], format!("/device?user_code={user_code}"));
    let page = app.browser.get(app.url(&format!("/device?user_code={user_code}"))).send().await.expect("page");
    assert!(page.text().await.expect("html").contains("Denied"));
    app.advance(5);
    assert_eq!(app.poll(flow["device_code"].as_str().expect("code")).await.1["error"], "access_denied");
}

async fn unknown_codes_get_the_generic_page(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com").await;
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    for code in ["BCDF-GHJK", "nonsense"] {
        let page = app.browser.get(app.url(&format!("/device?user_code={code}"))).send().await.expect("page");
        assert_eq!(page.status(), 200);
        assert!(page.text().await.expect("html").contains("This code isn’t valid"));
    }
}

async fn approving_a_known_device_again_says_which_token_it_replaces(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.create_account("ada@example.com").await;
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    let first = app.start_flow(&[("device_label", "build-box")]).await;
    let page = |code: String| app.browser.get(app.url(&format!("/device?user_code={code}"))).send();
    let fresh = page(first["user_code"].as_str().expect("code").to_owned()).await.expect("page");
    assert!(!fresh.text().await.expect("html").contains("This replaces the token"));
    app.approve(first["user_code"].as_str().expect("code"), &account).await;
    assert_eq!(app.poll(first["device_code"].as_str().expect("code")).await.0, 200);

    let second = app.start_flow(&[("device_label", "build-box")]).await;
    let html = page(second["user_code"].as_str().expect("code").to_owned()).await.expect("page");
    // Leptos marks the seams between static and dynamic text with `<!>`.
    let html = html.text().await.expect("html").replace("<!>", "");
    let created = app.clock.now().format("%-d %b %Y, %H:%M UTC").to_string();
    assert!(html.contains(&format!("This replaces the token created on {created}")), "{html}");
}

async fn the_page_says_when_the_request_came_from_another_network(backend: Backend) {
    // Behind a trusted proxy, so the test can be two addresses.
    let app = spawn_app_with(backend, |c| crate::helpers::behind_proxy(c, &["127.0.0.1"])).await;
    app.create_account("ada@example.com").await;
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    let start_from = async |forwarded: &'static str| {
        let flow: Value = app.start_flow_forwarded(forwarded).await.json().await.expect("json");
        flow["user_code"].as_str().expect("code").to_owned()
    };
    let note = "That is a different network from yours";
    // Started on a remote machine, approved from this browser's network.
    let remote = start_from("203.0.113.9").await;
    let html = app.page_html(&format!("/device?user_code={remote}")).await;
    assert!(html.contains("203.0.113.9") && html.contains(note), "{html}");
    // Started and approved from the same address: nothing to point out.
    let local = start_from("127.0.0.1").await;
    let html = app.page_html(&format!("/device?user_code={local}")).await;
    assert!(!html.contains(note), "{html}");
}

on_every_backend!(
    the_page_says_when_the_request_came_from_another_network,
    approving_a_known_device_again_says_which_token_it_replaces,
    wrong_password_and_unknown_email_get_the_same_answer,
    sign_in_issues_a_new_session_id,
    approving_through_the_page_needs_the_session_csrf_token,
    a_plain_form_post_is_answered_with_a_redirect,
    unknown_codes_get_the_generic_page,
);
