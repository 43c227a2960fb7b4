//! `/metrics` (SPEC §8): Prometheus text on its own listener, showing
//! requests, flows, tokens, limiter refusals and the sign-in queue.

use crate::helpers::{Backend, PASSWORD, spawn_app, spawn_app_with};
use crate::on_every_backend;
use gatehouse_core::rate_limit::{Limiter, Quota};

on_every_backend!(metrics_show_what_happened_on_their_own_listener, metrics_are_off_by_default);

async fn metrics_show_what_happened_on_their_own_listener(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.metrics_bind = Some("127.0.0.1:0".parse().expect("address"));
        c.settings.rate_limits.set(Limiter::BearerPerToken, Quota::parse("1/1m").expect("quota"));
    })
    .await;
    let token = app.token_for("laptop").await;
    assert_eq!(app.me(&token).await.status(), 200);
    assert_eq!(app.me(&token).await.status(), 429);
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    // A poll by a client Gatehouse does not know is counted as what it was
    // answered, not folded into another error.
    let unknown_client = app
        .device
        .post(app.url("/v1/oauth/device/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "no-such-client"),
            ("device_code", "no-such-code"),
        ])
        .send()
        .await
        .expect("poll");
    assert_eq!(unknown_client.status(), 401);

    let metrics_address = app.metrics_address.clone().expect("metrics listener");
    let response = app.device.get(format!("{metrics_address}/metrics")).send().await.expect("scrape");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain"));
    let text = response.text().await.expect("text");
    for expected in [
        r#"gatehouse_http_requests_total{route="/v1/oauth/device/code",method="POST",status="200"}"#,
        r#"gatehouse_http_requests_total{route="/v1/me",method="GET",status="429"}"#,
        r#"gatehouse_http_request_duration_seconds_bucket{route="/v1/me",method="GET",le="0.005"}"#,
        r#"gatehouse_flows_total{event="started"}"#,
        r#"gatehouse_flows_total{event="approved"}"#,
        r#"gatehouse_flows_total{event="redeemed"}"#,
        r#"gatehouse_approvals_total{proximity="same",outcome="approved"}"#,
        r#"gatehouse_token_polls_total{answer="issued"}"#,
        r#"gatehouse_token_polls_total{answer="invalid_client"}"#,
        r#"gatehouse_tokens_total{event="issued"}"#,
        r#"gatehouse_rate_limited_total{limiter="bearer_per_token"}"#,
        "gatehouse_sign_in_queue_depth",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    // Never on the public listener; and no raw paths (codes) as labels.
    assert_eq!(app.device.get(app.url("/metrics")).send().await.expect("request").status(), 404);
    assert!(!text.contains("user_code="), "{text}");
}

async fn metrics_are_off_by_default(backend: Backend) {
    let app = spawn_app(backend).await;
    assert!(app.metrics_address.is_none());
}
