//! The in-process flow store: one mutex around two maps. Every operation
//! runs entirely under the lock, which is never held across an await.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::UserCode;
use gatehouse_core::flow::{DeviceFlow, FlowChange, FlowKey, Transition};
use gatehouse_core::ports::DeviceFlowStore;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Flows {
    /// Boxed, so growing the map moves pointers rather than whole flows.
    by_device_code: HashMap<Arc<str>, Box<(DeviceFlow, DateTime<Utc>)>>,
    by_user_code: HashMap<String, Arc<str>>,
    /// Every retained flow by when it may be dropped, so sweeping costs only
    /// what has expired instead of a scan of every flow under the lock.
    retention: BTreeSet<(DateTime<Utc>, Arc<str>)>,
}

impl Flows {
    fn remove(&mut self, device_code_hash: &str) {
        if let Some(entry) = self.by_device_code.remove(device_code_hash) {
            let (flow, until) = *entry;
            self.by_user_code.remove(flow.user_code.as_str());
            self.retention.remove(&(until, Arc::from(device_code_hash)));
        }
    }

    /// The retained flow under `hash`, dropping it if its retention ended.
    fn live(&mut self, hash: &str, now: DateTime<Utc>) -> Option<&mut DeviceFlow> {
        let expired = self.by_device_code.get(hash).is_some_and(|entry| entry.1 <= now);
        if expired {
            self.remove(hash);
        }
        self.by_device_code.get_mut(hash).map(|entry| &mut entry.0)
    }

    /// Drops every flow whose retention ended by `now`.
    fn sweep(&mut self, now: DateTime<Utc>) {
        while let Some((until, hash)) = self.retention.first().cloned() {
            if until > now {
                break;
            }
            self.remove(&hash);
        }
    }
}

/// Device flows held in this process.
#[derive(Default)]
pub struct MemoryFlowStore {
    flows: Mutex<Flows>,
}

impl MemoryFlowStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Flows> {
        // A panic while holding the lock cannot leave a half-applied change
        // (each change is one assignment), so a poisoned lock is still sound.
        self.flows.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl DeviceFlowStore for MemoryFlowStore {
    async fn insert(&self, flow: &DeviceFlow, retain_until: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut flows = self.lock();
        let now = flow.created_at;
        flows.sweep(now);
        if let Some(existing) = flows.by_user_code.get(flow.user_code.as_str()).cloned()
            && flows.live(&existing, now).is_some()
        {
            return Ok(false);
        }
        let hash: Arc<str> = Arc::from(flow.device_code_hash.as_str());
        flows.by_user_code.insert(flow.user_code.as_str().to_owned(), hash.clone());
        flows.retention.insert((retain_until, hash.clone()));
        flows.by_device_code.insert(hash, Box::new((flow.clone(), retain_until)));
        Ok(true)
    }

    async fn find_by_user_code(&self, code: &UserCode, now: DateTime<Utc>) -> Result<Option<DeviceFlow>, StoreError> {
        let mut flows = self.lock();
        let Some(hash) = flows.by_user_code.get(code.as_str()).cloned() else {
            return Ok(None);
        };
        Ok(flows.live(&hash, now).map(|flow| flow.clone()))
    }

    async fn apply(
        &self,
        key: &FlowKey,
        change: &FlowChange,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceFlow, Transition)>, StoreError> {
        let mut flows = self.lock();
        let hash = match key {
            FlowKey::DeviceCodeHash(hash) => Arc::from(hash.as_str()),
            FlowKey::UserCode(code) => match flows.by_user_code.get(code.as_str()) {
                Some(hash) => hash.clone(),
                None => return Ok(None),
            },
        };
        let Some(flow) = flows.live(&hash, now) else {
            return Ok(None);
        };
        let before = flow.clone();
        let transition = before.apply(change, now);
        if let Some(next) = &transition.next {
            *flow = next.clone();
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
    use gatehouse_core::testing::pending_flow as flow;

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
        assert_eq!(flows.retention.len(), 2);
        assert!(!flows.by_device_code.contains_key("a"));
    }
}
