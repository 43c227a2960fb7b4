//! The console over HTTP: `/settings/authorized-apps` and
//! `/admin/authorized-apps`, their guards, CSRF and cross-site refusal, and
//! that every revoke stops the token at once and is audited.

use crate::helpers::{Backend, CLI, PASSWORD, spawn_app};
use crate::on_every_backend;
use gatehouse_core::Actor;
use gatehouse_core::ports::AuditKind;
use serde_json::Value;

const MY_APPS: &str = "/settings/authorized-apps";
const ADMIN_APPS: &str = "/admin/authorized-apps";
const REVOKE_MINE: &str = "/console/api/settings/authorized-apps/revoke";
const REVOKE_ALL_MINE: &str = "/console/api/settings/authorized-apps/revoke-all";

/// The id `/v1/me` reports for a token.
async fn token_id(app: &crate::helpers::TestApp, token: &str) -> String {
    let me: Value = app.me(token).await.json().await.expect("json");
    me["token_id"].as_str().expect("token id").to_owned()
}

async fn anonymous_visitors_are_sent_to_sign_in_and_back(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [MY_APPS, ADMIN_APPS, "/admin/authorized-apps?email=ada%40example.com"] {
        let response = app.browser.get(app.url(path)).send().await.expect("page");
        assert_eq!(response.status(), 302, "{path}");
        let location = response.headers()["location"].to_str().expect("location").to_owned();
        let expected = format!("/signin?next={}", gatehouse_app::navigation::encode_query_value(path));
        assert_eq!(location, expected, "{path}");
    }
    // Server functions refuse too, whatever the page shows.
    let response = app.browser_post(REVOKE_ALL_MINE, &[("csrf_token", "x")]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.expect("json")["error"], "no_session");
}

async fn a_non_admin_is_refused_every_admin_page_and_action(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    let page = app.browser.get(app.url(ADMIN_APPS)).send().await.expect("page");
    assert_eq!(page.status(), 403);
    assert!(page.text().await.expect("html").contains("Administrators only"));
    // The header offers no Admin link to a non-admin.
    let own = app.browser.get(app.url(MY_APPS)).send().await.expect("page").text().await.expect("html");
    assert!(own.contains(">Devices<") && !own.contains(">Admin<"), "{own}");

    let csrf = app.csrf_of(MY_APPS).await;
    let id = token_id(&app, &token).await;
    for (path, field, value) in [
        ("/console/api/admin/authorized-apps/revoke", "token_id", id.as_str()),
        ("/console/api/admin/authorized-apps/revoke-user", "email", "ada@example.com"),
        ("/console/api/admin/authorized-apps/revoke-client", "client_id", CLI),
    ] {
        let response = app.browser_post(path, &[(field, value), ("csrf_token", &csrf), ("back", ADMIN_APPS)]).await;
        assert_eq!(response.status(), 403, "{path}");
        assert_eq!(response.json::<Value>().await.expect("json")["error"], "forbidden", "{path}");
    }
    assert_eq!(app.me(&token).await.status(), 200, "nothing was revoked");
}

