//! Passkeys: registering them, managing them, signing in with them
//! (`sign_in`), and an admin's view (`admin`).
//!
//! A ceremony's state (the challenge and what the verifier needs to check
//! the answer) is kept in the single-use store under a random id, so a
//! ceremony started on one instance finishes on another; it is taken once,
//! and its lifetime is checked against the injected clock as well as the
//! store's own expiry.

mod admin;
mod sign_in;

use super::Ports;
use crate::error::StoreError;
use crate::model::Account;
use crate::ports::{
    AuditEvent, AuditKind, CeremonyFailure, Email, EmailKind, PasskeyRecord, PasskeyRemoval, PasskeyUser,
    PasswordlessChange,
};
use crate::rate_limit::{Limiter, RateLimitService, RateLimited, Visitor};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use sign_in::SignInMethod;

/// How long a started ceremony may be finished (the browser's own timeout
/// is the same).
pub const CEREMONY_SECS: i64 = 300;
/// The longest passkey name, in characters.
pub const MAX_PASSKEY_NAME_CHARS: usize = 60;
/// Characters in a ceremony id (base62: about 190 bits).
const CEREMONY_ID_CHARS: usize = 32;
const CEREMONY_KEY_PREFIX: &str = "passkey_ceremony:";

/// Why a passkey operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// Passkeys are off on this server, and why.
    #[error("passkeys are off: {0}")]
    Off(String),
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// The ceremony id names nothing: never started, finished already, or
    /// past its lifetime.
    #[error("this passkey request has expired or was already used")]
    UnknownCeremony,
    /// The browser's answer did not verify.
    #[error(transparent)]
    Failed(#[from] CeremonyFailure),
    /// The passkey used is not registered here, or its account is disabled.
    #[error("this passkey is not registered")]
    UnknownPasskey,
    /// A step-up answered with another account's passkey.
    #[error("this passkey belongs to another account")]
    WrongAccount,
    /// The authenticator's credential is already registered.
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    #[error("a passkey's name must be 1 to {MAX_PASSKEY_NAME_CHARS} characters")]
    InvalidName,
    /// No passkey with this id belongs to the account.
    #[error("no such passkey")]
    NotFound,
    /// The last passkey of an account whose password is off.
    #[error("the last passkey cannot be removed while the password is off")]
    LastPasskey,
    /// The account has no passkey (to step up with, or to turn the
    /// password off for).
    #[error("the account has no passkey")]
    NoPasskey,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

crate::rate_limit::from_limit_error!(PasskeyError);

/// A ceremony for the browser: its id (sent back with the answer) and the
/// options for `navigator.credentials.create` or `.get`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub ceremony_id: String,
    pub options: serde_json::Value,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
enum Purpose {
    /// Adding a passkey to this account.
    Register { account: Uuid },
    /// Signing in as whoever the passkey names.
    SignIn,
    /// A signed-in account proving itself again with its passkey.
    StepUp { account: Uuid },
}

/// What the single-use store keeps under a ceremony id.
#[derive(Debug, Serialize, Deserialize)]
struct Ceremony {
    purpose: Purpose,
    state: String,
    expires_at: DateTime<Utc>,
}

/// Passkey use cases.
#[derive(Clone)]
pub struct PasskeyService {
    ports: Ports,
    limits: RateLimitService,
    settings: std::sync::Arc<super::Settings>,
}

impl PasskeyService {
    pub(crate) fn new(ports: Ports, limits: RateLimitService, settings: std::sync::Arc<super::Settings>) -> Self {
        Self { ports, limits, settings }
    }

    /// Whether admin rights need a passkey sign-in or step-up
    /// (`GATEHOUSE_ADMINS_REQUIRE_PASSKEY`).
    pub fn required_for_admins(&self) -> bool {
        self.settings.admins_require_passkey
    }

    /// Why passkeys are off on this server, if they are.
    pub fn off_because(&self) -> Option<String> {
        self.ports.passkey_verifier.off_because()
    }

    fn check_on(&self) -> Result<(), PasskeyError> {
        match self.off_because() {
            Some(why) => Err(PasskeyError::Off(why)),
            None => Ok(()),
        }
    }

    /// Keeps a started ceremony's state; a ceremony start is limited per
    /// address like a sign-in attempt.
    async fn keep(&self, purpose: Purpose, state: String, visitor: &Visitor) -> Result<String, PasskeyError> {
        self.limits.take(&[(Limiter::PasskeyCeremoniesPerIp, visitor.ip.as_deref())]).await?;
        let now = self.ports.clock.now();
        let expires_at = now + Duration::seconds(CEREMONY_SECS);
        let id = crate::random::random_string(
            self.ports.random.as_ref(),
            crate::formats::base62::ALPHABET,
            CEREMONY_ID_CHARS,
        );
        let record = serde_json::to_string(&Ceremony { purpose, state, expires_at })
            .map_err(|e| StoreError::new(e.to_string()))?;
        if !self.ports.single_use.put(&ceremony_key(&id), &record, now, expires_at).await? {
            return Err(StoreError::new("a ceremony id repeated").into());
        }
        Ok(id)
    }

    /// Takes a ceremony's state, once: `UnknownCeremony` when it was never
    /// started, was used, is past its lifetime or is for something else.
    async fn take(&self, id: &str, purpose: Purpose) -> Result<String, PasskeyError> {
        let now = self.ports.clock.now();
        let stored = self.ports.single_use.take(&ceremony_key(id), now).await?.ok_or(PasskeyError::UnknownCeremony)?;
        let ceremony: Ceremony = serde_json::from_str(&stored).map_err(|_| PasskeyError::UnknownCeremony)?;
        if ceremony.purpose != purpose || now >= ceremony.expires_at {
            return Err(PasskeyError::UnknownCeremony);
        }
        Ok(ceremony.state)
    }

    /// The signed-in `account` starts adding a passkey (a discoverable
    /// credential, user verification required), excluding those it has.
    pub async fn start_registration(&self, account: &Account, visitor: &Visitor) -> Result<Started, PasskeyError> {
        self.check_on()?;
        let existing: Vec<String> =
            self.ports.passkeys.list(account.id).await?.into_iter().map(|p| p.credential).collect();
        let user = PasskeyUser { id: account.id, email: &account.email, name: &account.name };
        let start = self.ports.passkey_verifier.start_registration(&user, &existing)?;
        let ceremony_id = self.keep(Purpose::Register { account: account.id }, start.state, visitor).await?;
        Ok(Started { ceremony_id, options: start.options })
    }

    /// Finishes adding a passkey named `name` with the browser's answer.
    /// Audited, and the person is emailed.
    pub async fn finish_registration(
        &self,
        account: &Account,
        ceremony_id: &str,
        name: &str,
        answer: &serde_json::Value,
        visitor: &Visitor,
    ) -> Result<PasskeyRecord, PasskeyError> {
        self.check_on()?;
        let name = checked_name(name)?;
        let state = self.take(ceremony_id, Purpose::Register { account: account.id }).await?;
        let failure_keys = [(Limiter::SignInFailuresPerIp, visitor.ip.as_deref())];
        let verified = self
            .limits
            .failures_of(&failure_keys, async {
                let verified = self.ports.passkey_verifier.finish_registration(&state, answer);
                let ok = verified.is_ok();
                Ok::<_, PasskeyError>((verified, ok))
            })
            .await?;
        let credential = match verified {
            Ok(credential) => credential,
            Err(failure) => {
                self.audit_failure(Some(account.email.clone()), &failure, visitor).await;
                return Err(failure.into());
            }
        };
        let now = self.ports.clock.now();
        let record = PasskeyRecord {
            id: Uuid::new_v4(),
            account_id: account.id,
            credential_id: credential.credential_id,
            name,
            credential: credential.credential,
            backed_up: credential.backed_up,
            created_at: now,
            last_used_at: None,
        };
        if !self.ports.passkeys.add(&record).await? {
            return Err(PasskeyError::AlreadyRegistered);
        }
        self.audit(AuditKind::PasskeyAdded, account, &record, visitor, now).await;
        self.mail(account, EmailKind::PasskeyAdded, &record, visitor, now);
        Ok(record)
    }

    /// The account's passkeys, oldest first.
    pub async fn list(&self, account: &Account) -> Result<Vec<PasskeyRecord>, StoreError> {
        self.ports.passkeys.list(account.id).await
    }

    /// Renames one of the account's passkeys.
    pub async fn rename(&self, account: &Account, id: Uuid, name: &str) -> Result<(), PasskeyError> {
        let name = checked_name(name)?;
        if !self.ports.passkeys.rename(account.id, id, &name).await? {
            return Err(PasskeyError::NotFound);
        }
        Ok(())
    }

    /// Removes one of the account's passkeys (not the last one while the
    /// password is off). Audited, and the person is emailed.
    pub async fn remove(&self, account: &Account, id: Uuid, visitor: &Visitor) -> Result<(), PasskeyError> {
        let Some(record) = self.ports.passkeys.list(account.id).await?.into_iter().find(|p| p.id == id) else {
            return Err(PasskeyError::NotFound);
        };
        match self.ports.passkeys.remove(account.id, id).await? {
            PasskeyRemoval::Removed => {}
            PasskeyRemoval::NotFound => return Err(PasskeyError::NotFound),
            PasskeyRemoval::LastWhilePasswordless => return Err(PasskeyError::LastPasskey),
        }
        let now = self.ports.clock.now();
        self.audit(AuditKind::PasskeyRemoved, account, &record, visitor, now).await;
        self.mail(account, EmailKind::PasskeyRemoved, &record, visitor, now);
        Ok(())
    }

    /// Turns the account's password off ("passkeys only", which needs a
    /// passkey) or back on. Audited.
    pub async fn set_passwordless(
        &self,
        account: &Account,
        passwordless: bool,
        visitor: &Visitor,
    ) -> Result<(), PasskeyError> {
        match self.ports.passkeys.set_passwordless(account.id, passwordless).await? {
            PasswordlessChange::Changed => {}
            PasswordlessChange::Unchanged => return Ok(()),
            PasswordlessChange::NoPasskey => return Err(PasskeyError::NoPasskey),
            PasswordlessChange::NotFound => return Err(PasskeyError::NotFound),
        }
        self.ports
            .audit(AuditEvent {
                kind: if passwordless { AuditKind::PasswordTurnedOff } else { AuditKind::PasswordTurnedOn },
                actor: Some(crate::actor::Actor::Account { email: account.email.clone() }),
                subject: Some(account.email.clone()),
                client_id: None,
                ip: visitor.ip.clone(),
                details: serde_json::json!({ "account_id": account.id }),
                at: self.ports.clock.now(),
            })
            .await;
        Ok(())
    }

    async fn audit(
        &self,
        kind: AuditKind,
        account: &Account,
        record: &PasskeyRecord,
        visitor: &Visitor,
        at: DateTime<Utc>,
    ) {
        self.ports
            .audit(AuditEvent {
                kind,
                actor: Some(crate::actor::Actor::Account { email: account.email.clone() }),
                subject: Some(account.email.clone()),
                client_id: None,
                ip: visitor.ip.clone(),
                details: serde_json::json!({ "passkey_id": record.id, "name": record.name }),
                at,
            })
            .await;
    }

    /// A ceremony whose answer did not verify, without the answer itself.
    async fn audit_failure(&self, subject: Option<String>, failure: &CeremonyFailure, visitor: &Visitor) {
        let kind = match failure {
            CeremonyFailure::CounterWentBack => AuditKind::PasskeyCloneSuspected,
            _ => AuditKind::PasskeyFailed,
        };
        self.ports
            .audit(AuditEvent {
                kind,
                actor: None,
                subject,
                client_id: None,
                ip: visitor.ip.clone(),
                details: serde_json::json!({ "reason": failure.to_string() }),
                at: self.ports.clock.now(),
            })
            .await;
    }

    fn mail(&self, account: &Account, kind: EmailKind, record: &PasskeyRecord, visitor: &Visitor, at: DateTime<Utc>) {
        let Some(base_url) = super::notifications::email_base(&self.settings, self.ports.mailer.as_ref()) else {
            return;
        };
        let (subject, what) = match kind {
            EmailKind::PasskeyAdded => ("A passkey was added to your account", "added to"),
            _ => ("A passkey was removed from your account", "removed from"),
        };
        let text = format!(
            "The passkey {name} was {what} your account, {email}.\n\n\
             From:  {from}\n\
             When:  {when}\n\n\
             If this was you, there is nothing to do.\n\n\
             If it was not you, sign in and review your passkeys now, and tell your administrator:\n\
             {base_url}{SECURITY_PATH}\n",
            SECURITY_PATH = super::notifications::SECURITY_PATH,
            name = super::notifications::quoted_label(&record.name),
            email = account.email,
            from = visitor.ip.as_deref().unwrap_or("an unknown address"),
            when = super::notifications::when(at),
        );
        self.ports.mailer.queue(Email { kind, to: account.email.clone(), subject: subject.to_owned(), text });
    }
}

fn ceremony_key(id: &str) -> String {
    format!("{CEREMONY_KEY_PREFIX}{id}")
}

/// A passkey name as stored: trimmed, without control characters, 1 to
/// `MAX_PASSKEY_NAME_CHARS` characters.
fn checked_name(name: &str) -> Result<String, PasskeyError> {
    let name = name.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_PASSKEY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(PasskeyError::InvalidName);
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(checked_name("  work laptop ").unwrap(), "work laptop");
        assert!(matches!(checked_name("   "), Err(PasskeyError::InvalidName)));
        assert!(matches!(checked_name(&"x".repeat(61)), Err(PasskeyError::InvalidName)));
        assert!(checked_name(&"é".repeat(60)).is_ok());
        assert!(matches!(checked_name("a\u{7}b"), Err(PasskeyError::InvalidName)));
    }
}
