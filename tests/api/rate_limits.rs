//! The rate limits (SPEC §7), over HTTP on both backend pairs: what is
//! counted, what a refusal looks like (JSON 429 with `Retry-After` and
//! `retry_after_ms`, or a friendly 429 page), that refusals change nothing,
//! and that an untrusted peer cannot pick the address it is counted under.

use crate::helpers::{
    Backend, PASSWORD, TestApp, expect_oauth_error, set_limit, spawn_app, spawn_app_overriding, spawn_app_with,
};
use crate::on_every_backend;
use gatehouse::startup::Overrides;
use gatehouse_core::SecretString;
use gatehouse_core::ports::{HashError, PasswordHasher};
use gatehouse_core::rate_limit::Limiter;
use serde_json::Value;

on_every_backend!(
    the_eleventh_wrong_code_in_an_hour_is_refused_and_the_right_one_too,
    parallel_guesses_cannot_slip_past_the_limit_together,
    a_browser_session_is_paused_after_five_wrong_codes,
    wrong_approvals_count_and_a_paused_visitor_cannot_approve,
    sign_in_failures_are_limited_per_account_and_per_address,
    device_authorization_is_limited_per_address_and_per_client,
    a_rotating_forwarded_for_from_an_untrusted_peer_is_one_address,
    polling_unknown_device_codes_is_limited_per_address,
    a_sign_in_flood_is_refused_at_once_and_a_sign_in_after_it_works,
    approvals_are_limited_per_account,
    bearer_requests_are_limited_per_token,
    over_long_passwords_are_refused_before_hashing,
);

async fn lookup(app: &TestApp, code: &str) -> reqwest::Response {
    app.device.get(app.url(&format!("/v1/oauth/device/lookup?user_code={code}"))).send().await.expect("lookup")
}

/// Checks a JSON rate-limit refusal and returns its wait in ms.
pub(crate) async fn expect_rate_limited(response: reqwest::Response) -> u64 {
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!(retry_after >= 1);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "rate_limited", "{body}");
    let wait_ms = body["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!(wait_ms > 0 && wait_ms.div_ceil(1000) <= retry_after, "{body} vs Retry-After {retry_after}");
    wait_ms
}

async fn the_eleventh_wrong_code_in_an_hour_is_refused_and_the_right_one_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let flow = app.start_flow(&[]).await;
    let right = flow["user_code"].as_str().expect("code").to_owned();
    // Five wrong, the right one (which resets nothing), five more wrong.
    for _ in 0..5 {
        assert_eq!(lookup(&app, "BBBB-BBBB").await.json::<Value>().await.expect("json")["valid"], false);
    }
    assert_eq!(lookup(&app, &right).await.json::<Value>().await.expect("json")["valid"], true);
    for _ in 0..5 {
        assert_eq!(lookup(&app, "CCCC-CCCC").await.json::<Value>().await.expect("json")["valid"], false);
    }
    // The eleventh failure's attempt is refused, and so is the right code.
    let wait_ms = expect_rate_limited(lookup(&app, "DDDD-DDDD").await).await;
    assert!(wait_ms <= 360_000, "one emission interval of 10/h at most: {wait_ms}");
    expect_rate_limited(lookup(&app, &right).await).await;
    // The page answers a friendly 429 for the right code as well.
    let page = app.browser.get(app.url(&format!("/device?user_code={right}"))).send().await.expect("page");
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    let html = page.text().await.expect("html").replace("<!>", "");
    assert!(html.contains("Too many codes tried"), "{html}");
    assert!(html.contains("in about 6 minutes"), "{html}");
    assert!(!html.contains(&right), "a paused page shows nothing about the code");
    // The refusals changed nothing: once the wait is over, the code still works.
    app.advance(360);
    assert_eq!(lookup(&app, &right).await.json::<Value>().await.expect("json")["valid"], true);
}

