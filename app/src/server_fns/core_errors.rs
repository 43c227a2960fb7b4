//! Every core error as the page-facing `AppError`, in one place. Each
//! conversion also shapes the answer (`answer::refuse`: the status,
//! `Retry-After`, and for a plain form post the redirect to the friendly
//! error page), so an error that travels up with `?` from a page loader or
//! a form action is answered right without the caller saying so. `fail`
//! then sends a refusal the person can act on back to the page it came from.

use super::answer::refuse;
use super::refusals::RefusalView;
use crate::error::{AppError, AppErrorCode};
use gatehouse_core::StoreError;
use gatehouse_core::rate_limit::{LimitError, RateLimited};
use gatehouse_core::services::accounts::{PasswordChangeError, PasswordRuleError, ResetError, ResetRequestError};
use gatehouse_core::services::device_flow::DecideError;
use gatehouse_core::services::passkeys::PasskeyError;
use gatehouse_core::services::sso::SsoError;

/// How long to wait after a fault, in seconds (what the REST edge says too).
const FAULT_RETRY_AFTER_SECS: u64 = 2;

impl AppError {
    /// Answers with this error (status, `Retry-After`, and a plain form
    /// post's redirect to `back`, or to the error page without one).
    pub fn answered(self, back: Option<&str>) -> Self {
        refuse(self.status(), self.retry_after_secs(), self.error.as_str(), back);
        self
    }
}

/// Finishes a refused server call whose page is `back`: a plain form post
/// returns there with the error code (a fault goes to the error page).
pub fn fail(err: AppError, back: &str) -> AppError {
    err.answered(Some(back))
}

/// A storage fault: logged with its cause, answered 503 with `Retry-After`.
/// Gatehouse fails closed.
pub fn unavailable(err: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %err, "storage fault in a server function");
    AppError::unavailable(FAULT_RETRY_AFTER_SECS * 1000).answered(None)
}

/// A rate-limit refusal: 429 with `Retry-After`, saying when to try again.
pub fn rate_limited(limited: RateLimited) -> AppError {
    AppError::rate_limited(limited.retry_after_ms()).answered(None)
}

/// Sign-in is busy (every hashing slot taken): 503, try again in a second.
pub fn busy() -> AppError {
    AppError::unavailable(1000).answered(None)
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        unavailable(err.report())
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(err: tower_sessions::session::Error) -> Self {
        unavailable(err)
    }
}

impl From<LimitError> for AppError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::RateLimited(limited) => rate_limited(limited),
            LimitError::Unavailable(err) => err.into(),
        }
    }
}

impl From<DecideError> for AppError {
    fn from(err: DecideError) -> Self {
        let code = match err {
            DecideError::ExpiredOrUnknown => AppErrorCode::ExpiredOrUnknown,
            DecideError::AlreadyResolved => AppErrorCode::AlreadyResolved,
            DecideError::BearerAuthDisabled => AppErrorCode::BearerAuthDisabled,
            DecideError::AdminRequired => AppErrorCode::AdminRequired,
            DecideError::Refused(refused) => return RefusalView::of(&refused).error().answered(None),
            DecideError::RateLimited(limited) => return rate_limited(limited),
            DecideError::Unavailable(err) => return err.into(),
        };
        AppError::new(code).answered(None)
    }
}

impl From<SsoError> for AppError {
    fn from(err: SsoError) -> Self {
        let code = match err {
            SsoError::InvalidUserCode => AppErrorCode::InvalidUserCode,
            SsoError::ProviderUnreachable => AppErrorCode::SsoInitiateFailed,
            SsoError::InvalidState => AppErrorCode::InvalidSsoState,
            SsoError::InvalidAssertion(_) => AppErrorCode::InvalidSsoAssertion,
            SsoError::ProviderDenied => AppErrorCode::AccessDenied,
            SsoError::UserCodeNotPending => AppErrorCode::UserCodeNotPending,
            SsoError::NoSession => AppErrorCode::NoSession,
            SsoError::InvalidSession => AppErrorCode::InvalidSession,
            SsoError::SessionAlreadyConsumed => AppErrorCode::SessionAlreadyConsumed,
            SsoError::CsrfMismatch => AppErrorCode::CsrfMismatch,
            SsoError::UserCodeMismatch => AppErrorCode::UserCodeMismatch,
            SsoError::BearerAuthDisabled => AppErrorCode::BearerAuthDisabled,
            SsoError::AdminRequired => AppErrorCode::AdminRequired,
            SsoError::Refused(refused) => return RefusalView::of(&refused).error().answered(None),
            SsoError::RateLimited(limited) => return rate_limited(limited),
            SsoError::Unavailable(err) => return err.into(),
        };
        AppError::new(code).answered(None)
    }
}

impl From<PasskeyError> for AppError {
    fn from(err: PasskeyError) -> Self {
        let code = match err {
            PasskeyError::Off(why) => {
                let code = AppErrorCode::PasskeysOff;
                let description = format!("{} ({why})", code.message());
                return AppError { error: code, error_description: description, retry_after_ms: None }.answered(None);
            }
            PasskeyError::RateLimited(limited) => return rate_limited(limited),
            PasskeyError::Unavailable(err) => return err.into(),
            PasskeyError::UnknownCeremony => AppErrorCode::PasskeyCeremonyExpired,
            PasskeyError::Failed(_) => AppErrorCode::PasskeyFailed,
            PasskeyError::UnknownPasskey => AppErrorCode::PasskeyUnknown,
            PasskeyError::WrongAccount => AppErrorCode::PasskeyWrongAccount,
            PasskeyError::AlreadyRegistered => AppErrorCode::PasskeyAlreadyRegistered,
            PasskeyError::InvalidName => AppErrorCode::InvalidPasskeyName,
            PasskeyError::NotFound => AppErrorCode::NotFound,
            PasskeyError::LastPasskey => AppErrorCode::LastPasskey,
            PasskeyError::NoPasskey => AppErrorCode::NoPasskey,
        };
        AppError::new(code).answered(None)
    }
}

impl From<PasswordRuleError> for AppError {
    fn from(err: PasswordRuleError) -> Self {
        let code = match err {
            PasswordRuleError::WeakPassword => AppErrorCode::WeakPassword,
            PasswordRuleError::PasswordTooLong => AppErrorCode::PasswordTooLong,
        };
        AppError::new(code).answered(None)
    }
}

impl From<PasswordChangeError> for AppError {
    fn from(err: PasswordChangeError) -> Self {
        match err {
            PasswordChangeError::WrongPassword => AppError::new(AppErrorCode::WrongPassword).answered(None),
            PasswordChangeError::Rule(rule) => rule.into(),
            PasswordChangeError::RateLimited(limited) => rate_limited(limited),
            PasswordChangeError::Busy => busy(),
            PasswordChangeError::Unavailable(err) => err.into(),
        }
    }
}

impl From<ResetRequestError> for AppError {
    fn from(err: ResetRequestError) -> Self {
        match err {
            ResetRequestError::EmailOff => AppError::new(AppErrorCode::PasswordResetOff).answered(None),
            ResetRequestError::RateLimited(limited) => rate_limited(limited),
            ResetRequestError::Unavailable(err) => err.into(),
        }
    }
}

impl From<ResetError> for AppError {
    fn from(err: ResetError) -> Self {
        match err {
            ResetError::InvalidLink => AppError::new(AppErrorCode::InvalidResetLink).answered(None),
            ResetError::Rule(rule) => rule.into(),
            ResetError::Unavailable(err) => err.into(),
        }
    }
}
