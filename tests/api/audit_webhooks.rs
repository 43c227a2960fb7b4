//! Signed audit webhooks (issue 20, item 4): every audit event delivered at
//! least once, signed in the Standard Webhooks format (checked here by its
//! reference verifier), in order, from the database's outbox, with
//! retries and backoff, and across a restart.

use crate::helpers::{Backend, TestApp, spawn_app_until, spawn_app_with};
use crate::on_every_backend;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use gatehouse::config::AuditWebhookConfig;
use gatehouse::startup::Overrides;
use gatehouse_core::SecretString;
use serde_json::Value;
use std::sync::{Arc, Mutex};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// How the in-test receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Accept,
    Fail,
    /// Answers only after the deliverer's timeout.
    Hang,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    accepted: bool,
}

impl Received {
    fn id(&self) -> String {
        self.headers["webhook-id"].to_str().expect("id").to_owned()
    }

    fn payload(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json")
    }
}

#[derive(Default)]
struct ReceiverState {
    mode: Mutex<Option<Mode>>,
    received: Mutex<Vec<Received>>,
}

/// A webhook receiver on loopback.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start(mode: Mode) -> Self {
        let state = Arc::new(ReceiverState::default());
        *state.mode.lock().expect("lock") = Some(mode);
        let router = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
    }

    fn set(&self, mode: Mode) {
        *self.state.mode.lock().expect("lock") = Some(mode);
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }

    /// The payloads the receiver accepted, in the order it did.
    fn accepted(&self) -> Vec<Value> {
        self.received().iter().filter(|r| r.accepted).map(Received::payload).collect()
    }
}

async fn receive(State(state): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mode = state.mode.lock().expect("lock").unwrap_or(Mode::Accept);
    state.received.lock().expect("lock").push(Received { headers, body, accepted: mode == Mode::Accept });
    match mode {
        Mode::Accept => StatusCode::NO_CONTENT,
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::Hang => {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            StatusCode::NO_CONTENT
        }
    }
}

fn webhook(url: &str) -> AuditWebhookConfig {
    AuditWebhookConfig {
        url: url.to_owned(),
        secret: SecretString::new(SECRET),
        timeout: std::time::Duration::from_secs(1),
    }
}

/// One delivery pass, as the background job runs every second (passes in
/// one instance take turns, so after this returns every due event is
/// delivered or has just failed).
async fn deliver(app: &TestApp) -> usize {
    app.audit_webhook.as_ref().expect("webhook configured").deliver_due().await.expect("outbox")
}

async fn backlog(app: &TestApp) -> u64 {
    let outbox = gatehouse_store::Database::connect(&app.database_url, &gatehouse_store::tls::ExtraRoots::none())
        .await
        .expect("database")
        .repositories()
        .audit_outbox;
    outbox.backlog().await.expect("backlog").0
}

/// Checks a delivery with the Standard Webhooks reference verifier.
fn verify(received: &Received) {
    let verifier = standardwebhooks::Webhook::new(SECRET).expect("secret");
    verifier.verify(&received.body, &received.headers).expect("a valid Standard Webhooks signature");
}

async fn every_audit_event_reaches_the_webhook_signed_and_in_order(backend: Backend) {
    let receiver = Receiver::start(Mode::Accept).await;
    let config = webhook(&receiver.url);
    let app = spawn_app_with(backend, move |c| c.audit_webhook = Some(config)).await;
    for email in ["ann@example.com", "bob@example.com", "cat@example.com"] {
        app.create_account(email).await;
    }
    deliver(&app).await;
    assert_eq!(backlog(&app).await, 0, "everything delivered");

    let received = receiver.received();
    for delivery in &received {
        verify(delivery);
        assert_eq!(delivery.headers["content-type"], "application/json");
    }
    let payloads = receiver.accepted();
    let ids: Vec<i64> = payloads.iter().map(|p| p["data"]["id"].as_i64().expect("id")).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "in event order: {ids:?}");
    let created: Vec<&str> = payloads
        .iter()
        .filter(|p| p["type"] == "audit.account.created")
        .map(|p| p["data"]["subject"].as_str().expect("subject"))
        .collect();
    assert_eq!(created, ["ann@example.com", "bob@example.com", "cat@example.com"]);
    let first = &payloads[0];
    assert!(first["timestamp"].is_string() && first["data"]["kind"].is_string(), "{first}");
    assert_eq!(received[0].id(), format!("msg_audit_{}", ids[0]));
    // Once delivered, never again.
    deliver(&app).await;
    assert_eq!(receiver.received().len(), received.len());
}