async fn parallel_guesses_cannot_slip_past_the_limit_together(backend: Backend) {
    let app = spawn_app(backend).await;
    // Thirty wrong codes at once: each reserves its unit before looking, so
    // at most ten are looked at (and answered); the rest are refused.
    let guesses = (0..30).map(|i| {
        let (client, url) =
            (app.device.clone(), app.url(&format!("/v1/oauth/device/lookup?user_code=BBBB-BB{:02}", i)));
        tokio::spawn(async move { client.get(url).send().await.expect("lookup").status().as_u16() })
    });
    let mut answered = 0;
    for guess in guesses {
        match guess.await.expect("task") {
            200 => answered += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(answered <= 10, "{answered} guesses were looked at");
}

async fn a_browser_session_is_paused_after_five_wrong_codes(backend: Backend) {
    let app = spawn_app_with(backend, |c| set_limit(c, Limiter::CodeFailuresPerIp, "off")).await;
    let account = app.ada().await;
    let flow = app.start_flow(&[]).await;
    let right = flow["user_code"].as_str().expect("code").to_owned();
    app.sign_in(&account.email, PASSWORD).await;
    for _ in 0..5 {
        let html = app.page_html("/device?user_code=BBBB-BBBB").await;
        assert!(html.contains("This code isn’t valid"), "{html}");
    }
    let page = app.browser.get(app.url(&format!("/device?user_code={right}"))).send().await.expect("page");
    assert_eq!(page.status(), 429);
    // Another browser (another session, same address) is not paused.
    let other = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let page = other.get(app.url(&format!("/device?user_code={right}"))).send().await.expect("page");
    assert_eq!(page.status(), 200);
}

async fn wrong_approvals_count_and_a_paused_visitor_cannot_approve(backend: Backend) {
    let app = spawn_app_with(backend, |c| set_limit(c, Limiter::CodeFailuresPerIp, "2/1h")).await;
    let account = app.ada().await;
    let flow = app.start_flow(&[]).await;
    let right = flow["user_code"].as_str().expect("code").to_owned();
    app.sign_in(&account.email, PASSWORD).await;
    let csrf = app.csrf_of(&format!("/device?user_code={right}")).await;
    for _ in 0..2 {
        let response = app
            .browser_post("/console/api/oauth/device/approve", &[("user_code", "BBBB-BBBB"), ("csrf_token", &csrf)])
            .await;
        assert_eq!(response.status(), 404);
    }
    let response =
        app.browser_post("/console/api/oauth/device/approve", &[("user_code", &right), ("csrf_token", &csrf)]).await;
    expect_rate_limited(response).await;
    // Nothing was approved.
    let (status, body) = app.poll(flow["device_code"].as_str().expect("code")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")));
}

async fn sign_in_failures_are_limited_per_account_and_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        set_limit(c, Limiter::SignInFailuresPerAccount, "3/1h");
        set_limit(c, Limiter::SignInFailuresPerIp, "5/1h");
    })
    .await;
    let ada = app.ada().await;
    let grace = app.create_account("grace@example.com").await;
    for _ in 0..3 {
        assert_eq!(app.sign_in(&ada.email, "wrong password").await.status(), 401);
    }
    // Ada's account is paused, even for her right password.
    expect_rate_limited(app.sign_in(&ada.email, PASSWORD).await).await;
    // Grace is not (two failures from this address are left).
    assert_eq!(app.sign_in(&grace.email, PASSWORD).await.status(), 200);
    for _ in 0..2 {
        assert_eq!(app.sign_in("nobody@example.com", "wrong password").await.status(), 401);
    }
    // Five failures from this address: everyone here is paused.
    expect_rate_limited(app.sign_in(&grace.email, PASSWORD).await).await;
    // A JavaScript-off form post is sent back to the sign-in page, which says so.
    let page = app.browser.get(app.url("/signin")).send().await.expect("page").text().await.expect("html");
    let csrf = crate::helpers::hidden_input(&page, "csrf_token").expect("csrf");
    let form = [("email", grace.email.as_str()), ("password", PASSWORD), ("csrf_token", &csrf), ("next", "/device")];
    let location = app.plain_form_post("/console/api/signin", &form).await;
    assert!(location.contains("error=rate_limited"), "{location}");
    let html = app.page_html(&location).await;
    assert!(html.contains("too many attempts"), "{html}");
}

