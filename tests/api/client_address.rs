//! Who the client is (SPEC §7): the address every per-address limit, audit
//! event and "different network" warning uses, black-box over HTTP behind
//! proxies of every shape: forged and repeated forwarding headers, CIDR
//! ranges, RFC 7239 `Forwarded`, IPv6 networks and IPv4-mapped peers.
//! Also the limits that do not key by one address: a public client's shared
//! issuance quota under a flood, and the alarm across all addresses.

use crate::helpers::{Backend, PASSWORD, TestApp, behind_proxy, set_limit, spawn_app_with};
use crate::on_every_backend;
use gatehouse::http::middleware::client_ip::ProxyHeader;
use gatehouse_core::rate_limit::Limiter;
use serde_json::Value;

on_every_backend!(
    a_forged_forwarded_for_line_before_the_proxys_own_is_ignored,
    every_address_of_an_ipv6_64_shares_one_quota,
    an_ipv4_proxy_seen_by_a_dual_stack_listener_is_trusted,
    forwarded_is_read_when_the_proxies_speak_it_and_only_then,
    a_flood_on_a_public_clients_quota_leaves_each_address_its_reserve,
    code_failures_from_many_addresses_raise_the_alarm_without_refusing,
    the_same_ipv6_network_is_not_another_network_on_the_approval_page,
);

/// `GET /v1/oauth/device/lookup` of a code that names nothing, with these
/// header lines: whether it was answered (`true`) or refused with 429.
async fn wrong_lookup(app: &TestApp, base: &str, header: &'static str, lines: &[&str]) -> bool {
    let mut request = app.device.get(format!("{base}/v1/oauth/device/lookup?user_code=BBBB-BBBB"));
    for line in lines {
        request = request.header(header, *line);
    }
    let response = request.send().await.expect("lookup");
    match response.status().as_u16() {
        200 => {
            assert_eq!(response.json::<Value>().await.expect("json")["valid"], false);
            true
        }
        429 => false,
        other => panic!("unexpected status {other}"),
    }
}

async fn a_forged_forwarded_for_line_before_the_proxys_own_is_ignored(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        behind_proxy(c, &["127.0.0.0/8"]);
        set_limit(c, Limiter::CodeFailuresPerIp, "2/1h");
    })
    .await;
    let base = app.address.clone();
    // The client sends its own line each time, a new address every time; the
    // proxy appends the address it saw as a second line.
    for forged in ["198.51.100.1", "198.51.100.2"] {
        assert!(wrong_lookup(&app, &base, "x-forwarded-for", &[forged, "203.0.113.7"]).await);
    }
    assert!(!wrong_lookup(&app, &base, "x-forwarded-for", &["198.51.100.3", "203.0.113.7"]).await);
    // One line, forged entry first: the same.
    assert!(!wrong_lookup(&app, &base, "x-forwarded-for", &["198.51.100.4, 203.0.113.7"]).await);
    // Another client behind the same proxy has its own quota.
    assert!(wrong_lookup(&app, &base, "x-forwarded-for", &["198.51.100.1", "203.0.113.8"]).await);
    // A hop that is not an address stops at the proxy: counted, not escaped.
    assert!(wrong_lookup(&app, &base, "x-forwarded-for", &["203.0.113.7, unknown"]).await);
    assert!(wrong_lookup(&app, &base, "x-forwarded-for", &["203.0.113.8, garbage"]).await);
    assert!(!wrong_lookup(&app, &base, "x-forwarded-for", &["203.0.113.9, nonsense"]).await);
}

async fn every_address_of_an_ipv6_64_shares_one_quota(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        behind_proxy(c, &["127.0.0.1"]);
        set_limit(c, Limiter::CodeFailuresPerIp, "2/1h");
    })
    .await;
    let base = app.address.clone();
    assert!(wrong_lookup(&app, &base, "x-forwarded-for", &["2001:db8:1:2::1"]).await);
    assert!(wrong_lookup(&app, &base, "x-forwarded-for", &["2001:db8:1:2:ffff:ffff:ffff:fffe"]).await);
    assert!(!wrong_lookup(&app, &base, "x-forwarded-for", &["2001:db8:1:2:abcd::9"]).await);
    // The neighbouring /64 is another network.
    assert!(wrong_lookup(&app, &base, "x-forwarded-for", &["2001:db8:1:3::1"]).await);

    // With GATEHOUSE_IPV6_PREFIX=48 the neighbour is the same network.
    let app = spawn_app_with(backend, |c| {
        behind_proxy(c, &["127.0.0.1"]);
        set_limit(c, Limiter::CodeFailuresPerIp, "2/1h");
        c.settings.rate_limits.ipv6_prefix = 48;
    })
    .await;
    let base = app.address.clone();
    assert!(wrong_lookup(&app, &base, "x-forwarded-for", &["2001:db8:1:2::1"]).await);
    assert!(wrong_lookup(&app, &base, "x-forwarded-for", &["2001:db8:1:3::1"]).await);
    assert!(!wrong_lookup(&app, &base, "x-forwarded-for", &["2001:db8:1:ffff::1"]).await);
}

