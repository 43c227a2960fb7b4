//! Applying the rate limits: which keys a request is checked against, and
//! what a refusal does (logged with its key type, counted in the metrics).
//! The use cases decide *when* to check; this decides *how*.

use super::{Limiter, RateCheck, RateLimitSettings, RateLimited, RateMode, network_of};
use crate::clock::Clock;
use crate::error::StoreError;
use crate::ports::RateLimiter;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where a browser or API request comes from, as the limits key it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visitor {
    /// The client address (`X-Forwarded-For` only from trusted proxies).
    pub ip: Option<String>,
    /// Whether `ip` is the client's own address: false when the edge fell
    /// back to a proxy's (a forwarding header it could not read). The
    /// limits count either; no approval-policy network rule matches the
    /// second.
    pub ip_proven: bool,
    /// The browser session's id, when it has one.
    pub session_id: Option<String>,
    /// The browser's own id (kept across sign-out and sign-in, unlike the
    /// session's), when it has one: one person per code tells a second
    /// person from the same browser switching accounts by it.
    pub browser: Option<String>,
    /// The browser session signed in (or stepped up) with a passkey: what
    /// a client's `approver_auth = phishing_resistant` asks of a local
    /// account.
    pub passkey: bool,
}

impl Visitor {
    /// A visitor known only by an address it was seen to come from (API
    /// calls have no session).
    pub fn from_ip(ip: Option<String>) -> Self {
        Self { ip_proven: ip.is_some(), ip, session_id: None, browser: None, passkey: false }
    }

    /// The address as the approval policies judge it: `None` unless proven.
    pub fn proven_address(&self) -> Option<std::net::IpAddr> {
        self.ip_proven.then(|| crate::formats::network::address(self.ip.as_deref())).flatten()
    }
}

/// Why a limited operation did not run.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// The limiter's state could not be read: fail closed, never "not limited".
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Lets a use-case error take a `LimitError`: every error a limit can cause
/// has a `RateLimited` and an `Unavailable` variant, and a `LimitError`
/// becomes the matching one. Invoked beside each such enum.
macro_rules! from_limit_error {
    ($error:ty) => {
        impl From<$crate::rate_limit::LimitError> for $error {
            fn from(err: $crate::rate_limit::LimitError) -> Self {
                match err {
                    $crate::rate_limit::LimitError::RateLimited(e) => Self::RateLimited(e),
                    $crate::rate_limit::LimitError::Unavailable(e) => Self::Unavailable(e),
                }
            }
        }
    };
}
pub(crate) use from_limit_error;

/// The rate limits over the shared limiter state.
#[derive(Clone)]
pub struct RateLimitService {
    limiter: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
    settings: Arc<RateLimitSettings>,
    /// When this instance last logged the code-failure alarm (ms since the
    /// epoch), so a sustained attack logs once a minute, not per guess.
    alarm_logged_at_ms: Arc<AtomicI64>,
}

/// How often one instance repeats the code-failure alarm's warning.
const ALARM_LOG_EVERY_MS: i64 = 60_000;

/// Subjects longer than this (they come from input, such as a typed
/// email) are stored as their hash, so a key's size is bounded.
const MAX_SUBJECT_BYTES: usize = 128;

impl RateLimitService {
    pub(crate) fn new(limiter: Arc<dyn RateLimiter>, clock: Arc<dyn Clock>, settings: Arc<RateLimitSettings>) -> Self {
        Self { limiter, clock, settings, alarm_logged_at_ms: Arc::new(AtomicI64::new(i64::MIN)) }
    }

    /// Whether two client addresses are in the same network as the limits
    /// count them (one IPv4 address, or one IPv6 prefix).
    pub fn same_network(&self, a: &str, b: &str) -> bool {
        network_of(a, self.settings.ipv6_prefix) == network_of(b, self.settings.ipv6_prefix)
    }

    /// Spends one unit from each of `keys` (limiter, subject), or none if any
    /// is spent out. Keys without a subject or with the limiter off are skipped.
    pub(crate) async fn take(&self, keys: &[(Limiter, Option<&str>)]) -> Result<(), LimitError> {
        self.check(keys, RateMode::Take).await
    }

    /// Spends one of the approvals of the person `subject`: local accounts
    /// and SSO subjects alike.
    pub(crate) async fn take_approval(&self, subject: &crate::model::SubjectId) -> Result<(), LimitError> {
        let approver = format!("{} {}", subject.issuer, subject.id);
        self.take(&[(Limiter::ApprovalsPerAccount, Some(&approver))]).await
    }

