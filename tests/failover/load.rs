//! The drill's workers: each round starts a flow on one instance, approves
//! it on the other, polls both until the token comes, uses it, and every
//! third round revokes it. Beside them, one worker per instance keeps
//! starting flows and using a token of its own without pause, so the gap
//! is seen as it happens. Every answer is checked as it comes: right, or a
//! 503 (then the step is tried again); anything else is a violation.

use crate::Instance;
use gatehouse_core::model::Account;
use gatehouse_core::rate_limit::Visitor;
use gatehouse_core::services::device_flow::{DecideError, DecisionKind};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKERS: usize = 4;

/// How long one step may keep answering 503 before the drill fails: far
/// above any failover it runs.
const PATIENCE: Duration = Duration::from_secs(90);

/// What the workers saw.
#[derive(Default)]
pub struct Report {
    /// Approvals the use case confirmed (or, after a 503, found done).
    pub confirmed: u64,
    /// Answers that were 503 (or the use case's `Unavailable`), by instance, with when.
    pub unavailable: Vec<(usize, Instant)>,
    /// Every answer, by instance, with when (the timeline).
    pub answered: Vec<(usize, Instant)>,
    /// Revocations done, and how long the other instance took to refuse the token.
    pub heard_after: Vec<Duration>,
    pub rounds: u64,
    pub violations: Vec<String>,
}

struct Shared {
    report: Mutex<Report>,
    rounds: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    fn answer(&self, instance: usize, unavailable: bool) {
        let mut report = self.report.lock().unwrap();
        report.answered.push((instance, Instant::now()));
        if unavailable {
            report.unavailable.push((instance, Instant::now()));
        }
    }

    fn violation(&self, what: String) {
        self.report.lock().unwrap().violations.push(what);
    }
}

