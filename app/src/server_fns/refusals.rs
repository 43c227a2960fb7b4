//! A client's approval policy turning a person away (RFC 10027's
//! mitigations, docs/security.md), in plain words: what happened, the two
//! networks it compared, and what to do. The `/device` page, the SSO
//! approval page and the server functions' error answers all say it so.

use crate::error::AppErrorCode;
use serde::{Deserialize, Serialize};

/// A refusal as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalView {
    pub code: AppErrorCode,
    pub client_name: String,
    /// What happened, and what to do.
    pub explanation: String,
    /// The device's network and this browser's, when the refusal is about
    /// networks; "could not be determined" stands for an address Gatehouse
    /// could not establish.
    pub networks: Option<(String, String)>,
}

#[cfg(feature = "ssr")]
impl RefusalView {
    pub fn of(refused: &gatehouse_core::services::device_flow::PolicyRefusal) -> Self {
        use gatehouse_core::approval_policy::{ApproverNetwork, Approvers, Refusal};
        let client = &refused.client_name;
        let (code, explanation) = match refused.refusal {
            Refusal::NetworkNotAllowed => (
                AppErrorCode::NetworkNotAllowed,
                match refused.approver_network {
                    ApproverNetwork::Listed => format!(
                        "{client} accepts approvals only from your organisation's listed networks (such as the office or the VPN), and this browser is on another network. Nothing was approved. Approve from one of those networks, or deny it if you did not start this sign-in."
                    ),
                    _ => format!(
                        "Approve from the same network as the device: {client} accepts approvals only from the network the sign-in started on, and this browser is on another. Nothing was approved. Open this page on a computer or phone on the device's network (the same Wi-Fi or VPN), or deny it if you did not start this sign-in."
                    ),
                },
            ),
            Refusal::CodeTooOld => (
                AppErrorCode::CodeTooOld,
                format!(
                    "This code is too old. {client} codes must be entered within {} of being shown, so that codes passed around by email or chat stop working. Nothing was approved. Start the sign-in again on your device to get a new code.",
                    refused.max_code_age_secs.map_or_else(|| "a short time".to_owned(), seconds_in_words)
                ),
            ),
            Refusal::ApproverNotAllowed => (
                AppErrorCode::ApproverNotAllowed,
                format!(
                    "Your account may not approve sign-ins for {client}: it accepts approvals only from {}. Nothing was approved. Ask someone who may approve it, or deny it if you did not start this sign-in.",
                    match &refused.approvers {
                        Approvers::Admins => "Gatehouse administrators".to_owned(),
                        Approvers::Groups(_) => "members of certain groups at your sign-in provider".to_owned(),
                        Approvers::Everyone => "certain people".to_owned(),
                    }
                ),
            ),
            Refusal::PasskeyRequired => (
                AppErrorCode::PasskeyRequired,
                format!(
                    "{client} accepts approvals only from people who signed in with a passkey or through your organisation's sign-in service, and you signed in with a password. Nothing was approved. Use your passkey below to continue; if you have none yet, add one under Security in your settings first. Or deny it if you did not start this sign-in."
                ),
            ),
            Refusal::CodeShared | Refusal::ConfirmationFailed => (
                AppErrorCode::CodeShared,
                "Someone else had already entered this code, so Gatehouse stopped the sign-in: a code shown on a device is for one person. If someone sent you this code, it was probably an attempt to trick you into letting them in: nothing was approved for you. If you started this sign-in yourself, start it again on your device.".to_owned(),
            ),
        };
        let unknown = || "could not be determined".to_owned();
        let networks = (refused.refusal == Refusal::NetworkNotAllowed).then(|| {
            (
                refused.device_network.clone().unwrap_or_else(unknown),
                refused.your_network.clone().unwrap_or_else(unknown),
            )
        });
        Self { code, client_name: client.clone(), explanation, networks }
    }

    /// The refusal as a server function's error answer (403 with the named
    /// code), saying the same as the page.
    pub fn error(&self) -> crate::error::AppError {
        let mut description = self.explanation.clone();
        if let Some((device, yours)) = &self.networks {
            description.push_str(&format!(" The device's network: {device}. Your network: {yours}."));
        }
        crate::error::AppError { error: self.code, error_description: description, retry_after_ms: None }
    }
}

/// "2 minutes", "90 seconds": a short span in plain words.
#[cfg(feature = "ssr")]
pub(crate) fn seconds_in_words(secs: u32) -> String {
    match secs {
        secs if secs.is_multiple_of(60) && secs >= 60 => match secs / 60 {
            1 => "a minute".to_owned(),
            minutes => format!("{minutes} minutes"),
        },
        secs => format!("{secs} seconds"),
    }
}