async fn an_ipv4_proxy_seen_by_a_dual_stack_listener_is_trusted(backend: Backend) {
    // Listening on [::], a connection from 127.0.0.1 arrives from
    // ::ffff:127.0.0.1, and must still match the IPv4 proxy entry.
    let app = spawn_app_with(backend, |c| {
        c.bind = "[::]:0".parse().expect("address");
        behind_proxy(c, &["127.0.0.1"]);
        set_limit(c, Limiter::CodeFailuresPerIp, "1/1h");
    })
    .await;
    let port = url::Url::parse(&app.address).expect("url").port().expect("port");
    let over_ipv4 = format!("http://127.0.0.1:{port}");
    // Each forwarded client has its own quota: the proxy was recognised.
    for client in ["198.51.100.1", "198.51.100.2", "::ffff:198.51.100.3"] {
        assert!(wrong_lookup(&app, &over_ipv4, "x-forwarded-for", &[client]).await, "{client}");
    }
    // The mapped spelling of a client is the same client.
    assert!(!wrong_lookup(&app, &over_ipv4, "x-forwarded-for", &["::ffff:198.51.100.1"]).await);
    assert!(!wrong_lookup(&app, &over_ipv4, "x-forwarded-for", &["198.51.100.3"]).await);
}

async fn forwarded_is_read_when_the_proxies_speak_it_and_only_then(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        behind_proxy(c, &["127.0.0.1", "10.0.0.0/8"]);
        c.trusted_proxies.header = ProxyHeader::Forwarded;
        set_limit(c, Limiter::CodeFailuresPerIp, "1/1h");
    })
    .await;
    let base = app.address.clone();
    let client = r#"for="[2001:db8:cafe::17]:4711";proto=https, for=10.1.2.3"#;
    assert!(wrong_lookup(&app, &base, "forwarded", &[client]).await);
    // The same client through the other proxy, on two lines.
    assert!(!wrong_lookup(&app, &base, "forwarded", &["for=\"[2001:db8:cafe::99]\"", "for=10.9.9.9"]).await);
    // X-Forwarded-For is not what these proxies write: a client sending
    // one is counted as the peer, whatever it says.
    assert!(wrong_lookup(&app, &base, "x-forwarded-for", &["198.51.100.1"]).await);
    assert!(!wrong_lookup(&app, &base, "x-forwarded-for", &["198.51.100.2"]).await);

    // And with the default header, a client's own Forwarded is ignored.
    let app = spawn_app_with(backend, |c| {
        behind_proxy(c, &["127.0.0.1"]);
        set_limit(c, Limiter::CodeFailuresPerIp, "1/1h");
    })
    .await;
    let base = app.address.clone();
    assert!(wrong_lookup(&app, &base, "forwarded", &["for=198.51.100.1"]).await);
    assert!(!wrong_lookup(&app, &base, "forwarded", &["for=198.51.100.2"]).await);
}

