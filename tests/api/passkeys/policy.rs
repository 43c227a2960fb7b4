//! What may require a passkey: a client's `approver_auth =
//! phishing_resistant` (a password session steps up first) and
//! `GATEHOUSE_ADMINS_REQUIRE_PASSKEY` (admin rights after a step-up).

use super::*;
use gatehouse_core::approval_policy::{ApprovalPolicy, ApproverAuth};

/// The approve button's server function, as the page's form posts it.
async fn approve(app: &TestApp, browser: &reqwest::Client, user_code: &str, csrf: &str) -> reqwest::Response {
    browser
        .post(app.url("/console/api/oauth/device/approve"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("user_code", user_code), ("csrf_token", csrf)])
        .send()
        .await
        .expect("approve")
}

/// A whole step-up with `key`, going on to `next`.
async fn step_up(
    app: &TestApp,
    browser: &reqwest::Client,
    key: &mut SoftPasskey,
    csrf: &str,
    next: &str,
) -> (u16, Value) {
    let (id, options) = started(&call(app, browser, "step-up/start", &[("csrf_token", csrf)]).await);
    let answer = key.get(&options);
    call(
        app,
        browser,
        "step-up/finish",
        &[("csrf_token", csrf), ("ceremony_id", &id), ("answer", &answer), ("next", next)],
    )
    .await
}

on_every_backend!(a_client_that_needs_a_passkey_asks_a_password_session_to_step_up, admin_rights_can_require_a_passkey,);

async fn a_client_that_needs_a_passkey_asks_a_password_session_to_step_up(backend: Backend) {
    let app = passkey_app(backend).await;
    app.create_account("ada@example.com").await;
    let policy = ApprovalPolicy { approver_auth: ApproverAuth::PhishingResistant, ..ApprovalPolicy::default() };
    app.set_approval_policy(crate::helpers::CLI, policy).await;
    let flow = app.start_flow(&[]).await;
    let user_code = flow["user_code"].as_str().expect("code").to_owned();
    let ada = browser();
    sign_in_with_password(&app, &ada, "ada@example.com").await;
    let device_page = format!("/device?user_code={user_code}");
    let page = ada.get(app.url(&device_page)).send().await.expect("page");
    assert_eq!(page.status(), 403);
    let page = page.text().await.unwrap().replace("<!>", "");
    assert!(page.contains("signed in with a passkey") && page.contains("Use my passkey"), "{page}");
    assert!(page.contains("Passkeys need JavaScript"), "said plainly with JavaScript off: {page}");
    // Approving anyway is refused, and changes nothing.
    let csrf = csrf(&app, &ada, &device_page).await;
    let refused = approve(&app, &ada, &user_code, &csrf).await;
    assert_eq!(refused.status(), 403);
    let refused: Value = refused.json().await.expect("json");
    assert_eq!(refused["error"], "passkey_required", "{refused}");
    assert_eq!(app.poll(flow["device_code"].as_str().unwrap()).await.1["error"], "authorization_pending");

    // With no passkey, a step-up cannot start: it says where to add one.
    let (status, body) = call(&app, &ada, "step-up/start", &[("csrf_token", &csrf)]).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("no_passkey")), "{body}");
    let mut phone = SoftPasskey::at(ORIGIN);
    assert_eq!(register(&app, &ada, &mut phone, "phone").await.0, 200);
    let csrf = self::csrf(&app, &ada, &device_page).await;
    let (status, done) = step_up(&app, &ada, &mut phone, &csrf, &device_page).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["redirect_to"], device_page.as_str());
    // Now the page asks the question, and the approval goes through.
    let page = ada.get(app.url(&device_page)).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let csrf = hidden_input(&page.text().await.unwrap(), "csrf_token").expect("csrf");
    let approved = approve(&app, &ada, &user_code, &csrf).await;
    assert_eq!(approved.status(), 200, "{}", approved.text().await.unwrap_or_default());
    app.advance(6); // past the polling interval
    assert!(app.poll(flow["device_code"].as_str().unwrap()).await.1["access_token"].is_string());
}

async fn admin_rights_can_require_a_passkey(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.public_url = Some(ORIGIN.into());
        c.settings.admins_require_passkey = true;
    })
    .await;
    app.create_admin("root@example.com").await;
    let root = browser();
    assert_eq!(sign_in_with_password(&app, &root, "root@example.com").await, 200);
    // The console is there; admin pages say what they need.
    assert_eq!(root.get(app.url("/settings/authorized-apps")).send().await.unwrap().status(), 200);
    let admin = root.get(app.url("/admin/accounts")).send().await.expect("page");
    assert_eq!(admin.status(), 403);
    let page = admin.text().await.unwrap();
    assert!(page.contains("Use your passkey to continue"), "{page}");
    let mut key = SoftPasskey::at(ORIGIN);
    assert_eq!(register(&app, &root, &mut key, "key").await.0, 200);
    let csrf = csrf(&app, &root, "/settings/security").await;
    assert_eq!(step_up(&app, &root, &mut key, &csrf, "/admin/accounts").await.0, 200);
    assert_eq!(root.get(app.url("/admin/accounts")).send().await.unwrap().status(), 200);
    // A passkey sign-in is enough by itself; a later password sign-in is not.
    let (by_passkey, (status, _)) = sign_in_with_passkey(&app, &mut key).await;
    assert_eq!(status, 200);
    assert_eq!(by_passkey.get(app.url("/admin/accounts")).send().await.unwrap().status(), 200);
    sign_in_with_password(&app, &by_passkey, "root@example.com").await;
    assert_eq!(by_passkey.get(app.url("/admin/accounts")).send().await.unwrap().status(), 403);
}
