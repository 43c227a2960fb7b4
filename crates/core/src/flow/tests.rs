//! The state machine's rules, one test per rule.

use super::*;
use crate::approval_policy::DeviceConfirmation;
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
        browser: None,
        from_ip_proven: false,
    }
}

fn poll(flow: &DeviceFlow, secs: i64) -> Transition {
    flow.apply(
        &FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() },
        t0() + Duration::seconds(secs),
    )
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
    let (_, f) = step(&flow(), FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 0);
    let (v, f) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 4);
    assert_eq!(v, Verdict::SlowDown { interval: 10 });
    // The clock restarts at the throttled poll: 9 s later is still too soon.
    let (v, f) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 13);
    assert_eq!(v, Verdict::SlowDown { interval: 15 });
    let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 28);
    assert_eq!(v, Verdict::AuthorizationPending);
}

#[test]
fn approval_is_claimed_by_exactly_one_poll_then_redeemed() {
    let (v, f) = step(&flow(), FlowChange::Approve(decision()), 1);
    assert_eq!(v, Verdict::Decided);
    let (v, f) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 2);
    assert!(matches!(v, Verdict::Claimed(_)));
    // A racing poll while minting learns nothing yet.
    let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 8);
    assert_eq!(v, Verdict::AuthorizationPending);
    let (v, f) = step(&f, FlowChange::FinishRedemption { token_id: Uuid::nil() }, 3);
    assert_eq!(v, Verdict::Done);
    // A retry whose answer was lost is told which token it may get again,
    // however soon it comes, until the window closes; then the code is
    // spent. A redeemed code never answers slow_down (SPEC §4).
    let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 10);
    assert_eq!(v, Verdict::Redeemed { token_id: Uuid::nil(), subject: decision().subject, too_soon: false });
    let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 4);
    let again = Verdict::Redeemed { token_id: Uuid::nil(), subject: decision().subject, too_soon: true };
    assert_eq!(v, again, "too soon, still final");
    let last = 3 + REDELIVERY_WINDOW.num_seconds() - 1;
    assert!(matches!(
        step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, last).0,
        Verdict::Redeemed { .. }
    ));
    let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, last + 1);
    assert_eq!(v, Verdict::InvalidGrant);
    // Never for another client.
    assert_eq!(
        step(&f, FlowChange::Poll { client_id: "other".into(), confirmation: Default::default() }, 10).0,
        Verdict::InvalidGrant
    );
}

#[test]
fn released_claim_can_be_claimed_again() {
    let (_, f) = step(&flow(), FlowChange::Approve(decision()), 1);
    let (_, f) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 2);
    let (v, f) = step(&f, FlowChange::ReleaseClaim, 3);
    assert_eq!(v, Verdict::Done);
    let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 7);
    assert!(matches!(v, Verdict::Claimed(_)));
}

#[test]
fn every_own_poll_moves_the_clock_even_during_a_redemption() {
    let (_, f) = step(&flow(), FlowChange::Approve(decision()), 1);
    let (_, f) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 2);
    let (v, f) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 8);
    assert_eq!(v, Verdict::AuthorizationPending);
    assert_eq!(f.last_polled_at, Some(t0() + Duration::seconds(8)));
    // The claim is released; a poll 1 s after the last one is too soon.
    let (_, f) = step(&f, FlowChange::ReleaseClaim, 8);
    let (v, _) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 9);
    assert_eq!(v, Verdict::SlowDown { interval: 10 });
}

#[test]
fn stale_claims_are_taken_over() {
    let (_, f) = step(&flow(), FlowChange::Approve(decision()), 1);
    let (_, f) = step(&f, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 2);
    let (v, _) = step(
        &f,
        FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() },
        2 + STALE_CLAIM.num_seconds(),
    );
    assert!(matches!(v, Verdict::Claimed(_)));
}