    /// Gives one unit back to each of `keys` (after a reserved attempt
    /// succeeded). A failure to give it back only over-counts, so it is
    /// logged, not answered.
    pub(crate) async fn refund(&self, keys: &[(Limiter, Option<&str>)]) {
        if let Err(err) = self.check(keys, RateMode::Refund).await {
            tracing::warn!(error = %err, "could not give back a rate-limit unit");
        }
    }

    async fn check(&self, keys: &[(Limiter, Option<&str>)], mode: RateMode) -> Result<(), LimitError> {
        let checks = self.checks(keys);
        if checks.is_empty() {
            return Ok(());
        }
        match self.limiter.check(&checks, mode, self.clock.now()).await? {
            None => Ok(()),
            Some(_) if mode == RateMode::Refund => Ok(()),
            Some(limited) => Err(Self::refused(limited)),
        }
    }

    /// The checks for `keys`: those with a subject and with the limiter on.
    pub(crate) fn checks(&self, keys: &[(Limiter, Option<&str>)]) -> Vec<RateCheck> {
        keys.iter()
            .filter_map(|&(limiter, subject)| {
                let quota = self.settings.quota(limiter)?;
                let subject = subject.filter(|s| !s.is_empty())?;
                Some(RateCheck { limiter, key: self.key_of(limiter, subject), quota })
            })
            .collect()
    }

    /// Spends one of the requests `ip` may still make for `client_id` once
    /// that client's own quota is spent: `Ok(true)` if one was left.
    /// Without an address, or with the reserve off, there is none.
    pub(crate) async fn take_reserved(&self, client_id: &str, ip: Option<&str>) -> Result<bool, LimitError> {
        let limiter = Limiter::DeviceAuthorizationReservedPerIp;
        let (Some(quota), Some(ip)) = (self.settings.quota(limiter), ip.filter(|ip| !ip.is_empty())) else {
            return Ok(false);
        };
        let key = format!("{}:{}", self.key_of(limiter, ip), bounded(client_id));
        let check = RateCheck { limiter, key, quota };
        Ok(self.limiter.check(&[check], RateMode::Take, self.clock.now()).await?.is_none())
    }

    /// A refusal, logged with its key type (never the key) and counted.
    pub(crate) fn refused(limited: RateLimited) -> LimitError {
        tracing::warn!(
            limiter = limited.limiter.as_str(),
            key_type = limited.limiter.key_type().as_str(),
            retry_after_ms = limited.retry_after_ms(),
            "rate limited"
        );
        crate::metrics::rate_limited(limited.limiter.as_str());
        LimitError::RateLimited(limited)
    }

    /// Code-entry failures of `visitor` (per address and per session).
    pub(crate) fn code_failure_keys(visitor: &Visitor) -> [(Limiter, Option<&str>); 2] {
        [
            (Limiter::CodeFailuresPerIp, visitor.ip.as_deref()),
            (Limiter::CodeFailuresPerSession, visitor.session_id.as_deref()),
        ]
    }

    /// Runs `attempt` under failure `keys`: one unit is reserved first, so
    /// once they are spent even the right answer is refused, and parallel
    /// attempts cannot all pass a check before any failure is counted; the
    /// unit is given back when the attempt succeeds (`Ok((_, true))`), so
    /// only failures count, and a success does not reset earlier ones.
    pub(crate) async fn failures_of<T, E: From<LimitError>>(
        &self,
        keys: &[(Limiter, Option<&str>)],
        attempt: impl std::future::Future<Output = Result<(T, bool), E>>,
    ) -> Result<T, E> {
        self.take(keys).await?;
        let (answer, succeeded) = attempt.await?;
        if succeeded {
            self.refund(keys).await;
        }
        Ok(answer)
    }

    /// `failures_of` for a code typed by `visitor` (per address and per
    /// session): a success is a code that named a pending request. Every
    /// failure also counts toward the alarm across all addresses.
    pub(crate) async fn code_failures_of<T, E: From<LimitError>>(
        &self,
        visitor: &Visitor,
        attempt: impl std::future::Future<Output = Result<(T, bool), E>>,
    ) -> Result<T, E> {
        let keys = Self::code_failure_keys(visitor);
        let attempt = async {
            let (answer, succeeded) = attempt.await?;
            if !succeeded {
                self.count_code_failure().await;
            }
            Ok((answer, succeeded))
        };
        self.failures_of(&keys, attempt).await
    }

    /// `code_failures_of` for a lookup that can only fail in the store.
    pub(crate) async fn code_entry<T>(
        &self,
        visitor: &Visitor,
        attempt: impl std::future::Future<Output = Result<(T, bool), StoreError>>,
    ) -> Result<T, LimitError> {
        self.code_failures_of(visitor, async { attempt.await.map_err(LimitError::from) }).await
    }

