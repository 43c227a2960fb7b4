//! RFC 9449 DPoP: proofs at the token endpoint bind the grant's access and
//! refresh tokens to a key; bound tokens are accepted only with the DPoP
//! scheme and a fresh, unreplayed proof of that key over the request.

use crate::helpers::{Backend, CLI, TestApp, spawn_app, spawn_app_with};
use crate::on_every_backend;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::cli::dpop::{DpopKey, ProofAlgorithm};
use gatehouse_core::model::{ClientType, DpopMode, TokenPolicy};
use serde_json::{Value, json};

const TOKEN: &str = "/v1/oauth/device/token";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn key(algorithm: ProofAlgorithm) -> DpopKey {
    DpopKey::generate(algorithm).expect("key")
}

/// The claims of a proof for `method` and `path` on `app`, made now by the
/// server's (manual) clock.
fn claims(app: &TestApp, method: &str, path: &str, token: Option<&str>, nonce: Option<&str>) -> Value {
    let mut claims = json!({
        "htm": method,
        "htu": app.url(path),
        "iat": app.clock_now().timestamp(),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    if let Some(token) = token {
        claims["ath"] = json!(gatehouse_core::services::dpop::access_token_hash(token));
    }
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    claims
}

/// The header a well-formed proof by `key` has.
fn header(key: &DpopKey) -> Value {
    let alg = if key.public_jwk()["kty"] == "OKP" { "EdDSA" } else { "ES256" };
    json!({ "typ": "dpop+jwt", "alg": alg, "jwk": key.public_jwk() })
}

/// A good proof for `method` and `path`.
fn proof(app: &TestApp, key: &DpopKey, method: &str, path: &str, token: Option<&str>, nonce: Option<&str>) -> String {
    key.sign(&header(key), &claims(app, method, path, token, nonce))
}

/// A token request with an optional `DPoP` header: status, body and the
/// `DPoP-Nonce` answered. A device-code poll waits its interval first.
async fn token_request(app: &TestApp, form: &[(&str, &str)], dpop: Option<String>) -> (u16, Value, Option<String>) {
    if form.contains(&("grant_type", DEVICE_GRANT)) {
        app.advance(5);
    }
    let mut request = app.device.post(app.url(TOKEN)).form(form);
    if let Some(dpop) = dpop {
        request = request.header("DPoP", dpop);
    }
    let response = request.send().await.expect("request");
    let nonce = response.headers().get("dpop-nonce").map(|v| v.to_str().expect("text").to_owned());
    (response.status().as_u16(), response.json().await.expect("json"), nonce)
}

/// `GET /v1/me` with `Authorization: <scheme> <token>` and an optional proof.
async fn me(app: &TestApp, scheme: &str, token: &str, dpop: Option<String>) -> reqwest::Response {
    let mut request = app.device.get(app.url("/v1/me")).header("Authorization", format!("{scheme} {token}"));
    if let Some(dpop) = dpop {
        request = request.header("DPoP", dpop);
    }
    request.send().await.expect("request")
}

fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field].as_str().unwrap_or_else(|| panic!("{field} in {body}"))
}

/// The error of an answer, with its status.
async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

/// Starts a CLI flow (with `extra` parameters) and approves it as Ada.
async fn approved_flow(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let account = app.ada().await;
    let flow = app.start_flow(extra).await;
    app.approve(text(&flow, "user_code"), &account).await;
    text(&flow, "device_code").to_owned()
}

