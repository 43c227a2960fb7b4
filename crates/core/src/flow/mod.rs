//! The device flow and its state machine (RFC 8628 §3).
//!
//! `pending → approved | denied`, `approved → redeeming → redeemed`, and a
//! claim that fails to mint goes back `redeeming → approved`. A redeemed
//! flow answers its own client's poll with the same token for a short while
//! ([`REDELIVERY_WINDOW`]), because the answer that carried it may be lost. Every change is
//! a pure function here: the state-store adapters only make each one atomic
//! (memory under the flow's shard lock, Redis by compare-and-set), so the rules are written
//! once and both backends obey them identically.

mod people;

pub use people::{CodeHolder, CodeHolders, Confirmation};

use crate::approval_policy::{ApprovalPolicy, CONFIRMATION_ATTEMPTS, DeviceConfirmation};
use crate::formats::user_code::UserCode;
use crate::model::FlowSubject;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Seconds added to a flow's interval for each `slow_down` (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP_SECS: u32 = 5;

/// The interval of a flow that started at `base` seconds and has answered
/// `slow_downs` `slow_down`s: each adds [`SLOW_DOWN_STEP_SECS`]. A store that
/// keeps the count beside the flow (Redis) derives the interval here too.
pub fn interval_after(base: u32, slow_downs: u32) -> u32 {
    base.saturating_add(SLOW_DOWN_STEP_SECS.saturating_mul(slow_downs))
}

/// How long a redemption claim may stay unfinished before another poll may
/// take it over (the claiming instance crashed between claim and mint).
pub const STALE_CLAIM: Duration = Duration::seconds(60);

/// How long after a redemption the flow's own client may present the same
/// device code again and be handed the same token: the answer that carried
/// it can be lost (the server killed after minting, a dropped connection).
/// Past this, or once the token has been used, the code is spent.
pub const REDELIVERY_WINDOW: Duration = Duration::seconds(60);

/// One device authorization request, as held in the state store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFlow {
    pub device_code_hash: String,
    pub user_code: UserCode,
    pub client_id: String,
    /// The client's name when the flow started, shown to the approver.
    pub client_name: String,
    pub scopes: Vec<String>,
    /// What the device says it is; shown as reported, never trusted.
    pub device_label: Option<String>,
    pub requester_ip: Option<String>,
    pub requester_user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Epoch milliseconds on the wire, so a state-store script can compare it.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub expires_at: DateTime<Utc>,
    pub interval_secs: u32,
    /// Epoch milliseconds on the wire, like `expires_at`.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub last_polled_at: Option<DateTime<Utc>>,
    pub status: FlowStatus,
    /// The DPoP key the device asked to bind the code to (`dpop_jkt`, RFC
    /// 9449 §10): only a proof with this key redeems it. Last, with a
    /// default, so flows stored before it still read.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
    /// The client's approval policy when the device asked: the one this
    /// flow is judged by. Flows stored before policies read the default.
    #[serde(default)]
    pub policy: ApprovalPolicy,
    /// Whether `requester_ip` is the device's own address, not a proxy's
    /// the edge fell back to: only an established address matches a
    /// network rule.
    #[serde(default)]
    pub requester_ip_proven: bool,
    /// Who took the code up (one person per code).
    #[serde(default)]
    pub holders: CodeHolders,
    /// Wrong confirmation codes the device has sent since the approval.
    #[serde(default)]
    pub confirmation_failures: u8,
}

/// A person's decision on a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub subject: FlowSubject,
    pub at: DateTime<Utc>,
    pub from_ip: Option<String>,
    /// The deciding browser's id (hashed), when it had one.
    #[serde(default)]
    pub browser: Option<String>,
    /// Whether `from_ip` is the person's own address (see `Visitor::ip_proven`).
    #[serde(default)]
    pub from_ip_proven: bool,
}

impl Decision {
    /// The person's address, when the edge established it.
    pub fn address(&self) -> Option<std::net::IpAddr> {
        self.from_ip_proven.then(|| crate::formats::network::address(self.from_ip.as_deref())).flatten()
    }
}