async fn a_person_sees_their_devices_and_revokes_one_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let laptop = app.token_for("ada-laptop").await;
    let phone = app.token_for("ada-phone").await;
    // Someone else's token, which Ada must neither see nor revoke.
    let grace = app.create_account("grace@example.com").await;
    let flow = app.start_flow(&[("device_label", "grace-box")]).await;
    app.approve(flow["user_code"].as_str().expect("code"), &grace).await;
    let grace_token = app.poll(flow["device_code"].as_str().expect("code")).await.1["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.advance(60);
    assert_eq!(app.me(&laptop).await.status(), 200, "used once: the page shows when and where");

    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    let html = app.browser.get(app.url(MY_APPS)).send().await.expect("page").text().await.expect("html");
    let html = html.replace("<!>", "");
    assert!(html.contains("ada-laptop") && html.contains("ada-phone") && html.contains("Gatehouse CLI"), "{html}");
    assert!(html.contains("as reported by the device") && html.contains("from 127.0.0.1"), "{html}");
    assert!(!html.contains("grace-box"), "only the person's own tokens");
    // Most recently used first: the laptop was used, the phone not yet.
    assert!(html.find("ada-laptop") < html.find("ada-phone"), "{html}");
    assert!(html.contains("Revoke all access"), "{html}");
    let csrf = crate::helpers::hidden_input(&html, "csrf_token").expect("csrf");

    // Forged CSRF and cross-site posts change nothing.
    let id = token_id(&app, &laptop).await;
    let forged = app.browser_post(REVOKE_MINE, &[("token_id", &id), ("csrf_token", "forged")]).await;
    assert_eq!(forged.status(), 403);
    let cross = app
        .browser
        .post(app.url(REVOKE_MINE))
        .header("sec-fetch-site", "cross-site")
        .form(&[("token_id", id.as_str()), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(cross.status(), 403);
    assert_eq!(cross.json::<Value>().await.expect("json")["error"], "cross_site_request");
    assert_eq!(app.me(&laptop).await.status(), 200);

    // Another person's token id answers exactly as an id naming nothing
    // (404), and nothing happens.
    let grace_id = token_id(&app, &grace_token).await;
    let nobody = uuid::Uuid::new_v4().to_string();
    for id in [&grace_id, &nobody] {
        let other = app.browser_post(REVOKE_MINE, &[("token_id", id), ("csrf_token", &csrf)]).await;
        assert_eq!(other.status(), 404);
        assert_eq!(other.json::<Value>().await.expect("json")["error"], "not_found");
    }
    assert_eq!(app.me(&grace_token).await.status(), 200);

    let revoked = app.browser_post(REVOKE_MINE, &[("token_id", &id), ("csrf_token", &csrf)]).await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.json::<Value>().await.expect("json")["revoked"], 1);
    assert_eq!(app.me(&laptop).await.status(), 401, "refused at once, though it was cached");
    assert_eq!(app.me(&phone).await.status(), 200);
    let events = app.services.ports().audit.recent(50).await.expect("audit");
    let event = events.iter().find(|e| e.kind == AuditKind::TokenRevoked).expect("audited");
    assert_eq!(event.actor, Some(Actor::Account { email: "ada@example.com".into() }));
    assert_eq!(event.details["by"], "self");
    assert_eq!(event.details["token_id"], id.as_str());
}

async fn revoke_all_needs_a_confirmation_step_and_stops_everything(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = [app.token_for("one").await, app.token_for("two").await, app.token_for("three").await];
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    // The first click only asks; GET never changes anything.
    let confirm = app.browser.get(app.url(&format!("{MY_APPS}?confirm=revoke-all"))).send().await.expect("page");
    let html = confirm.text().await.expect("html").replace("<!>", "");
    assert!(html.contains("Revoke every device’s access?"), "{html}");
    assert!(html.contains("All 3 devices"), "{html}");
    for token in &tokens {
        assert_eq!(app.me(token).await.status(), 200);
    }
    let csrf = crate::helpers::hidden_input(&html, "csrf_token").expect("csrf");
    // With JavaScript off the form post comes back to the page with the count.
    let response = app
        .browser
        .post(app.url(REVOKE_ALL_MINE))
        .header("accept", "text/html")
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], format!("{MY_APPS}?revoked=3"));
    for token in &tokens {
        assert_eq!(app.me(token).await.status(), 401);
    }
    let html = app.browser.get(app.url(&format!("{MY_APPS}?revoked=3"))).send().await.expect("page");
    let html = html.text().await.expect("html");
    assert!(html.contains("Signed out 3 devices") && html.contains("Nothing is signed in as you"), "{html}");
}

async fn a_server_function_with_a_missing_field_is_a_400(backend: Backend) {
    let app = spawn_app(backend).await;
    app.token_for("laptop").await;
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    let csrf = app.csrf_of(MY_APPS).await;
    let missing = app.browser_post(REVOKE_MINE, &[("csrf_token", &csrf)]).await;
    assert_eq!(missing.status(), 400);
    assert_eq!(missing.json::<Value>().await.expect("json")["error"], "invalid_request");
    let malformed = app.browser_post(REVOKE_MINE, &[("token_id", "not-a-uuid"), ("csrf_token", &csrf)]).await;
    assert_eq!(malformed.status(), 400);
    // With JavaScript off: a friendly page, not JSON.
    let plain = app
        .browser
        .post(app.url("/console/api/oauth/device/approve"))
        .header("accept", "text/html")
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(plain.status(), 302);
    let location = plain.headers()["location"].to_str().expect("location").to_owned();
    assert_eq!(location, "/error?error=invalid_request");
    let page = app.browser.get(app.url(&location)).send().await.expect("page");
    assert!(page.text().await.expect("html").contains("Something was missing from the form"));
}