#[test]
fn terminal_decisions_never_change() {
    let (_, denied) = step(&flow(), FlowChange::Deny(decision()), 1);
    assert_eq!(step(&denied, FlowChange::Approve(decision()), 2).0, Verdict::AlreadyResolved);
    assert_eq!(
        step(&denied, FlowChange::Poll { client_id: "cli".into(), confirmation: Default::default() }, 2).0,
        Verdict::AccessDenied
    );
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
    let t = flow().apply(&FlowChange::Poll { client_id: "other".into(), confirmation: Default::default() }, t0());
    assert_eq!(t, Transition { verdict: Verdict::InvalidGrant, next: None });
}

#[test]
fn serializes_round_trip() {
    let (_, f) = step(&flow(), FlowChange::Approve(decision()), 1);
    let json = serde_json::to_string(&f).unwrap_or_default();
    let back: Option<DeviceFlow> = serde_json::from_str(&json).ok();
    assert_eq!(back, Some(f));
}

fn person(email: &str, browser: &str) -> Decision {
    Decision {
        subject: FlowSubject::new(None, email.into(), LOCAL_ISSUER.into()),
        at: t0(),
        from_ip: Some("198.51.100.9".into()),
        browser: Some(browser.into()),
        from_ip_proven: true,
    }
}

fn holder(email: &str, browser: &str) -> CodeHolder {
    CodeHolder::of(&person(email, browser))
}

fn confirming(mut flow: DeviceFlow) -> DeviceFlow {
    flow.policy.device_confirmation = DeviceConfirmation::Required;
    flow
}

fn poll_with(flow: &DeviceFlow, confirmation: Confirmation, secs: i64) -> (Verdict, DeviceFlow) {
    step(flow, FlowChange::Poll { client_id: "cli".into(), confirmation }, secs)
}

#[test]
fn the_first_person_to_enter_a_code_holds_it_and_entering_again_changes_nothing() {
    let (v, f) = step(&flow(), FlowChange::Open(holder("ada@example.com", "b1")), 1);
    assert_eq!(v, Verdict::Done);
    assert_eq!(f.holders.first.as_ref().map(|h| h.email.as_str()), Some("ada@example.com"));
    let again = f.apply(&FlowChange::Open(holder("ada@example.com", "b2")), t0() + Duration::seconds(2));
    assert_eq!(again, Transition { verdict: Verdict::Done, next: None });
    // The same browser switching accounts is not a second person.
    let switched = f.apply(&FlowChange::Open(holder("bob@example.com", "b1")), t0() + Duration::seconds(3));
    assert_eq!(switched.verdict, Verdict::Done);
    let (v, f) = step(&f, FlowChange::Approve(person("bob@example.com", "b1")), 4);
    assert_eq!(v, Verdict::Decided);
    assert_eq!(f.holders.first.as_ref().map(|h| h.email.as_str()), Some("ada@example.com"));
}

#[test]
fn a_second_person_ends_a_pending_flow_and_names_the_grant_of_a_redeemed_one() {
    let (_, opened) = step(&flow(), FlowChange::Open(holder("ada@example.com", "b1")), 1);
    let (v, shared) = step(&opened, FlowChange::Approve(person("eve@example.com", "b2")), 2);
    assert!(matches!(&v, Verdict::CodeShared { first, revoke: None } if first.email == "ada@example.com"), "{v:?}");
    assert!(shared.was_shared() && !shared.is_open(t0() + Duration::seconds(2)));
    assert_eq!(poll(&shared, 10).verdict, Verdict::AccessDenied);
    // Nobody decides it afterwards, the first person included.
    assert_eq!(step(&shared, FlowChange::Approve(person("ada@example.com", "b1")), 3).0, Verdict::AlreadyResolved);
    assert_eq!(step(&shared, FlowChange::Open(holder("mallory@example.com", "b3")), 3).0, Verdict::AlreadyResolved);

    // Redeemed: the grant is named for revocation.
    let (_, approved) = step(&flow(), FlowChange::Approve(person("ada@example.com", "b1")), 1);
    let (_, claimed) = poll_with(&approved, Confirmation::NotSent, 2);
    let (_, redeemed) = step(&claimed, FlowChange::FinishRedemption { token_id: Uuid::nil() }, 3);
    let (v, _) = step(&redeemed, FlowChange::Open(holder("eve@example.com", "b2")), 100);
    assert!(matches!(v, Verdict::CodeShared { revoke: Some(id), .. } if id == Uuid::nil()), "{v:?}");
    // Past the code's lifetime, a second person changes nothing.
    let late = redeemed.apply(&FlowChange::Open(holder("eve@example.com", "b2")), t0() + Duration::seconds(600));
    assert_eq!(late, Transition { verdict: Verdict::AlreadyResolved, next: None });
}

