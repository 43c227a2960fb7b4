//! A person's passkeys in their settings (with JavaScript off where no
//! ceremony is needed), "passkeys only", and an admin's answer to a lost
//! device through the admin API and the command line.

use super::*;

on_every_backend!(
    passkeys_only_refuses_the_password_and_keeps_the_last_passkey,
    an_admin_removes_a_lost_devices_passkeys,
    adding_and_removing_a_passkey_is_emailed_and_passkeys_only_gets_no_reset_link,
);

async fn adding_and_removing_a_passkey_is_emailed_and_passkeys_only_gets_no_reset_link(backend: Backend) {
    let sink = crate::email::SmtpSink::start();
    let config = sink.plain_config();
    let app = spawn_app_with(backend, move |c| {
        c.public_url = Some(ORIGIN.into());
        c.smtp = Some(config);
    })
    .await;
    app.create_account("ada@example.com").await;
    app.create_account("bob@example.com").await;
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    let mut phone = SoftPasskey::at(ORIGIN);
    assert_eq!(register(&app, &app.browser, &mut phone, "phone").await.0, 200);
    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0]["rcpt_tos"], serde_json::json!(["ada@example.com"]), "{}", mail[0]);
    assert_eq!(mail[0]["subject"], "A passkey was added to your account");
    let text = mail[0]["text"].as_str().expect("text");
    assert!(text.contains("The passkey \"phone\" was added to your account") && text.contains("127.0.0.1"), "{text}");
    assert!(text.contains(&format!("{ORIGIN}/settings/security")), "{text}");
    let csrf = app.csrf_of("/settings/security").await;
    let mut laptop = SoftPasskey::at(ORIGIN);
    assert_eq!(register(&app, &app.browser, &mut laptop, "laptop").await.0, 200);
    let id = app.services.passkeys.list(&app.ada().await).await.expect("list")[0].id.to_string();
    let remove = [("csrf_token", csrf.as_str()), ("id", &id)];
    assert_eq!(app.plain_form_post("/console/api/passkeys/remove", &remove).await, "/settings/security?done=removed");
    let mail = sink.wait_for(3).await;
    assert!(mail[2]["text"].as_str().expect("text").contains("was removed from your account"), "{}", mail[2]);
    // Passkeys only: no reset link goes out (answered the same), while
    // another account's does.
    let off = [("csrf_token", csrf.as_str()), ("passwordless", "on")];
    assert_eq!(
        app.plain_form_post("/console/api/passkeys/password", &off).await,
        "/settings/security?done=password_off"
    );
    let csrf = app.csrf_of("/signin/forgot").await;
    for email in ["ada@example.com", "bob@example.com"] {
        let sent = app.plain_form_post("/console/api/signin/forgot", &[("email", email), ("csrf_token", &csrf)]).await;
        assert_eq!(sent, "/signin/forgot?sent=1", "the same answer for {email}");
    }
    // Emails leave in the order they were queued: Ada's would come first.
    let mail = sink.wait_for(4).await;
    assert_eq!(mail[3]["rcpt_tos"], serde_json::json!(["bob@example.com"]), "no reset email for Ada");
    assert_eq!(super::audited(&app, AuditKind::PasswordResetRequested).await.len(), 1);
}

