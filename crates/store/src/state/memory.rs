//! The in-process flow store: one mutex around two maps. Every operation
//! runs entirely under the lock, which is never held across an await.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use gatehouse_core::StoreError;
use gatehouse_core::UserCode;
use gatehouse_core::flow::{DeviceFlow, FlowChange, FlowKey, Transition};
use gatehouse_core::ports::DeviceFlowStore;
use std::collections::HashMap;
use std::sync::Mutex;

/// How often inserts sweep out flows past their retention.
const SWEEP_EVERY: Duration = Duration::seconds(30);

#[derive(Default)]
struct Flows {
    by_device_code: HashMap<String, (DeviceFlow, DateTime<Utc>)>,
    by_user_code: HashMap<String, String>,
    last_sweep: Option<DateTime<Utc>>,
}

impl Flows {
    fn remove(&mut self, device_code_hash: &str) {
        if let Some((flow, _)) = self.by_device_code.remove(device_code_hash) {
            self.by_user_code.remove(flow.user_code.as_str());
        }
    }

    /// The retained flow under `hash`, dropping it if its retention ended.
    fn live(&mut self, hash: &str, now: DateTime<Utc>) -> Option<&mut DeviceFlow> {
        let expired = self.by_device_code.get(hash).is_some_and(|(_, until)| *until <= now);
        if expired {
            self.remove(hash);
        }
        self.by_device_code.get_mut(hash).map(|(flow, _)| flow)
    }

    fn sweep(&mut self, now: DateTime<Utc>) {
        if self.last_sweep.is_some_and(|last| now - last < SWEEP_EVERY) {
            return;
        }
        self.last_sweep = Some(now);
        let gone: Vec<String> =
            self.by_device_code.iter().filter(|(_, (_, until))| *until <= now).map(|(h, _)| h.clone()).collect();
        for hash in gone {
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
        flows.by_user_code.insert(flow.user_code.as_str().to_owned(), flow.device_code_hash.clone());
        flows.by_device_code.insert(flow.device_code_hash.clone(), (flow.clone(), retain_until));
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
            FlowKey::DeviceCodeHash(hash) => hash.clone(),
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
