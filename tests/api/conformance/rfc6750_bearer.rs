//! RFC 6750 bearer authentication: every refusal with its status, body and
//! `WWW-Authenticate` challenge, and SPEC §5's scope rule.

use crate::helpers::{Backend, spawn_app, spawn_app_with};
use crate::on_every_backend;
use gatehouse_core::model::ClientType;
use serde_json::Value;

/// Every `WWW-Authenticate` challenge of an answer, in order.
pub fn challenges(response: &reqwest::Response) -> Vec<String> {
    let values = response.headers().get_all("www-authenticate");
    values.iter().map(|value| value.to_str().expect("ascii").to_owned()).collect()
}

/// Checks a 401 `invalid_token` answer and returns its description. Both
/// schemes are challenged with the error (RFC 6750 §3, RFC 9449 §7.1).
async fn expect_invalid_token(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 401);
    let challenges = challenges(&response);
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(challenges[0].starts_with(r#"Bearer realm="gatehouse", error="invalid_token""#), "{challenges:?}");
    assert!(challenges[1].starts_with(r#"DPoP error="invalid_token""#), "{challenges:?}");
    assert!(challenges[1].ends_with(r#"algs="ES256 EdDSA""#), "{challenges:?}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_token");
    body["error_description"].as_str().expect("description").to_owned()
}

async fn missing_token_gets_a_challenge_without_an_error(backend: Backend) {
    let app = spawn_app(backend).await;
    // RFC 6750 §3.1: a request without credentials gets no error code, in
    // the challenge or the body, on every bearer route.
    let routes = [
        app.device.get(app.url("/v1/me")),
        app.device.get(app.url("/v1/oauth/authorizations")),
        app.device.delete(app.url("/v1/oauth/authorizations/self")),
    ];
    for request in routes {
        let response = request.send().await.expect("request");
        let url = response.url().clone();
        assert_eq!(response.status(), 401, "{url}");
        assert_eq!(challenges(&response), [r#"Bearer realm="gatehouse""#, r#"DPoP algs="ES256 EdDSA""#], "{url}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert!(body.get("error").is_none(), "{url}: {body}");
    }
}

async fn another_scheme_counts_as_no_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    let response = app.device.get(app.url("/v1/me")).basic_auth("x", Some(&token)).send().await.expect("request");
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="gatehouse""#);
}

async fn the_scheme_name_is_case_insensitive(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    let response =
        app.device.get(app.url("/v1/me")).header("authorization", format!("bearer {token}")).send().await.expect("r");
    assert_eq!(response.status(), 200);
}

async fn unknown_prefix_is_invalid_token(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        expect_invalid_token(app.me("ghp_16C7e42F292c6912E7710c838347Ae178B4a").await).await,
        "unknown token prefix"
    );
}

async fn bad_checksum_or_length_is_invalid_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    let mut typo = token.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    for bad in [typo.as_str(), &token[..token.len() - 1], "gtha_tooshort"] {
        assert_eq!(expect_invalid_token(app.me(bad).await).await, "malformed token");
    }
}

async fn well_formed_unknown_token_is_invalid_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let random = gatehouse_store::crypto::OsRandom;
    let never_issued =
        gatehouse_core::formats::token::BearerToken::generate(gatehouse_core::TokenKind::Account, &random);
    assert_eq!(expect_invalid_token(app.me(never_issued.expose()).await).await, "unknown or revoked token");
}

async fn revoked_token_is_invalid_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    let revoked = app.device.delete(app.url("/v1/oauth/authorizations/self")).bearer_auth(&token).send().await;
    assert_eq!(revoked.expect("request").status(), 204);
    assert_eq!(expect_invalid_token(app.me(&token).await).await, "unknown or revoked token");
}

async fn expired_token_is_invalid_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    app.advance(30 * 24 * 3600);
    assert_eq!(expect_invalid_token(app.me(&token).await).await, "token expired");
    // Hard-expired on that first sight: the hash is gone, the row stays for the audit trail.
    assert_eq!(expect_invalid_token(app.me(&token).await).await, "unknown or revoked token");
}

async fn token_without_the_required_scope_is_insufficient_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_client("runner", ClientType::Public, &["apps:run"], true).await;
    let account = app.ada().await;
    let start = app.post_form("/v1/oauth/device/code", &[("client_id", "runner"), ("scope", "apps:run")]).await;
    let flow: Value = start.json().await.expect("json");
    app.approve(flow["user_code"].as_str().expect("code"), &account).await;
    let (status, token) = app.poll_as(flow["device_code"].as_str().expect("code"), "runner").await;
    assert_eq!(status, 200);
    let token = token["access_token"].as_str().expect("token");

    // Any valid token may read its subject ...
    assert_eq!(app.me(token).await.status(), 200);
    // ... but managing authorizations needs `full`.
    let response = app.device.get(app.url("/v1/oauth/authorizations")).bearer_auth(token).send().await.expect("r");
    assert_eq!(response.status(), 403);
    assert_eq!(
        challenges(&response),
        [
            r#"Bearer realm="gatehouse", error="insufficient_scope", scope="full""#,
            r#"DPoP error="insufficient_scope", scope="full", algs="ES256 EdDSA""#,
        ]
    );
    assert_eq!(response.json::<Value>().await.expect("json")["error"], "insufficient_scope");
}

async fn a_full_token_lists_its_subjects_authorizations(backend: Backend) {
    let app = spawn_app(backend).await;
    let laptop = app.redeemed(&[("device_label", "laptop")]).await;
    app.redeemed(&[("device_label", "build-box")]).await;
    let response = app
        .device
        .get(app.url("/v1/oauth/authorizations"))
        .bearer_auth(laptop["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    let list = body["authorizations"].as_array().expect("list");
    assert_eq!(list.len(), 2, "{body}");
    let current: Vec<_> = list.iter().filter(|a| a["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["token_id"], laptop["token_id"]);
    assert_eq!(current[0]["device_label"], "laptop");
    assert_eq!(current[0]["scopes"], serde_json::json!(["full"]));
    assert!(list.iter().all(|a| a.get("token_hash").is_none() && a.get("access_token").is_none()));
}

async fn switched_off_bearer_authentication_answers_503(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.settings.enable_oauth_bearer = false).await;
    for path in ["/v1/me", "/v1/oauth/authorizations"] {
        let response = app.device.get(app.url(path)).bearer_auth("gtha_anything").send().await.expect("request");
        assert_eq!(response.status(), 503, "{path}");
        assert_eq!(response.json::<Value>().await.expect("json")["error"], "bearer_auth_disabled");
    }
}

on_every_backend!(
    missing_token_gets_a_challenge_without_an_error,
    another_scheme_counts_as_no_token,
    the_scheme_name_is_case_insensitive,
    unknown_prefix_is_invalid_token,
    bad_checksum_or_length_is_invalid_token,
    well_formed_unknown_token_is_invalid_token,
    revoked_token_is_invalid_token,
    expired_token_is_invalid_token,
    token_without_the_required_scope_is_insufficient_scope,
    a_full_token_lists_its_subjects_authorizations,
    switched_off_bearer_authentication_answers_503,
);
