//! How a flow rests in either state store: one MessagePack value
//! (self-describing, so the tagged status round-trips; about a third of the
//! JSON size and cheaper to decode) without the device-code hash, which is
//! always the key it rests under.

use gatehouse_core::StoreError;
use gatehouse_core::flow::DeviceFlow;

/// The flow as stored, with an empty `device_code_hash`.
pub(super) fn encode(mut flow: DeviceFlow) -> Result<Vec<u8>, StoreError> {
    flow.device_code_hash = String::new();
    rmp_serde::to_vec(&flow).map_err(StoreError::from_err)
}

/// The flow stored under `hash` (lowercase hex, as `device_code_hash` holds it).
pub(super) fn decode(hash: String, blob: &[u8]) -> Result<DeviceFlow, StoreError> {
    let mut flow: DeviceFlow = rmp_serde::from_slice(blob).map_err(StoreError::from_err)?;
    flow.device_code_hash = hash;
    Ok(flow)
}
