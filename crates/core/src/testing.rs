//! Fixtures for tests of this crate and of the adapters (feature `testing`).

use crate::flow::{DeviceFlow, FlowStatus};
use crate::formats::user_code::UserCode;
use crate::secret::sha256_hex;
use chrono::{DateTime, Duration, Utc};

/// The device-code hash a fixture named `name` gets (a real SHA-256 hex
/// digest, as stores expect).
pub fn hash_of(name: &str) -> String {
    sha256_hex(name)
}

/// A pending flow of client `cli` created at `now`, expiring 600 s later,
/// whose device-code hash is `hash_of(name)`. Panics on a malformed
/// `user_code`: it is a test fixture.
pub fn pending_flow(name: &str, user_code: &str, now: DateTime<Utc>) -> DeviceFlow {
    DeviceFlow {
        device_code_hash: hash_of(name),
        user_code: UserCode::normalize(user_code).unwrap_or_else(|| panic!("not a user code: {user_code}")),
        client_id: "cli".into(),
        client_name: "CLI".into(),
        scopes: vec!["full".into()],
        device_label: Some("laptop".into()),
        requester_ip: None,
        requester_user_agent: None,
        created_at: now,
        expires_at: now + Duration::seconds(600),
        interval_secs: 5,
        last_polled_at: None,
        status: FlowStatus::Pending,
        // Set, so the stores' conformance tests show it round-trips.
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
        // Not the default, so the stores show the policy round-trips too.
        policy: crate::approval_policy::ApprovalPolicy {
            device_networks: vec!["10.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"))],
            ..Default::default()
        },
        requester_ip_proven: false,
        holders: Default::default(),
        confirmation_failures: 0,
    }
}