async fn passkeys_only_refuses_the_password_and_keeps_the_last_passkey(backend: Backend) {
    let app = passkey_app(backend).await;
    app.create_account("ada@example.com").await;
    // The settings page's forms work without JavaScript: `app.browser`
    // posts them as plain forms.
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    let page = app.page_html("/settings/security").await;
    assert!(page.contains("You have no passkeys yet") && page.contains("Passkeys need JavaScript"), "{page}");
    let csrf = app.csrf_of("/settings/security").await;
    let off = [("csrf_token", csrf.as_str()), ("passwordless", "on")];
    let refused = app.plain_form_post("/console/api/passkeys/password", &off).await;
    assert_eq!(refused, "/settings/security?error=no_passkey");

    let mut phone = SoftPasskey::at(ORIGIN);
    assert_eq!(register(&app, &app.browser, &mut phone, "phone").await.0, 200);
    let id = app.services.passkeys.list(&app.ada().await).await.expect("list")[0].id.to_string();
    let rename = [("csrf_token", csrf.as_str()), ("id", &id), ("name", "my phone")];
    assert_eq!(app.plain_form_post("/console/api/passkeys/rename", &rename).await, "/settings/security?done=renamed");
    let blank = [("csrf_token", csrf.as_str()), ("id", &id), ("name", "  ")];
    let refused = app.plain_form_post("/console/api/passkeys/rename", &blank).await;
    assert_eq!(refused, "/settings/security?error=invalid_passkey_name");
    assert_eq!(
        app.plain_form_post("/console/api/passkeys/password", &off).await,
        "/settings/security?done=password_off"
    );
    assert_eq!(super::audited(&app, AuditKind::PasswordTurnedOff).await.len(), 1);

    // The password no longer signs in (answered like a wrong one).
    let other = browser();
    assert_eq!(sign_in_with_password(&app, &other, "ada@example.com").await, 401);
    // The last passkey stays while the password is off.
    let remove = [("csrf_token", csrf.as_str()), ("id", &id)];
    let refused = app.plain_form_post("/console/api/passkeys/remove", &remove).await;
    assert_eq!(refused, "/settings/security?error=last_passkey");
    let page = app.page_html("/settings/security?error=last_passkey").await;
    assert!(page.contains("my phone") && page.contains("This is your last passkey"), "{page}");
    // With a second one, either may go.
    let mut laptop = SoftPasskey::at(ORIGIN);
    assert_eq!(register(&app, &app.browser, &mut laptop, "laptop").await.0, 200);
    assert_eq!(app.plain_form_post("/console/api/passkeys/remove", &remove).await, "/settings/security?done=removed");
    assert_eq!(super::audited(&app, AuditKind::PasskeyRemoved).await.len(), 1);
    // The removed passkey no longer signs in; the other does.
    assert_eq!(sign_in_with_passkey(&app, &mut phone).await.1.0, 401);
    assert_eq!(sign_in_with_passkey(&app, &mut laptop).await.1.0, 200);
    let on = [("csrf_token", csrf.as_str()), ("passwordless", "off")];
    assert_eq!(app.plain_form_post("/console/api/passkeys/password", &on).await, "/settings/security?done=password_on");
    assert_eq!(sign_in_with_password(&app, &other, "ada@example.com").await, 200);
}

async fn an_admin_removes_a_lost_devices_passkeys(backend: Backend) {
    let app = passkey_app(backend).await;
    let ada = app.create_account("ada@example.com").await;
    let browser = browser();
    sign_in_with_password(&app, &browser, "ada@example.com").await;
    let mut phone = SoftPasskey::at(ORIGIN);
    assert_eq!(register(&app, &browser, &mut phone, "phone").await.0, 200);
    let csrf = csrf(&app, &browser, "/settings/security").await;
    let form = [("csrf_token", csrf.as_str()), ("passwordless", "on")];
    assert_eq!(call(&app, &browser, "password", &form).await.0, 200);

    // The console's accounts page counts them (one query for the page).
    let root = app.create_admin("root@example.com").await;
    let admin = self::browser();
    assert_eq!(sign_in_with_password(&app, &admin, "root@example.com").await, 200);
    let page = admin.get(app.url("/admin/accounts")).send().await.unwrap().text().await.unwrap().replace("<!>", "");
    assert!(page.contains("1 passkey, password off") && page.contains("Remove all passkeys"), "{page}");
    assert!(page.contains("no passkeys"), "root has none: {page}");

    // The command line lists them and removes them all.
    let listed = app.run_command(&["user", "passkeys", "list", "--email", "ada@example.com"]);
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(out.contains("1 passkey(s); password off") && out.contains("phone") && out.contains("never used"), "{out}");
    let removed = app.run_command(&["user", "passkeys", "remove", "--email", "ada@example.com"]);
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    assert!(String::from_utf8_lossy(&removed.stdout).contains("removed 1 passkey(s)"));
    let audited = super::audited(&app, AuditKind::PasskeysRemovedByAdmin).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].event.actor, Some(gatehouse_core::Actor::Cli));
    // The passkey is gone, and the password works again.
    assert_eq!(sign_in_with_passkey(&app, &mut phone).await.1.0, 401);
    assert_eq!(sign_in_with_password(&app, &self::browser(), "ada@example.com").await, 200);
    let unknown = app.run_command(&["user", "passkeys", "list", "--email", "nobody@example.com"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account with the email nobody@example.com"));

    // The admin API says the same (and refuses a token without `admin`).
    let flow = app.start_flow(&[("scope", "full admin")]).await;
    app.approve(flow["user_code"].as_str().expect("code"), &root).await;
    let token = app.poll(flow["device_code"].as_str().expect("code")).await.1["access_token"].clone();
    let path = app.url(&format!("/v1/admin/accounts/{}/passkeys", ada.id));
    let listed: Value =
        app.device.get(&path).bearer_auth(token.as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, serde_json::json!({ "passkeys": [], "passwordless": false }));
    let missing = app.url(&format!("/v1/admin/accounts/{}/passkeys", uuid::Uuid::new_v4()));
    let answer = app.device.delete(&missing).bearer_auth(token.as_str().unwrap()).send().await.unwrap();
    assert_eq!(answer.status(), 404);
    assert_eq!(app.device.get(&path).send().await.unwrap().status(), 401);
}
