//! Who took a code up, for one person per code (RFC 10027 "detect and
//! remediate"): kits mail one code to many inboxes, so a second person
//! entering or deciding a code a first person already had ends its flow.

use super::Decision;
use crate::model::SubjectId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A person who entered a code at `/device`, or approved or denied it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeHolder {
    pub subject: SubjectId,
    pub email: String,
    /// The browser's id (a hash of it), when it had one: the same browser
    /// switching accounts is not a second person.
    pub browser: Option<String>,
    pub ip: Option<String>,
    pub at: DateTime<Utc>,
}

impl CodeHolder {
    /// The person behind a decision.
    pub fn of(decision: &Decision) -> Self {
        let subject = decision.subject.subject_id().unwrap_or_else(|| SubjectId {
            issuer: decision.subject.issuer.clone(),
            id: decision.subject.email.clone(),
        });
        Self {
            subject,
            email: decision.subject.email.clone(),
            browser: decision.browser.clone(),
            ip: decision.from_ip.clone(),
            at: decision.at,
        }
    }

    /// Whether `other` is another person: another subject in another
    /// browser (a browser unknown on either side is another).
    pub fn is_other(&self, other: &CodeHolder) -> bool {
        let same_browser = self.browser.is_some() && self.browser == other.browser;
        self.subject != other.subject && !same_browser
    }
}

/// The first person to take a code up and, when the code was shared, the
/// second, whose arrival ended the flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeHolders {
    pub first: Option<CodeHolder>,
    pub second: Option<CodeHolder>,
}

/// What the device sent with its poll for a flow whose client requires it
/// to confirm the approval, as the service checked it against the code the
/// approving browser shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Confirmation {
    #[default]
    NotSent,
    Right,
    Wrong,
}
