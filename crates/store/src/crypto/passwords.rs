//! argon2id password hashing: a bulkhead of its own. Hashes run on a few
//! threads of their own, behind a semaphore, so a burst of sign-ins can
//! neither stall the async workers nor exhaust memory (each hash holds
//! 19 MiB while it runs). The queue in front of the semaphore is bounded: a
//! sign-in that finds it full, or waits too long for a slot, is refused at
//! once (`HashError::Busy`, a 503). And the hashing threads run at idle
//! scheduling priority (`SCHED_IDLE`), so under load the CPU goes to token
//! checks and polls first: a sign-in flood slows sign-ins, not the rest.
//!
//! Idle priority alone is not enough: a server under load still has idle
//! moments between requests, and argon2 filled them (a third of a core
//! under a flood, measured), which cost token checks a quarter of their
//! throughput. So while the async workers are busy (more than half their
//! time over the last moment), each hashing thread starts at most one hash
//! every 250 ms; at rest, hashes run back to back.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use gatehouse_core::StoreError;
use gatehouse_core::ports::{HashError, PasswordHasher};
use gatehouse_core::secret::SecretString;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Memory cost in KiB (19 MiB, OWASP's argon2id minimum) and passes.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;

/// Verified against when the account does not exist, so that case costs the
/// same as a wrong password. A constant with the same parameters costs
/// exactly as much as a fresh one, and computing it at start-up would leave
/// 19 MiB behind in the allocator. (`verify` never accepts it: the account
/// is unknown either way.) A test checks its parameters match.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$a1+iuxtJxnQ6jXytOQWFUg$/c/Mw+fwZ23GmPJQ2uu+285b20XmEe7hf9GrStVVuKg";

/// Longest a sign-in waits for a hashing slot before it is refused.
const SLOT_WAIT: Duration = Duration::from_secs(1);

/// While the async workers are busier than this share of their time, hashing
/// is paced.
const BUSY_SHARE: f64 = 0.5;

/// Under load, a hashing thread starts at most one hash this often.
const PACED_GAP: Duration = Duration::from_millis(250);

/// Shorter than this since the last reading, the last busy share stands.
const BUSY_WINDOW: Duration = Duration::from_millis(20);

/// How busy the async runtime's workers are, from tokio's own counters.
struct WorkerLoad {
    metrics: Option<tokio::runtime::RuntimeMetrics>,
    /// When it was last read, the workers' total busy time then, and the
    /// share computed.
    last: std::sync::Mutex<(Instant, Duration, f64)>,
}

impl WorkerLoad {
    /// The load of the runtime this is created in (none outside one).
    fn of_current_runtime() -> Self {
        let metrics = tokio::runtime::Handle::try_current().ok().map(|handle| handle.metrics());
        let busy = metrics.as_ref().map_or(Duration::ZERO, total_busy);
        Self { metrics, last: std::sync::Mutex::new((Instant::now(), busy, 0.0)) }
    }

    /// The share of the workers' time spent busy since the last reading.
    fn busy_share(&self) -> f64 {
        let Some(metrics) = &self.metrics else { return 0.0 };
        let Ok(mut last) = self.last.lock() else { return 0.0 };
        let (at, busy, share) = *last;
        let now = Instant::now();
        if now.duration_since(at) < BUSY_WINDOW {
            return share;
        }
        let total = total_busy(metrics);
        let capacity = now.duration_since(at).as_secs_f64() * metrics.num_workers().max(1) as f64;
        let share = total.saturating_sub(busy).as_secs_f64() / capacity;
        *last = (now, total, share);
        share
    }
}

fn total_busy(metrics: &tokio::runtime::RuntimeMetrics) -> Duration {
    (0..metrics.num_workers()).map(|worker| metrics.worker_total_busy_duration(worker)).sum()
}

/// How long a hashing thread waits before its next hash: while the workers
/// are busy, until `PACED_GAP` after the start of its last one.
fn pace(busy_share: f64, since_last_start: Option<Duration>) -> Option<Duration> {
    let since = since_last_start?;
    (busy_share > BUSY_SHARE && since < PACED_GAP).then(|| PACED_GAP - since)
}

/// Work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// The threads that run the hashes, at idle priority; they stop when the
/// last hasher holding them is dropped.
struct HashingThreads {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl HashingThreads {
    fn start(count: usize) -> Result<Self, StoreError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        let load = Arc::new(WorkerLoad::of_current_runtime());
        for index in 0..count {
            let queue = queue.clone();
            let load = load.clone();
            std::thread::Builder::new()
                .name(format!("gatehouse-hash-{index}"))
                .spawn(move || {
                    lower_priority();
                    let mut last_start: Option<Instant> = None;
                    loop {
                        let job = queue.lock().map_err(|_| ()).and_then(|queue| queue.recv().map_err(|_| ()));
                        let Ok(job) = job else { break };
                        // The job holds its slot while it waits, so sign-ins
                        // behind it are refused after `SLOT_WAIT`, not queued.
                        if let Some(wait) = pace(load.busy_share(), last_start.map(|at| at.elapsed())) {
                            std::thread::sleep(wait);
                        }
                        last_start = Some(Instant::now());
                        job();
                    }
                })
                .map_err(StoreError::from_err)?;
        }
        Ok(Self { jobs: std::sync::Mutex::new(jobs) })
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().map_err(|_| StoreError("hashing queue lock poisoned".into()))?;
        jobs.send(job).map_err(|_| StoreError("the hashing threads have stopped".into()))
    }
}

/// `SCHED_IDLE` for the calling thread: it runs when nothing else wants the
/// CPU. (Needs no privilege; where it is refused, hashing runs as before.)
fn lower_priority() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(err) = set_thread_priority_and_policy(thread_native_id(), thread_priority::ThreadPriority::Min, idle) {
        tracing::warn!(error = ?err, "could not lower the password-hashing threads' priority");
    }
}

