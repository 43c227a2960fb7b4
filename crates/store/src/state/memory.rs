//! The in-process flow store: one mutex around compact maps. Every operation
//! runs entirely under the lock, which is never held across an await.
//!
//! Flows rest compactly, because an embedded server may hold hundreds of
//! thousands of pending ones: keys are the raw 32-byte device-code hash and
//! the 8-byte user code, and each flow is one blob (`flow_blob`). A change
//! decodes the blob, applies the pure rule and encodes the result, all under
//! the lock, so atomicity is as before.

use super::flow_blob;
use super::rate_limits::MemoryRateLimiter;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::UserCode;
use gatehouse_core::flow::{DeviceFlow, FlowChange, FlowKey, Transition};
use gatehouse_core::ports::{DeviceFlowStore, Inserted, RateLimiter};
use gatehouse_core::rate_limit::{RateCheck, RateMode};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// SHA-256 of a device code, raw.
type HashKey = [u8; 32];
/// A user code's eight canonical characters.
type CodeKey = [u8; 8];

/// One flow at rest.
struct StoredFlow {
    /// When the flow may be dropped (expiry plus the tombstone), epoch ms.
    retain_until: i64,
    /// The flow as `flow_blob` stores it.
    blob: Box<[u8]>,
}

#[derive(Default)]
struct Flows {
    by_device_code: HashMap<HashKey, StoredFlow>,
    by_user_code: HashMap<CodeKey, HashKey>,
    /// Hashes in insertion order. Retention is creation time plus a fixed
    /// period, so this is also (nearly) retention order and the sweep only
    /// looks at the front; it stops at the first flow still retained.
    inserted: VecDeque<HashKey>,
}

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

impl Flows {
    fn remove(&mut self, key: &HashKey) {
        if let Some(stored) = self.by_device_code.remove(key) {
            // The blob's user code is needed to drop the index entry.
            if let Ok(flow) = decode(key, &stored.blob)
                && let Some(code) = code_key(&flow.user_code)
                && self.by_user_code.get(&code) == Some(key)
            {
                self.by_user_code.remove(&code);
            }
        }
    }

    /// The retained flow under `key`, dropping it if its retention ended.
    fn live(&mut self, key: &HashKey, now: DateTime<Utc>) -> Option<&mut StoredFlow> {
        if self.by_device_code.get(key).is_some_and(|stored| stored.retain_until <= now.timestamp_millis()) {
            self.remove(key);
        }
        self.by_device_code.get_mut(key)
    }

    /// Drops flows from the front of the insertion order whose retention ended.
    fn sweep(&mut self, now: DateTime<Utc>) {
        let now = now.timestamp_millis();
        while let Some(key) = self.inserted.front() {
            match self.by_device_code.get(key) {
                Some(stored) if stored.retain_until > now => break,
                Some(_) => {
                    let key = *key;
                    self.remove(&key);
                }
                // Already dropped on access.
                None => {}
            }
            self.inserted.pop_front();
        }
    }

    fn resolve(&self, key: &FlowKey) -> Option<HashKey> {
        match key {
            FlowKey::DeviceCodeHash(hash) => hash_key(hash),
            FlowKey::UserCode(code) => self.by_user_code.get(&code_key(code)?).copied(),
        }
    }
}

/// Device flows held in this process.
#[derive(Default)]
pub struct MemoryFlowStore {
    flows: Mutex<Flows>,
    /// The limits an insert spends: the embedded default's one limiter.
    limiter: Arc<MemoryRateLimiter>,
}

/// The flows of a graceful shutdown, as written to the data directory.
#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    version: u32,
    /// (device-code hash, retain until (epoch ms), `flow_blob`), oldest first.
    flows: Vec<(HashKey, i64, Vec<u8>)>,
}

const SNAPSHOT_VERSION: u32 = 1;

