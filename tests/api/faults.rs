//! Real faults on PostgreSQL + Redis: each test starts its own `redis-server`
//! on a free port (or puts a TCP proxy in front of PostgreSQL), then kills,
//! pauses, flushes or cuts it mid-flow. Every answer during a fault must be
//! a 503 with `Retry-After` (never a hang, a token, or a 401 for a valid
//! token), and a success must follow the dependency's return, with no
//! restart. The server gives up on a dependency after
//! `gatehouse_store::FAULT_DEADLINE` (1.5 s); the deadlines here leave room
//! for a loaded machine, and these tests run alone (`.config/nextest.toml`).
//!
//! The embedded pair has no dependency outside the process to lose; its
//! restarts are tested in `restarts`.

use crate::helpers::{Backend, PASSWORD, TestApp, postgres_redis_available, spawn_app_with};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// How long a fault may take to be answered: the server's 1.5 s deadline
/// and room for a loaded 2-core machine.
const DETECTED_WITHIN: Duration = Duration::from_secs(5);
/// How long after the dependency returns the first success may take.
const RECOVERED_WITHIN: Duration = Duration::from_secs(15);

/// A `redis-server` of the test's own, on a free port.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    async fn start() -> Self {
        let mut redis = Self { port: crate::helpers::restartable_port(), child: None };
        redis.restart().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port, empty, and waits until it answers.
    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the fault tests");
        self.child = Some(child);
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().expect("kill").success());
    }

    /// SIGKILL: gone, with everything it held.
    fn kill(&mut self) {
        self.signal("-KILL");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    fn redis_cli(&self, command: &str) {
        let status = Command::new("redis-cli").args(["-p", &self.port.to_string(), command]).status();
        assert!(status.expect("redis-cli").success());
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A TCP proxy in front of PostgreSQL that the test can cut: a cut closes
/// every proxied connection and refuses new ones until restored.
struct CuttableProxy {
    address: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl CuttableProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (flag, tasks) = (cut.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().expect("lock").push(task.abort_handle());
            }
        });
        Self { address, cut, connections }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.connections.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// An app on PostgreSQL + this Redis, or `None` (reported as skipped)
/// without the test URLs.
async fn app_on(redis_url: String, test: &str) -> Option<TestApp> {
    if !postgres_redis_available(test) {
        return None;
    }
    Some(spawn_app_with(Backend::PostgresRedis, move |c| c.redis_url = Some(redis_url)).await)
}

/// Checks a fault answer: 503, `Retry-After`, JSON, within the deadline.
async fn expect_fault(what: &str, request: impl std::future::Future<Output = reqwest::Response>) {
    let started = Instant::now();
    let response = request.await;
    let took = started.elapsed();
    assert_eq!(response.status(), 503, "{what}");
    assert!(response.headers().contains_key("retry-after"), "{what}");
    assert!(took < DETECTED_WITHIN, "{what} took {took:?}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable", "{what}: {body}");
}

/// Repeats `request` until it is not a 503; fails after `RECOVERED_WITHIN`.
async fn first_success(
    what: &str,
    request: impl Fn() -> futures::future::BoxFuture<'static, reqwest::Response>,
) -> reqwest::Response {
    let started = Instant::now();
    loop {
        let response = request().await;
        if response.status() != 503 {
            return response;
        }
        assert!(started.elapsed() < RECOVERED_WITHIN, "{what}: still 503 after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn poll_request(
    app: &TestApp,
    device_code: &str,
) -> impl Fn() -> futures::future::BoxFuture<'static, reqwest::Response> {
    let (client, url, code) = (app.device.clone(), app.url("/v1/oauth/device/token"), device_code.to_owned());
    move || {
        let (client, url, code) = (client.clone(), url.clone(), code.clone());
        Box::pin(async move {
            client
                .post(url)
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", code.as_str()),
                    ("client_id", "gatehouse-cli"),
                ])
                .send()
                .await
                .expect("request")
        })
    }
}

