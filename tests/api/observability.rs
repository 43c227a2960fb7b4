//! Request-level observability: one access-log line per request (never a
//! query string, code or token), `X-Request-Id` adopted from a trusted proxy
//! or generated, returned and on every log line of the request; and the
//! metrics an operator needs besides the use cases' own (build, process,
//! dependency latencies).

use crate::helpers::{Backend, gatehouse_command, spawn_app_with};
use crate::on_every_backend;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

on_every_backend!(metrics_show_the_build_the_process_and_each_dependencys_latency);

/// The real binary, logging JSON, with its log lines collected.
struct Server {
    child: Child,
    url: String,
    lines: Arc<Mutex<Vec<Value>>>,
    reader: std::thread::JoinHandle<()>,
    _data: tempfile::TempDir,
}

impl Server {
    async fn start(extra_env: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().expect("dir");
        let mut command = gatehouse_command();
        command
            .arg("serve")
            .env("GATEHOUSE_BIND", "127.0.0.1:0")
            .env("GATEHOUSE_DATA_DIR", data.path())
            .env("GATEHOUSE_SITE_ROOT", std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("public"))
            .env("GATEHOUSE_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("gatehouse serve");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let collected = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(value) = serde_json::from_str::<Value>(&line) else { continue };
                if let Some(port) = value["fields"]["port"].as_u64() {
                    let _ = port_tx.send(port);
                }
                collected.lock().expect("lock").push(value);
            }
        });
        let port = tokio::task::spawn_blocking(move || port_rx.recv_timeout(std::time::Duration::from_secs(60)))
            .await
            .expect("join")
            .expect("the server says where it listens");
        Self { child, url: format!("http://127.0.0.1:{port}"), lines, reader, _data: data }
    }

    /// Stops the server and returns every line it logged: with SIGTERM, as
    /// an orchestrator does (the server drains and flushes its traces).
    async fn stop(mut self) -> Vec<Value> {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        // The reader sees the end of the output once the process is gone.
        let reader = self.reader;
        tokio::task::spawn_blocking(move || reader.join()).await.expect("join").expect("reader");
        self.lines.lock().expect("lock").clone()
    }
}

/// Text logs written to a file or the journal (not a terminal) carry no
/// colour codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_to_a_pipe_carry_no_colour_codes() {
    let data = tempfile::tempdir().expect("dir");
    let mut child = gatehouse_command()
        .arg("serve")
        .env("GATEHOUSE_BIND", "127.0.0.1:0")
        .env("GATEHOUSE_DATA_DIR", data.path())
        .env("GATEHOUSE_SITE_ROOT", std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("public"))
        .env("GATEHOUSE_LOG_FORMAT", "text")
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("gatehouse serve");
    let stdout = child.stdout.take().expect("stdout");
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let listening = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        while let Ok(line) = line_rx.recv_timeout(std::time::Duration::from_secs(60)) {
            let done = line.contains("listening");
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    })
    .await
    .expect("join");
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    assert!(listening.last().is_some_and(|line| line.contains("listening")), "{listening:?}");
    assert!(listening.iter().all(|line| !line.contains('\u{1b}')), "colour codes in a pipe: {listening:?}");
}

fn access_lines(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["target"] == "gatehouse::access").collect()
}

