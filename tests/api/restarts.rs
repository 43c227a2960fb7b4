//! Restarts of the real binary: a graceful one (SIGTERM under load) loses
//! no accepted request and, on the embedded default, no pending or approved
//! flow; a hard one (`kill -9`, PostgreSQL + Redis) never turns a confirmed
//! approval into zero tokens or two: a redemption whose answer the kill took
//! is answered again, with the same token, when the device polls again.

use crate::helpers::{PASSWORD, hidden_input, postgres_redis_available};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_gatehouse");
const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How the binary is configured: only what is set here counts.
struct Setup {
    port: u16,
    data_dir: std::path::PathBuf,
    database_url: String,
    redis_url: Option<String>,
    redis_key_prefix: String,
}

impl Setup {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BINARY);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEHOUSE_BIND", format!("127.0.0.1:{}", self.port))
            .env("GATEHOUSE_DATA_DIR", &self.data_dir)
            .env("GATEHOUSE_DATABASE_URL", &self.database_url)
            .env("GATEHOUSE_SITE_ROOT", Path::new(env!("CARGO_MANIFEST_DIR")).join("public"))
            .env("GATEHOUSE_SECRET_KEY", "restart-test-secret-that-is-long-enough-0123456789")
            .env("GATEHOUSE_REDIS_KEY_PREFIX", &self.redis_key_prefix)
            // Hundreds of flows from one address: the limits have their own tests.
            .env("GATEHOUSE_RATE_LIMITS", "off")
            .env("GATEHOUSE_POLL_INTERVAL", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(redis_url) = &self.redis_url {
            command.env("GATEHOUSE_REDIS_URL", redis_url);
        }
        command
    }

    fn create_account(&self) {
        let mut child = self
            .command(&["user", "create", "--email", "ada@example.com", "--name", "Ada"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("gatehouse user create");
        use std::io::Write as _;
        writeln!(child.stdin.take().expect("stdin"), "{PASSWORD}").expect("password");
        assert!(child.wait().expect("wait").success());
    }

    /// Starts the server and waits until it answers.
    async fn start(&self) -> Child {
        let mut child = self.command(&["serve"]).spawn().expect("gatehouse serve");
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(self.url("/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
                // Only our own server counts: one that could not bind has exited.
                assert!(matches!(child.try_wait(), Ok(None)), "port {} answered, but not our server", self.port);
                return child;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not start");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// A request the server never read: its fresh connection was completed by
/// the kernel for the listen backlog and reset when the listener closed, or
/// accepted in the instant of shutdown and closed as idle before its request
/// was read (hyper's `IncompleteMessage`; RFC 9112 §9.3.1 lets a client
/// retry such a request). A request the server did read gets its whole
/// answer: that is checked above, and by the sign-in in flight.
fn never_read(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::ConnectionReset && err.is_request();
        }
        if let Some(hyper) = current.downcast_ref::<hyper::Error>()
            && hyper.is_incomplete_message()
        {
            return err.is_request();
        }
        source = current.source();
    }
    false
}

fn signal(child: &Child, signal: &str) {
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().expect("kill").success());
}

/// A browser signed in as Ada.
async fn signed_in_browser(setup: &Setup) -> reqwest::Client {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = browser.get(setup.url("/signin")).send().await.expect("page").text().await.expect("html");
    let csrf = hidden_input(&page, "csrf_token").expect("csrf");
    let form = [("email", "ada@example.com"), ("password", PASSWORD), ("csrf_token", &csrf), ("next", "/device")];
    let signed_in = browser.post(setup.url("/console/api/signin")).form(&form).send().await.expect("sign in");
    assert_eq!(signed_in.status(), 200);
    browser
}

/// The session's CSRF token, from the authorize view of `user_code`.
async fn csrf_for(setup: &Setup, browser: &reqwest::Client, user_code: &str) -> Option<String> {
    let page = browser.get(setup.url(&format!("/device?user_code={user_code}"))).send().await.ok()?;
    hidden_input(&page.text().await.ok()?, "csrf_token")
}

async fn start_flow(client: &reqwest::Client, setup: &Setup, label: &str) -> Option<Value> {
    let response = client
        .post(setup.url("/v1/oauth/device/code"))
        .form(&[("client_id", "gatehouse-cli"), ("device_label", label)])
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    response.json().await.ok()
}

async fn poll(client: &reqwest::Client, setup: &Setup, device_code: &str) -> Option<(u16, Value)> {
    let response = client
        .post(setup.url("/v1/oauth/device/token"))
        .form(&[("grant_type", GRANT), ("device_code", device_code), ("client_id", "gatehouse-cli")])
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_restart_of_the_embedded_default_loses_nothing() {
    let data_dir = tempfile::tempdir().expect("dir");
    let setup = Setup {
        port: crate::helpers::restartable_port(),
        data_dir: data_dir.path().to_path_buf(),
        database_url: format!("sqlite://{}/gatehouse.db", data_dir.path().display()),
        redis_url: None,
        redis_key_prefix: "unused:".into(),
    };
    setup.create_account();
    let server = setup.start().await;
    let device = reqwest::Client::new();
    let pending = start_flow(&device, &setup, "pending").await.expect("flow");
    let approved = start_flow(&device, &setup, "approved").await.expect("flow");
    let browser = signed_in_browser(&setup).await;
    let user_code = approved["user_code"].as_str().expect("code");
    let csrf = csrf_for(&setup, &browser, user_code).await.expect("csrf");
    let response = browser
        .post(setup.url("/console/api/oauth/device/approve"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("user_code", user_code), ("csrf_token", &csrf)])
        .send()
        .await
        .expect("approve");
    assert_eq!(response.status(), 200, "the page confirmed the approval");

    // Load: requests keep arriving while SIGTERM lands. Each either is
    // refused a connection (after the listener closed) or gets its whole
    // answer; none is cut off.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (stop, answered, url) =
            (stop.clone(), answered.clone(), setup.url("/.well-known/oauth-authorization-server"));
        workers.push(tokio::spawn(async move {
            // A fresh connection each time, so "refused" means "not accepted".
            let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
            while !stop.load(Ordering::SeqCst) {
                match client.get(&url).send().await {
                    Ok(response) => {
                        assert_eq!(response.status(), 200);
                        response.bytes().await.expect("an accepted request gets its whole answer");
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(err) if err.is_connect() || never_read(&err) => break,
                    Err(err) => panic!("an accepted request was cut off: {err:?}"),
                }
            }
        }));
    }
    // And a slow request (a sign-in: argon2) in flight when SIGTERM lands.
    let second = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let page = second.get(setup.url("/signin")).send().await.expect("page").text().await.expect("html");
    let csrf = hidden_input(&page, "csrf_token").expect("csrf");
    let form = [("email", "ada@example.com"), ("password", PASSWORD), ("csrf_token", &csrf), ("next", "/device")];
    let in_flight = tokio::spawn(second.post(setup.url("/console/api/signin")).form(&form).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&server, "-TERM");
    let in_flight = in_flight.await.expect("task").expect("the request in flight was answered");
    assert_eq!(in_flight.status(), 200, "the sign-in in flight completed");
    let started = Instant::now();
    let mut server = server;
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(12), "no exit within the grace period");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("worker");
    }
    assert!(status.success(), "exit status {status}");
    assert!(answered.load(Ordering::SeqCst) > 0);
    assert!(data_dir.path().join("flows.snapshot").exists());

    // The next start has both flows back, and reads the snapshot once.
    let mut server = setup.start().await;
    assert!(!data_dir.path().join("flows.snapshot").exists());
    let (status, body) = poll(&device, &setup, approved["device_code"].as_str().expect("code")).await.expect("poll");
    assert_eq!(status, 200, "the approval survived: {body}");
    let (status, body) = poll(&device, &setup, pending["device_code"].as_str().expect("code")).await.expect("poll");
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");
    signal(&server, "-TERM");
    assert!(server.wait().expect("wait").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_never_turns_a_confirmed_approval_into_zero_tokens_or_two() {
    let test = "restarts::kill_9_never_turns_a_confirmed_approval_into_zero_tokens_or_two";
    if !postgres_redis_available(test) {
        return;
    }
    let data_dir = tempfile::tempdir().expect("dir");
    let base = std::env::var("GATEHOUSE_TEST_DATABASE_URL").expect("database");
    let database = gatehouse_store::testing::TestDatabase::create(&base).await;
    let setup = Arc::new(Setup {
        port: crate::helpers::restartable_port(),
        data_dir: data_dir.path().to_path_buf(),
        database_url: database.url().to_owned(),
        redis_url: Some(std::env::var("GATEHOUSE_TEST_REDIS_URL").expect("redis")),
        redis_key_prefix: format!("gatehouse-restart:{}:", uuid::Uuid::new_v4().simple()),
    });
    setup.create_account();
    let mut server = setup.start().await;
    let browser = signed_in_browser(&setup).await;

    // The killer: kill -9 and start again, every 3 s, while the loops run.
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let (setup, done) = (setup.clone(), done.clone());
        tokio::spawn(async move {
            let mut kills = 0;
            while !done.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_secs(3)).await;
                signal(&server, "-KILL");
                let _ = server.wait();
                kills += 1;
                server = setup.start().await;
            }
            (server, kills)
        })
    };

    const LOOPS: usize = 200;
    const WORKERS: usize = 20;
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (setup, browser) = (setup.clone(), browser.clone());
        workers.push(tokio::spawn(async move {
            let device = reqwest::Client::new();
            let mut tokens = Vec::new();
            for round in 0..LOOPS / WORKERS {
                let label = format!("w{worker}-r{round}");
                let flow = loop {
                    if let Some(flow) = start_flow(&device, &setup, &label).await {
                        break flow;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                };
                let user_code = flow["user_code"].as_str().expect("code").to_owned();
                let device_code = flow["device_code"].as_str().expect("code").to_owned();
                // Approve until the page confirms it (or says a lost answer had).
                loop {
                    let Some(csrf) = csrf_for(&setup, &browser, &user_code).await else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    let answer = browser
                        .post(setup.url("/console/api/oauth/device/approve"))
                        .header("sec-fetch-site", "same-origin")
                        .form(&[("user_code", user_code.as_str()), ("csrf_token", csrf.as_str())])
                        .send()
                        .await;
                    match answer.map(|r| r.status().as_u16()) {
                        Ok(200) | Ok(409) => break,
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
                // Poll (honouring the interval) until the token arrives. A
                // redemption cut short by a kill waits out its stale claim.
                let deadline = Instant::now() + Duration::from_secs(150);
                let mut interval = Duration::from_secs(1);
                let token = loop {
                    assert!(Instant::now() < deadline, "{label}: a confirmed approval yielded no token");
                    tokio::time::sleep(interval + Duration::from_millis(100)).await;
                    match poll(&device, &setup, &device_code).await {
                        Some((200, body)) => break body["access_token"].as_str().expect("token").to_owned(),
                        Some((400, body)) => match body["error"].as_str().unwrap_or_default() {
                            "authorization_pending" => {}
                            "slow_down" => interval = Duration::from_secs(body["interval"].as_u64().unwrap_or(5)),
                            _ => panic!("{label}: {body}"),
                        },
                        _ => {}
                    }
                };
                // Exactly one: asking again gets this same token (a retry of
                // an answer that might have been lost) or invalid_grant,
                // never another token.
                // (A slow_down whose answer a kill took leaves the flow's
                // interval longer than this client knows: wait as told.)
                loop {
                    tokio::time::sleep(interval + Duration::from_millis(100)).await;
                    match poll(&device, &setup, &device_code).await {
                        Some((400, body)) if body["error"] == "slow_down" => {
                            interval = Duration::from_secs(body["interval"].as_u64().unwrap_or(5));
                        }
                        Some((400, body)) => {
                            assert_eq!(body["error"], "invalid_grant", "{label}: {body}");
                            break;
                        }
                        Some((200, body)) => {
                            assert_eq!(body["access_token"].as_str(), Some(token.as_str()), "{label}: a second token");
                            break;
                        }
                        _ => {}
                    }
                }
                tokens.push((label, token));
            }
            tokens
        }));
    }
    let mut tokens = Vec::new();
    for worker in workers {
        tokens.extend(worker.await.expect("worker"));
    }
    done.store(true, Ordering::SeqCst);
    let (mut server, kills) = killer.await.expect("killer");
    assert_eq!(tokens.len(), LOOPS);
    assert!(kills >= 2, "the server was killed {kills} times");
    // Every delivered token works: none was replaced by a second minting.
    let device = reqwest::Client::new();
    for (label, token) in &tokens {
        let me = loop {
            match device.get(setup.url("/v1/me")).bearer_auth(token).send().await {
                Ok(response) if response.status() != 503 => break response,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        assert_eq!(me.status(), 200, "{label}: the delivered token does not work");
    }
    signal(&server, "-TERM");
    let _ = server.wait();
}