/// Where a flow is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FlowStatus {
    Pending,
    Approved {
        decision: Decision,
    },
    /// One poll has claimed the approval and is minting the token.
    Redeeming {
        decision: Decision,
        claimed_at: DateTime<Utc>,
    },
    Redeemed {
        decision: Decision,
        token_id: Uuid,
        redeemed_at: DateTime<Utc>,
    },
    Denied {
        decision: Decision,
    },
}

impl FlowStatus {
    /// The decision, once one was made.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            FlowStatus::Pending => None,
            FlowStatus::Approved { decision }
            | FlowStatus::Redeeming { decision, .. }
            | FlowStatus::Redeemed { decision, .. }
            | FlowStatus::Denied { decision } => Some(decision),
        }
    }
}

/// Addresses a flow in the state store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowKey {
    UserCode(UserCode),
    DeviceCodeHash(String),
}

/// A change to apply atomically to one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowChange {
    /// A person entered the code at `/device` (not by following a link).
    Open(CodeHolder),
    Approve(Decision),
    Deny(Decision),
    /// A token-endpoint poll by `client_id`.
    Poll {
        client_id: String,
        /// The confirmation code it sent, as checked (a client that
        /// requires none is never asked for one).
        confirmation: Confirmation,
    },
    /// The claiming poll minted `token_id`.
    FinishRedemption {
        token_id: Uuid,
    },
    /// The claiming poll could not mint; let a later poll try again.
    ReleaseClaim,
}

/// What applying a change meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Approve or deny took effect.
    Decided,
    /// The flow is past its expiry.
    Expired,
    /// Approve or deny met a flow that was already decided.
    AlreadyResolved,
    AuthorizationPending,
    SlowDown {
        interval: u32,
    },
    AccessDenied,
    /// Another client's code, or a code already redeemed.
    InvalidGrant,
    /// This poll won the approval and must mint the token for `subject`.
    Claimed(FlowSubject),
    /// A poll of a flow redeemed within [`REDELIVERY_WINDOW`]: the token
    /// `token_id` may be handed over again if it is unused. `too_soon`: the
    /// poll came sooner than the interval after the one before (it gets the
    /// same answer, but a client hammering a redeemed code is not audited
    /// once per request).
    Redeemed {
        token_id: Uuid,
        subject: FlowSubject,
        too_soon: bool,
    },
    /// Finish or release met a flow that was not being redeemed.
    NotClaimed,
    /// A second person took up a code a first person already had: the flow
    /// has ended, and `revoke` names the grant it had produced, if any.
    CodeShared {
        first: Box<CodeHolder>,
        revoke: Option<Uuid>,
    },
    /// An approved flow whose device has not sent the confirmation code.
    AwaitingConfirmation,
    /// A wrong confirmation code; `tries_left` more are allowed.
    WrongConfirmation {
        tries_left: u8,
    },
    /// The last allowed wrong confirmation code: the flow is denied.
    ConfirmationFailed,
    /// Finish or release took effect.
    Done,
}

/// The result of applying a change: the verdict, and the new flow when it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub verdict: Verdict,
    pub next: Option<DeviceFlow>,
}

impl Transition {
    fn refuse(verdict: Verdict) -> Self {
        Self { verdict, next: None }
    }
}

impl DeviceFlow {
    /// The flow's name in logs, audit details and envelopes: derived from the
    /// device code's hash, so it names one flow (a reused user code is
    /// another flow) and reveals neither code.
    pub fn public_id(&self) -> String {
        crate::secret::sha256_hex(&format!("flow:{}", self.device_code_hash))[..32].to_owned()
    }

    /// Whether the flow's lifetime is over at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// Whether the code may no longer be entered or decided at `now`: past
    /// its lifetime, or past its client's maximum code age.
    pub fn is_past_entry(&self, now: DateTime<Utc>) -> bool {
        self.is_expired(now) || self.policy.too_old(self.created_at, now)
    }

