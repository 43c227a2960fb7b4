//! The in-process flow store: compact maps split into shards, each behind
//! its own mutex. Every operation runs entirely under its locks, which are
//! never held across an await.
//!
//! Flows rest compactly, because an embedded server may hold hundreds of
//! thousands of pending ones: keys are the raw 32-byte device-code hash and
//! the 8-byte user code, and each flow is one blob (`flow_blob`). A change
//! decodes the blob, applies the pure rule and encodes the result, all under
//! the flow's lock, so atomicity is as with one lock.
//!
//! Why shards: a hash map doubles when it fills, copying every entry into
//! memory it has never touched, and the host of a virtual machine backs
//! such memory page by page, so with one map every request waited out each
//! doubling (measured in `docs/benchmarks.md`). A shard holds a
//! sixty-fourth of the flows, so its doubling is that much shorter, and it
//! stops only the requests for that shard.
//!
//! Two indexes, two kinds of shard: flows by device-code hash (the device's
//! poll), and the user-code index (the person's page). A thread holds at
//! most one of each, and always takes the code shard first, so they cannot
//! deadlock. A flow dropped under its flow shard (retention ended) leaves
//! its index entry to be dropped after that lock is released (`forget`);
//! until then the entry points at nothing, which reads as "no such code".

use super::flow_blob;
use super::rate_limits::MemoryRateLimiter;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::UserCode;
use gatehouse_core::flow::{DeviceFlow, FlowChange, FlowKey, Transition};
use gatehouse_core::ports::{DeviceFlowStore, Inserted, RateLimiter};
use gatehouse_core::rate_limit::{RateCheck, RateMode};
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// SHA-256 of a device code, raw.
type HashKey = [u8; 32];
/// A user code's eight canonical characters.
type CodeKey = [u8; 8];

/// How many shards each index has. At 700,000 flows a shard's doubling
/// copies about 1 MB.
const SHARDS: usize = 64;

/// One flow at rest.
struct StoredFlow {
    /// When the flow may be dropped (expiry plus the tombstone), epoch ms.
    retain_until: i64,
    /// Its user code, to drop the index entry without decoding the blob.
    user_code: CodeKey,
    /// The flow as `flow_blob` stores it.
    blob: Box<[u8]>,
}

/// The user-code index entries of flows that were dropped, to be dropped
/// themselves once no flow shard is held (the lock order forbids taking a
/// code shard after a flow shard).
type Dropped = Vec<(CodeKey, HashKey)>;

#[derive(Default)]
struct FlowShard {
    by_device_code: HashMap<HashKey, StoredFlow>,
    /// When an insert next sweeps this shard, epoch ms.
    next_sweep: i64,
}

/// How often an insert sweeps its shard. A sweep walks the whole shard (a
/// sixty-fourth of the flows; about 11,000 at 700,000 flows), which costs
/// less than keeping every flow in an insertion-order queue as well.
const SWEEP_EVERY_MS: i64 = 1_000;

/// One shard of the user-code index.
type CodeShard = HashMap<CodeKey, HashKey>;

fn hash_key(hash: &str) -> Option<HashKey> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(hash, &mut key).ok()?;
    Some(key)
}

fn code_key(code: &UserCode) -> Option<CodeKey> {
    code.as_str().as_bytes().try_into().ok()
}

fn encode(flow: DeviceFlow) -> Result<Box<[u8]>, StoreError> {
    Ok(flow_blob::encode(flow)?.into_boxed_slice())
}

fn decode(key: &HashKey, blob: &[u8]) -> Result<DeviceFlow, StoreError> {
    flow_blob::decode(hex::encode(key), blob)
}

impl FlowShard {
    fn remove(&mut self, key: &HashKey, dropped: &mut Dropped) {
        if let Some(stored) = self.by_device_code.remove(key) {
            dropped.push((stored.user_code, *key));
        }
    }