pub struct Load {
    shared: Arc<Shared>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(instances: Arc<[Instance; 2]>, account: Account) -> Self {
        let shared =
            Arc::new(Shared { report: Mutex::default(), rounds: AtomicU64::new(0), stop: AtomicBool::new(false) });
        let worker = |id| Worker {
            id,
            instances: instances.clone(),
            account: account.clone(),
            shared: shared.clone(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client"),
        };
        let mut workers: Vec<_> = (0..WORKERS).map(|id| tokio::spawn(worker(id).run())).collect();
        workers.extend((0..2).map(|instance| tokio::spawn(worker(WORKERS + instance).hammer(instance))));
        Self { shared, workers }
    }

    pub fn rounds(&self) -> u64 {
        self.shared.rounds.load(Ordering::SeqCst)
    }

    /// Waits until the workers have done `rounds` rounds in all.
    pub async fn wait_for_rounds(&self, rounds: u64) {
        let started = Instant::now();
        while self.rounds() < rounds {
            assert!(started.elapsed() < PATIENCE * 2, "the load stalled at {} rounds", self.rounds());
            let violations = self.shared.report.lock().unwrap().violations.clone();
            assert!(violations.is_empty(), "{violations:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the workers after their current round.
    pub async fn stop(self) -> Report {
        self.shared.stop.store(true, Ordering::SeqCst);
        for worker in self.workers {
            worker.await.expect("a worker panicked");
        }
        let mut report = std::mem::take(&mut *self.shared.report.lock().unwrap());
        report.rounds = self.shared.rounds.load(Ordering::SeqCst);
        report
    }
}

struct Worker {
    id: usize,
    instances: Arc<[Instance; 2]>,
    account: Account,
    shared: Arc<Shared>,
    http: reqwest::Client,
}

/// One HTTP answer: its status and body, or `None` for a 503 (or no answer).
type Answer = Option<(u16, Value)>;

impl Worker {
    async fn run(self) {
        let mut round = 0u64;
        while !self.shared.stop.load(Ordering::SeqCst) {
            // The instance that starts and redeems; the other approves and checks.
            let a = (self.id + round as usize) % 2;
            self.round(a, 1 - a, round).await;
            round += 1;
            self.shared.rounds.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Without pause until stopped: a flow started and a token of its own
    /// used on `instance`, each answered right or 503.
    async fn hammer(self, instance: usize) {
        let at = &self.instances[instance];
        let code = self.start_flow(instance, &format!("hammer-{instance}")).await;
        let Some((user_code, device_code)) = code else { return };
        if !self.approve(1 - instance, &user_code).await {
            return;
        }
        let Some(token) = self.redeem(instance, instance, &device_code).await else { return };
        while !self.shared.stop.load(Ordering::SeqCst) {
            let form = [("client_id", "gatehouse-cli")];
            match self.request(instance, self.http.post(at.url("/v1/oauth/device/code")).form(&form)).await {
                Some((200, _)) | None => {}
                Some((status, body)) => return self.shared.violation(format!("device/code answered {status}: {body}")),
            }
            match self.request(instance, self.http.get(at.url("/v1/me")).bearer_auth(&token)).await {
                Some((200, _)) | None => {}
                Some((status, body)) => {
                    return self.shared.violation(format!("a live token answered {status}: {body}"));
                }
            }
        }
    }

    /// Starts a flow on `instance` for the device `label`: its user and device codes.
    async fn start_flow(&self, instance: usize, label: &str) -> Option<(String, String)> {
        let form = [("client_id", "gatehouse-cli"), ("device_label", label)];
        let url = self.instances[instance].url("/v1/oauth/device/code");
        let (status, flow) =
            self.until_answered("start a flow", || self.request(instance, self.http.post(&url).form(&form))).await;
        if status != 200 {
            self.shared.violation(format!("device/code answered {status}: {flow}"));
            return None;
        }
        let code = |field: &str| flow[field].as_str().unwrap().to_owned();
        Some((code("user_code"), code("device_code")))
    }

    async fn request(&self, instance: usize, request: reqwest::RequestBuilder) -> Answer {
        let answer = match request.send().await {
            Ok(response) if response.status() == 503 => {
                if response.headers().get("retry-after").is_none() {
                    self.shared.violation(format!("a 503 without Retry-After from instance {instance}"));
                }
                None
            }
            Ok(response) => {
                let status = response.status().as_u16();
                Some((status, response.json().await.unwrap_or(Value::Null)))
            }
            // The instance itself never goes away in the drill.
            Err(err) => {
                self.shared.violation(format!("instance {instance} did not answer: {err}"));
                None
            }
        };
        self.shared.answer(instance, answer.is_none());
        if answer.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        answer
    }

    /// Repeats `step` while it answers 503, up to [`PATIENCE`].
    async fn until_answered<T, F: Future<Output = Option<T>>>(&self, what: &str, mut step: impl FnMut() -> F) -> T {
        let started = Instant::now();
        loop {
            if let Some(answer) = step().await {
                return answer;
            }
            assert!(started.elapsed() < PATIENCE, "{what}: 503 for {PATIENCE:?}");
        }
    }

    async fn round(&self, a: usize, b: usize, round: u64) {
        let second = &self.instances[b];
        let Some((user_code, device_code)) = self.start_flow(a, &format!("drill-{}-{round}", self.id)).await else {
            return;
        };
        if !self.approve(b, &user_code).await {
            return;
        }
        let token = self.redeem(a, b, &device_code).await;
        let Some(token) = token else { return };
        let me = || self.request(b, self.http.get(second.url("/v1/me")).bearer_auth(&token));
        let (status, body) = self.until_answered("use the token", me).await;
        if status != 200 {
            return self.shared.violation(format!("a fresh token answered {status} on instance {b}: {body}"));
        }
        if round % 3 == 2 {
            self.revoke(a, b, &token).await;
        }
    }

    /// Approves on instance `b` through the use case; whether it is approved.
    async fn approve(&self, b: usize, user_code: &str) -> bool {
        let visitor = Visitor::from_ip(Some("127.0.0.1".into()));
        let decide = &self.instances[b].services.device_flows;
        let mut unsure = false;
        let started = Instant::now();
        loop {
            let decided = decide.decide_as_account(user_code, &self.account, DecisionKind::Approve, &visitor).await;
            self.shared.answer(b, matches!(decided, Err(DecideError::Unavailable(_))));
            match decided {
                Ok(_) => break,
                // An approval whose answer was lost may have committed.
                Err(DecideError::AlreadyResolved) if unsure => break,
                Err(DecideError::Unavailable(_)) => {
                    unsure = true;
                    assert!(started.elapsed() < PATIENCE, "approve: unavailable for {PATIENCE:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => {
                    self.shared.violation(format!("approving {user_code} on instance {b}: {err}"));
                    return false;
                }
            }
        }
        self.shared.report.lock().unwrap().confirmed += 1;
        true
    }

    /// Polls both instances in turn until the token comes.
    async fn redeem(&self, a: usize, b: usize, device_code: &str) -> Option<String> {
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", "gatehouse-cli"),
        ];
        let started = Instant::now();
        for poll in 0.. {
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let at = if poll % 2 == 0 { a } else { b };
            let answer =
                self.request(at, self.http.post(self.instances[at].url("/v1/oauth/device/token")).form(&form)).await;
            assert!(started.elapsed() < PATIENCE, "no token within {PATIENCE:?} of a confirmed approval");
            match answer {
                None => continue,
                Some((200, token)) => return Some(token["access_token"].as_str().unwrap().to_owned()),
                Some((400, answer))
                    if ["authorization_pending", "slow_down"].contains(&answer["error"].as_str().unwrap_or("")) =>
                {
                    continue;
                }
                Some((status, answer)) => {
                    self.shared.violation(format!("a confirmed approval was polled {status}: {answer}"));
                    return None;
                }
            }
        }
        None
    }

    /// Revokes on `a`: refused there at once, and on `b` once it hears.
    async fn revoke(&self, a: usize, b: usize, token: &str) {
        let (first, second) = (&self.instances[a], &self.instances[b]);
        let revoke =
            || self.request(a, self.http.delete(first.url("/v1/oauth/authorizations/self")).bearer_auth(token));
        let (status, body) = self.until_answered("revoke", revoke).await;
        if !(200..300).contains(&status) {
            return self.shared.violation(format!("revocation answered {status}: {body}"));
        }
        let revoked_at = Instant::now();
        let me_first = || self.request(a, self.http.get(first.url("/v1/me")).bearer_auth(token));
        let (status, _) = self.until_answered("use a revoked token where it was revoked", me_first).await;
        if status != 401 {
            return self.shared.violation(format!("instance {a} answered {status} for the token it had just revoked"));
        }
        loop {
            let answer = self.request(b, self.http.get(second.url("/v1/me")).bearer_auth(token)).await;
            match answer {
                Some((401, _)) => break,
                Some((200, _)) | None => {
                    assert!(revoked_at.elapsed() < PATIENCE, "instance {b} never heard of a revocation");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Some((status, body)) => {
                    return self.shared.violation(format!("a revoked token answered {status}: {body}"));
                }
            }
        }
        self.shared.report.lock().unwrap().heard_after.push(revoked_at.elapsed());
    }
}

impl Report {
    /// Fails the drill on any violation.
    pub fn check(&self) {
        assert!(self.violations.is_empty(), "{:#?}", self.violations);
        assert!(self.confirmed > 0 && !self.heard_after.is_empty(), "the drill did nothing");
    }

    /// Writes the measured times to `target/failover-report.md`.
    pub fn write(&self, failed_at: Instant, promoted_after: Duration) {
        let after = |(_, at): &&(usize, Instant)| *at >= failed_at;
        let unavailable: Vec<&(usize, Instant)> = self.unavailable.iter().filter(after).collect();
        let last_503 = |instance: usize| {
            unavailable.iter().filter(|(i, _)| *i == instance).map(|(_, at)| at.duration_since(failed_at)).max()
        };
        let first_503 = unavailable.iter().map(|(_, at)| at.duration_since(failed_at)).min();
        let ms = |d: Option<Duration>| d.map_or("none".to_owned(), |d| format!("{} ms", d.as_millis()));
        let heard_max = self.heard_after.iter().max().copied();
        let report = format!(
            "# Failover drill\n\n\
             | Measured | Value |\n|---|---|\n\
             | primary stopped and replica promoted (the command) | {} ms |\n\
             | first 503 after the primary stopped | {} |\n\
             | last 503, instance 0 / instance 1 | {} / {} |\n\
             | 503 answers during the failover / all answers | {} / {} |\n\
             | rounds, confirmed approvals, revocations | {}, {}, {} |\n\
             | longest wait for the other instance to refuse a revoked token | {} |\n",
            promoted_after.as_millis(),
            ms(first_503),
            ms(last_503(0)),
            ms(last_503(1)),
            unavailable.len(),
            self.answered.len(),
            self.rounds,
            self.confirmed,
            self.heard_after.len(),
            ms(heard_max),
        );
        println!("{report}");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/failover-report.md");
        std::fs::write(&path, report).expect("write the report");
    }
}
