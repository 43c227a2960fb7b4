//! The typed error every server function returns.

use serde::{Deserialize, Serialize};
use server_fn_error::*;

mod server_fn_error {
    pub use leptos::server_fn::codec::JsonEncoding;
    pub use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
}

/// Declares [`AppErrorCode`] from one table: each code's variant, wire
/// string, HTTP status and the message a person reads, side by side, so a
/// new code cannot be added to one list and forgotten in another.
macro_rules! app_error_codes {
    ($($(#[$doc:meta])* $code:ident = $wire:literal, $status:literal, $message:expr;)*) => {
        /// Error codes of the page-facing server functions (SPEC §3).
        /// Serialized as the snake_case wire string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum AppErrorCode {
            $($(#[$doc])* $code,)*
        }

        /// Every code, for parsing the wire string.
        const ALL_CODES: &[AppErrorCode] = &[$(AppErrorCode::$code),*];

        impl AppErrorCode {
            /// The wire string, as used in `?error=` after a form post.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AppErrorCode::$code => $wire,)*
                }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> u16 {
                match self {
                    $(AppErrorCode::$code => $status,)*
                }
            }

            /// What a person reads for this error.
            pub fn message(self) -> &'static str {
                match self {
                    $(AppErrorCode::$code => $message,)*
                }
            }
        }
    };
}

app_error_codes! {
    /// No signed-in session where one is required.
    NoSession = "no_session", 401,
        "Your session has ended. Please sign in again.";
    /// Signed in, but without the rights this needs (admin pages).
    Forbidden = "forbidden", 403,
        "This page is for Gatehouse administrators. Your account is not one.";
    CsrfMismatch = "csrf_mismatch", 403,
        "This form was out of date, so nothing was changed. Please review the request and try again.";
    ExpiredOrUnknown = "expired_or_unknown", 404,
        "This code is not valid. It may have expired or already been used. Check your terminal for the current code.";
    AlreadyResolved = "already_resolved", 409,
        "This request was already approved or denied.";
    ApproveInProgress = "approve_in_progress", 409,
        "This request is being approved in another window.";
    BearerAuthDisabled = "bearer_auth_disabled", 503,
        "Device sign-in is switched off on this server.";
    /// A request for the `admin` scope, approved by someone who is not an admin.
    AdminRequired = "admin_required", 403,
        "This request asks for administrator rights, and only a Gatehouse administrator can approve it. Nothing was approved; deny it if you did not expect it.";
    /// The client's approval policy: the approver is not on the allowed
    /// network (the page says which networks were compared).
    NetworkNotAllowed = "network_not_allowed", 403,
        "This app accepts approvals only from the device's network or your organisation's listed networks, and this browser is on another. Nothing was approved.";
    /// The client's approval policy: the code was entered too long after it was shown.
    CodeTooOld = "code_too_old", 403,
        "This code is too old: this app's codes must be entered soon after they are shown. Nothing was approved. Start the sign-in again on your device.";
    /// One person per code: someone else had already taken this code up.
    CodeShared = "code_shared", 403,
        "Someone else had already entered this code, so Gatehouse stopped the sign-in. Nothing was approved for you.";
    /// The client's approval policy: this person may not approve its requests.
    ApproverNotAllowed = "approver_not_allowed", 403,
        "Your account may not approve sign-ins for this app. Nothing was approved.";
    /// The approval-policy form held something that is not a setting.
    InvalidApprovalPolicy = "invalid_approval_policy", 400,
        "Nothing was changed: check the approval policy. Networks are ranges like 10.0.0.0/8 or 2001:db8::/32, separated by commas; \"Listed networks\" needs at least one; a code lives 60 to 1800 seconds and may be entered for 10 to 1800; approvers are everyone, admins, or group:NAME separated by commas.";
    /// A password session where a passkey is required: a client's
    /// `approver_auth`, or admin rights under GATEHOUSE_ADMINS_REQUIRE_PASSKEY.
    PasskeyRequired = "passkey_required", 403,
        "This needs a passkey, and you signed in with a password. Use your passkey to continue; if you have none yet, add one under Security in your settings.";
    /// The public URL does not allow passkeys (the description says why).
    PasskeysOff = "passkeys_off", 503,
        "Passkeys are not available on this server. Sign in with your password or your organisation's sign-in service.";
    /// A passkey ceremony that expired, was used, or never started.
    PasskeyCeremonyExpired = "passkey_ceremony_expired", 400,
        "This passkey request expired or was already used, so nothing was changed. Please try again.";
    /// The browser's passkey answer did not verify.
    PasskeyFailed = "passkey_failed", 400,
        "That passkey could not be checked, so nothing was changed. Try again, or sign in another way.";
    /// A passkey Gatehouse does not know (or of a disabled account).
    PasskeyUnknown = "passkey_unknown", 401,
        "This passkey is not registered with Gatehouse. Sign in another way, then add it under Security in your settings.";
    /// A step-up answered with someone else's passkey.
    PasskeyWrongAccount = "passkey_wrong_account", 403,
        "That passkey belongs to another account, so nothing was changed. Use one of your own passkeys.";
    PasskeyAlreadyRegistered = "passkey_already_registered", 409,
        "This passkey is already registered, so nothing was added.";
    InvalidPasskeyName = "invalid_passkey_name", 400,
        "Name the passkey in 1 to 60 characters, such as \"work laptop\". Nothing was changed.";
    /// The last passkey of an account whose password is off.
    LastPasskey = "last_passkey", 409,
        "This is your last passkey and your password is off, so it was not removed. Turn your password back on, or add another passkey first.";
    /// A step-up, or turning the password off, without a passkey.
    NoPasskey = "no_passkey", 409,
        "You have no passkey yet, so nothing was changed. Add one under Security in your settings first.";
    InvalidCredentials = "invalid_credentials", 401,
        "That email and password do not match an account.";
    InvalidRequest = "invalid_request", 400,
        "Something was missing from the form. Please try again.";
    InvalidEmail = "invalid_email", 400,
        "That is not a valid email address.";
    WeakPassword = "weak_password", 400,
        "The password must be at least 8 characters long.";
    PasswordTooLong = "password_too_long", 400,
        "The password must be at most 1,024 bytes long.";
    /// The current password given to change it is not the account's.
    WrongPassword = "wrong_password", 401,
        "That is not your current password, so nothing was changed.";
    PasswordMismatch = "password_mismatch", 400,
        "The two new passwords are not the same, so nothing was changed. Type the new password twice.";
    /// A reset link that is unknown, expired, used, or void since the
    /// password changed.
    InvalidResetLink = "invalid_reset_link", 400,
        "This password reset link does not work any more: it expired, was already used, or your password changed since it was sent. Ask for a new one.";
    /// No mail server, so no reset links.
    PasswordResetOff = "password_reset_off", 503,
        "This server cannot send email, so passwords cannot be reset here. Ask your Gatehouse administrator for help.";
    /// The signed-in person's password lives at the SSO provider.
    PasswordElsewhere = "password_elsewhere", 409,
        "You sign in through your organisation's sign-in service, so your password is changed there, not here.";
    EmailTaken = "email_taken", 409,
        "An account with this email already exists.";
    /// The change would leave no active admin.
    LastAdmin = "last_admin", 409,
        "This is the last active administrator. Make someone else an administrator first.";
    NotFound = "not_found", 404,
        "There is no such account or application.";
    InvalidClientId = "invalid_client_id", 400,
        "A client id is 1 to 64 letters, digits, dots, dashes or underscores.";
    InvalidScope = "invalid_scope", 400,
        "Give at least one scope, each one of those listed.";
    ClientIdTaken = "client_id_taken", 409,
        "A client with this id already exists.";
    InvalidScopeName = "invalid_scope_name", 400,
        "A scope name is 1 to 64 letters, digits, colons, dots, slashes, dashes or underscores.";
    InvalidScopeDescription = "invalid_scope_description", 400,
        "Describe the scope in 1 to 200 characters of plain words.";
    ScopeExists = "scope_exists", 409,
        "A scope with this name already exists.";
    /// Built-in scopes stay, and who may hold them is fixed.
    ScopeBuiltIn = "scope_built_in", 409,
        "Built-in scopes cannot be deleted, and who may hold them cannot change. Their words can.";
    ScopeInUse = "scope_in_use", 409,
        "Clients still allow this scope. Remove it from those clients first.";
    /// The code given to start an SSO sign-in names no pending request.
    InvalidUserCode = "invalid_user_code", 400,
        "This code is not waiting for approval. It may have expired or already been used. Check your terminal for the current code.";
    /// The identity provider could not be reached.
    SsoInitiateFailed = "sso_initiate_failed", 502,
        "The sign-in service could not be reached, so nothing was changed. Try again in a moment, or sign in with a Gatehouse account.";
    InvalidSsoState = "invalid_sso_state", 400,
        "This sign-in link was incomplete, expired or already used, so nothing was changed. Start again from the device page in the same browser.";
    InvalidSsoAssertion = "invalid_sso_assertion", 400,
        "The sign-in service did not confirm a usable identity (a verified email address this server accepts), so nothing was changed.";
    /// The person cancelled (or was refused) at the identity provider.
    AccessDenied = "access_denied", 400,
        "Sign-in was cancelled at the sign-in service. Nothing was approved; the request is still waiting if you want to try again.";
    UserCodeNotPending = "user_code_not_pending", 409,
        "This request is no longer waiting for approval: it expired or was already approved or denied. Check your terminal.";
    InvalidSession = "invalid_session", 401,
        "Your sign-in for this request has ended or is not valid here. Start again from the device page.";
    SessionAlreadyConsumed = "session_already_consumed", 401,
        "This sign-in was already used to approve or deny. Start again from the device page to decide again.";
    UserCodeMismatch = "user_code_mismatch", 400,
        "The code does not match the request you signed in for, so nothing was changed. Start again from the device page.";
    /// A rate limit refused the request (429); try again later.
    RateLimited = "rate_limited", 429,
        "There have been too many attempts, so Gatehouse is pausing them for a while to keep your account safe. Nothing was changed. Please wait a few minutes, then try again.";
    /// Storage is unreachable, or sign-in is busy; try again shortly.
    TemporarilyUnavailable = "temporarily_unavailable", 503,
        "Gatehouse is briefly unavailable. Please try again in a moment.";
    ServerError = "server_error", 500,
        "Something went wrong on our side. Please try again.";
}

impl AppErrorCode {
    /// Parses a wire string (unknown strings are not trusted: `None`).
    pub fn parse(value: &str) -> Option<Self> {
        ALL_CODES.iter().copied().find(|code| code.as_str() == value)
    }
}

/// A server-function error: `{"error": "...", "error_description": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error:?}: {error_description}")]
pub struct AppError {
    pub error: AppErrorCode,
    pub error_description: String,
    /// For `rate_limited` and `temporarily_unavailable`: how long to wait,
    /// in milliseconds (also sent as `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl AppError {
    /// An error with its standard message as description.
    pub fn new(code: AppErrorCode) -> Self {
        Self { error: code, error_description: code.message().to_owned(), retry_after_ms: None }
    }

    /// `temporarily_unavailable` (503), saying how long to wait.
    pub fn unavailable(retry_after_ms: u64) -> Self {
        Self { retry_after_ms: Some(retry_after_ms), ..Self::new(AppErrorCode::TemporarilyUnavailable) }
    }

    /// How long to wait before trying again, in whole seconds, if it matters.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_ms.map(|ms| ms.div_ceil(1000))
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
        self.error.status()
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
        crate::server_fns::answer::refuse(err.status(), None, err.error.as_str(), Some(crate::navigation::ERROR_PAGE));
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_serialize_as_wire_strings() {
        for &code in ALL_CODES {
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

    /// The browser bundle cannot depend on the core, so the password rules'
    /// numbers are written in the messages too: they must say the core's.
    #[cfg(feature = "ssr")]
    #[test]
    fn password_messages_say_the_cores_rules() {
        use gatehouse_core::services::accounts::{PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS};
        assert!(AppErrorCode::WeakPassword.message().contains(&format!("at least {PASSWORD_MIN_CHARS} characters")));
        let max = PASSWORD_MAX_BYTES.to_string();
        let spelled = format!("{},{}", &max[..max.len() - 3], &max[max.len() - 3..]);
        assert!(AppErrorCode::PasswordTooLong.message().contains(&format!("at most {spelled} bytes")));
    }
}
