//! The typed error every server function returns.

use serde::{Deserialize, Serialize};
use server_fn_error::*;

mod server_fn_error {
    pub use leptos::server_fn::codec::JsonEncoding;
    pub use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
}

/// Error codes of the page-facing server functions (SPEC §3). Serialized as
/// the snake_case wire string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppErrorCode {
    /// No signed-in session where one is required.
    NoSession,
    /// Signed in, but without the rights this needs (admin pages).
    Forbidden,
    CsrfMismatch,
    ExpiredOrUnknown,
    AlreadyResolved,
    ApproveInProgress,
    BearerAuthDisabled,
    InvalidCredentials,
    InvalidRequest,
    InvalidEmail,
    WeakPassword,
    PasswordTooLong,
    EmailTaken,
    /// The change would leave no active admin.
    LastAdmin,
    NotFound,
    InvalidClientId,
    InvalidScope,
    ClientIdTaken,
    /// The code given to start an SSO sign-in names no pending request.
    InvalidUserCode,
    /// The identity provider could not be reached.
    SsoInitiateFailed,
    InvalidSsoState,
    InvalidSsoAssertion,
    /// The person cancelled (or was refused) at the identity provider.
    AccessDenied,
    UserCodeNotPending,
    InvalidSession,
    SessionAlreadyConsumed,
    UserCodeMismatch,
    /// A rate limit refused the request (429); try again later.
    RateLimited,
    /// Storage is unreachable, or sign-in is busy; try again shortly.
    TemporarilyUnavailable,
    ServerError,
}

/// Every code, for parsing the wire string.
const ALL_CODES: [AppErrorCode; 30] = [
    AppErrorCode::NoSession,
    AppErrorCode::Forbidden,
    AppErrorCode::CsrfMismatch,
    AppErrorCode::ExpiredOrUnknown,
    AppErrorCode::AlreadyResolved,
    AppErrorCode::ApproveInProgress,
    AppErrorCode::BearerAuthDisabled,
    AppErrorCode::InvalidCredentials,
    AppErrorCode::InvalidRequest,
    AppErrorCode::InvalidEmail,
    AppErrorCode::WeakPassword,
    AppErrorCode::PasswordTooLong,
    AppErrorCode::EmailTaken,
    AppErrorCode::LastAdmin,
    AppErrorCode::NotFound,
    AppErrorCode::InvalidClientId,
    AppErrorCode::InvalidScope,
    AppErrorCode::ClientIdTaken,
    AppErrorCode::InvalidUserCode,
    AppErrorCode::SsoInitiateFailed,
    AppErrorCode::InvalidSsoState,
    AppErrorCode::InvalidSsoAssertion,
    AppErrorCode::AccessDenied,
    AppErrorCode::UserCodeNotPending,
    AppErrorCode::InvalidSession,
    AppErrorCode::SessionAlreadyConsumed,
    AppErrorCode::UserCodeMismatch,
    AppErrorCode::RateLimited,
    AppErrorCode::TemporarilyUnavailable,
    AppErrorCode::ServerError,
];

