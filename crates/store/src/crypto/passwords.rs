//! argon2id password hashing: a bulkhead of its own. Hashes run on a few
//! threads of their own, behind a semaphore, so a burst of sign-ins can
//! neither stall the async workers nor exhaust memory (each hash holds
//! 19 MiB while it runs). The queue in front of the semaphore is bounded: a
//! sign-in that finds it full, or waits too long for a slot, is refused at
//! once (`HashError::Busy`, a 503). And the hashing threads run at idle
//! scheduling priority (`SCHED_IDLE`), so under load the CPU goes to token
//! checks and polls first: a sign-in flood slows sign-ins, not the rest.
//!
//! Idle priority alone is not enough: on a small virtual machine a busy CPU
//! slows its neighbour whatever the priority, and even one hash a second
//! raises the p99 of a saturated `/v1/me` (the measurements are in
//! `docs/benchmarks.md` and `docs/operations.md`). So during a flood (the
//! queue overflowed within `FLOOD_MEMORY`) on a busy machine (other work
//! used more than `BUSY_SHARE` of the CPUs over the last moment), each slot
//! starts one hash per `PACED_GAP` and the rest are refused at once. A
//! sign-in that arrives when there is no flood, or at rest, is never paced.

// Pacing measures the machine's real CPU load over real time, so this file
// reads the monotonic clock (clippy.toml bans it elsewhere).
#![allow(clippy::disallowed_methods)]

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

/// While other work keeps the machine's CPUs busier than this share of
/// their time, a flood is paced.
const BUSY_SHARE: f64 = 0.5;

/// During a paced flood, each hashing slot starts at most one hash this often.
const PACED_GAP: Duration = Duration::from_secs(5);

/// How long after the queue last overflowed a flood is still on.
const FLOOD_MEMORY: Duration = Duration::from_secs(10);

/// Shorter than this since the last reading, the last busy share stands
/// (the kernel counts CPU time in 10 ms ticks).
const BUSY_WINDOW: Duration = Duration::from_millis(50);

/// CPU time since boot, in ticks, from the first line of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuTimes {
    /// Spent on anything but niced work: the hashing threads run at nice 19
    /// (`lower_priority`), so this is what everything else used.
    others: u64,
    total: u64,
}

impl CpuTimes {
    /// Parses `cpu  user nice system idle iowait irq softirq steal …`.
    fn parse(stat: &str) -> Option<Self> {
        let fields = stat.lines().next()?.strip_prefix("cpu ")?;
        let fields: Vec<u64> = fields.split_whitespace().take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
        let [user, nice, system, idle, iowait, irq, softirq, steal] = fields[..] else { return None };
        Some(Self {
            others: user + system + irq + softirq + steal,
            total: user + nice + system + idle + iowait + irq + softirq + steal,
        })
    }

    /// Reads the machine's counters (Linux only: elsewhere hashing is never
    /// paced).
    fn read() -> Option<Self> {
        if cfg!(target_os = "linux") { Self::parse(&std::fs::read_to_string("/proc/stat").ok()?) } else { None }
    }

    /// The share of the CPU time between `self` and `later` that other work used.
    fn busy_share_until(&self, later: &Self) -> f64 {
        let total = later.total.saturating_sub(self.total);
        if total == 0 { 0.0 } else { later.others.saturating_sub(self.others) as f64 / total as f64 }
    }
}

/// How busy the machine is with work other than hashing.
struct MachineLoad {
    /// When it was last read, the counters then, and the share computed.
    last: std::sync::Mutex<Option<(Instant, CpuTimes, f64)>>,
}

impl MachineLoad {
    fn new() -> Self {
        Self { last: std::sync::Mutex::new(CpuTimes::read().map(|times| (Instant::now(), times, 0.0))) }
    }

    /// The share of the machine's CPU time other work used since the last
    /// reading (0 where it cannot be read).
    fn busy_share(&self) -> f64 {
        let Ok(mut last) = self.last.lock() else { return 0.0 };
        let Some((at, before, share)) = *last else { return 0.0 };
        if at.elapsed() < BUSY_WINDOW {
            return share;
        }
        let Some(now) = CpuTimes::read() else { return share };
        let share = before.busy_share_until(&now);
        *last = Some((Instant::now(), now, share));
        share
    }
}

/// Whether a hash must wait its turn: only during a flood on a busy
/// machine, and then until `gap` after the last turn.
fn paced_out(
    since_overflow: Option<Duration>,
    busy_share: impl FnOnce() -> f64,
    since_last_turn: Option<Duration>,
    gap: Duration,
) -> bool {
    let flood = since_overflow.is_some_and(|since| since < FLOOD_MEMORY);
    let waiting = since_last_turn.is_some_and(|since| since < gap);
    flood && waiting && busy_share() > BUSY_SHARE
}

