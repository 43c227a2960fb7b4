//! Domain error types. HTTP status codes are decided at the edge, not here.

use std::borrow::Cow;

/// The OAuth error codes Gatehouse answers with. `Display` is the exact wire string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OAuthErrorCode {
    #[error("invalid_request")]
    InvalidRequest,
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_grant")]
    InvalidGrant,
    #[error("unauthorized_client")]
    UnauthorizedClient,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope")]
    InvalidScope,
    #[error("authorization_pending")]
    AuthorizationPending,
    #[error("slow_down")]
    SlowDown,
    #[error("access_denied")]
    AccessDenied,
    #[error("expired_token")]
    ExpiredToken,
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
#[derive(Debug, thiserror::Error)]
#[error("storage unavailable: {0}")]
pub struct StoreError(pub String);

impl StoreError {
    /// Wraps any error's message; the message is logged, never sent to clients.
    pub fn from_err(err: impl std::fmt::Display) -> Self {
        Self(err.to_string())
    }
}
