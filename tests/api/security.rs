//! SPEC §7: headers on every response, cross-site refusal, fail closed.

use crate::helpers::{Backend, expect_oauth_error, spawn_app};
use crate::on_every_backend;
use serde_json::Value;

fn assert_security_headers(response: &reqwest::Response, what: &str) {
    let headers = response.headers();
    assert_eq!(headers.get("x-frame-options").map(|v| v.as_bytes()), Some(&b"DENY"[..]), "{what}");
    assert_eq!(headers.get("x-content-type-options").map(|v| v.as_bytes()), Some(&b"nosniff"[..]), "{what}");
    assert_eq!(headers.get("referrer-policy").map(|v| v.as_bytes()), Some(&b"no-referrer"[..]), "{what}");
    let csp = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
}

async fn every_response_carries_the_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let get = |path: &'static str| app.device.get(app.url(path)).send();
    for (path, status) in [
        ("/device", 200),
        ("/signin", 200),
        ("/", 200),
        ("/no-such-page", 404),
        ("/v1/no-such-endpoint", 404),
        ("/healthz", 200),
        ("/readyz", 200),
        ("/favicon.svg", 200),
        ("/.well-known/oauth-authorization-server", 200),
    ] {
        let response = get(path).await.expect("request");
        assert_eq!(response.status(), status, "{path}");
        assert_security_headers(&response, path);
        if path != "/favicon.svg" {
            assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
        }
    }
    let html = get("/device").await.expect("request");
    let csp = html.headers()["content-security-policy"].to_str().unwrap_or_default().to_owned();
    assert!(csp.contains("script-src 'self' 'nonce-"), "{csp}");
    let error = app.device.post(app.url("/v1/oauth/device/token")).send().await.expect("request");
    assert_eq!(error.status(), 400);
    assert_security_headers(&error, "token error");
    assert_eq!(error.headers()["pragma"], "no-cache");
}

async fn cross_site_state_changes_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/console/api/signin", "/console/api/oauth/device/approve", "/console/api/oauth/device/deny"] {
        let response = app
            .browser
            .post(app.url(path))
            .header("origin", "https://evil.example")
            .form(&[("user_code", "BCDF-GHJK"), ("csrf_token", "x")])
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 403, "{path}");
        assert_eq!(response.json::<Value>().await.expect("json")["error"], "cross_site_request");
        let response = app
            .browser
            .post(app.url(path))
            .header("sec-fetch-site", "cross-site")
            .form(&[("user_code", "BCDF-GHJK")])
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 403, "{path}");
    }
}

async fn ambiguous_or_oversized_request_parts_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("laptop").await;
    // Two Authorization headers: neither wins.
    let twice = app
        .device
        .get(app.url("/v1/me"))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Bearer gtha_someone-else")
        .send()
        .await
        .expect("request");
    expect_oauth_error(twice, 400, "invalid_request").await;
    let twice = app
        .device
        .post(app.url("/v1/oauth/device/code"))
        .header("authorization", "Basic Z2F0ZWhvdXNlLWNsaTo=")
        .header("authorization", "Basic b3RoZXI6c2VjcmV0")
        .form(&[("scope", "full")])
        .send()
        .await
        .expect("request");
    expect_oauth_error(twice, 400, "invalid_request").await;
    // A form body that is not UTF-8 once decoded.
    let body = "client_id=gatehouse-cli&device_label=%C3%28";
    let response = app.post_raw("/v1/oauth/device/code", Some("application/x-www-form-urlencoded"), body).await;
    expect_oauth_error(response, 400, "invalid_request").await;
    // Zero-width characters in a device label.
    for invisible in ["\u{200B}", "\u{200D}", "\u{2060}", "\u{FEFF}"] {
        let label = format!("build{invisible}box");
        let response =
            app.post_form("/v1/oauth/device/code", &[("client_id", "gatehouse-cli"), ("device_label", &label)]).await;
        expect_oauth_error(response, 400, "invalid_request").await;
    }
    // An 8 KB User-Agent is kept to 256 characters.
    let response = app
        .device
        .post(app.url("/v1/oauth/device/code"))
        .header("user-agent", "A".repeat(8192))
        .form(&[("client_id", "gatehouse-cli")])
        .send()
        .await
        .expect("request");
    let flow: Value = response.json().await.expect("json");
    let stored = app.services.device_flows.find_pending(flow["user_code"].as_str().expect("code")).await;
    let user_agent = stored.expect("store").expect("flow").requester_user_agent.expect("user agent");
    assert_eq!(user_agent.chars().count(), 256);
    // More than 16 KiB of headers in all: 431, on every route, with nothing
    // stored; 16 KiB less a little still passes.
    let before = app.services.ports().audit.recent(100).await.expect("audit").len();
    for path in ["/v1/oauth/device/code", "/console/api/signin"] {
        let response = app
            .device
            .post(app.url(path))
            .header("x-padding-a", "a".repeat(8 * 1024))
            .header("x-padding-b", "b".repeat(8 * 1024))
            .form(&[("client_id", "gatehouse-cli")])
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 431, "{path}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "invalid_request", "{path}");
    }
    let response = app.device.get(app.url("/healthz")).header("x-padding", "a".repeat(15 * 1024)).send().await;
    assert_eq!(response.expect("request").status(), 200);
    assert_eq!(app.services.ports().audit.recent(100).await.expect("audit").len(), before);
}

on_every_backend!(
    every_response_carries_the_security_headers,
    cross_site_state_changes_are_refused,
    ambiguous_or_oversized_request_parts_are_refused,
);

#[tokio::test]
async fn a_secret_shorter_than_32_bytes_stops_startup() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = gatehouse::config::Config::defaults().expect("config");
    config.data_dir = dir.path().to_path_buf();
    config.database_url = format!("sqlite://{}/g.db", dir.path().display());
    config.secret_key = Some(gatehouse_core::SecretString::new("short"));
    config.bind = "127.0.0.1:0".parse().expect("addr");
    let err = gatehouse::startup::Application::build(config, Default::default()).await.err().map(|e| e.to_string());
    assert_eq!(err.as_deref(), Some("GATEHOUSE_SECRET_KEY: must be at least 32 bytes"));
}

#[tokio::test]
async fn an_unreachable_database_stops_startup_with_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = gatehouse::config::Config::defaults().expect("config");
    config.data_dir = dir.path().to_path_buf();
    config.database_url = "postgres://nobody@127.0.0.1:1/none".to_owned();
    config.bind = "127.0.0.1:0".parse().expect("addr");
    let err = gatehouse::startup::Application::build(config, Default::default()).await.err().map(|e| e.to_string());
    let err = err.expect("startup must fail");
    assert!(err.starts_with("GATEHOUSE_DATABASE_URL: cannot connect to the database"), "{err}");
    assert!(!err.contains('\n'));
}
