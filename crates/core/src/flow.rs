//! The device flow and its state machine (RFC 8628 §3).
//!
//! `pending → approved | denied`, `approved → redeeming → redeemed`, and a
//! claim that fails to mint goes back `redeeming → approved`. A redeemed
//! flow answers its own client's poll with the same token for a short while
//! ([`REDELIVERY_WINDOW`]), because the answer that carried it may be lost. Every change is
//! a pure function here: the state-store adapters only make each one atomic
//! (memory under the flow's shard lock, Redis by compare-and-set), so the rules are written
//! once and both backends obey them identically.

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
}

/// A person's decision on a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub subject: FlowSubject,
    pub at: DateTime<Utc>,
    pub from_ip: Option<String>,
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
    Approve(Decision),
    Deny(Decision),
    /// A token-endpoint poll by `client_id`.
    Poll {
        client_id: String,
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

    /// Applies `change` at `now`. Pure: the caller stores `next` atomically.
    pub fn apply(&self, change: &FlowChange, now: DateTime<Utc>) -> Transition {
        match change {
            FlowChange::Approve(decision) => self.decide(FlowStatus::Approved { decision: decision.clone() }, now),
            FlowChange::Deny(decision) => self.decide(FlowStatus::Denied { decision: decision.clone() }, now),
            FlowChange::Poll { client_id } => self.poll(client_id, now),
            FlowChange::FinishRedemption { token_id } => match &self.status {
                FlowStatus::Redeeming { decision, .. } => self.with_status(
                    Verdict::Done,
                    FlowStatus::Redeemed { decision: decision.clone(), token_id: *token_id, redeemed_at: now },
                ),
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

    fn decide(&self, status: FlowStatus, now: DateTime<Utc>) -> Transition {
        if self.status != FlowStatus::Pending {
            return Transition::refuse(Verdict::AlreadyResolved);
        }
        if self.is_expired(now) {
            return Transition::refuse(Verdict::Expired);
        }
        self.with_status(Verdict::Decided, status)
    }

    fn poll(&self, client_id: &str, now: DateTime<Utc>) -> Transition {
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
            _ if too_soon => {
                next.interval_secs = interval_after(self.interval_secs, 1);
                Verdict::SlowDown { interval: next.interval_secs }
            }
            FlowStatus::Pending => Verdict::AuthorizationPending,
            FlowStatus::Denied { .. } => Verdict::AccessDenied,
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
mod tests {
    use super::*;
    use crate::model::LOCAL_ISSUER;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    fn flow() -> DeviceFlow {
        crate::testing::pending_flow("h", "BCDF-GHJK", t0())
    }

    fn decision() -> Decision {
        Decision {
            subject: FlowSubject::new(None, "ada@example.com".into(), LOCAL_ISSUER.into()),
            at: t0(),
            from_ip: None,
        }
    }

    fn poll(flow: &DeviceFlow, secs: i64) -> Transition {
        flow.apply(&FlowChange::Poll { client_id: "cli".into() }, t0() + Duration::seconds(secs))
    }

    fn step(flow: &DeviceFlow, change: FlowChange, secs: i64) -> (Verdict, DeviceFlow) {
        let t = flow.apply(&change, t0() + Duration::seconds(secs));
        (t.verdict, t.next.unwrap_or_else(|| flow.clone()))
    }

    #[test]
    fn first_poll_is_never_throttled_and_honest_clients_never_slow_down() {
        let f = flow();
        let first = poll(&f, 0);
        assert_eq!(first.verdict, Verdict::AuthorizationPending);
        let mut f = first.next.unwrap_or_else(|| unreachable!());
        for n in 1..50 {
            let t = poll(&f, n * 5);
            assert_eq!(t.verdict, Verdict::AuthorizationPending, "poll {n}");
            f = t.next.unwrap_or_else(|| unreachable!());
        }
    }

    #[test]
    fn early_poll_slows_down_by_five_seconds_each_time() {
        let (_, f) = step(&flow(), FlowChange::Poll { client_id: "cli".into() }, 0);
        let (v, f) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 4);
        assert_eq!(v, Verdict::SlowDown { interval: 10 });
        // The clock restarts at the throttled poll: 9 s later is still too soon.
        let (v, f) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 13);
        assert_eq!(v, Verdict::SlowDown { interval: 15 });
        let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 28);
        assert_eq!(v, Verdict::AuthorizationPending);
    }

    #[test]
    fn approval_is_claimed_by_exactly_one_poll_then_redeemed() {
        let (v, f) = step(&flow(), FlowChange::Approve(decision()), 1);
        assert_eq!(v, Verdict::Decided);
        let (v, f) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 2);
        assert!(matches!(v, Verdict::Claimed(_)));
        // A racing poll while minting learns nothing yet.
        let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 8);
        assert_eq!(v, Verdict::AuthorizationPending);
        let (v, f) = step(&f, FlowChange::FinishRedemption { token_id: Uuid::nil() }, 3);
        assert_eq!(v, Verdict::Done);
        // A retry whose answer was lost is told which token it may get again,
        // however soon it comes, until the window closes; then the code is
        // spent. A redeemed code never answers slow_down (SPEC §4).
        let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 10);
        assert_eq!(v, Verdict::Redeemed { token_id: Uuid::nil(), subject: decision().subject, too_soon: false });
        let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 4);
        let again = Verdict::Redeemed { token_id: Uuid::nil(), subject: decision().subject, too_soon: true };
        assert_eq!(v, again, "too soon, still final");
        let last = 3 + REDELIVERY_WINDOW.num_seconds() - 1;
        assert!(matches!(step(&f, FlowChange::Poll { client_id: "cli".into() }, last).0, Verdict::Redeemed { .. }));
        let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into() }, last + 1);
        assert_eq!(v, Verdict::InvalidGrant);
        // Never for another client.
        assert_eq!(step(&f, FlowChange::Poll { client_id: "other".into() }, 10).0, Verdict::InvalidGrant);
    }

    #[test]
    fn released_claim_can_be_claimed_again() {
        let (_, f) = step(&flow(), FlowChange::Approve(decision()), 1);
        let (_, f) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 2);
        let (v, f) = step(&f, FlowChange::ReleaseClaim, 3);
        assert_eq!(v, Verdict::Done);
        let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 7);
        assert!(matches!(v, Verdict::Claimed(_)));
    }

    #[test]
    fn every_own_poll_moves_the_clock_even_during_a_redemption() {
        let (_, f) = step(&flow(), FlowChange::Approve(decision()), 1);
        let (_, f) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 2);
        let (v, f) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 8);
        assert_eq!(v, Verdict::AuthorizationPending);
        assert_eq!(f.last_polled_at, Some(t0() + Duration::seconds(8)));
        // The claim is released; a poll 1 s after the last one is too soon.
        let (_, f) = step(&f, FlowChange::ReleaseClaim, 8);
        let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 9);
        assert_eq!(v, Verdict::SlowDown { interval: 10 });
    }

    #[test]
    fn stale_claims_are_taken_over() {
        let (_, f) = step(&flow(), FlowChange::Approve(decision()), 1);
        let (_, f) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 2);
        let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into() }, 2 + STALE_CLAIM.num_seconds());
        assert!(matches!(v, Verdict::Claimed(_)));
    }

    #[test]
    fn terminal_decisions_never_change() {
        let (_, denied) = step(&flow(), FlowChange::Deny(decision()), 1);
        assert_eq!(step(&denied, FlowChange::Approve(decision()), 2).0, Verdict::AlreadyResolved);
        assert_eq!(step(&denied, FlowChange::Poll { client_id: "cli".into() }, 2).0, Verdict::AccessDenied);
        let (_, approved) = step(&flow(), FlowChange::Approve(decision()), 1);
        assert_eq!(step(&approved, FlowChange::Deny(decision()), 2).0, Verdict::AlreadyResolved);
    }

    #[test]
    fn expiry_is_checked_at_decision_and_poll() {
        assert_eq!(step(&flow(), FlowChange::Approve(decision()), 600).0, Verdict::Expired);
        assert_eq!(step(&flow(), FlowChange::Approve(decision()), 599).0, Verdict::Decided);
        let (_, approved) = step(&flow(), FlowChange::Approve(decision()), 1);
        let late = poll(&approved, 600);
        assert_eq!(late.verdict, Verdict::Expired);
        // Only the poll clock moves: an expired approval is never claimed.
        assert_eq!(late.next.map(|f| f.status), Some(approved.status));
    }

    #[test]
    fn another_clients_poll_changes_nothing() {
        let t = flow().apply(&FlowChange::Poll { client_id: "other".into() }, t0());
        assert_eq!(t, Transition { verdict: Verdict::InvalidGrant, next: None });
    }

    #[test]
    fn serializes_round_trip() {
        let (_, f) = step(&flow(), FlowChange::Approve(decision()), 1);
        let json = serde_json::to_string(&f).unwrap_or_default();
        let back: Option<DeviceFlow> = serde_json::from_str(&json).ok();
        assert_eq!(back, Some(f));
    }
}