impl AppErrorCode {
    /// The wire string, as used in `?error=` after a form post.
    pub fn as_str(self) -> &'static str {
        match self {
            AppErrorCode::NoSession => "no_session",
            AppErrorCode::Forbidden => "forbidden",
            AppErrorCode::CsrfMismatch => "csrf_mismatch",
            AppErrorCode::ExpiredOrUnknown => "expired_or_unknown",
            AppErrorCode::AlreadyResolved => "already_resolved",
            AppErrorCode::ApproveInProgress => "approve_in_progress",
            AppErrorCode::BearerAuthDisabled => "bearer_auth_disabled",
            AppErrorCode::InvalidCredentials => "invalid_credentials",
            AppErrorCode::InvalidRequest => "invalid_request",
            AppErrorCode::InvalidEmail => "invalid_email",
            AppErrorCode::WeakPassword => "weak_password",
            AppErrorCode::PasswordTooLong => "password_too_long",
            AppErrorCode::EmailTaken => "email_taken",
            AppErrorCode::LastAdmin => "last_admin",
            AppErrorCode::NotFound => "not_found",
            AppErrorCode::InvalidClientId => "invalid_client_id",
            AppErrorCode::InvalidScope => "invalid_scope",
            AppErrorCode::ClientIdTaken => "client_id_taken",
            AppErrorCode::InvalidUserCode => "invalid_user_code",
            AppErrorCode::SsoInitiateFailed => "sso_initiate_failed",
            AppErrorCode::InvalidSsoState => "invalid_sso_state",
            AppErrorCode::InvalidSsoAssertion => "invalid_sso_assertion",
            AppErrorCode::AccessDenied => "access_denied",
            AppErrorCode::UserCodeNotPending => "user_code_not_pending",
            AppErrorCode::InvalidSession => "invalid_session",
            AppErrorCode::SessionAlreadyConsumed => "session_already_consumed",
            AppErrorCode::UserCodeMismatch => "user_code_mismatch",
            AppErrorCode::RateLimited => "rate_limited",
            AppErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            AppErrorCode::ServerError => "server_error",
        }
    }

    /// Parses a wire string (unknown strings are not trusted: `None`).
    pub fn parse(value: &str) -> Option<Self> {
        ALL_CODES.into_iter().find(|code| code.as_str() == value)
    }

    /// What a person reads for this error.
    pub fn message(self) -> &'static str {
        match self {
            AppErrorCode::NoSession => "Your session has ended. Please sign in again.",
            AppErrorCode::Forbidden => "This page is for Gatehouse administrators. Your account is not one.",
            AppErrorCode::CsrfMismatch => {
                "This form was out of date, so nothing was changed. Please review the request and try again."
            }
            AppErrorCode::ExpiredOrUnknown => {
                "This code is not valid. It may have expired or already been used. Check your terminal for the current code."
            }
            AppErrorCode::AlreadyResolved => "This request was already approved or denied.",
            AppErrorCode::ApproveInProgress => "This request is being approved in another window.",
            AppErrorCode::BearerAuthDisabled => "Device sign-in is switched off on this server.",
            AppErrorCode::InvalidCredentials => "That email and password do not match an account.",
            AppErrorCode::InvalidRequest => "Something was missing from the form. Please try again.",
            AppErrorCode::InvalidEmail => "That is not a valid email address.",
            AppErrorCode::WeakPassword => "The password must be at least 8 characters long.",
            AppErrorCode::PasswordTooLong => "The password must be at most 1,024 bytes long.",
            AppErrorCode::EmailTaken => "An account with this email already exists.",
            AppErrorCode::LastAdmin => {
                "This is the last active administrator. Make someone else an administrator first."
            }
            AppErrorCode::NotFound => "There is no such account or application.",
            AppErrorCode::InvalidClientId => "A client id is 1 to 64 letters, digits, dots, dashes or underscores.",
            AppErrorCode::InvalidScope => "Give at least one scope, each one of those listed.",
            AppErrorCode::ClientIdTaken => "A client with this id already exists.",
            AppErrorCode::InvalidUserCode => {
                "This code is not waiting for approval. It may have expired or already been used. Check your terminal for the current code."
            }
            AppErrorCode::SsoInitiateFailed => {
                "The sign-in service could not be reached, so nothing was changed. Try again in a moment, or sign in with a Gatehouse account."
            }
            AppErrorCode::InvalidSsoState => {
                "This sign-in link was incomplete, expired or already used, so nothing was changed. Start again from the device page in the same browser."
            }
            AppErrorCode::InvalidSsoAssertion => {
                "The sign-in service did not confirm a usable identity (a verified email address this server accepts), so nothing was changed."
            }
            AppErrorCode::AccessDenied => {
                "Sign-in was cancelled at the sign-in service. Nothing was approved; the request is still waiting if you want to try again."
            }
            AppErrorCode::UserCodeNotPending => {
                "This request is no longer waiting for approval: it expired or was already approved or denied. Check your terminal."
            }
            AppErrorCode::InvalidSession => {
                "Your sign-in for this request has ended or is not valid here. Start again from the device page."
            }
            AppErrorCode::SessionAlreadyConsumed => {
                "This sign-in was already used to approve or deny. Start again from the device page to decide again."
            }
            AppErrorCode::UserCodeMismatch => {
                "The code does not match the request you signed in for, so nothing was changed. Start again from the device page."
            }
            AppErrorCode::RateLimited => {
                "There have been too many attempts, so Gatehouse is pausing them for a while to keep your account safe. Nothing was changed. Please wait a few minutes, then try again."
            }
            AppErrorCode::TemporarilyUnavailable => "Gatehouse is briefly unavailable. Please try again in a moment.",
            AppErrorCode::ServerError => "Something went wrong on our side. Please try again.",
        }
    }
}