fn request_id_of(line: &Value) -> Option<&str> {
    line["span"]["request_id"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_has_one_access_line_and_an_id_on_every_line() {
    let server = Server::start(&[("GATEHOUSE_LIMIT_CODE_FAILURES_PER_IP", "1/1h")]).await;
    let http = reqwest::Client::new();
    let flow: Value = http
        .post(format!("{}/v1/oauth/device/code", server.url))
        .form(&[("client_id", "gatehouse-cli")])
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let user_code = flow["user_code"].as_str().expect("code").to_owned();
    let device_code = flow["device_code"].as_str().expect("code").to_owned();
    let lookup =
        http.get(format!("{}/v1/oauth/device/lookup?user_code={user_code}", server.url)).send().await.expect("lookup");
    assert_eq!(lookup.status(), 200);
    let lookup_id = lookup.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    // From an untrusted peer a client's own id is replaced.
    let forged = http
        .get(format!("{}/v1/oauth/device/lookup?user_code=BBBB-BBBB", server.url))
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .expect("lookup");
    let forged_id = forged.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert_ne!(forged_id, "chosen-by-the-client");
    // The second wrong code is refused, and the refusal's warning is logged
    // inside the request.
    let refused =
        http.get(format!("{}/v1/oauth/device/lookup?user_code=CCCC-CCCC", server.url)).send().await.expect("lookup");
    assert_eq!(refused.status(), 429);
    let refused_id = refused.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    let poll = http
        .post(format!("{}/v1/oauth/device/token", server.url))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "gatehouse-cli"),
            ("device_code", device_code.as_str()),
        ])
        .send()
        .await
        .expect("poll");
    assert_eq!(poll.status(), 400);
    let lines = server.stop().await;

    let access = access_lines(&lines);
    let ids: Vec<&str> = access.iter().filter_map(|l| request_id_of(l)).collect();
    assert_eq!(access.len(), 5, "one line per request: {access:#?}");
    assert_eq!(ids.len(), 5);
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 5, "each request has its own id");
    let line = access.iter().find(|l| request_id_of(l) == Some(lookup_id.as_str())).expect("the lookup's line");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["method"], "GET");
    assert_eq!(line["fields"]["route"], "/v1/oauth/device/lookup");
    assert_eq!(line["fields"]["status"], 200);
    assert_eq!(line["fields"]["client"], "127.0.0.1");
    assert!(line["fields"]["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert!(ids.contains(&forged_id.as_str()));
    let warning = lines.iter().find(|l| l["fields"]["message"] == "rate limited").expect("the refusal's warning");
    assert_eq!(request_id_of(warning), Some(refused_id.as_str()), "{warning}");
    // Nothing logged anywhere carries a code, a device code or a query.
    let everything = serde_json::to_string(&lines).expect("json");
    for secret in [user_code.as_str(), device_code.as_str(), "BBBB-BBBB", "CCCC-CCCC", "user_code="] {
        assert!(!everything.contains(secret), "{secret} was logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxys_request_id_is_adopted_when_it_is_safe_to_log() {
    let server = Server::start(&[("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let http = reqwest::Client::new();
    let with_id = async |id: &str| {
        let response =
            http.get(format!("{}/healthz", server.url)).header("x-request-id", id).send().await.expect("healthz");
        response.headers()["x-request-id"].to_str().expect("ascii").to_owned()
    };
    assert_eq!(with_id("edge-7f3a-01").await, "edge-7f3a-01");
    let unsafe_id = with_id("two words").await;
    assert_ne!(unsafe_id, "two words");
    assert!(unsafe_id.len() > 16 && unsafe_id.as_bytes()[16] == b'-', "a made id: {unsafe_id}");
    let lines = server.stop().await;
    let access = access_lines(&lines);
    assert!(access.iter().any(|l| request_id_of(l) == Some("edge-7f3a-01") && l["fields"]["route"] == "/healthz"));
    assert!(access.iter().any(|l| request_id_of(l) == Some(unsafe_id.as_str())));
}

async fn metrics_show_the_build_the_process_and_each_dependencys_latency(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.metrics_bind = Some("127.0.0.1:0".parse().expect("address"))).await;
    let _token = app.token_for("laptop").await;
    let metrics = app.metrics_address.clone().expect("metrics listener");
    let text = app.device.get(format!("{metrics}/metrics")).send().await.expect("scrape").text().await.expect("text");
    let version = env!("CARGO_PKG_VERSION");
    assert!(text.contains(&format!(r#"gatehouse_build_info{{version="{version}""#)), "{text}");
    for expected in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        r#"gatehouse_dependency_duration_seconds_bucket{dependency="database",le="0.005"}"#,
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
    let state_store = r#"gatehouse_dependency_duration_seconds_count{dependency="state_store"}"#;
    match backend {
        Backend::PostgresRedis | Backend::Postgres => assert!(text.contains(state_store), "{text}"),
        // In process the state store is memory, not a dependency to time.
        Backend::Embedded => assert!(!text.contains(state_store), "{text}"),
    }
}

/// An OTLP/HTTP (JSON) collector of the test's own: every span it receives.
async fn otlp_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let spans = Arc::new(Mutex::new(Vec::new()));
    let received = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: axum::Json<Value>| {
            let received = received.clone();
            async move {
                for resource in body["resourceSpans"].as_array().into_iter().flatten() {
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        received.lock().expect("lock").extend(scope["spans"].as_array().into_iter().flatten().cloned());
                    }
                }
                axum::Json(serde_json::json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_exported_over_otlp_with_database_and_state_store_spans_inside_the_request() {
    if !crate::helpers::postgres_redis_available(
        "observability::traces_are_exported_over_otlp_with_database_and_state_store_spans_inside_the_request",
    ) {
        return;
    }
    let (collector, spans) = otlp_receiver().await;
    let base = std::env::var("GATEHOUSE_TEST_DATABASE_URL").expect("database");
    let database = gatehouse_store::testing::TestDatabase::create(&base).await;
    let redis = std::env::var("GATEHOUSE_TEST_REDIS_URL").expect("redis");
    let prefix = format!("gatehouse-test:{}:", uuid::Uuid::new_v4().simple());
    let server = Server::start(&[
        ("GATEHOUSE_OTLP_ENDPOINT", collector.as_str()),
        ("GATEHOUSE_DATABASE_URL", database.url()),
        ("GATEHOUSE_REDIS_URL", redis.as_str()),
        ("GATEHOUSE_REDIS_KEY_PREFIX", prefix.as_str()),
        ("GATEHOUSE_SECRET_KEY", "otlp-test-secret-that-is-long-enough-0123456"),
    ])
    .await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/oauth/device/code", server.url))
        .form(&[("client_id", "gatehouse-cli")])
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    // A graceful stop flushes the last batch.
    server.stop().await;
    let spans = spans.lock().expect("lock").clone();
    let attribute = |span: &Value, key: &str| {
        span["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == key)
            .map(|a| a["value"]["stringValue"].clone())
    };
    let request = spans
        .iter()
        .find(|s| s["name"] == "request" && attribute(s, "request_id") == Some(Value::from(request_id.as_str())))
        .unwrap_or_else(|| panic!("the request's span among {spans:#?}"));
    let children = |name: &str| {
        spans
            .iter()
            .filter(|s| {
                s["name"] == name && s["traceId"] == request["traceId"] && s["parentSpanId"] == request["spanId"]
            })
            .count()
    };
    assert!(children("db.statement") >= 1, "{spans:#?}");
    assert!(children("state_store.call") >= 1, "{spans:#?}");
}