async fn an_admin_finds_and_revokes_a_users_and_a_clients_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada_laptop = app.token_for("ada-laptop").await;
    let ada_phone = app.token_for("ada-phone").await;
    app.register_client("build-bot", gatehouse_core::model::ClientType::Public, &["full"], true).await;
    let grace = app.create_account("grace@example.com").await;
    let flow = app.start_flow_as("build-bot", &[("device_label", "ci-runner")]).await;
    app.approve(flow["user_code"].as_str().expect("code"), &grace).await;
    let (_, body) = app.poll_as(flow["device_code"].as_str().expect("code"), "build-bot").await;
    let grace_bot = body["access_token"].as_str().expect("token").to_owned();

    app.create_admin("root@example.com").await;
    assert_eq!(app.sign_in("root@example.com", PASSWORD).await.status(), 200);
    let html = app.browser.get(app.url(ADMIN_APPS)).send().await.expect("page").text().await.expect("html");
    assert!(html.contains(">Admin<"), "the header links to Admin for admins");
    for expected in ["ada-laptop", "ada-phone", "ci-runner", "grace@example.com", "build-bot app"] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    // Filters: by user and by client.
    let by_user = app.browser.get(app.url(&format!("{ADMIN_APPS}?email=ADA%40example.com"))).send().await.expect("p");
    let by_user = by_user.text().await.expect("html");
    assert!(by_user.contains("ada-laptop") && !by_user.contains("ci-runner"), "{by_user}");
    let by_client = app.browser.get(app.url(&format!("{ADMIN_APPS}?client=build-bot"))).send().await.expect("p");
    let by_client = by_client.text().await.expect("html");
    assert!(by_client.contains("ci-runner") && !by_client.contains("ada-laptop"), "{by_client}");
    // A token's confirmation is found by its id, wherever its row is listed.
    let ada_token_id = by_user.split("confirm=token%3A").nth(1).and_then(|rest| rest.get(..36)).expect("a token link");
    let elsewhere = app.page_html(&format!("{ADMIN_APPS}?client=build-bot&confirm=token%3A{ada_token_id}")).await;
    assert!(elsewhere.contains("Revoke the token of Gatehouse CLI on ada-"), "{elsewhere}");

    // The confirmation step names what will happen; only the POST acts.
    let confirm =
        app.browser.get(app.url(&format!("{ADMIN_APPS}?confirm=user%3Aada%40example.com"))).send().await.expect("page");
    let confirm = confirm.text().await.expect("html");
    assert!(confirm.contains("Revoke every token of ada@example.com?"), "{confirm}");
    assert_eq!(app.me(&ada_laptop).await.status(), 200);
    let csrf = crate::helpers::hidden_input(&confirm, "csrf_token").expect("csrf");
    let response = app
        .browser_post(
            "/console/api/admin/authorized-apps/revoke-user",
            &[("email", "ada@example.com"), ("csrf_token", &csrf), ("back", ADMIN_APPS)],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.expect("json")["revoked"], 2);
    assert_eq!(app.me(&ada_laptop).await.status(), 401);
    assert_eq!(app.me(&ada_phone).await.status(), 401);
    assert_eq!(app.me(&grace_bot).await.status(), 200);

    // A plain form post returns to the listing with its filters.
    let revoke_client = "/console/api/admin/authorized-apps/revoke-client";
    let back = "/admin/authorized-apps?client=build-bot&confirm=client%3Abuild-bot";
    let form = [("client_id", "build-bot"), ("csrf_token", csrf.as_str()), ("back", back)];
    let location = app.plain_form_post(revoke_client, &form).await;
    assert_eq!(location, "/admin/authorized-apps?client=build-bot&revoked=1");
    assert_eq!(app.me(&grace_bot).await.status(), 401);
    // A `back` elsewhere is not followed.
    let form = [("client_id", "build-bot"), ("csrf_token", csrf.as_str()), ("back", "https://evil.example/")];
    assert_eq!(app.plain_form_post(revoke_client, &form).await, "/admin/authorized-apps?revoked=0");

    let revoked: Vec<_> = app
        .services
        .ports()
        .audit
        .recent(50)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.kind == AuditKind::TokenRevoked)
        .collect();
    assert_eq!(revoked.len(), 3);
    for event in &revoked {
        assert_eq!(event.actor, Some(Actor::Admin { email: "root@example.com".into() }));
        assert_eq!(event.details["by"], "admin");
    }
    // Revoked tokens are listed under their status.
    let listed = app.browser.get(app.url(&format!("{ADMIN_APPS}?status=revoked"))).send().await.expect("page");
    let listed = listed.text().await.expect("html");
    assert!(listed.contains("ada-laptop") && listed.contains("ci-runner"), "{listed}");
}

on_every_backend!(
    anonymous_visitors_are_sent_to_sign_in_and_back,
    a_non_admin_is_refused_every_admin_page_and_action,
    a_person_sees_their_devices_and_revokes_one_at_once,
    revoke_all_needs_a_confirmation_step_and_stops_everything,
    a_server_function_with_a_missing_field_is_a_400,
    an_admin_finds_and_revokes_a_users_and_a_clients_tokens,
);