async fn device_authorization_is_limited_per_address_and_per_client(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        set_limit(c, Limiter::DeviceAuthorizationPerIp, "3/1h");
        set_limit(c, Limiter::DeviceAuthorizationPerClient, "2/1h");
        // What each address may still do past a spent client quota is
        // client_address.rs's subject.
        set_limit(c, Limiter::DeviceAuthorizationReservedPerIp, "off");
    })
    .await;
    app.register_client("other-cli", gatehouse_core::model::ClientType::Public, &["full"], true).await;
    for _ in 0..2 {
        app.start_flow(&[]).await;
    }
    let refused = app.post_form("/v1/oauth/device/code", &[("client_id", "gatehouse-cli")]).await;
    expect_rate_limited(refused).await;
    // Another client from the same address has its own quota, until the
    // address's three are spent.
    app.start_flow_as("other-cli", &[]).await;
    let refused = app.post_form("/v1/oauth/device/code", &[("client_id", "other-cli")]).await;
    expect_rate_limited(refused).await;
}

async fn a_rotating_forwarded_for_from_an_untrusted_peer_is_one_address(backend: Backend) {
    let app = spawn_app_with(backend, |c| set_limit(c, Limiter::DeviceAuthorizationPerIp, "2/1h")).await;
    assert_eq!(app.start_flow_forwarded("203.0.113.1").await.status(), 200);
    assert_eq!(app.start_flow_forwarded("203.0.113.2").await.status(), 200);
    expect_rate_limited(app.start_flow_forwarded("203.0.113.3").await).await;

    // Behind a trusted proxy, each forwarded address has its own quota.
    let app = spawn_app_with(backend, |c| {
        set_limit(c, Limiter::DeviceAuthorizationPerIp, "2/1h");
        crate::helpers::behind_proxy(c, &["127.0.0.1"]);
    })
    .await;
    for forwarded in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.1"] {
        let response = app.start_flow_forwarded(forwarded).await;
        assert_eq!(response.status(), 200, "{forwarded}");
    }
}

async fn polling_unknown_device_codes_is_limited_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |c| set_limit(c, Limiter::UnknownDeviceCodePerIp, "2/1h")).await;
    let flow = app.start_flow(&[]).await;
    for _ in 0..2 {
        let (status, body) = app.poll("not-a-device-code").await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    }
    let refused = app
        .post_form(
            "/v1/oauth/device/token",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", "not-a-device-code"),
                ("client_id", "gatehouse-cli"),
            ],
        )
        .await;
    expect_rate_limited(refused).await;
    // A real device code is still answered: only unknown ones are counted.
    let (status, body) = app.poll(flow["device_code"].as_str().expect("code")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")));
}

async fn approvals_are_limited_per_account(backend: Backend) {
    let app = spawn_app_with(backend, |c| set_limit(c, Limiter::ApprovalsPerAccount, "1/1h")).await;
    let account = app.ada().await;
    app.sign_in(&account.email, PASSWORD).await;
    let first = app.start_flow(&[("device_label", "one")]).await;
    let second = app.start_flow(&[("device_label", "two")]).await;
    let mut codes = Vec::new();
    for flow in [&first, &second] {
        let code = flow["user_code"].as_str().expect("code").to_owned();
        let csrf = app.csrf_of(&format!("/device?user_code={code}")).await;
        codes.push((code, csrf));
    }
    let response = app
        .browser_post("/console/api/oauth/device/approve", &[("user_code", &codes[0].0), ("csrf_token", &codes[0].1)])
        .await;
    assert_eq!(response.status(), 200);
    let response = app
        .browser_post("/console/api/oauth/device/approve", &[("user_code", &codes[1].0), ("csrf_token", &codes[1].1)])
        .await;
    expect_rate_limited(response).await;
    // Denying is not limited.
    let response = app
        .browser_post("/console/api/oauth/device/deny", &[("user_code", &codes[1].0), ("csrf_token", &codes[1].1)])
        .await;
    assert_eq!(response.status(), 200);
}

async fn bearer_requests_are_limited_per_token(backend: Backend) {
    let app = spawn_app_with(backend, |c| set_limit(c, Limiter::BearerPerToken, "2/1m")).await;
    let laptop = app.token_for("laptop").await;
    let desktop = app.token_for("desktop").await;
    for _ in 0..2 {
        assert_eq!(app.me(&laptop).await.status(), 200);
    }
    expect_rate_limited(app.me(&laptop).await).await;
    assert_eq!(app.me(&desktop).await.status(), 200);
    // Garbage and unknown tokens are refused as before, not counted.
    let unknown = app.me("gtha_definitely-not-a-token").await;
    expect_oauth_error(unknown, 401, "invalid_token").await;
    app.advance(30);
    assert_eq!(app.me(&laptop).await.status(), 200);
}