async fn a_flood_on_a_public_clients_quota_leaves_each_address_its_reserve(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        behind_proxy(c, &["127.0.0.1"]);
        set_limit(c, Limiter::DeviceAuthorizationPerClient, "3/1h");
        set_limit(c, Limiter::DeviceAuthorizationReservedPerIp, "1/1h");
    })
    .await;
    let start = async |client: &'static str| app.start_flow_forwarded(client).await.status().as_u16();
    // A flood spends the client's shared quota...
    for _ in 0..3 {
        assert_eq!(start("198.51.100.66").await, 200);
    }
    // ...then each address gets its reserve, and no more.
    assert_eq!(start("198.51.100.66").await, 200);
    assert_eq!(start("198.51.100.66").await, 429);
    for flooder in ["198.51.100.67", "198.51.100.68"] {
        assert_eq!(start(flooder).await, 200, "{flooder}");
        assert_eq!(start(flooder).await, 429, "{flooder}");
    }
    // A person's first `gatehouse login` from a new address still works,
    // from IPv6 too (counted by its /64).
    assert_eq!(start("203.0.113.5").await, 200);
    assert_eq!(start("2001:db8:5::1").await, 200);
    assert_eq!(start("2001:db8:5::2").await, 429);
    // The reserve is per client: another client has its own quota.
    app.register_client("other-cli", gatehouse_core::model::ClientType::Public, &["full"], true).await;
    let other = app
        .device
        .post(app.url("/v1/oauth/device/code"))
        .header("x-forwarded-for", "198.51.100.66")
        .form(&[("client_id", "other-cli")])
        .send()
        .await
        .expect("request");
    assert_eq!(other.status(), 200);

    // With the reserve off, the client's quota is absolute.
    let app = spawn_app_with(backend, |c| {
        behind_proxy(c, &["127.0.0.1"]);
        set_limit(c, Limiter::DeviceAuthorizationPerClient, "1/1h");
        set_limit(c, Limiter::DeviceAuthorizationReservedPerIp, "off");
    })
    .await;
    assert_eq!(app.start_flow_forwarded("198.51.100.1").await.status(), 200);
    assert_eq!(app.start_flow_forwarded("203.0.113.5").await.status(), 429);
}

async fn code_failures_from_many_addresses_raise_the_alarm_without_refusing(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        behind_proxy(c, &["127.0.0.1"]);
        c.metrics_bind = Some("127.0.0.1:0".parse().expect("address"));
        set_limit(c, Limiter::CodeFailuresAlarm, "3/1h");
    })
    .await;
    let base = app.address.clone();
    let alarms = async || {
        let metrics = app.metrics_address.clone().expect("metrics listener");
        let text =
            app.device.get(format!("{metrics}/metrics")).send().await.expect("scrape").text().await.expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix("gatehouse_code_failure_alarms_total "))
            .map(|value| value.trim().parse::<u64>().expect("count"))
            .unwrap_or(0)
    };
    for client in ["198.51.100.1", "198.51.100.2", "2001:db8::1"] {
        assert!(wrong_lookup(&app, &base, "x-forwarded-for", &[client]).await);
    }
    assert_eq!(alarms().await, 0, "three failures are within the alarm's quota");
    // Past it, every failure is counted, and nobody is refused for it.
    for client in ["198.51.100.3", "198.51.100.4"] {
        assert!(wrong_lookup(&app, &base, "x-forwarded-for", &[client]).await);
    }
    assert_eq!(alarms().await, 2);
    // A code that names a pending request is not a failure.
    let flow = app.start_flow(&[]).await;
    let right = flow["user_code"].as_str().expect("code");
    let found = app.device.get(app.url(&format!("/v1/oauth/device/lookup?user_code={right}"))).send().await;
    assert_eq!(found.expect("lookup").json::<Value>().await.expect("json")["valid"], true);
    assert_eq!(alarms().await, 2);
}

async fn the_same_ipv6_network_is_not_another_network_on_the_approval_page(backend: Backend) {
    let app = spawn_app_with(backend, |c| behind_proxy(c, &["127.0.0.1"])).await;
    app.create_account("ada@example.com").await;
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    let note = "That is a different network from yours";
    let page_from = async |requested_from: &'static str, approving_from: &'static str| {
        let flow: Value = app.start_flow_forwarded(requested_from).await.json().await.expect("json");
        let code = flow["user_code"].as_str().expect("code").to_owned();
        let page = app
            .browser
            .get(app.url(&format!("/device?user_code={code}")))
            .header("x-forwarded-for", approving_from)
            .send()
            .await
            .expect("page");
        assert_eq!(page.status(), 200);
        page.text().await.expect("html").replace("<!>", "")
    };
    // A laptop's temporary addresses change within its /64.
    assert!(!page_from("2001:db8:7:1::aaaa", "2001:db8:7:1::bbbb").await.contains(note));
    assert!(page_from("2001:db8:7:1::aaaa", "2001:db8:7:2::aaaa").await.contains(note));
    assert!(page_from("203.0.113.9", "203.0.113.10").await.contains(note));
}
