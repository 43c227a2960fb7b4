//! Two instances over one database and state store (PostgreSQL + Redis, and
//! PostgreSQL alone): what one instance does, the other sees, as a load
//! balancer spreading one person's requests would need. The embedded default
//! is one process, so these run on the shared pairs only.
//!
//! A revocation reaches the other instance by notification on PostgreSQL
//! alone: the test waits for that (bounded far above a round trip), never
//! for a fixed time.

use crate::helpers::{Backend, TestApp, set_limit, spawn_app, spawn_app_with};
use crate::on_shared_backends;
use crate::rate_limits::expect_rate_limited;
use gatehouse_core::rate_limit::Limiter;

on_shared_backends!(
    a_flow_started_on_one_instance_is_approved_and_redeemed_once_across_both,
    a_revocation_is_refused_at_once_where_made_and_on_the_other_instance_once_it_hears,
    a_limit_is_counted_across_instances,
);

/// Another instance over `app`'s database and state store.
async fn sibling(app: &TestApp, backend: Backend, adjust: impl FnOnce(&mut gatehouse::config::Config)) -> TestApp {
    let (database_url, prefix) = (app.database_url.clone(), app.redis_key_prefix.clone());
    spawn_app_with(backend, move |config| {
        config.database_url = database_url;
        config.redis_key_prefix = prefix;
        adjust(config);
    })
    .await
}

/// Started on the first, approved on the second, then polled on both at
/// once, and again later on both: exactly one token among all the answers
/// (a poll after the redemption may be answered the same token again, as a
/// client whose answer was lost needs).
async fn a_flow_started_on_one_instance_is_approved_and_redeemed_once_across_both(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = sibling(&first, backend, |_| {}).await;
    let ada = first.ada().await;
    for _ in 0..10 {
        let flow = first.start_flow(&[]).await;
        let device_code = flow["device_code"].as_str().expect("device code");
        second.approve(flow["user_code"].as_str().expect("user code"), &ada).await;
        let (a, b) = tokio::join!(first.poll(device_code), second.poll(device_code));
        // Later, past the polling interval on both clocks.
        first.advance(10);
        second.advance(10);
        let (c, d) = tokio::join!(first.poll(device_code), second.poll(device_code));
        let answers = [a, b, c, d];
        let mut tokens: Vec<&str> =
            answers.iter().filter(|(status, _)| *status == 200).filter_map(|(_, a)| a["token_id"].as_str()).collect();
        tokens.dedup();
        assert_eq!(tokens.len(), 1, "{answers:?}");
        for (status, answer) in &answers {
            let waiting = ["authorization_pending", "slow_down"].contains(&answer["error"].as_str().unwrap_or(""));
            assert!(*status == 200 || waiting, "{answers:?}");
        }
    }
}

async fn a_revocation_is_refused_at_once_where_made_and_on_the_other_instance_once_it_hears(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = sibling(&first, backend, |_| {}).await;
    let token = first.token_for("laptop").await;
    // Both instances have looked the token up (and cached it).
    assert_eq!(first.me(&token).await.status(), 200);
    assert_eq!(second.me(&token).await.status(), 200);
    let revoked = first.device.delete(first.url("/v1/oauth/authorizations/self")).bearer_auth(&token).send().await;
    assert!(revoked.expect("revoke").status().is_success());
    assert_eq!(first.me(&token).await.status(), 401, "the instance that revoked refuses at once");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while second.me(&token).await.status() != 401 {
        assert!(tokio::time::Instant::now() < deadline, "the other instance never heard of the revocation");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn a_limit_is_counted_across_instances(backend: Backend) {
    let limit = |config: &mut gatehouse::config::Config| {
        set_limit(config, Limiter::DeviceAuthorizationPerClient, "2/1h");
        set_limit(config, Limiter::DeviceAuthorizationReservedPerIp, "off");
    };
    let first = spawn_app_with(backend, limit).await;
    let second = sibling(&first, backend, limit).await;
    first.start_flow(&[]).await;
    second.start_flow(&[]).await;
    for app in [&first, &second] {
        expect_rate_limited(app.post_form("/v1/oauth/device/code", &[("client_id", "gatehouse-cli")]).await).await;
    }
}
