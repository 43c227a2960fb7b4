//! The approval grant after a sign-in: single use, bound to the browser
//! session, short-lived, void at sign-out, kept across a rotation of the
//! server secret; and people as (issuer, `sub`), never their address.

use super::*;

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
    // Resource servers see two people too: a stable `sub` of its own for
    // each (never an account id's shape), the shared address apart.
    let secret = app.register_client("rs", gatehouse_core::model::ClientType::Confidential, &["full"], false).await;
    let secret = secret.expect("secret");
    let mut subs = Vec::new();
    for token in [&sam, &other] {
        let access = token["access_token"].as_str().expect("token");
        let introspected = app.introspect(&secret, access).await;
        let me: Value = app.me(access).await.json().await.expect("json");
        assert_eq!(introspected["email"], "sam@sso.example", "{introspected}");
        assert_eq!(introspected["sub"], me["sub"], "{introspected} {me}");
        subs.push(introspected["sub"].as_str().expect("sub").to_owned());
    }
    assert_ne!(subs[0], subs[1]);
    assert!(subs.iter().all(|sub| sub.starts_with("sso:") && sub.len() == 68), "{subs:?}");

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
        crossed_networks: false,
        status: gatehouse_core::listing::TokenStatus::Active,
        after: None,
        limit: 10,
        now: app.clock_now(),
    };
    let still_sam = ports.tokens.search(&search).await.expect("search");
    assert_eq!(still_sam.len(), 1, "only the other account still goes by the old address");
    assert_eq!(still_sam[0].subject_id.as_deref(), Some("sam-5678"));
}

/// A rotation of the server secret during a sign-in: started on an instance
/// with the old secret, finished on one that signs with the new secret and
/// still lists the old one; an instance that has dropped the old secret
/// refuses such a sign-in (as it refuses any envelope it did not sign).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sso_sign_in_in_flight_survives_a_rotation_of_the_secret() {
    if !crate::helpers::postgres_redis_available(
        "sso::approval_grants::an_sso_sign_in_in_flight_survives_a_rotation_of_the_secret",
    ) {
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

on_every_backend!(
    approval_grants_are_single_use_bound_and_short_lived,
    signing_out_voids_the_approval_grant,
    two_provider_accounts_sharing_an_email_are_two_people,
);