    /// The retained flow under `key`, dropping it if its retention ended.
    fn live(&mut self, key: &HashKey, now: DateTime<Utc>, dropped: &mut Dropped) -> Option<&mut StoredFlow> {
        if self.by_device_code.get(key).is_some_and(|stored| stored.retain_until <= now.timestamp_millis()) {
            self.remove(key, dropped);
        }
        self.by_device_code.get_mut(key)
    }

    /// Drops every flow whose retention ended, at most once a second.
    fn sweep(&mut self, now: DateTime<Utc>, dropped: &mut Dropped) {
        let now = now.timestamp_millis();
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + SWEEP_EVERY_MS;
        self.by_device_code.retain(|key, stored| {
            let keep = stored.retain_until > now;
            if !keep {
                dropped.push((stored.user_code, *key));
            }
            keep
        });
    }
}

/// Device flows held in this process.
pub struct MemoryFlowStore {
    flow_shards: Box<[Mutex<FlowShard>]>,
    code_shards: Box<[Mutex<CodeShard>]>,
    /// Picks a key's shard. Keyed at random, like the maps' own hashing.
    shard_of: RandomState,
    /// The limits an insert spends: the embedded default's one limiter.
    limiter: Arc<MemoryRateLimiter>,
}

impl Default for MemoryFlowStore {
    fn default() -> Self {
        Self::new(Arc::default())
    }
}

/// The flows of a graceful shutdown, as written to the data directory.
#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    version: u32,
    /// (device-code hash, retain until (epoch ms), `flow_blob`), oldest first.
    flows: Vec<(HashKey, i64, Vec<u8>)>,
}

const SNAPSHOT_VERSION: u32 = 1;