#[test]
fn shared_while_minting_finishes_as_denied_and_one_person_per_code_can_be_off() {
    let (_, approved) = step(&flow(), FlowChange::Approve(person("ada@example.com", "b1")), 1);
    let (_, claimed) = poll_with(&approved, Confirmation::NotSent, 2);
    let (v, shared) = step(&claimed, FlowChange::Deny(person("eve@example.com", "b2")), 3);
    assert!(matches!(v, Verdict::CodeShared { revoke: None, .. }));
    let (v, _) = step(&shared, FlowChange::FinishRedemption { token_id: Uuid::nil() }, 4);
    assert_eq!(v, Verdict::AccessDenied, "the caller revokes what it minted");

    let mut off = flow();
    off.policy.one_person_per_code = false;
    let (_, approved) = step(&off, FlowChange::Approve(person("ada@example.com", "b1")), 1);
    assert_eq!(step(&approved, FlowChange::Deny(person("eve@example.com", "b2")), 2).0, Verdict::AlreadyResolved);
}

#[test]
fn a_code_past_its_clients_maximum_age_can_no_longer_be_entered_and_the_device_is_told_expired() {
    let mut young = flow();
    young.policy.max_code_age_secs = Some(60);
    assert_eq!(step(&young, FlowChange::Approve(decision()), 60).0, Verdict::Decided);
    assert_eq!(step(&young, FlowChange::Approve(decision()), 61).0, Verdict::Expired);
    assert_eq!(step(&young, FlowChange::Open(holder("ada@example.com", "b1")), 61).0, Verdict::Expired);
    assert_eq!(poll(&young, 61).verdict, Verdict::Expired);
    // Approved in time, it is redeemed after the age like any other.
    let (_, approved) = step(&young, FlowChange::Approve(decision()), 30);
    assert!(matches!(poll(&approved, 120).verdict, Verdict::Claimed(_)));
}

#[test]
fn an_approval_the_device_must_confirm_waits_for_the_right_code_and_three_wrong_ones_deny_it() {
    let (_, approved) = step(&confirming(flow()), FlowChange::Approve(decision()), 1);
    let (v, f) = poll_with(&approved, Confirmation::NotSent, 5);
    assert_eq!(v, Verdict::AwaitingConfirmation);
    let (v, f) = poll_with(&f, Confirmation::Wrong, 10);
    assert_eq!(v, Verdict::WrongConfirmation { tries_left: 2 });
    // Too soon is slow_down, and spends no try.
    let (v, f) = poll_with(&f, Confirmation::Wrong, 11);
    assert_eq!(v, Verdict::SlowDown { interval: 10 });
    let (v, f) = poll_with(&f, Confirmation::Right, 30);
    assert!(matches!(v, Verdict::Claimed(_)), "{v:?}");
    // A pending flow ignores a code; so does a client that needs none.
    let (v, _) = poll_with(&confirming(flow()), Confirmation::Wrong, 1);
    assert_eq!(v, Verdict::AuthorizationPending);
    let (_, plain) = step(&flow(), FlowChange::Approve(decision()), 1);
    assert!(matches!(poll_with(&plain, Confirmation::Wrong, 5).0, Verdict::Claimed(_)));
    drop(f);

    let mut f = approved;
    for (n, left) in [(1, 2), (2, 1)] {
        let (v, next) = poll_with(&f, Confirmation::Wrong, n * 10);
        assert_eq!(v, Verdict::WrongConfirmation { tries_left: left });
        f = next;
    }
    let (v, f) = poll_with(&f, Confirmation::Wrong, 30);
    assert_eq!(v, Verdict::ConfirmationFailed);
    assert_eq!(poll_with(&f, Confirmation::Right, 40).0, Verdict::AccessDenied, "denied for good");
}