/// A server-function error: `{"error": "...", "error_description": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error:?}: {error_description}")]
pub struct AppError {
    pub error: AppErrorCode,
    pub error_description: String,
    /// For `rate_limited`: how long to wait, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl AppError {
    /// An error with its standard message as description.
    pub fn new(code: AppErrorCode) -> Self {
        Self { error: code, error_description: code.message().to_owned(), retry_after_ms: None }
    }

    /// A rate-limit refusal, saying when to try again.
    pub fn rate_limited(retry_after_ms: u64) -> Self {
        Self {
            error: AppErrorCode::RateLimited,
            error_description: format!(
                "There have been too many attempts, so Gatehouse is pausing them to keep your account safe. Nothing was changed. Please try again {}.",
                wait_in_words(retry_after_ms.div_ceil(1000))
            ),
            retry_after_ms: Some(retry_after_ms),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self.error {
            AppErrorCode::NoSession => 401,
            AppErrorCode::Forbidden => 403,
            AppErrorCode::CsrfMismatch => 403,
            AppErrorCode::ExpiredOrUnknown => 404,
            AppErrorCode::AlreadyResolved | AppErrorCode::ApproveInProgress => 409,
            AppErrorCode::BearerAuthDisabled | AppErrorCode::TemporarilyUnavailable => 503,
            AppErrorCode::InvalidCredentials => 401,
            AppErrorCode::InvalidRequest
            | AppErrorCode::InvalidEmail
            | AppErrorCode::WeakPassword
            | AppErrorCode::PasswordTooLong
            | AppErrorCode::InvalidClientId
            | AppErrorCode::InvalidScope => 400,
            AppErrorCode::EmailTaken | AppErrorCode::LastAdmin | AppErrorCode::ClientIdTaken => 409,
            AppErrorCode::NotFound => 404,
            AppErrorCode::InvalidUserCode
            | AppErrorCode::InvalidSsoState
            | AppErrorCode::InvalidSsoAssertion
            | AppErrorCode::AccessDenied
            | AppErrorCode::UserCodeMismatch => 400,
            AppErrorCode::SsoInitiateFailed => 502,
            AppErrorCode::UserCodeNotPending => 409,
            AppErrorCode::InvalidSession | AppErrorCode::SessionAlreadyConsumed => 401,
            AppErrorCode::RateLimited => 429,
            AppErrorCode::ServerError => 500,
        }
    }
}

/// "in about 6 minutes": a wait, rounded up, in plain words.
pub fn wait_in_words(secs: u64) -> String {
    match secs {
        0..=59 => "in a minute".to_owned(),
        60..=3599 => match secs.div_ceil(60) {
            1 => "in about a minute".to_owned(),
            minutes => format!("in about {minutes} minutes"),
        },
        _ => match secs.div_ceil(3600) {
            1 => "in about an hour".to_owned(),
            hours => format!("in about {hours} hours"),
        },
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// On the server this runs, inside the request, when a call's arguments
    /// cannot be read (a missing or malformed field): the answer is then a
    /// 400, and a plain form post (JavaScript off) is sent to the friendly
    /// error page instead of seeing JSON.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let code = match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) | ServerFnErrorErr::Deserialization(_) => {
                AppErrorCode::InvalidRequest
            }
            _ => AppErrorCode::ServerError,
        };
        let err = AppError::new(code);
        #[cfg(feature = "ssr")]
        crate::server_fns::context::fail(err.clone(), crate::navigation::ERROR_PAGE);
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_serialize_as_wire_strings() {
        for code in ALL_CODES {
            assert_eq!(AppErrorCode::parse(code.as_str()), Some(code));
            assert_eq!(serde_json::to_string(&code).ok(), Some(format!("\"{}\"", code.as_str())));
        }
        assert_eq!(AppErrorCode::parse("<script>"), None);
    }

    #[test]
    fn waits_read_as_plain_words() {
        assert_eq!(wait_in_words(1), "in a minute");
        assert_eq!(wait_in_words(61), "in about 2 minutes");
        assert_eq!(wait_in_words(360), "in about 6 minutes");
        assert_eq!(wait_in_words(3600), "in about an hour");
        let limited = AppError::rate_limited(360_000);
        assert_eq!(limited.status(), 429);
        assert!(limited.error_description.contains("in about 6 minutes"));
        let json = serde_json::to_value(&limited).unwrap_or_default();
        assert_eq!(json["error"], "rate_limited");
        assert_eq!(json["retry_after_ms"], 360_000);
        assert!(
            serde_json::to_value(AppError::new(AppErrorCode::NotFound))
                .unwrap_or_default()
                .get("retry_after_ms")
                .is_none()
        );
    }
}