fn me_request(app: &TestApp, token: &str) -> impl Fn() -> futures::future::BoxFuture<'static, reqwest::Response> {
    let (client, url, token) = (app.device.clone(), app.url("/v1/me"), token.to_owned());
    move || {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        Box::pin(async move { client.get(url).bearer_auth(token).send().await.expect("request") })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_redis_mid_flow_gives_fast_503s_then_recovers() {
    let mut redis = OwnRedis::start().await;
    let Some(app) = app_on(redis.url(), "faults::killing_redis_mid_flow_gives_fast_503s_then_recovers").await else {
        return;
    };
    let token = app.token_for("laptop").await;
    let pending = app.start_flow(&[]).await;
    let device_code = pending["device_code"].as_str().expect("code").to_owned();
    let user_code = pending["user_code"].as_str().expect("code").to_owned();

    redis.kill();
    for _ in 0..3 {
        expect_fault("poll", poll_request(&app, &device_code)()).await;
        expect_fault("me", me_request(&app, &token)()).await;
        expect_fault("device authorization", app.post_form("/v1/oauth/device/code", &[("client_id", "gatehouse-cli")]))
            .await;
        let lookup = app.device.get(app.url(&format!("/v1/oauth/device/lookup?user_code={user_code}"))).send();
        expect_fault("lookup", async { lookup.await.expect("request") }).await;
    }
    assert_eq!(app.device.get(app.url("/readyz")).send().await.expect("request").status(), 503);

    // Back, empty: the flow is gone (never a token), the issued token works.
    redis.restart().await;
    let answer = first_success("poll", poll_request(&app, &device_code)).await;
    let (status, body): (u16, Value) = (answer.status().as_u16(), answer.json().await.expect("json"));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let me = first_success("me", me_request(&app, &token)).await;
    assert_eq!(me.status(), 200);
    assert_eq!(app.start_flow(&[]).await["user_code"].as_str().map(str::len), Some(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pausing_redis_gives_fast_503s_and_the_flow_resumes() {
    let redis = OwnRedis::start().await;
    let Some(app) = app_on(redis.url(), "faults::pausing_redis_gives_fast_503s_and_the_flow_resumes").await else {
        return;
    };
    let account = app.ada().await;
    let token = app.token_for("laptop").await;
    let pending = app.start_flow(&[]).await;
    let device_code = pending["device_code"].as_str().expect("code").to_owned();

    redis.signal("-STOP");
    for _ in 0..2 {
        expect_fault("poll", poll_request(&app, &device_code)()).await;
        expect_fault("me", me_request(&app, &token)()).await;
    }
    // Concurrent polls share Redis calls: the ones queued behind a call to
    // the paused Redis fail within the deadline too, never hang.
    let poll = poll_request(&app, &device_code);
    futures::future::join_all((0..8).map(|_| expect_fault("queued poll", poll()))).await;
    redis.signal("-CONT");
    // Nothing was lost: the flow is still pending, and goes on to a token.
    let answer = first_success("poll", poll_request(&app, &device_code)).await;
    let body: Value = answer.json().await.expect("json");
    assert!(["authorization_pending", "slow_down"].contains(&body["error"].as_str().unwrap_or_default()), "{body}");
    assert_eq!(first_success("me", me_request(&app, &token)).await.status(), 200);
    app.approve(pending["user_code"].as_str().expect("code"), &account).await;
    // Polls sent while it was paused may have run once it resumed, each
    // lengthening the interval (slow_down): wait well past any of them.
    app.advance(120);
    let (status, body) = app.poll(&device_code).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flushing_redis_mid_flow_ends_flows_but_not_tokens() {
    let redis = OwnRedis::start().await;
    let Some(app) = app_on(redis.url(), "faults::flushing_redis_mid_flow_ends_flows_but_not_tokens").await else {
        return;
    };
    let account = app.ada().await;
    let token = app.token_for("laptop").await;
    assert_eq!(app.me(&token).await.status(), 200);
    let pending = app.start_flow(&[]).await;
    let approved = app.start_flow(&[("device_label", "approved")]).await;
    app.approve(approved["user_code"].as_str().expect("code"), &account).await;

    redis.redis_cli("FLUSHALL");
    for flow in [&pending, &approved] {
        let (status, body) = app.poll(flow["device_code"].as_str().expect("code")).await;
        assert_eq!(status, 400, "{body}");
        assert!(["invalid_grant", "expired_token"].contains(&body["error"].as_str().unwrap_or_default()), "{body}");
    }
    // The token lives in the database; the cache is only a cache.
    assert_eq!(app.me(&token).await.status(), 200);
    let html = app.page_html(&format!("/device?user_code={}", pending["user_code"].as_str().expect("code"))).await;
    assert!(html.contains("This code isn’t valid"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cutting_postgres_gives_fast_503s_then_recovers() {
    let test = "faults::cutting_postgres_gives_fast_503s_then_recovers";
    if !postgres_redis_available(test) {
        return;
    }
    let proxy = CuttableProxy::start("127.0.0.1:5432".parse().expect("address")).await;
    let proxy_port = proxy.address.port();
    let app = spawn_app_with(Backend::PostgresRedis, move |c| {
        let mut url = url::Url::parse(&c.database_url).expect("url");
        url.set_port(Some(proxy_port)).expect("port");
        c.database_url = url.to_string();
    })
    .await;
    let account = app.ada().await;
    let warm = app.token_for("laptop").await;
    assert_eq!(app.me(&warm).await.status(), 200, "now in the token cache");
    let cold = app.token_for("desktop").await;
    let approved = app.start_flow(&[("device_label", "approved")]).await;
    app.approve(approved["user_code"].as_str().expect("code"), &account).await;
    let device_code = approved["device_code"].as_str().expect("code").to_owned();

    proxy.cut();
    expect_fault("readyz", async { app.device.get(app.url("/readyz")).send().await.expect("request") }).await;
    // A token the cache does not hold cannot be checked: 503, never 401.
    expect_fault("me (cold token)", me_request(&app, &cold)()).await;
    // A cached token may still answer, but is never refused.
    assert_ne!(app.me(&warm).await.status(), 401);
    // Redeeming needs the database: a 503, never a token.
    expect_fault("redeem", poll_request(&app, &device_code)()).await;

    proxy.restore();
    // The claim was released, so the redemption completes once it is back.
    let started = Instant::now();
    let (status, body) = loop {
        app.advance(30);
        let (status, body) = app.poll(&device_code).await;
        if status != 503 {
            break (status, body);
        }
        assert!(started.elapsed() < RECOVERED_WITHIN, "still 503 after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 200, "{body}");
    assert_eq!(first_success("me", me_request(&app, &cold)).await.status(), 200);
    assert_eq!(app.sign_in(&account.email, PASSWORD).await.status(), 200);
}
