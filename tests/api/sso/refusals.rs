//! Every refusal of the SSO branch: bad state envelopes and ID tokens,
//! junk at the callback, limits, a provider that cancels, fails or rotates
//! its keys. Each leaves the flow pending and sets no cookie.

use super::*;

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

on_every_backend!(
    bad_state_envelopes_are_refused,
    bad_id_tokens_are_refused,
    a_provider_whose_emails_are_trusted_may_omit_email_verified,
    starting_sign_ins_is_limited_per_code_and_per_address,
    the_provider_cancelling_or_failing_leaves_the_flow_pending,
    an_unreachable_provider_is_a_502,
    a_rotated_provider_key_is_fetched_again,
    junk_at_the_callback_is_counted_not_logged_row_by_row,
);