/// Turns to hash during a flood.
struct Pacing {
    /// The share of the machine's CPU time other work uses (`MachineLoad`).
    busy_share: Box<dyn Fn() -> f64 + Send + Sync>,
    /// How long a flood on a busy machine waits between turns.
    gap: Duration,
    turns: std::sync::Mutex<Turns>,
}

#[derive(Default)]
struct Turns {
    /// When the queue last overflowed.
    overflowed_at: Option<Instant>,
    /// When the last hash took its turn.
    last_turn: Option<Instant>,
}

impl Pacing {
    fn new(busy_share: impl Fn() -> f64 + Send + Sync + 'static, gap: Duration) -> Self {
        Self { busy_share: Box::new(busy_share), gap, turns: std::sync::Mutex::default() }
    }

    /// A sign-in found the queue full: a flood.
    fn note_overflow(&self) {
        if let Ok(mut turns) = self.turns.lock() {
            turns.overflowed_at = Some(Instant::now());
        }
    }

    /// Whether a hash starting now must wait its turn.
    fn is_paced_out(&self) -> bool {
        self.turns.lock().map_or(true, |turns| self.must_wait(&turns))
    }

    /// Takes the turn for a hash starting now, unless it must wait.
    fn take_turn(&self) -> bool {
        let Ok(mut turns) = self.turns.lock() else { return false };
        if self.must_wait(&turns) {
            return false;
        }
        turns.last_turn = Some(Instant::now());
        true
    }

    fn must_wait(&self, turns: &Turns) -> bool {
        let since = |at: Option<Instant>| at.map(|at| at.elapsed());
        paced_out(since(turns.overflowed_at), &self.busy_share, since(turns.last_turn), self.gap)
    }
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
        for index in 0..count {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("gatehouse-hash-{index}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = queue.lock().map_err(|_| ()).and_then(|queue| queue.recv().map_err(|_| ()));
                        let Ok(job) = job else { break };
                        job();
                    }
                })
                .map_err(StoreError::from_err)?;
        }
        Ok(Self { jobs: std::sync::Mutex::new(jobs) })
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().map_err(|_| StoreError::new("hashing queue lock poisoned"))?;
        jobs.send(job).map_err(|_| StoreError::new("the hashing threads have stopped"))
    }
}

/// `SCHED_IDLE` and nice 19 for the calling thread: it runs when nothing
/// else wants the CPU, and its time counts as niced. (Needs no privilege;
/// where it is refused, hashing runs as before.)
fn lower_priority() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(err) = set_thread_priority_and_policy(thread_native_id(), thread_priority::ThreadPriority::Min, idle) {
        tracing::warn!(error = ?err, "could not lower the password-hashing threads' priority");
    }
    // On Linux, "the process" of setpriority is the calling thread.
    if let Err(err) = rustix::process::setpriority_process(None, 19) {
        tracing::warn!(error = ?err, "could not set the password-hashing threads' nice value");
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
    pacing: Arc<Pacing>,
}