/// Locks a shard. A panic while holding it cannot leave a half-applied
/// change (each change is one assignment), so a poisoned lock is still sound.
fn lock<T>(shard: &Mutex<T>) -> MutexGuard<'_, T> {
    shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemoryFlowStore {
    /// A store whose inserts spend their limits from `limiter`.
    pub fn new(limiter: Arc<MemoryRateLimiter>) -> Self {
        Self::with_shards(SHARDS, limiter)
    }

    fn with_shards(shards: usize, limiter: Arc<MemoryRateLimiter>) -> Self {
        Self {
            flow_shards: (0..shards).map(|_| Mutex::default()).collect(),
            code_shards: (0..shards).map(|_| Mutex::default()).collect(),
            shard_of: RandomState::new(),
            limiter,
        }
    }

    fn index<K: Hash>(&self, key: &K, shards: usize) -> usize {
        // The modulo's bias is below 2^-57 for any shard count used here.
        (self.shard_of.hash_one(key) % shards as u64) as usize
    }

    fn flow_shard(&self, key: &HashKey) -> MutexGuard<'_, FlowShard> {
        lock(&self.flow_shards[self.index(key, self.flow_shards.len())])
    }

    fn code_shard(&self, code: &CodeKey) -> MutexGuard<'_, CodeShard> {
        lock(&self.code_shards[self.index(code, self.code_shards.len())])
    }

    /// Drops the index entries of dropped flows, unless the code has been
    /// given to a newer flow meanwhile. Called with no shard held.
    fn forget(&self, dropped: Dropped) {
        for (code, key) in dropped {
            let mut codes = self.code_shard(&code);
            if codes.get(&code) == Some(&key) {
                codes.remove(&code);
            }
        }
    }

    /// Runs `access` on the retained flow `key` names, if any. A user code
    /// is resolved under its code shard, held until `access` is done, so the
    /// code cannot move to another flow in between.
    fn with_live<T>(
        &self,
        key: &FlowKey,
        now: DateTime<Utc>,
        access: impl FnOnce(&HashKey, &mut StoredFlow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut dropped = Dropped::new();
        let in_flow_shard =
            |hash: &HashKey| self.flow_shard(hash).live(hash, now, &mut dropped).map(|stored| access(hash, stored));
        let found = match key {
            FlowKey::DeviceCodeHash(hash) => hash_key(hash).and_then(|hash| in_flow_shard(&hash)),
            FlowKey::UserCode(code) => code_key(code).and_then(|code| {
                let codes = self.code_shard(&code);
                codes.get(&code).and_then(in_flow_shard)
            }),
        };
        self.forget(dropped);
        found.transpose()
    }

    /// Writes every flow still retained at `now` to `path` (mode 0600,
    /// through a temporary file and a rename, so a crash mid-write leaves no
    /// half file). Returns how many were written.
    pub fn save_snapshot(&self, path: &Path, now: DateTime<Utc>) -> std::io::Result<usize> {
        let mut saved: Vec<(HashKey, i64, Vec<u8>)> = Vec::new();
        let mut dropped = Dropped::new();
        let now_ms = now.timestamp_millis();
        for shard in &self.flow_shards {
            let mut shard = lock(shard);
            shard.sweep(now, &mut dropped);
            saved.extend(
                shard
                    .by_device_code
                    .iter()
                    .filter(|(_, stored)| stored.retain_until > now_ms)
                    .map(|(key, stored)| (*key, stored.retain_until, stored.blob.to_vec())),
            );
        }
        self.forget(dropped);
        saved.sort_by_key(|(_, retain_until, _)| *retain_until);
        let snapshot = Snapshot { version: SNAPSHOT_VERSION, flows: saved };
        let bytes = rmp_serde::to_vec(&snapshot).map_err(std::io::Error::other)?;
        let partial = path.with_extension("partial");
        crate::files::write_private(&partial, &bytes)?;
        std::fs::rename(&partial, path)?;
        Ok(snapshot.flows.len())
    }

    /// Takes back the flows a graceful shutdown saved at `path`, dropping
    /// those whose retention ended meanwhile, and removes the file: it is
    /// read exactly once, so a later crash cannot bring back flows that
    /// have moved on since (an approval redeemed twice). Returns how many
    /// were restored; none when there is no file.
    pub fn restore_snapshot(&self, path: &Path, now: DateTime<Utc>) -> std::io::Result<usize> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(err) => return Err(err),
        };
        std::fs::remove_file(path)?;
        let snapshot: Snapshot = rmp_serde::from_slice(&bytes).map_err(std::io::Error::other)?;
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(std::io::Error::other(format!("unknown flow snapshot version {}", snapshot.version)));
        }
        let now = now.timestamp_millis();
        let mut restored = 0;
        for (key, retain_until, blob) in snapshot.flows {
            if retain_until <= now {
                continue;
            }
            let flow = decode(&key, &blob).map_err(std::io::Error::other)?;
            let Some(code) = code_key(&flow.user_code) else { continue };
            let mut codes = self.code_shard(&code);
            let mut shard = self.flow_shard(&key);
            if shard.by_device_code.contains_key(&key) {
                continue;
            }
            codes.insert(code, key);
            shard
                .by_device_code
                .insert(key, StoredFlow { retain_until, user_code: code, blob: blob.into_boxed_slice() });
            restored += 1;
        }
        Ok(restored)
    }
}

#[async_trait]
impl DeviceFlowStore for MemoryFlowStore {
    async fn insert_within(
        &self,
        flow: &DeviceFlow,
        retain_until: DateTime<Utc>,
        limits: &[RateCheck],
    ) -> Result<Inserted, StoreError> {
        let key = hash_key(&flow.device_code_hash)
            .ok_or_else(|| StoreError::new("a device code hash must be 64 hex digits"))?;
        let code = code_key(&flow.user_code).ok_or_else(|| StoreError::new("malformed user code"))?;
        let blob = encode(flow.clone())?;
        let now = flow.created_at;
        // In process, spending first and inserting after is as good as one
        // step: a user code taken keeps the units spent, as the port says.
        if let Some(limited) = self.limiter.check(limits, RateMode::Take, now).await? {
            return Ok(Inserted::Limited(limited));
        }
        let mut dropped = Dropped::new();
        let inserted = {
            // The code shard is held from the uniqueness check to the insert.
            let mut codes = self.code_shard(&code);
            let taken = match codes.get(&code) {
                Some(existing) => self.flow_shard(existing).live(existing, now, &mut dropped).is_some(),
                None => false,
            };
            if taken {
                Inserted::UserCodeTaken
            } else {
                codes.insert(code, key);
                let mut shard = self.flow_shard(&key);
                shard.sweep(now, &mut dropped);
                let stored = StoredFlow { retain_until: retain_until.timestamp_millis(), user_code: code, blob };
                shard.by_device_code.insert(key, stored);
                Inserted::Stored
            }
        };
        self.forget(dropped);
        Ok(inserted)
    }