impl MemoryFlowStore {
    /// A store whose inserts spend their limits from `limiter`.
    pub fn new(limiter: Arc<MemoryRateLimiter>) -> Self {
        Self { flows: Mutex::default(), limiter }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Flows> {
        // A panic while holding the lock cannot leave a half-applied change
        // (each change is one assignment), so a poisoned lock is still sound.
        self.flows.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes every flow still retained at `now` to `path` (mode 0600,
    /// through a temporary file and a rename, so a crash mid-write leaves no
    /// half file). Returns how many were written.
    pub fn save_snapshot(&self, path: &Path, now: DateTime<Utc>) -> std::io::Result<usize> {
        let snapshot = {
            let mut flows = self.lock();
            flows.sweep(now);
            let now = now.timestamp_millis();
            let mut saved: Vec<(HashKey, i64, Vec<u8>)> = flows
                .by_device_code
                .iter()
                .filter(|(_, stored)| stored.retain_until > now)
                .map(|(key, stored)| (*key, stored.retain_until, stored.blob.to_vec()))
                .collect();
            saved.sort_by_key(|(_, retain_until, _)| *retain_until);
            Snapshot { version: SNAPSHOT_VERSION, flows: saved }
        };
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
        let mut flows = self.lock();
        let mut restored = 0;
        for (key, retain_until, blob) in snapshot.flows {
            if retain_until <= now || flows.by_device_code.contains_key(&key) {
                continue;
            }
            let flow = decode(&key, &blob).map_err(|e| std::io::Error::other(e.0))?;
            let Some(code) = code_key(&flow.user_code) else { continue };
            flows.by_user_code.insert(code, key);
            flows.inserted.push_back(key);
            flows.by_device_code.insert(key, StoredFlow { retain_until, blob: blob.into_boxed_slice() });
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
            .ok_or_else(|| StoreError("a device code hash must be 64 hex digits".into()))?;
        let code = code_key(&flow.user_code).ok_or_else(|| StoreError("malformed user code".into()))?;
        let blob = encode(flow.clone())?;
        let now = flow.created_at;
        // In process, spending first and inserting after is as good as one
        // step: a user code taken keeps the units spent, as the port says.
        if let Some(limited) = self.limiter.check(limits, RateMode::Take, now).await? {
            return Ok(Inserted::Limited(limited));
        }
        let mut flows = self.lock();
        flows.sweep(now);
        if let Some(existing) = flows.by_user_code.get(&code).copied()
            && flows.live(&existing, now).is_some()
        {
            return Ok(Inserted::UserCodeTaken);
        }
        flows.by_user_code.insert(code, key);
        flows.inserted.push_back(key);
        flows.by_device_code.insert(key, StoredFlow { retain_until: retain_until.timestamp_millis(), blob });
        Ok(Inserted::Stored)
    }

    async fn find_by_user_code(&self, code: &UserCode, now: DateTime<Utc>) -> Result<Option<DeviceFlow>, StoreError> {
        let mut flows = self.lock();
        let Some(key) = flows.resolve(&FlowKey::UserCode(code.clone())) else {
            return Ok(None);
        };
        flows.live(&key, now).map(|stored| decode(&key, &stored.blob)).transpose()
    }

    async fn apply(
        &self,
        key: &FlowKey,
        change: &FlowChange,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceFlow, Transition)>, StoreError> {
        let mut flows = self.lock();
        let Some(hash) = flows.resolve(key) else {
            return Ok(None);
        };
        let Some(stored) = flows.live(&hash, now) else {
            return Ok(None);
        };
        let before = decode(&hash, &stored.blob)?;
        let transition = before.apply(change, now);
        if let Some(next) = &transition.next {
            stored.blob = encode(next.clone())?;
        }
        Ok(Some((before, transition)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use gatehouse_core::testing::{hash_of, pending_flow as flow};

    #[tokio::test]
    async fn inserts_sweep_out_flows_past_retention() {
        let store = MemoryFlowStore::default();
        let t0 = Utc::now();
        assert!(store.insert(&flow("a", "BCDF-GHJK", t0), t0 + Duration::seconds(10)).await.expect("insert"));
        assert!(store.insert(&flow("b", "CDFG-HJKL", t0), t0 + Duration::seconds(100)).await.expect("insert"));
        let later = t0 + Duration::seconds(20);
        assert!(store.insert(&flow("c", "DFGH-JKLM", later), later + Duration::seconds(10)).await.expect("insert"));
        let flows = store.lock();
        assert_eq!(flows.by_device_code.len(), 2, "a was swept");
        assert_eq!(flows.by_user_code.len(), 2);
        assert_eq!(flows.inserted.len(), 2);
        assert!(!flows.by_device_code.contains_key(&hash_key(&hash_of("a")).expect("hex")));
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
