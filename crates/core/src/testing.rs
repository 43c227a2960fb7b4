//! Fixtures for tests of this crate and of the adapters (feature `testing`).

use crate::flow::{DeviceFlow, FlowStatus};
use crate::formats::user_code::UserCode;
use chrono::{DateTime, Duration, Utc};

/// A pending flow of client `cli` created at `now`, expiring 600 s later.
/// Panics on a malformed `user_code`: it is a test fixture.
pub fn pending_flow(device_code_hash: &str, user_code: &str, now: DateTime<Utc>) -> DeviceFlow {
    DeviceFlow {
        device_code_hash: device_code_hash.to_owned(),
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
    }
}