    async fn find_by_user_code(&self, code: &UserCode, now: DateTime<Utc>) -> Result<Option<DeviceFlow>, StoreError> {
        self.with_live(&FlowKey::UserCode(code.clone()), now, |hash, stored| decode(hash, &stored.blob))
    }

    async fn apply(
        &self,
        key: &FlowKey,
        change: &FlowChange,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceFlow, Transition)>, StoreError> {
        self.with_live(key, now, |hash, stored| {
            let before = decode(hash, &stored.blob)?;
            let transition = before.apply(change, now);
            if let Some(next) = &transition.next {
                stored.blob = encode(next.clone())?;
            }
            Ok((before, transition))
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // each case starts from the real time
mod tests {
    use super::*;
    use chrono::Duration;
    use gatehouse_core::testing::{hash_of, pending_flow as flow};

    impl MemoryFlowStore {
        /// (flows, user-code index entries).
        fn counts(&self) -> (usize, usize) {
            let flows = self.flow_shards.iter().map(|shard| lock(shard).by_device_code.len()).sum();
            (flows, self.code_shards.iter().map(|shard| lock(shard).len()).sum())
        }
    }

    #[tokio::test]
    async fn inserts_sweep_out_flows_past_retention() {
        // One shard, so every insert sweeps the shard that holds a.
        let store = MemoryFlowStore::with_shards(1, Arc::default());
        let t0 = Utc::now();
        assert!(store.insert(&flow("a", "BCDF-GHJK", t0), t0 + Duration::seconds(10)).await.expect("insert"));
        assert!(store.insert(&flow("b", "CDFG-HJKL", t0), t0 + Duration::seconds(100)).await.expect("insert"));
        let later = t0 + Duration::seconds(20);
        assert!(store.insert(&flow("c", "DFGH-JKLM", later), later + Duration::seconds(10)).await.expect("insert"));
        assert_eq!(store.counts(), (2, 2), "a and its index entry were swept");
        let a = UserCode::normalize("BCDF-GHJK").expect("code");
        assert_eq!(store.find_by_user_code(&a, later).await.expect("find"), None);
    }

    #[tokio::test]
    async fn a_code_whose_flow_ended_goes_to_a_new_flow_across_shards() {
        let store = MemoryFlowStore::default();
        let t0 = Utc::now();
        assert!(store.insert(&flow("a", "BCDF-GHJK", t0), t0 + Duration::seconds(10)).await.expect("insert"));
        // Retained: the same code is refused, whichever shard the new flow is in.
        assert!(!store.insert(&flow("b", "BCDF-GHJK", t0), t0 + Duration::seconds(10)).await.expect("insert"));
        // Past a's retention, the code goes to c, and the ended flow is gone.
        let later = t0 + Duration::seconds(20);
        assert!(store.insert(&flow("c", "BCDF-GHJK", later), later + Duration::seconds(10)).await.expect("insert"));
        let code = UserCode::normalize("BCDF-GHJK").expect("code");
        let found = store.find_by_user_code(&code, later).await.expect("find").expect("c");
        assert_eq!(found.device_code_hash, hash_of("c"));
        assert_eq!(store.counts().1, 1, "one index entry");
        let a = FlowKey::DeviceCodeHash(hash_of("a"));
        assert!(store.apply(&a, &FlowChange::ReleaseClaim, later).await.expect("apply").is_none());
    }

    /// Eight tasks insert, find and change flows over a few user codes with
    /// short retention, so codes are refused, freed and given again across
    /// shards all the time. Nothing deadlocks, and afterwards every retained
    /// flow is what its user code finds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_inserts_and_expiries_keep_every_retained_flow_findable() {
        let store = Arc::new(MemoryFlowStore::with_shards(4, Arc::default()));
        let codes: Arc<Vec<UserCode>> =
            Arc::new((0..12).map(|_| UserCode::generate(&crate::crypto::OsRandom)).collect());
        let t0 = Utc::now();
        let tasks = (0..8).map(|task| {
            let (store, codes) = (store.clone(), codes.clone());
            tokio::spawn(async move {
                for step in 0..400_usize {
                    let now = t0 + Duration::milliseconds(step as i64);
                    let code = &codes[(task * 7 + step) % codes.len()];
                    let mut f = flow(&format!("{task}-{step}"), "BCDF-GHJK", now);
                    f.user_code = code.clone();
                    store.insert(&f, now + Duration::milliseconds(30)).await.expect("insert");
                    store.find_by_user_code(code, now).await.expect("find");
                    let key = FlowKey::UserCode(code.clone());
                    store.apply(&key, &FlowChange::ReleaseClaim, now).await.expect("apply");
                }
            })
        });
        for joined in futures::future::join_all(tasks).await {
            joined.expect("task");
        }
        let end = (t0 + Duration::milliseconds(399)).timestamp_millis();
        let retained: Vec<(HashKey, CodeKey)> = (store.flow_shards.iter())
            .flat_map(|shard| {
                let shard = lock(shard);
                (shard.by_device_code.iter())
                    .filter(|(_, stored)| stored.retain_until > end)
                    .map(|(key, stored)| (*key, stored.user_code))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(!retained.is_empty(), "the last steps' flows are still retained");
        for (key, code) in retained {
            assert_eq!(store.code_shard(&code).get(&code), Some(&key));
        }
    }

    #[test]
    fn a_flow_survives_the_compact_form_whole() {
        // Expiry and poll times rest to the millisecond, as in Redis.
        let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now");
        let mut f = flow("a", "BCDF-GHJK", now);
        f.requester_user_agent = Some("curl/8.5.0".into());
        let key = hash_key(&f.device_code_hash).expect("hex");
        let blob = encode(f.clone()).expect("encode");
        assert_eq!(decode(&key, &blob).expect("decode"), f);
        assert!(blob.len() < 200, "{} bytes", blob.len());
    }

    #[tokio::test]
    async fn a_snapshot_restores_retained_flows_once() {
        let store = MemoryFlowStore::default();
        let t0 = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now");
        let mut approved = flow("a", "BCDF-GHJK", t0);
        approved.requester_user_agent = Some("curl/8.5.0".into());
        assert!(store.insert(&approved, t0 + Duration::seconds(100)).await.expect("insert"));
        assert!(store.insert(&flow("b", "CDFG-HJKL", t0), t0 + Duration::seconds(10)).await.expect("insert"));
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("flows.snapshot");
        assert_eq!(store.save_snapshot(&path, t0).expect("save"), 2);

        // Restored 20 s later: b's retention has ended meanwhile.
        let later = t0 + Duration::seconds(20);
        let restored = MemoryFlowStore::default();
        assert_eq!(restored.restore_snapshot(&path, later).expect("restore"), 1);
        let code = UserCode::normalize("BCDF-GHJK").expect("code");
        assert_eq!(restored.find_by_user_code(&code, later).await.expect("find"), Some(approved));
        let gone = UserCode::normalize("CDFG-HJKL").expect("code");
        assert_eq!(restored.find_by_user_code(&gone, later).await.expect("find"), None);
        // Read once: the file is gone, so a second start restores nothing.
        assert!(!path.exists());
        assert_eq!(MemoryFlowStore::default().restore_snapshot(&path, later).expect("restore"), 0);
    }

    #[tokio::test]
    async fn malformed_hashes_find_nothing() {
        let store = MemoryFlowStore::default();
        let key = FlowKey::DeviceCodeHash("not hex".into());
        assert!(store.apply(&key, &FlowChange::ReleaseClaim, Utc::now()).await.expect("apply").is_none());
    }
}