    /// Whether a person may still decide the flow at `now`: pending, not
    /// past entry, and not ended by a shared code or failed confirmations.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.status == FlowStatus::Pending && !self.is_past_entry(now) && !self.has_ended()
    }

    /// Whether the code was shared (a second person took it up): the flow
    /// has ended for the device, whatever its status says.
    pub fn was_shared(&self) -> bool {
        self.holders.second.is_some()
    }

    /// Whether its device sent too many wrong confirmation codes: the
    /// approval stands recorded, but the flow is denied.
    pub fn confirmation_failed(&self) -> bool {
        self.confirmation_failures >= CONFIRMATION_ATTEMPTS
    }

    /// Ended early: shared, or denied by failed confirmations.
    fn has_ended(&self) -> bool {
        self.was_shared() || self.confirmation_failed()
    }

    /// The device's address, when the edge established it.
    pub fn requester_address(&self) -> Option<std::net::IpAddr> {
        self.requester_ip_proven.then(|| crate::formats::network::address(self.requester_ip.as_deref())).flatten()
    }

    /// Whether the device must confirm its approval with the code the
    /// approving browser shows.
    pub fn needs_confirmation(&self) -> bool {
        self.policy.device_confirmation == DeviceConfirmation::Required
    }

    /// Applies `change` at `now`. Pure: the caller stores `next` atomically.
    pub fn apply(&self, change: &FlowChange, now: DateTime<Utc>) -> Transition {
        match change {
            FlowChange::Open(holder) => self.open(holder, now),
            FlowChange::Approve(decision) => {
                self.decide(decision, FlowStatus::Approved { decision: decision.clone() }, now)
            }
            FlowChange::Deny(decision) => self.decide(decision, FlowStatus::Denied { decision: decision.clone() }, now),
            FlowChange::Poll { client_id, confirmation } => self.poll(client_id, *confirmation, now),
            FlowChange::FinishRedemption { token_id } => match &self.status {
                FlowStatus::Redeeming { decision, .. } => {
                    let redeemed =
                        FlowStatus::Redeemed { decision: decision.clone(), token_id: *token_id, redeemed_at: now };
                    // Shared while the token was minted: recorded, so the
                    // caller revokes the token it just made.
                    let verdict = if self.was_shared() { Verdict::AccessDenied } else { Verdict::Done };
                    self.with_status(verdict, redeemed)
                }
                _ => Transition::refuse(Verdict::NotClaimed),
            },
            FlowChange::ReleaseClaim => match &self.status {
                FlowStatus::Redeeming { decision, .. } => {
                    self.with_status(Verdict::Done, FlowStatus::Approved { decision: decision.clone() })
                }
                _ => Transition::refuse(Verdict::NotClaimed),
            },
        }
    }

    /// A second person taking up the code (item 4 of the policy): while its
    /// flow lives, even once redeemed, under one person per code, someone
    /// other than its first holder ends it.
    fn shared_by(&self, holder: &CodeHolder, now: DateTime<Utc>) -> Option<Transition> {
        if !self.policy.one_person_per_code || self.is_expired(now) || self.has_ended() {
            return None;
        }
        let first = self.holders.first.as_ref().filter(|first| first.is_other(holder))?;
        let revoke = match &self.status {
            FlowStatus::Redeemed { token_id, .. } => Some(*token_id),
            _ => None,
        };
        let mut next = self.clone();
        next.holders.second = Some(holder.clone());
        Some(Transition { verdict: Verdict::CodeShared { first: Box::new(first.clone()), revoke }, next: Some(next) })
    }

    /// A person entered the code: they become its first holder if it has none.
    fn open(&self, holder: &CodeHolder, now: DateTime<Utc>) -> Transition {
        if let Some(shared) = self.shared_by(holder, now) {
            return shared;
        }
        if !self.is_open(now) {
            let past = self.is_past_entry(now) && self.status == FlowStatus::Pending;
            return Transition::refuse(if past { Verdict::Expired } else { Verdict::AlreadyResolved });
        }
        if self.holders.first.is_some() {
            return Transition::refuse(Verdict::Done);
        }
        let mut next = self.clone();
        next.holders.first = Some(holder.clone());
        Transition { verdict: Verdict::Done, next: Some(next) }
    }

    fn decide(&self, decision: &Decision, status: FlowStatus, now: DateTime<Utc>) -> Transition {
        let holder = CodeHolder::of(decision);
        if let Some(shared) = self.shared_by(&holder, now) {
            return shared;
        }
        if self.status != FlowStatus::Pending || self.has_ended() {
            return Transition::refuse(Verdict::AlreadyResolved);
        }
        if self.is_past_entry(now) {
            return Transition::refuse(Verdict::Expired);
        }
        let mut transition = self.with_status(Verdict::Decided, status);
        if let Some(next) = &mut transition.next
            && next.holders.first.is_none()
        {
            next.holders.first = Some(holder);
        }
        transition
    }

    fn poll(&self, client_id: &str, confirmation: Confirmation, now: DateTime<Utc>) -> Transition {
        // A code answers only to the client that created it, and another
        // client's poll must not touch its state (not even slow_down).
        if self.client_id != client_id {
            return Transition::refuse(Verdict::InvalidGrant);
        }
        // Every poll by the flow's own client moves its poll clock, whatever
        // the answer: the interval is about how often the client asks. (One
        // rule for every poll is also what lets the Redis store move the
        // clock with a single native command.)
        let mut next = self.clone();
        next.last_polled_at = Some(now);
        let too_soon =
            self.last_polled_at.is_some_and(|last| now - last < Duration::seconds(i64::from(self.interval_secs)));
        let verdict = match &self.status {
            // A shared code, or one whose confirmations failed, is over.
            _ if self.has_ended() => Verdict::AccessDenied,
            // Once redeemed, the answer is final (SPEC §4): the same token
            // while it may be redelivered, else `invalid_grant`. Never
            // `slow_down`, which would tell the client it is still pending.
            FlowStatus::Redeemed { decision, token_id, redeemed_at } if now - *redeemed_at < REDELIVERY_WINDOW => {
                Verdict::Redeemed { token_id: *token_id, subject: decision.subject.clone(), too_soon }
            }
            FlowStatus::Redeemed { .. } => Verdict::InvalidGrant,
            // Another poll is minting right now: the answer is not known yet.
            FlowStatus::Redeeming { claimed_at, .. } if now - *claimed_at < STALE_CLAIM => {
                Verdict::AuthorizationPending
            }
            _ if self.is_expired(now) => Verdict::Expired,
            // Nobody may enter the code any more: the flow is over.
            FlowStatus::Pending if self.is_past_entry(now) => Verdict::Expired,
            _ if too_soon => {
                next.interval_secs = interval_after(self.interval_secs, 1);
                Verdict::SlowDown { interval: next.interval_secs }
            }
            FlowStatus::Pending => Verdict::AuthorizationPending,
            FlowStatus::Denied { .. } => Verdict::AccessDenied,
            // A claim taken over (stale) was confirmed when it was claimed.
            FlowStatus::Approved { .. } if self.needs_confirmation() && confirmation != Confirmation::Right => {
                match confirmation {
                    Confirmation::NotSent | Confirmation::Right => Verdict::AwaitingConfirmation,
                    Confirmation::Wrong => {
                        next.confirmation_failures = self.confirmation_failures.saturating_add(1);
                        match CONFIRMATION_ATTEMPTS.saturating_sub(next.confirmation_failures) {
                            0 => Verdict::ConfirmationFailed,
                            tries_left => Verdict::WrongConfirmation { tries_left },
                        }
                    }
                }
            }
            FlowStatus::Approved { decision } | FlowStatus::Redeeming { decision, .. } => {
                next.status = FlowStatus::Redeeming { decision: decision.clone(), claimed_at: now };
                Verdict::Claimed(decision.subject.clone())
            }
        };
        Transition { verdict, next: Some(next) }
    }

    fn with_status(&self, verdict: Verdict, status: FlowStatus) -> Transition {
        let mut next = self.clone();
        next.status = status;
        Transition { verdict, next: Some(next) }
    }
}

#[cfg(test)]
mod tests;