async fn a_failing_or_silent_receiver_is_retried_with_backoff_in_order(backend: Backend) {
    let receiver = Receiver::start(Mode::Fail).await;
    let config = webhook(&receiver.url);
    let app = spawn_app_with(backend, move |c| c.audit_webhook = Some(config)).await;
    app.create_account("ann@example.com").await;
    app.create_account("bob@example.com").await;
    let waiting = backlog(&app).await;
    assert!(waiting >= 2);

    // The first event fails; the others wait behind it.
    assert_eq!(deliver(&app).await, 0);
    let attempts = receiver.received();
    assert_eq!(attempts.len(), 1, "one try, then backoff");
    let head = attempts[0].id();
    assert_eq!(deliver(&app).await, 0);
    assert_eq!(receiver.received().len(), 1, "not due before its backoff");
    app.advance(1);
    deliver(&app).await;
    assert_eq!(receiver.received().len(), 2, "tried again after a second");
    // A receiver that does not answer within the timeout fails it too.
    receiver.set(Mode::Hang);
    app.advance(2);
    deliver(&app).await;
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(backlog(&app).await, waiting, "nothing lost, nothing delivered");

    receiver.set(Mode::Accept);
    app.advance(4);
    deliver(&app).await;
    assert_eq!(backlog(&app).await, 0);
    let received = receiver.received();
    assert!(received[..3].iter().all(|r| r.id() == head), "every try of one event carries its id");
    let accepted: Vec<&Received> = received.iter().filter(|r| r.accepted).collect();
    assert_eq!(accepted[0].id(), head, "the held-back event first");
    let subjects: Vec<String> =
        accepted.iter().filter_map(|r| r.payload()["data"]["subject"].as_str().map(str::to_owned)).collect();
    let ann = subjects.iter().position(|s| s == "ann@example.com");
    let bob = subjects.iter().position(|s| s == "bob@example.com");
    assert!(ann < bob && ann.is_some(), "{subjects:?}");
    for delivery in accepted {
        verify(delivery);
    }
}

async fn undelivered_events_survive_a_restart(backend: Backend) {
    let receiver = Receiver::start(Mode::Fail).await;
    let config = webhook(&receiver.url);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (first, running) =
        spawn_app_until(backend, move |c| c.audit_webhook = Some(config), Overrides::default(), async move {
            let _ = stopped.await;
        })
        .await;
    first.create_account("ann@example.com").await;
    deliver(&first).await;
    assert_eq!(receiver.accepted().len(), 0);
    let waiting = backlog(&first).await;
    let _ = stop.send(());
    running.await.expect("join").expect("graceful stop");

    // The next start, on the same database, delivers what waited.
    receiver.set(Mode::Accept);
    let config = webhook(&receiver.url);
    let (database_url, prefix) = (first.database_url.clone(), first.redis_key_prefix.clone());
    let second = spawn_app_with(backend, move |c| {
        c.audit_webhook = Some(config);
        c.database_url = database_url;
        c.redis_key_prefix = prefix;
    })
    .await;
    // Past the stopped instance's lease (the delivery timeout and 30 s,
    // with a second to spare) and the failed event's backoff.
    second.advance(32);
    deliver(&second).await;
    assert_eq!(backlog(&second).await, 0);
    let accepted = receiver.accepted();
    assert!(accepted.len() as u64 >= waiting, "{accepted:?}");
    assert!(accepted.iter().any(|p| p["data"]["subject"] == "ann@example.com"));
}

/// A receiver whose every answer takes 20 s of the server's clock: a batch
/// outlasts any fixed lease, so the deliverer renews its lease before each
/// delivery, and no rival instance can take it over mid-batch (it would
/// deliver beside this one, out of order).
async fn the_delivery_lease_holds_through_a_batch_of_slow_answers(backend: Backend) {
    type Rival = (Arc<gatehouse_core::clock::ManualClock>, Arc<dyn gatehouse_core::ports::AuditOutbox>);
    let rival: Arc<tokio::sync::OnceCell<Rival>> = Arc::default();
    let rival_took_over = Arc::new(Mutex::new(Vec::new()));
    let (seen, handle) = (rival_took_over.clone(), rival.clone());
    let slow = axum::routing::post(move || async move {
        if let Some((clock, outbox)) = handle.get() {
            clock.advance(chrono::Duration::seconds(20));
            let now = gatehouse_core::Clock::now(clock.as_ref());
            let taken = outbox.lease("rival", now, now + chrono::Duration::seconds(30)).await.expect("lease");
            seen.lock().expect("lock").push(taken);
        }
        StatusCode::NO_CONTENT
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/hook", slow)).await });
    let config = webhook(&url);
    let app = spawn_app_with(backend, move |c| c.audit_webhook = Some(config)).await;
    let outbox = gatehouse_store::Database::connect(&app.database_url, &gatehouse_store::tls::ExtraRoots::none())
        .await
        .expect("database")
        .repositories()
        .audit_outbox;
    // Armed before the events exist, so every delivery of them is slow,
    // whether this test's pass or the background job's makes it.
    assert!(rival.set((app.clock.clone(), outbox)).is_ok());
    for name in ["ann", "bob", "cyd"] {
        app.create_account(&format!("{name}@example.com")).await;
    }
    deliver(&app).await;
    let took_over = rival_took_over.lock().expect("lock").clone();
    assert!(took_over.len() >= 3 && took_over.iter().all(|taken| !taken), "{took_over:?}");
    assert_eq!(backlog(&app).await, 0);
}

on_every_backend!(
    the_delivery_lease_holds_through_a_batch_of_slow_answers,
    every_audit_event_reaches_the_webhook_signed_and_in_order,
    a_failing_or_silent_receiver_is_retried_with_backoff_in_order,
    undelivered_events_survive_a_restart,
);
