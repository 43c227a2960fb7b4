//! Applying the rate limits: which keys a request is checked against, and
//! what a refusal does (logged with its key type, counted in the metrics).
//! The use cases decide *when* to check; this decides *how*.

use super::{Limiter, RateCheck, RateLimitSettings, RateLimited, RateMode};
use crate::clock::Clock;
use crate::error::StoreError;
use crate::ports::RateLimiter;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Where a browser or API request comes from, as the limits key it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visitor {
    /// The client address (`X-Forwarded-For` only from trusted proxies).
    pub ip: Option<String>,
    /// The browser session's id, when it has one.
    pub session_id: Option<String>,
}

impl Visitor {
    /// A visitor known only by address (API calls have no session).
    pub fn from_ip(ip: Option<String>) -> Self {
        Self { ip, session_id: None }
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
}

impl RateLimitService {
    pub(crate) fn new(limiter: Arc<dyn RateLimiter>, clock: Arc<dyn Clock>, settings: Arc<RateLimitSettings>) -> Self {
        Self { limiter, clock, settings }
    }

    /// Spends one unit from each of `keys` (limiter, subject), or none if any
    /// is spent out. Keys without a subject or with the limiter off are skipped.
    pub(crate) async fn take(&self, keys: &[(Limiter, Option<&str>)]) -> Result<(), LimitError> {
        self.check(keys, RateMode::Take).await
    }

    /// Spends one of the approvals of the person (`email`, `issuer`): local
    /// accounts and SSO subjects alike.
    pub(crate) async fn take_approval(&self, email: &str, issuer: &str) -> Result<(), LimitError> {
        let approver = format!("{email} {issuer}");
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
                Some(RateCheck { limiter, key: key_of(limiter, subject), quota })
            })
            .collect()
    }

    /// A refusal, logged with its key type (never the key) and counted.
    pub(crate) fn refused(limited: RateLimited) -> LimitError {
        tracing::warn!(
            limiter = limited.limiter.as_str(),
            key_type = limited.limiter.key_type().as_str(),
            retry_after_ms = limited.retry_after_ms(),
            "rate limited"
        );
        crate::metrics::rate_limited(limited.limiter);
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

    /// `failures_of` for a code entry by `visitor`: a success is a code that
    /// found a pending request.
    pub(crate) async fn code_entry<T>(
        &self,
        visitor: &Visitor,
        attempt: impl std::future::Future<Output = Result<(T, bool), StoreError>>,
    ) -> Result<T, LimitError> {
        let keys = Self::code_failure_keys(visitor);
        self.failures_of(&keys, async { attempt.await.map_err(LimitError::from) }).await
    }
}

/// The state-store key of `subject` under `limiter`. Session ids are
/// secrets, so only their hash is stored.
fn key_of(limiter: Limiter, subject: &str) -> String {
    match limiter.key_type() {
        super::KeyType::Session => {
            format!("{}:{}", limiter.as_str(), hex::encode(&Sha256::digest(subject.as_bytes())[..16]))
        }
        _ => format!("{}:{subject}", limiter.as_str()),
    }
}