    /// Counts one code-entry failure toward the alarm. Past the alarm's
    /// quota the failure is counted in the metrics, and a warning is logged
    /// at most once a minute per instance. Never refuses anything.
    async fn count_code_failure(&self) {
        let checks = self.checks(&[(Limiter::CodeFailuresAlarm, Some("all"))]);
        if checks.is_empty() {
            return;
        }
        let now = self.clock.now();
        match self.limiter.check(&checks, RateMode::Take, now).await {
            Ok(None) => {}
            Ok(Some(_)) => {
                crate::metrics::code_failure_alarm();
                let now_ms = now.timestamp_millis();
                let last = self.alarm_logged_at_ms.load(Ordering::Relaxed);
                if now_ms.saturating_sub(last) >= ALARM_LOG_EVERY_MS
                    && self
                        .alarm_logged_at_ms
                        .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    let quota = checks.first().map(|c| c.quota.to_string()).unwrap_or_default();
                    tracing::warn!(
                        alarm = Limiter::CodeFailuresAlarm.as_str(),
                        quota = %quota,
                        "code-entry failures across all addresses are over the alarm threshold: \
                         someone may be guessing user codes from many addresses"
                    );
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not count a code-entry failure toward the alarm"),
        }
    }

    /// The state-store key of `subject` under `limiter`. Addresses count by
    /// network; session ids are secrets, so only their hash is stored; any
    /// other subject is bounded in size.
    fn key_of(&self, limiter: Limiter, subject: &str) -> String {
        let name = limiter.as_str();
        match limiter.key_type() {
            super::KeyType::Session => format!("{name}:{}", hex::encode(&Sha256::digest(subject.as_bytes())[..16])),
            super::KeyType::Ip => format!("{name}:{}", bounded(&network_of(subject, self.settings.ipv6_prefix))),
            _ => format!("{name}:{}", bounded(subject)),
        }
    }
}

/// `subject` itself, or, when it is longer than `MAX_SUBJECT_BYTES`, its
/// SHA-256 (marked so it cannot collide with a short subject).
fn bounded(subject: &str) -> std::borrow::Cow<'_, str> {
    if subject.len() <= MAX_SUBJECT_BYTES {
        std::borrow::Cow::Borrowed(subject)
    } else {
        std::borrow::Cow::Owned(format!("sha256={}", hex::encode(Sha256::digest(subject.as_bytes()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys are built before any state is touched; this never refuses.
    struct Unlimited;

    #[async_trait::async_trait]
    impl RateLimiter for Unlimited {
        async fn check(
            &self,
            _: &[RateCheck],
            _: RateMode,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<Option<RateLimited>, StoreError> {
            Ok(None)
        }
    }

    fn service(ipv6_prefix: u8) -> RateLimitService {
        let mut settings = RateLimitSettings::default();
        settings.ipv6_prefix = ipv6_prefix;
        let clock = Arc::new(crate::clock::ManualClock::new(chrono::DateTime::UNIX_EPOCH));
        let limiter: Arc<dyn RateLimiter> = Arc::new(Unlimited);
        RateLimitService::new(limiter, clock, Arc::new(settings))
    }

    #[test]
    fn keys_count_ipv6_by_prefix_and_bound_long_subjects() {
        let limits = service(64);
        let key = |subject: &str| limits.key_of(Limiter::CodeFailuresPerIp, subject);
        assert_eq!(key("2001:db8:0:1::a"), "code_failures_per_ip:2001:db8:0:1::/64");
        assert_eq!(key("2001:db8:0:1::a"), key("2001:db8:0:1:ffff::b"));
        assert_ne!(key("2001:db8:0:1::a"), key("2001:db8:0:2::a"));
        assert_eq!(key("::ffff:203.0.113.9"), key("203.0.113.9"));
        assert!(limits.same_network("2001:db8:0:1::a", "2001:db8:0:1::b"));
        assert!(!limits.same_network("203.0.113.9", "203.0.113.10"));

        let long = format!("{}@example.com", "a".repeat(10_000));
        let key = limits.key_of(Limiter::SignInFailuresPerAccount, &long);
        assert!(key.len() < 120, "{key}");
        assert_ne!(key, limits.key_of(Limiter::SignInFailuresPerAccount, &format!("b{long}")));
        assert_eq!(
            limits.key_of(Limiter::SignInFailuresPerAccount, "kim@example.com"),
            "sign_in_failures_per_account:kim@example.com"
        );
        assert_eq!(
            service(48).key_of(Limiter::CodeFailuresPerIp, "2001:db8:0:1::a"),
            "code_failures_per_ip:2001:db8::/48"
        );
    }
}