/// Redeems an approved flow with proofs of `key`, taking the nonce the
/// server hands out on the way.
async fn redeem_bound(app: &TestApp, key: &DpopKey, device_code: &str) -> Value {
    let form = [("grant_type", DEVICE_GRANT), ("device_code", device_code), ("client_id", CLI)];
    let (status, body, nonce) = token_request(app, &form, Some(proof(app, key, "POST", TOKEN, None, None))).await;
    assert_eq!((status, text(&body, "error")), (400, "use_dpop_nonce"), "a nonce is required first: {body}");
    let nonce = nonce.expect("the answer carries DPoP-Nonce");
    let (status, body, _) = token_request(app, &form, Some(proof(app, key, "POST", TOKEN, None, Some(&nonce)))).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Sets the CLI client's DPoP mode as an admin would.
async fn set_dpop_mode(app: &TestApp, mode: DpopMode) {
    let admin = gatehouse_core::Admin::command_line();
    let client = app.services.clients.get(&admin, CLI).await.expect("get").expect("client");
    app.set_client_policy(CLI, TokenPolicy { dpop: mode, ..client.policy }).await;
}

/// The nonce the token endpoint hands out to a request `form` with a proof
/// by `key`, whatever that request's own answer.
async fn nonce_from(app: &TestApp, form: &[(&str, &str)], key: &DpopKey) -> String {
    let (_, _, nonce) = token_request(app, form, Some(proof(app, key, "POST", TOKEN, None, None))).await;
    nonce.expect("the answer carries DPoP-Nonce")
}

async fn a_proof_at_redemption_binds_the_access_and_refresh_tokens_to_its_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = key(ProofAlgorithm::EdDsa);
    let device_code = approved_flow(&app, &[("device_label", "laptop")]).await;
    let token = redeem_bound(&app, &key, &device_code).await;
    assert_eq!(token["token_type"], "DPoP", "{token}");
    let access = text(&token, "access_token");

    // Introspection names the key (RFC 9449 §6.2).
    let secret = app.register_client("rs", ClientType::Confidential, &["full"], false).await.expect("secret");
    let introspected: Value = app
        .device
        .post(app.url("/v1/oauth/introspect"))
        .basic_auth("rs", Some(secret))
        .form(&[("token", access)])
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(introspected["token_type"], "DPoP", "{introspected}");
    assert_eq!(introspected["cnf"]["jkt"], key.thumbprint(), "{introspected}");

    // A bound token is refused as a bearer token (RFC 9449 §7.2) and without
    // a proof; the refusal challenges both schemes, so a stock client learns
    // to present it with DPoP.
    let as_bearer = me(&app, "Bearer", access, None).await;
    let challenges = super::rfc6750_bearer::challenges(&as_bearer);
    assert!(challenges[0].starts_with(r#"Bearer realm="gatehouse", error="invalid_token""#), "{challenges:?}");
    assert!(challenges[1].starts_with(r#"DPoP error="invalid_token""#), "{challenges:?}");
    assert!(challenges[1].contains(r#"algs="ES256 EdDSA""#), "{challenges:?}");
    let (status, error) = error_of(as_bearer).await;
    assert_eq!((status, error.as_str()), (401, "invalid_token"));
    let response = me(&app, "DPoP", access, None).await;
    let challenges = super::rfc6750_bearer::challenges(&response);
    assert_eq!(challenges[0], r#"Bearer realm="gatehouse""#, "the proof's error is DPoP's alone");
    assert!(challenges[1].starts_with(r#"DPoP error="invalid_dpop_proof""#), "{challenges:?}");
    assert!(challenges[1].contains(r#"algs="ES256 EdDSA""#), "{challenges:?}");
    assert_eq!(error_of(response).await, (401, "invalid_dpop_proof".to_owned()));

    // With the scheme and a proof of the key over this request and token, it works.
    let good = proof(&app, &key, "GET", "/v1/me", Some(access), None);
    let response = me(&app, "DPoP", access, Some(good.clone())).await;
    assert_eq!(response.status(), 200);
    // Every bearer route takes it so, and the listing says the grant is bound.
    let listed: Value = app
        .device
        .get(app.url("/v1/oauth/authorizations"))
        .header("Authorization", format!("DPoP {access}"))
        .header("DPoP", proof(&app, &key, "GET", "/v1/oauth/authorizations", Some(access), None))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["authorizations"][0]["dpop_bound"], true, "{listed}");
    // The same proof twice is a replay (§11.1).
    assert_eq!(error_of(me(&app, "DPoP", access, Some(good)).await).await, (401, "invalid_dpop_proof".to_owned()));
    // Another key's proof is refused.
    let other = key_of_other_kind(&key);
    let stranger = proof(&app, &other, "GET", "/v1/me", Some(access), None);
    assert_eq!(error_of(me(&app, "DPoP", access, Some(stranger)).await).await, (401, "invalid_dpop_proof".to_owned()));

    // The refresh token is bound too: no proof, or another key's, and nothing rotates.
    let refresh_token = text(&token, "refresh_token");
    let form = [("grant_type", "refresh_token"), ("client_id", CLI), ("refresh_token", refresh_token)];
    let (status, body, nonce) = token_request(&app, &form, None).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_dpop_proof"), "{body}");
    assert!(nonce.is_none(), "no DPoP header, no nonce");
    let nonce = nonce_from(&app, &form, &other).await;
    let (status, body, _) =
        token_request(&app, &form, Some(proof(&app, &other, "POST", TOKEN, None, Some(&nonce)))).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_dpop_proof"), "another key: {body}");
    let (status, refreshed, _) =
        token_request(&app, &form, Some(proof(&app, &key, "POST", TOKEN, None, Some(&nonce)))).await;
    assert_eq!(status, 200, "the failed attempts rotated nothing: {refreshed}");
    assert_eq!(refreshed["token_type"], "DPoP");
    let new_access = text(&refreshed, "access_token");
    let response = me(&app, "DPoP", new_access, Some(proof(&app, &key, "GET", "/v1/me", Some(new_access), None))).await;
    assert_eq!(response.status(), 200);

    // The retired refresh token again: without the key it ends nothing (a
    // copy of an old token cannot sign the grant out); with the key it is
    // reuse, and the grant ends.
    let (status, body, _) = token_request(&app, &form, None).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "{body}");
    let (status, body, _) =
        token_request(&app, &form, Some(proof(&app, &other, "POST", TOKEN, None, Some(&nonce)))).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "{body}");
    let still = me(&app, "DPoP", new_access, Some(proof(&app, &key, "GET", "/v1/me", Some(new_access), None))).await;
    assert_eq!(still.status(), 200, "the grant lives on");
    let (status, body, _) =
        token_request(&app, &form, Some(proof(&app, &key, "POST", TOKEN, None, Some(&nonce)))).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "{body}");
    let ended = me(&app, "DPoP", new_access, Some(proof(&app, &key, "GET", "/v1/me", Some(new_access), None))).await;
    assert_eq!(error_of(ended).await, (401, "invalid_token".to_owned()), "reuse with the key ends the grant");

    // Discovery says which algorithms proofs may use.
    let metadata = app.metadata().await;
    assert_eq!(metadata["dpop_signing_alg_values_supported"], json!(["ES256", "EdDSA"]));
}

/// A key of the other algorithm than `key`'s.
fn key_of_other_kind(key: &DpopKey) -> DpopKey {
    if key.public_jwk()["kty"] == "OKP" { self::key(ProofAlgorithm::Es256) } else { self::key(ProofAlgorithm::EdDsa) }
}

async fn proofs_that_do_not_match_the_request_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = key(ProofAlgorithm::Es256);
    let device_code = approved_flow(&app, &[]).await;
    let token = redeem_bound(&app, &key, &device_code).await;
    assert_eq!(token["token_type"], "DPoP", "ES256 keys bind too: {token}");
    let access = text(&token, "access_token");
    let now = app.clock_now().timestamp();

    let with = |change: &dyn Fn(&mut Value, &mut Value)| {
        let mut header = header(&key);
        let mut claims = claims(&app, "GET", "/v1/me", Some(access), None);
        change(&mut header, &mut claims);
        key.sign(&header, &claims)
    };
    let other = key_of_other_kind(&key);
    let refused: Vec<(&str, String)> = vec![
        ("another method", with(&|_, c| c["htm"] = json!("POST"))),
        ("another URI", with(&|_, c| c["htu"] = json!(app.url("/v1/oauth/authorizations")))),
        ("another host", with(&|_, c| c["htu"] = json!("https://elsewhere.example/v1/me"))),
        ("another token's hash", with(&|_, c| c["ath"] = json!(URL_SAFE_NO_PAD.encode([0u8; 32])))),
        ("no token hash", with(&|_, c| c["ath"] = Value::Null)),
        ("no jti", with(&|_, c| c["jti"] = Value::Null)),
        ("a jti too long", with(&|_, c| c["jti"] = json!("j".repeat(200)))),
        ("typ jwt", with(&|h, _| h["typ"] = json!("jwt"))),
        ("alg RS256", with(&|h, _| h["alg"] = json!("RS256"))),
        ("alg none", with(&|h, _| h["alg"] = json!("none"))),
        ("alg EdDSA over a P-256 key", with(&|h, _| h["alg"] = json!("EdDSA"))),
        ("a private key in the jwk", with(&|h, _| h["jwk"]["d"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32])))),
        ("no jwk", with(&|h, _| h["jwk"] = Value::Null)),
        ("signed by another key", {
            let mut claims = claims(&app, "GET", "/v1/me", Some(access), None);
            claims["jti"] = json!("signed-by-other");
            other.sign(&header(&key), &claims)
        }),
        ("a flipped signature", {
            let mut proof = proof(&app, &key, "GET", "/v1/me", Some(access), None);
            let last = proof.pop().expect("char");
            proof.push(if last == 'A' { 'B' } else { 'A' });
            proof
        }),
        ("not a JWS", "garbage".to_owned()),
    ];
    for (why, proof) in refused {
        let response = me(&app, "DPoP", access, Some(proof)).await;
        assert_eq!(error_of(response).await, (401, "invalid_dpop_proof".to_owned()), "{why}");
    }

    // A proof too old or too new by its iat, or with a stale nonce, is
    // answered with a fresh nonce (§9, §11.1), on resource routes too; with
    // a fresh nonce, iat no longer needs to match the server's clock.
    for skewed in [now - 180, now + 120] {
        let response = me(&app, "DPoP", access, Some(with(&|_, c| c["iat"] = json!(skewed)))).await;
        assert!(response.headers().contains_key("dpop-nonce"));
        assert_eq!(error_of(response).await, (401, "use_dpop_nonce".to_owned()), "iat {skewed}");
    }
    let stale = with(&|_, c| c["nonce"] = json!("1.AAAA"));
    let response = me(&app, "DPoP", access, Some(stale)).await;
    let nonce = response.headers().get("dpop-nonce").map(|v| v.to_str().expect("text").to_owned());
    assert_eq!(error_of(response).await, (401, "use_dpop_nonce".to_owned()));
    let nonce = nonce.expect("a fresh nonce");
    let fresh = with(&|_, c| c["nonce"] = json!(nonce));
    assert_eq!(me(&app, "DPoP", access, Some(fresh)).await.status(), 200, "the fresh nonce works");
    let skewed = with(&|_, c| {
        c["nonce"] = json!(nonce);
        c["iat"] = json!(now - 3600);
    });
    assert_eq!(me(&app, "DPoP", access, Some(skewed)).await.status(), 200, "a slow clock with a fresh nonce works");

    // Exactly one DPoP header (§4.3).
    let response = app
        .device
        .get(app.url("/v1/me"))
        .header("Authorization", format!("DPoP {access}"))
        .header("DPoP", proof(&app, &key, "GET", "/v1/me", Some(access), None))
        .header("DPoP", proof(&app, &key, "GET", "/v1/me", Some(access), None))
        .send()
        .await
        .expect("request");
    assert_eq!(error_of(response).await, (401, "invalid_dpop_proof".to_owned()));

    // Every refusal above left the token working.
    let response = me(&app, "DPoP", access, Some(proof(&app, &key, "GET", "/v1/me", Some(access), None))).await;
    assert_eq!(response.status(), 200);
    // A bearer token presented with the DPoP scheme is refused.
    let bearer = app.token_for("plain").await;
    let response = me(&app, "DPoP", &bearer, Some(proof(&app, &key, "GET", "/v1/me", Some(&bearer), None))).await;
    assert_eq!(error_of(response).await, (401, "invalid_token".to_owned()));
    assert_eq!(me(&app, "Bearer", &bearer, None).await.status(), 200);
}

async fn a_replayed_proof_is_refused_on_every_instance(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = key(ProofAlgorithm::EdDsa);
    let device_code = approved_flow(&app, &[]).await;
    let token = redeem_bound(&app, &key, &device_code).await;
    let access = text(&token, "access_token");
    let proof = proof(&app, &key, "GET", "/v1/me", Some(access), None);
    assert_eq!(me(&app, "DPoP", access, Some(proof.clone())).await.status(), 200);
    // A second instance shares the state store on PostgreSQL + Redis (its
    // own address makes the proof's htu another URI, so it is re-signed for
    // it with the same jti: still a replay).
    if backend.is_shared() {
        let sibling = spawn_app_with(backend, |config| {
            config.database_url = app.database_url.clone();
            config.redis_key_prefix = app.redis_key_prefix.clone();
        })
        .await;
        let jti = serde_json::from_slice::<Value>(
            &URL_SAFE_NO_PAD.decode(proof.split('.').nth(1).expect("claims")).expect("base64"),
        )
        .expect("json")["jti"]
            .clone();
        let mut replayed_claims = claims(&sibling, "GET", "/v1/me", Some(access), None);
        replayed_claims["jti"] = jti;
        let replayed = key.sign(&header(&key), &replayed_claims);
        let response = me(&sibling, "DPoP", access, Some(replayed)).await;
        assert_eq!(error_of(response).await, (401, "invalid_dpop_proof".to_owned()), "the other instance saw it");
        let fresh = self::proof(&sibling, &key, "GET", "/v1/me", Some(access), None);
        assert_eq!(me(&sibling, "DPoP", access, Some(fresh)).await.status(), 200);
    }
    assert_eq!(error_of(me(&app, "DPoP", access, Some(proof)).await).await, (401, "invalid_dpop_proof".to_owned()));
}

async fn dpop_jkt_binds_the_device_code_to_its_key_from_the_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_form("/v1/oauth/device/code", &[("client_id", CLI), ("dpop_jkt", "short")]).await;
    assert_eq!(error_of(response).await, (400, "invalid_request".to_owned()), "not a thumbprint");

    let key = key(ProofAlgorithm::EdDsa);
    let jkt = key.thumbprint();
    let device_code = approved_flow(&app, &[("dpop_jkt", &jkt)]).await;
    let form = [("grant_type", DEVICE_GRANT), ("device_code", device_code.as_str()), ("client_id", CLI)];
    let (status, body, _) = token_request(&app, &form, None).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_dpop_proof"), "a bound code needs a proof: {body}");
    let other = key_of_other_kind(&key);
    let nonce = nonce_from(&app, &form, &other).await;
    let (status, body, _) =
        token_request(&app, &form, Some(proof(&app, &other, "POST", TOKEN, None, Some(&nonce)))).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_dpop_proof"), "another key: {body}");
    // The approval was not spent by the refusals: the key's holder redeems it.
    let (status, token, _) =
        token_request(&app, &form, Some(proof(&app, &key, "POST", TOKEN, None, Some(&nonce)))).await;
    assert_eq!((status, token["token_type"].clone()), (200, json!("DPoP")), "{token}");
}

async fn the_clients_dpop_mode_decides_whether_tokens_are_bound(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = key(ProofAlgorithm::EdDsa);
    // A bearer grant from before the client required DPoP.
    let bearer = app.redeemed(&[("device_label", "old")]).await;
    assert_eq!(bearer["token_type"], "Bearer");

    set_dpop_mode(&app, DpopMode::Required).await;
    let device_code = approved_flow(&app, &[("device_label", "new")]).await;
    let form = [("grant_type", DEVICE_GRANT), ("device_code", device_code.as_str()), ("client_id", CLI)];
    let (status, body, _) = token_request(&app, &form, None).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_dpop_proof"), "{body}");
    let token = redeem_bound(&app, &key, &device_code).await;
    assert_eq!(token["token_type"], "DPoP");
    let old_refresh =
        [("grant_type", "refresh_token"), ("client_id", CLI), ("refresh_token", text(&bearer, "refresh_token"))];
    let (status, body, _) = token_request(&app, &old_refresh, None).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_dpop_proof"), "{body}");
    let nonce = nonce_from(&app, &old_refresh, &key).await;
    let with_nonce = proof(&app, &key, "POST", TOKEN, None, Some(&nonce));
    let (status, body, _) = token_request(&app, &old_refresh, Some(with_nonce)).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "the bearer grant must sign in again: {body}");

    // Off: proofs are ignored, tokens are bearer, and a code cannot be bound.
    set_dpop_mode(&app, DpopMode::Off).await;
    let response = app.post_form("/v1/oauth/device/code", &[("client_id", CLI), ("dpop_jkt", &key.thumbprint())]).await;
    assert_eq!(error_of(response).await, (400, "invalid_request".to_owned()));
    let device_code = approved_flow(&app, &[("device_label", "off")]).await;
    let form = [("grant_type", DEVICE_GRANT), ("device_code", device_code.as_str()), ("client_id", CLI)];
    let (status, token, _) = token_request(&app, &form, Some(proof(&app, &key, "POST", TOKEN, None, None))).await;
    assert_eq!((status, token["token_type"].clone()), (200, json!("Bearer")), "{token}");
    assert_eq!(me(&app, "Bearer", text(&token, "access_token"), None).await.status(), 200);
}

async fn nonces_are_optional_when_the_operator_says_so_and_last_one_to_two_periods(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.settings.dpop_nonce_required = false).await;
    let key = key(ProofAlgorithm::EdDsa);
    let device_code = approved_flow(&app, &[]).await;
    let form = [("grant_type", DEVICE_GRANT), ("device_code", device_code.as_str()), ("client_id", CLI)];
    let (status, token, nonce) = token_request(&app, &form, Some(proof(&app, &key, "POST", TOKEN, None, None))).await;
    assert_eq!((status, token["token_type"].clone()), (200, json!("DPoP")), "no nonce needed: {token}");
    let nonce = nonce.expect("a nonce is still handed out");
    let access = text(&token, "access_token");

    let at = |secs_later: i64| {
        let mut claims = claims(&app, "GET", "/v1/me", Some(access), Some(&nonce));
        claims["iat"] = json!(app.clock_now().timestamp() + secs_later);
        key.sign(&header(&key), &claims)
    };
    assert_eq!(me(&app, "DPoP", access, Some(at(0))).await.status(), 200);
    // Still good in the next period, never after.
    app.advance(gatehouse_core::services::dpop::NONCE_PERIOD);
    assert_eq!(me(&app, "DPoP", access, Some(at(0))).await.status(), 200);
    app.advance(gatehouse_core::services::dpop::NONCE_PERIOD);
    let response = me(&app, "DPoP", access, Some(at(0))).await;
    assert!(response.headers().contains_key("dpop-nonce"));
    assert_eq!(error_of(response).await, (401, "use_dpop_nonce".to_owned()));
}

on_every_backend!(
    a_proof_at_redemption_binds_the_access_and_refresh_tokens_to_its_key,
    proofs_that_do_not_match_the_request_are_refused,
    a_replayed_proof_is_refused_on_every_instance,
    dpop_jkt_binds_the_device_code_to_its_key_from_the_start,
    the_clients_dpop_mode_decides_whether_tokens_are_bound,
    nonces_are_optional_when_the_operator_says_so_and_last_one_to_two_periods,
);