/// One admitted hash; leaving (done, refused or abandoned) frees its place.
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        let depth = self.0.fetch_sub(1, Ordering::AcqRel) - 1;
        gatehouse_core::metrics::sign_in_queue_depth(depth);
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
            pacing: Arc::new(Pacing::new(
                {
                    let machine = MachineLoad::new();
                    move || machine.busy_share()
                },
                PACED_GAP / u32::try_from(concurrency).unwrap_or(u32::MAX),
            )),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, HashError> {
        let depth = self.admitted.fetch_add(1, Ordering::AcqRel) + 1;
        let admission = Admission(self.admitted.clone());
        gatehouse_core::metrics::sign_in_queue_depth(depth);
        if depth > self.capacity {
            self.pacing.note_overflow();
            return Err(HashError::Busy);
        }
        let permit = tokio::time::timeout(SLOT_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(StoreError::from_err)?;
        // Checked as the hash would start: those queued when a flood began
        // wait their turn too.
        if !self.pacing.take_turn() {
            return Err(HashError::Busy);
        }
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

    fn is_busy(&self) -> bool {
        if self.admitted.load(Ordering::Acquire) >= self.capacity {
            // Refused for a full queue, as in `run`: a flood.
            self.pacing.note_overflow();
            return true;
        }
        self.pacing.is_paced_out()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_fail() -> Result<(), HashError> {
        let hasher = Argon2Hasher::new(1, 8)?;
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
        // One slot (held here) and one place in the queue, on a machine at
        // rest (a flood on a busy one is paced: the next test).
        let hasher = Argon2Hasher { pacing: Arc::new(Pacing::new(|| 0.0, PACED_GAP)), ..Argon2Hasher::new(1, 1)? };
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
        assert!(hasher.is_busy());
        assert!(matches!(hasher.run(|| Ok(3)).await, Err(HashError::Busy)));
        drop(held);
        assert_eq!(first.await.map_err(StoreError::from_err)??, 1);
        assert_eq!(second.await.map_err(StoreError::from_err)??, 2);
        assert_eq!(hasher.admitted.load(Ordering::Acquire), 0);
        assert!(!hasher.is_busy());

        // A sign-in that waits longer than SLOT_WAIT for the slot gives up.
        let held = hasher.permits.clone().acquire_owned().await.map_err(StoreError::from_err)?;
        assert!(matches!(hasher.run(|| Ok(4)).await, Err(HashError::Busy)));
        drop(held);
        assert_eq!(hasher.admitted.load(Ordering::Acquire), 0);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_on_a_busy_machine_gets_one_turn_per_gap() -> Result<(), HashError> {
        let gap = Duration::from_millis(300);
        let hasher = Argon2Hasher { pacing: Arc::new(Pacing::new(|| 1.0, gap)), ..Argon2Hasher::new(1, 0)? };
        // Busy, but no flood: back to back.
        assert_eq!(hasher.run(|| Ok(1)).await?, 1);
        assert_eq!(hasher.run(|| Ok(2)).await?, 2);
        // The queue overflows: a flood. The next hash waits for its turn,
        // and says so at once.
        let held = hasher.permits.clone().acquire_owned().await.map_err(StoreError::from_err)?;
        let waiting = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.run(|| Ok(3)).await }
        });
        while hasher.admitted.load(Ordering::Acquire) < 1 {
            tokio::task::yield_now().await;
        }
        assert!(hasher.is_busy(), "a full queue");
        drop(held);
        assert!(matches!(waiting.await.map_err(StoreError::from_err)?, Err(HashError::Busy)), "queued, then paced");
        assert!(hasher.is_busy(), "paced");
        assert!(matches!(hasher.run(|| Ok(4)).await, Err(HashError::Busy)));
        // Its turn comes after the gap.
        tokio::time::sleep(gap).await;
        assert!(!hasher.is_busy());
        assert_eq!(hasher.run(|| Ok(5)).await?, 5);
        assert!(matches!(hasher.run(|| Ok(6)).await, Err(HashError::Busy)), "and then the next waits again");
        Ok(())
    }

    #[test]
    fn only_a_flood_on_a_busy_machine_is_paced() {
        let (ms, gap) = (Duration::from_millis, Duration::from_secs(5));
        let (busy, idle) = (|| 0.9, || 0.2);
        let flood = Some(ms(100));
        // A flood on a busy machine: refused until the gap since the last turn.
        assert!(paced_out(flood, busy, Some(ms(10)), gap));
        assert!(paced_out(flood, busy, Some(ms(4_999)), gap));
        assert!(!paced_out(flood, busy, Some(gap), gap));
        assert!(!paced_out(flood, busy, None, gap), "the first turn");
        // No flood, or a flood over, or a machine at rest: never.
        assert!(!paced_out(None, busy, Some(ms(10)), gap));
        assert!(!paced_out(Some(FLOOD_MEMORY), busy, Some(ms(10)), gap));
        assert!(!paced_out(flood, idle, Some(ms(10)), gap));
    }

    #[test]
    fn cpu_times_count_niced_work_as_nobody_elses() {
        let boot = CpuTimes::parse("cpu  100 900 50 1000 10 5 5 30 0 0\ncpu0 50 450 25 500 5 2 3 15 0 0\n");
        assert_eq!(boot, Some(CpuTimes { others: 190, total: 2100 }));
        // 100 ticks later: 60 busy with others, 30 niced (hashing), 10 idle.
        let later = CpuTimes { others: 250, total: 2200 };
        assert_eq!(boot.map(|boot| boot.busy_share_until(&later)), Some(0.6));
        assert_eq!(CpuTimes::parse("intr 1 2 3"), None);
        assert_eq!(later.busy_share_until(&later), 0.0);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_machine_load_reads_spinning_threads_as_busy() {
        let load = MachineLoad::new();
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        let until = Instant::now() + BUSY_WINDOW * 3;
        let spinners: Vec<_> = (0..cores)
            .map(|_| {
                std::thread::spawn(move || {
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        for spinner in spinners {
            let _ = spinner.join();
        }
        assert!(load.busy_share() > BUSY_SHARE, "every core spun");
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