async fn over_long_passwords_are_refused_before_hashing(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.ada().await;
    let long = "x".repeat(1025);
    // The same answer as any wrong password.
    assert_eq!(app.sign_in(&account.email, &long).await.status(), 401);
    let created = app
        .services
        .accounts
        .create(
            &gatehouse_core::Admin::command_line(),
            gatehouse_core::services::accounts::AccountRegistration {
                email: "long@example.com".into(),
                name: "Long".into(),
                password: gatehouse_core::SecretString::new(long),
                is_admin: false,
                workspace_name: None,
            },
        )
        .await;
    assert!(matches!(
        created,
        Err(gatehouse_core::services::accounts::AccountError::Password(
            gatehouse_core::services::accounts::PasswordRuleError::PasswordTooLong
        ))
    ));
}

/// Holds every password check at a gate until `expected` have arrived (or
/// ten seconds have passed), then lets them into the real hasher together:
/// the flood reaches the bulkhead at once, however slowly a loaded machine
/// delivers its requests. (Once open, the gate stays open.)
struct FloodGate {
    inner: std::sync::Arc<dyn PasswordHasher>,
    arrived: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    expected: usize,
    open: tokio::sync::watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PasswordHasher for FloodGate {
    async fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        self.inner.hash(password).await
    }

    async fn verify(&self, password: &SecretString, hash: Option<&str>) -> Result<bool, HashError> {
        let mut open = self.open.subscribe();
        if self.arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= self.expected {
            self.open.send_replace(true);
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), open.wait_for(|open| *open)).await;
        self.inner.verify(password, hash).await
    }

    fn is_busy(&self) -> bool {
        self.inner.is_busy()
    }
}

async fn a_sign_in_flood_is_refused_at_once_and_a_sign_in_after_it_works(backend: Backend) {
    // Twice what the bulkhead holds (half the cores as slots, 8 places in the
    // queue per slot), all at once, with wrong passwords.
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
    let flood = 2 * 9 * (cores / 2).max(1);
    let (open, _) = tokio::sync::watch::channel(false);
    let arrived = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let overrides = Overrides {
        wrap_passwords: Some(std::sync::Arc::new(move |inner| {
            let gate = FloodGate { inner, arrived: arrived.clone(), expected: flood, open: open.clone() };
            std::sync::Arc::new(gate)
        })),
        ..Overrides::default()
    };
    // The failure limits off: this is about the hashing bulkhead, not them.
    let app = spawn_app_overriding(
        backend,
        |c| c.settings.rate_limits = gatehouse_core::rate_limit::RateLimitSettings::off(),
        overrides,
    )
    .await;
    let account = app.ada().await;
    let csrf = app.csrf_of("/signin").await;
    let attempts = (0..flood).map(|_| {
        app.browser
            .post(app.url("/console/api/signin"))
            .form(&[("email", account.email.as_str()), ("password", "wrong password"), ("csrf_token", &csrf)])
            .send()
    });
    let answers: Vec<reqwest::Response> =
        futures::future::join_all(attempts).await.into_iter().map(|r| r.expect("sign in")).collect();
    let refused: Vec<&reqwest::Response> = answers.iter().filter(|r| r.status() == 503).collect();
    assert!(refused.len() >= flood / 2, "{} of {flood} refused", refused.len());
    for answer in &refused {
        assert_eq!(answer.headers()["retry-after"], "1");
    }
    assert!(answers.iter().all(|r| matches!(r.status().as_u16(), 401 | 503)));
    // Over: the right password signs in. On a busy machine the flood is
    // paced (one hash per slot every 5 s), so a client that follows
    // Retry-After gets its turn within a few tries.
    for _ in 0..10 {
        let answer = app.sign_in(&account.email, PASSWORD).await;
        if answer.status() == 200 {
            return;
        }
        assert_eq!(answer.status(), 503);
        let wait: u64 = answer.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    }
    panic!("the right password never signed in after the flood");
}
