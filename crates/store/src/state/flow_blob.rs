//! How a flow rests in either state store: a version byte, then one
//! MessagePack value (self-describing, so the tagged status round-trips;
//! about a third of the JSON size and cheaper to decode) without the
//! device-code hash, which is always the key it rests under.
//!
//! The version lets instances of two releases share Redis during a rolling
//! upgrade. A blob of a version this instance does not know (written by a
//! newer release) is never rewritten or deleted here: reading it is a
//! storage fault, answered `503` with `Retry-After`, and the client's retry
//! reaches an instance that knows it. Blobs from before versions existed
//! start with a MessagePack array or map marker and are read as version 1.

use gatehouse_core::StoreError;
use gatehouse_core::flow::DeviceFlow;

/// The version this release writes: 2 added the approval policy, the code's
/// holders and the confirmation failures (a release that knows only 1
/// would drop them on rewrite, so it must not read a 2).
pub(super) const VERSION: u8 = 2;

/// The flow as stored, with an empty `device_code_hash`.
pub(super) fn encode(mut flow: DeviceFlow) -> Result<Vec<u8>, StoreError> {
    flow.device_code_hash = String::new();
    let mut blob = vec![VERSION];
    rmp_serde::encode::write(&mut blob, &flow).map_err(StoreError::from_err)?;
    Ok(blob)
}

/// The flow stored under `hash` (lowercase hex, as `device_code_hash` holds it).
pub(super) fn decode(hash: String, blob: &[u8]) -> Result<DeviceFlow, StoreError> {
    let value = match blob.split_first() {
        // A version 1 blob lacks the fields 2 added; they read as defaults.
        Some((&(1 | VERSION), rest)) => rest,
        // Unversioned (before versions): a fixarray, fixmap, array or map.
        Some((0x80..=0x9f | 0xdc..=0xdf, _)) => blob,
        Some((&version, _)) => {
            return Err(StoreError::new(format!(
                "a flow stored in version {version}, which this release does not know (it writes {VERSION}): \
                 written by a newer Gatehouse; left as it is"
            )));
        }
        None => return Err(StoreError::new("an empty flow value")),
    };
    let mut flow: DeviceFlow = rmp_serde::from_slice(value).map_err(StoreError::from_err)?;
    flow.device_code_hash = hash;
    Ok(flow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_core::testing::pending_flow;

    #[test]
    fn versioned_and_unversioned_blobs_read_and_unknown_versions_are_refused() {
        let flow = pending_flow("a", "BCDF-GHJK", chrono::DateTime::UNIX_EPOCH);
        let blob = encode(flow.clone()).expect("encode");
        assert_eq!(blob.first(), Some(&VERSION));
        assert_eq!(decode(flow.device_code_hash.clone(), &blob).expect("decode"), flow);
        // As releases before versions wrote it.
        let mut bare = flow.clone();
        bare.device_code_hash = String::new();
        let legacy = rmp_serde::to_vec(&bare).expect("encode");
        assert_eq!(decode(flow.device_code_hash.clone(), &legacy).expect("decode"), flow);
        // A newer release's blob is not guessed at.
        let mut newer = blob.clone();
        newer[0] = VERSION + 1;
        let err = decode(flow.device_code_hash.clone(), &newer).expect_err("unknown version");
        assert!(err.to_string().contains(&format!("version {}", VERSION + 1)), "{err}");
        assert!(decode(String::new(), &[]).is_err());
    }

    /// A version 1 blob (an older release's, during a rolling upgrade) has
    /// none of the fields version 2 added: they read as their defaults.
    #[test]
    fn a_version_1_blob_reads_with_the_new_fields_defaulted() {
        let mut flow = pending_flow("a", "BCDF-GHJK", chrono::DateTime::UNIX_EPOCH);
        flow.policy = Default::default();
        let mut bare = flow.clone();
        bare.device_code_hash = String::new();
        let fields: serde_json::Value =
            rmp_serde::from_slice(&rmp_serde::to_vec(&bare).expect("encode")).expect("value");
        let mut fields = fields.as_array().cloned().expect("a flow is an array");
        fields.truncate(14); // through `dpop_jkt`, the last field of version 1
        let mut blob = vec![1];
        blob.extend(rmp_serde::to_vec(&fields).expect("encode"));
        assert_eq!(decode(flow.device_code_hash.clone(), &blob).expect("decode"), flow);
    }
}
