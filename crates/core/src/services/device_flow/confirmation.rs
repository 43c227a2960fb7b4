//! Confirm on the device (RFC 10027 "request initiation verification"):
//! for a client that requires it, the approving browser shows six digits,
//! and only a poll that sends them back redeems the approval. A phisher
//! holding the device never sees the browser, so an approval alone no
//! longer releases a token. The digits are derived from the flow with the
//! server secret, stored nowhere, and never logged or audited.

use super::{DeviceFlowService, FlowError, oauth};
use crate::actor::Actor;
use crate::approval_policy::{Proximity, Refusal};
use crate::error::{OAuthError, OAuthErrorCode};
use crate::flow::{Confirmation, DeviceFlow};
use crate::ports::{AuditEvent, AuditKind, Derivation};
use crate::secret::SecretString;
use chrono::{DateTime, Utc};

impl DeviceFlowService {
    /// The code an approving browser shows for the flow whose device code
    /// hashes to `device_code_hash`: six digits, derived with the server
    /// secret, so it is stored nowhere and the device alone cannot know it.
    pub(crate) fn confirmation_code_for(&self, device_code_hash: &str) -> String {
        let derived = self.ports.signer.derive(Derivation::ConfirmationCode, device_code_hash.as_bytes());
        let mut first = [0u8; 8];
        for (slot, byte) in first.iter_mut().zip(derived.iter()) {
            *slot = *byte;
        }
        format!("{:06}", u64::from_be_bytes(first) % 1_000_000)
    }

    /// The confirmation code of `flow`, for the approving person's page.
    pub fn confirmation_code(&self, flow: &DeviceFlow) -> String {
        self.confirmation_code_for(&flow.device_code_hash)
    }

    /// What the device sent as its confirmation, checked in constant time
    /// (spaces and dashes between digits are ignored).
    pub(super) fn check_confirmation(&self, device_code_hash: &str, sent: Option<&str>) -> Confirmation {
        let Some(sent) = sent.map(|s| s.chars().filter(|c| !matches!(c, ' ' | '-')).collect::<String>()) else {
            return Confirmation::NotSent;
        };
        if sent.is_empty() {
            return Confirmation::NotSent;
        }
        let expected = SecretString::new(self.confirmation_code_for(device_code_hash));
        if expected.constant_time_eq(&sent) { Confirmation::Right } else { Confirmation::Wrong }
    }

    /// Audits a flow denied by its device's wrong confirmation codes (never
    /// the codes themselves).
    pub(super) async fn confirmation_failed(
        &self,
        flow: &DeviceFlow,
        ip: Option<String>,
        now: DateTime<Utc>,
    ) -> FlowError {
        crate::metrics::flow("confirmation_failed");
        let proximity = Proximity::of(
            flow.requester_address(),
            flow.status.decision().and_then(crate::flow::Decision::address),
            self.settings.rate_limits.ipv6_prefix,
        );
        crate::metrics::approval(proximity, Refusal::ConfirmationFailed.as_str());
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::DeviceConfirmationFailed,
                actor: Some(Actor::Client { client_id: flow.client_id.clone() }),
                subject: flow.status.decision().map(|d| d.subject.email.clone()),
                client_id: Some(flow.client_id.clone()),
                ip,
                details: serde_json::json!({ "flow": flow.public_id(), "device_label": flow.device_label }),
                at: now,
            })
            .await;
        oauth(OAuthErrorCode::AccessDenied, "too many wrong confirmation codes: the request is denied; start again")
    }
}

/// The answer while an approval waits for the device's confirmation: still
/// `authorization_pending`, so a stock client keeps polling, with the reason.
pub(super) fn awaited() -> FlowError {
    oauth(
        OAuthErrorCode::AuthorizationPending,
        "approved in the browser; waiting for the confirmation code shown there (send it as confirmation_code)",
    )
}

/// The answer to a wrong confirmation code: the approval waits for the
/// right one, `tries_left` more times.
pub(super) fn wrong(tries_left: u8) -> FlowError {
    let tries = if tries_left == 1 { "try" } else { "tries" };
    FlowError::OAuth(OAuthError {
        code: OAuthErrorCode::ConfirmationFailed,
        description: format!("that is not the code shown in the browser; {tries_left} {tries} left").into(),
        interval: None,
    })
}
