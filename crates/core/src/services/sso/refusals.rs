//! Refusals at `sso-complete`, counted rather than logged one by one: the
//! callback is a public URL anyone can hit with junk (`?state=x`), and a
//! row per request would let them fill the audit log. Every refusal counts
//! in `gatehouse_sso_refusals_total{reason}` at once; the audit log gets
//! one `sso.failed` row per instance per minute in which any happened,
//! with the count per reason and the first few client addresses.

use super::SsoService;
use crate::ports::{AuditEvent, AuditKind};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// How long refusals are gathered into one audit row.
pub const REFUSAL_WINDOW: Duration = Duration::minutes(1);
/// Distinct client addresses one row names at most.
const ADDRESSES_NAMED: usize = 10;

/// The refusals of the window in progress, if any happened.
#[derive(Default)]
pub(crate) struct RefusalTally {
    window: Mutex<Option<Window>>,
}

struct Window {
    started: DateTime<Utc>,
    counts: BTreeMap<&'static str, u64>,
    addresses: BTreeSet<String>,
}

impl Window {
    fn new(started: DateTime<Utc>) -> Self {
        Self { started, counts: BTreeMap::new(), addresses: BTreeSet::new() }
    }

    fn is_closed(&self, now: DateTime<Utc>) -> bool {
        now >= self.started + REFUSAL_WINDOW
    }
}

impl RefusalTally {
    /// Counts one refusal; hands back the window it closed, if it fell
    /// after the current one ended (the refusal then opens the next).
    fn count(&self, reason: &'static str, ip: Option<&str>, now: DateTime<Utc>) -> Option<Window> {
        // A poisoned lock only means another thread panicked mid-count; the
        // tally is still a tally.
        let mut window = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let closed = window.take_if(|current| current.is_closed(now));
        let current = window.get_or_insert_with(|| Window::new(now));
        *current.counts.entry(reason).or_default() += 1;
        if let Some(ip) = ip
            && current.addresses.len() < ADDRESSES_NAMED
        {
            current.addresses.insert(ip.to_owned());
        }
        closed
    }

    /// The window in progress, if it has ended by `now` (or in any case,
    /// with `force`).
    fn take(&self, now: DateTime<Utc>, force: bool) -> Option<Window> {
        let mut window = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        window.take_if(|current| force || current.is_closed(now))
    }
}

impl SsoService {
    /// Counts a refusal at `sso-complete` (see the module's comment).
    pub(super) async fn count_refusal(&self, reason: &'static str, ip: Option<&str>) {
        crate::metrics::sso_refusal(reason);
        let now = self.ports.clock.now();
        if let Some(closed) = self.refusals.count(reason, ip, now) {
            self.audit_refusals(closed, now).await;
        }
    }

    /// Writes the refusals gathered so far to the audit log once their
    /// minute has ended, or now with `force` (at shutdown). The server
    /// calls it periodically, so a quiet minute is written too.
    pub async fn flush_refusals(&self, force: bool) {
        let now = self.ports.clock.now();
        if let Some(window) = self.refusals.take(now, force) {
            self.audit_refusals(window, now).await;
        }
    }

    async fn audit_refusals(&self, window: Window, now: DateTime<Utc>) {
        let total: u64 = window.counts.values().sum();
        let ended = (window.started + REFUSAL_WINDOW).min(now);
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::SsoFailed,
                actor: None,
                subject: None,
                client_id: None,
                ip: None,
                details: serde_json::json!({
                    "issuer": self.sso.issuer,
                    "refusals": total,
                    "reasons": window.counts,
                    "from": window.started,
                    "until": ended,
                    "addresses": window.addresses,
                    "addresses_named_at_most": ADDRESSES_NAMED,
                }),
                at: now,
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_gather_per_window_and_name_few_addresses() {
        let tally = RefusalTally::default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        for i in 0..50 {
            let ip = format!("192.0.2.{i}");
            assert!(tally.count("invalid_sso_state", Some(&ip), t0 + Duration::seconds(i / 2)).is_none());
        }
        assert!(tally.count("access_denied", None, t0 + Duration::seconds(59)).is_none());
        assert!(tally.take(t0 + Duration::seconds(59), false).is_none(), "the minute is not over");
        let Some(closed) = tally.count("invalid_sso_state", None, t0 + Duration::seconds(60)) else {
            panic!("the refusal after the minute closes it");
        };
        assert_eq!(closed.counts.get("invalid_sso_state"), Some(&50));
        assert_eq!(closed.counts.get("access_denied"), Some(&1));
        assert_eq!(closed.addresses.len(), ADDRESSES_NAMED);
        let Some(next) = tally.take(t0 + Duration::seconds(61), true) else {
            panic!("forced: the window in progress");
        };
        assert_eq!((next.started, next.counts.values().sum::<u64>()), (t0 + Duration::seconds(60), 1));
        assert!(tally.take(t0 + Duration::hours(1), true).is_none(), "nothing left");
    }
}
