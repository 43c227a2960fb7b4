//! Domain error types. HTTP status codes are decided at the edge, not here.

use std::borrow::Cow;

/// The OAuth error codes Gatehouse answers with. `as_str` (and `Display`)
/// is the exact wire string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    ExpiredToken,
    /// RFC 9449 §5: the DPoP proof is missing, malformed or does not match.
    InvalidDpopProof,
    /// RFC 9449 §8: the proof must carry the server's current nonce.
    UseDpopNonce,
    /// Gatehouse's device confirmation (docs/api.md): the `confirmation_code`
    /// sent is not the one the approving browser shows. The request stays
    /// approved for the right code, until too many wrong ones deny it.
    ConfirmationFailed,
}

impl OAuthErrorCode {
    /// The wire string, also the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::AuthorizationPending => "authorization_pending",
            OAuthErrorCode::SlowDown => "slow_down",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::ExpiredToken => "expired_token",
            OAuthErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            OAuthErrorCode::UseDpopNonce => "use_dpop_nonce",
            OAuthErrorCode::ConfirmationFailed => "confirmation_failed",
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error answer: code, a human-readable description, and for
/// `slow_down` the new polling interval.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: Cow<'static, str>,
    pub interval: Option<u32>,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: OAuthErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self { code, description: description.into(), interval: None }
    }
}

/// A storage fault (database or state store unreachable, query failed).
/// The edge turns it into 503 with `Retry-After`: Gatehouse fails closed.
/// The underlying error is kept as the `source`, so a log line written with
/// [`StoreError::report`] carries the whole chain (the driver's error and
/// the I/O error beneath it); none of it is ever sent to clients.
#[derive(Debug, thiserror::Error)]
#[error("storage unavailable: {message}")]
pub struct StoreError {
    message: Cow<'static, str>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// A fault described in words (no underlying error).
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self { message: message.into(), source: None }
    }

    /// Wraps an error, keeping it as the source.
    pub fn from_err(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { message: err.to_string().into(), source: Some(Box::new(err)) }
    }

    /// This error and every cause beneath the wrapped one, for logs:
    /// `storage unavailable: <error>: <its cause>: …`.
    pub fn report(&self) -> String {
        let mut report = self.to_string();
        // The wrapped error's own message is already in ours.
        let mut cause = self.source.as_deref().and_then(std::error::Error::source);
        while let Some(err) = cause {
            report.push_str(": ");
            report.push_str(&err.to_string());
            cause = err.source();
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("pool timed out")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_store_error_keeps_its_cause_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err = StoreError::from_err(Outer(io));
        assert_eq!(err.to_string(), "storage unavailable: pool timed out");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(err.report(), "storage unavailable: pool timed out: connection refused");
        assert_eq!(StoreError::new("lock poisoned").report(), "storage unavailable: lock poisoned");
    }
}
