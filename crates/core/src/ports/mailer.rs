//! Email to people: the approval notice and password messages. The adapter
//! queues and sends off the request path, so a slow or unreachable mail
//! server never slows an approval or tells a caller whether an address has
//! an account.

/// What an email is about (its metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    /// A device or app was approved in the person's name.
    DeviceApproved,
    /// A link to choose a new password.
    PasswordReset,
    /// The password was changed or reset.
    PasswordChanged,
    /// A second person took up a code the person had (or the other way
    /// round), so its sign-in was stopped.
    CodeShared,
    /// A passkey was added to the account.
    PasskeyAdded,
    /// A passkey was removed from the account.
    PasskeyRemoved,
}

impl EmailKind {
    /// The stable name, in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::DeviceApproved => "device_approved",
            EmailKind::PasswordReset => "password_reset",
            EmailKind::PasswordChanged => "password_changed",
            EmailKind::CodeShared => "code_shared",
            EmailKind::PasskeyAdded => "passkey_added",
            EmailKind::PasskeyRemoved => "passkey_removed",
        }
    }
}

/// One plain-text email to one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub kind: EmailKind,
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Sends email, when a mail server is configured.
pub trait Mailer: Send + Sync {
    /// Whether email goes anywhere (pages offer the password reset only then).
    fn enabled(&self) -> bool;
    /// Queues `email` and returns at once. It never fails the caller: a full
    /// queue or a mail server that keeps refusing is counted and logged by
    /// the adapter.
    fn queue(&self, email: Email);
}

/// No mail server: nothing is sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMailer;

impl Mailer for NoMailer {
    fn enabled(&self) -> bool {
        false
    }

    fn queue(&self, email: Email) {
        tracing::debug!(kind = email.kind.as_str(), "no mail server is configured; email not sent");
    }
}