/// argon2id behind the `PasswordHasher` port.
#[derive(Clone)]
pub struct Argon2Hasher {
    permits: Arc<Semaphore>,
    threads: Arc<HashingThreads>,
    /// Hashes running or waiting for a slot.
    admitted: Arc<AtomicUsize>,
    /// Most hashes running or waiting at once.
    capacity: usize,
}

/// One admitted hash; leaving (done, refused or abandoned) frees its place.
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        let depth = self.0.fetch_sub(1, Ordering::AcqRel) - 1;
        gatehouse_core::telemetry::sign_in_queue_depth(depth);
    }
}

fn argon2() -> Result<Argon2<'static>, StoreError> {
    let params = Params::new(MEMORY_KIB, PASSES, 1, None).map_err(StoreError::from_err)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Ok(argon2()?.hash_password(password.as_bytes(), &salt).map_err(StoreError::from_err)?.to_string())
}

impl Argon2Hasher {
    /// A hasher running at most `concurrency` hashes at once, with at most
    /// `queue` more waiting.
    pub fn new(concurrency: usize, queue: usize) -> Result<Self, StoreError> {
        let concurrency = concurrency.max(1);
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            threads: Arc::new(HashingThreads::start(concurrency)?),
            admitted: Arc::default(),
            capacity: concurrency + queue,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, HashError> {
        let depth = self.admitted.fetch_add(1, Ordering::AcqRel) + 1;
        let admission = Admission(self.admitted.clone());
        gatehouse_core::telemetry::sign_in_queue_depth(depth);
        if depth > self.capacity {
            return Err(HashError::Busy);
        }
        let permit = tokio::time::timeout(SLOT_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(StoreError::from_err)?;
        // The slot and the place in the queue go with the work: a caller that
        // gives up does not free them while its hash still runs.
        let (done, result) = tokio::sync::oneshot::channel();
        self.threads.submit(Box::new(move || {
            let result = work();
            // Free the slot before answering, so the caller never sees its
            // own hash still counted.
            drop((permit, admission));
            let _ = done.send(result);
        }))?;
        let result = result.await.map_err(StoreError::from_err)?;
        Ok(result?)
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        let password = password.clone();
        self.run(move || hash_blocking(password.expose())).await
    }

    async fn verify(&self, password: &SecretString, hash: Option<&str>) -> Result<bool, HashError> {
        let password = password.clone();
        let known = hash.is_some();
        let hash = hash.unwrap_or(DUMMY_HASH).to_owned();
        self.run(move || {
            let parsed = PasswordHash::new(&hash).map_err(StoreError::from_err)?;
            let matches = argon2()?.verify_password(password.expose().as_bytes(), &parsed).is_ok();
            Ok(known && matches)
        })
        .await
    }

    fn is_full(&self) -> bool {
        self.admitted.load(Ordering::Acquire) >= self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_fail() -> Result<(), HashError> {
        let hasher = Argon2Hasher::new(2, 0)?;
        let password = SecretString::new("correct horse");
        let hash = hasher.hash(&password).await?;
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify(&password, Some(&hash)).await?);
        assert!(!hasher.verify(&SecretString::new("wrong"), Some(&hash)).await?);
        // The dummy hash's own password must not sign in to a missing account.
        assert!(!hasher.verify(&SecretString::new("gatehouse-dummy-password"), None).await?);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once_and_frees_its_places() -> Result<(), HashError> {
        // One slot (held here) and one place in the queue.
        let hasher = Argon2Hasher::new(1, 1)?;
        let held = hasher.permits.clone().acquire_owned().await.map_err(StoreError::from_err)?;
        let (first, second) = (hasher.clone(), hasher.clone());
        let first = tokio::spawn(async move { first.run(|| Ok(1)).await });
        while hasher.admitted.load(Ordering::Acquire) < 1 {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn(async move { second.run(|| Ok(2)).await });
        while hasher.admitted.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        // Full: refused without waiting for the slot, and says so first.
        assert!(hasher.is_full());
        assert!(matches!(hasher.run(|| Ok(3)).await, Err(HashError::Busy)));
        drop(held);
        assert_eq!(first.await.map_err(StoreError::from_err)??, 1);
        assert_eq!(second.await.map_err(StoreError::from_err)??, 2);
        assert_eq!(hasher.admitted.load(Ordering::Acquire), 0);
        assert!(!hasher.is_full());

        // A sign-in that waits longer than SLOT_WAIT for the slot gives up.
        let held = hasher.permits.clone().acquire_owned().await.map_err(StoreError::from_err)?;
        assert!(matches!(hasher.run(|| Ok(4)).await, Err(HashError::Busy)));
        drop(held);
        assert_eq!(hasher.admitted.load(Ordering::Acquire), 0);
        Ok(())
    }

    #[test]
    fn hashing_is_paced_only_while_the_workers_are_busy() {
        let ms = Duration::from_millis;
        // At rest, back to back; the first hash never waits.
        assert_eq!(pace(0.2, Some(ms(10))), None);
        assert_eq!(pace(0.9, None), None);
        // Busy: the rest of the gap since the last start, then none.
        assert_eq!(pace(0.9, Some(ms(10))), Some(ms(240)));
        assert_eq!(pace(0.9, Some(ms(250))), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_worker_load_reads_busy_workers_as_busy() {
        let load = WorkerLoad::of_current_runtime();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(load.busy_share() < BUSY_SHARE, "idle workers");
        // Both workers spin for 100 ms.
        let spin = || {
            tokio::spawn(async {
                let until = Instant::now() + Duration::from_millis(100);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            })
        };
        let (a, b) = (spin(), spin());
        let _ = (a.await, b.await);
        // Workers publish their counters when they park.
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(load.busy_share() > BUSY_SHARE, "busy workers");
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() -> Result<(), StoreError> {
        let dummy = PasswordHash::new(DUMMY_HASH).map_err(StoreError::from_err)?;
        let real = hash_blocking("anything")?;
        let real = PasswordHash::new(&real).map_err(StoreError::from_err)?;
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        Ok(())
    }
}
