//! A local account's password: changed by its owner with the old one, or
//! reset through an emailed link.
//!
//! A reset link carries 256 random bits. Only their SHA-256 is kept, in the
//! single-use store (in-process or Redis), for `PASSWORD_RESET_MINUTES`;
//! using the link takes the record, so it works once. A link is also void
//! once the password changed (or the account's sessions were voided) after
//! it was sent. Asking for a link answers the same whether or not the
//! address has an account, and the email goes out off the request path, so
//! a mail server's pace tells nobody who has one (what remains is one
//! state-store write and one audit row, under the per-address limit).
//! Changing or resetting the password signs out every browser session of
//! the account. A reset also revokes every device and app grant of the
//! account (whoever knew the old password may have approved them); a change
//! does so when the person asks, as the form does by default. Grants are
//! revoked before the new password is stored, so a fault between the two
//! leaves the old password with no grants, never the new one with them.

use super::{AccountService, PasswordRuleError, SignInError, check_new_password, normalize_email};
use crate::actor::Actor;
use crate::error::StoreError;
use crate::listing::TokenSelector;
use crate::model::{Account, SubjectId};
use crate::ports::{AuditEvent, AuditKind};
use crate::rate_limit::{Limiter, RateLimited};
use crate::secret::{SecretString, sha256_hex};
use crate::services::notifications::{
    PasswordChange, RESET_PASSWORD_PATH, email_base, password_changed_email, password_reset_email,
};
use crate::services::revocation::RevokedBy;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long a reset link works.
pub const PASSWORD_RESET_MINUTES: i64 = 30;
/// Random characters in a reset link's token (base62: about 256 bits).
const RESET_TOKEN_CHARS: usize = 43;
/// The single-use store's key prefix for reset links.
const RESET_KEY_PREFIX: &str = "password_reset:";

/// Why a signed-in person's password change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    /// The current password given is not the account's.
    #[error("the current password is not right")]
    WrongPassword,
    #[error(transparent)]
    Rule(#[from] PasswordRuleError),
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error("sign-in is busy")]
    Busy,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Why a reset link could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum ResetRequestError {
    /// No mail server is configured, so links cannot be sent.
    #[error("password reset by email is not set up on this server")]
    EmailOff,
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

crate::rate_limit::from_limit_error!(ResetRequestError);

/// Why a reset link did not set the password.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, expired, used, or void since the password changed.
    #[error("the reset link is not valid")]
    InvalidLink,
    #[error(transparent)]
    Rule(#[from] PasswordRuleError),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// What the single-use store keeps under a reset link's hash.
#[derive(Debug, Serialize, Deserialize)]
struct ResetRecord {
    account_id: Uuid,
    issued_at: DateTime<Utc>,
    /// Checked against the injected clock too: the store's own expiry
    /// (Redis keeps its own clock) is only its clean-up.
    expires_at: DateTime<Utc>,
}

fn reset_key(token: &str) -> String {
    format!("{RESET_KEY_PREFIX}{}", sha256_hex(token.trim()))
}

impl AccountService {
    /// Whether password reset links can be sent (a mail server and a
    /// public URL are configured).
    pub fn password_reset_available(&self) -> bool {
        email_base(&self.settings, self.ports.mailer.as_ref()).is_some()
    }

    /// The signed-in `account` changes its password, giving the current
    /// one. A wrong current password counts as a failed sign-in, under the
    /// same limits. Signs out every browser session of the account (the
    /// caller's too) and, with `sign_out_devices`, revokes its device and
    /// app grants.
    pub async fn change_password(
        &self,
        account: &Account,
        current: &SecretString,
        new: &SecretString,
        sign_out_devices: bool,
        ip: Option<String>,
    ) -> Result<Account, PasswordChangeError> {
        check_new_password(new)?;
        match self.sign_in(&account.email, current, ip.clone()).await {
            Ok(checked) if checked.account.id == account.id => {}
            Ok(_) | Err(SignInError::InvalidCredentials) => return Err(PasswordChangeError::WrongPassword),
            Err(SignInError::RateLimited(limited)) => return Err(limited.into()),
            Err(SignInError::Busy) => return Err(PasswordChangeError::Busy),
            Err(SignInError::Unavailable(err)) => return Err(err.into()),
        }
        let how = PasswordChange::Changed { devices_signed_out: sign_out_devices };
        if how.signs_out_devices() {
            self.revoke_grants(account, RevokedBy::PasswordChanged, ip.as_deref()).await?;
        }
        let account = self.set_password(account.id, new).await?.ok_or(PasswordChangeError::WrongPassword)?;
        self.password_set(&account, how, ip).await;
        Ok(account)
    }

    /// Emails a reset link to the account with this email, if there is an
    /// active one. Answers the same either way; limited per address and
    /// per email.
    pub async fn request_password_reset(&self, email: &str, ip: Option<String>) -> Result<(), ResetRequestError> {
        let Some(base_url) = email_base(&self.settings, self.ports.mailer.as_ref()) else {
            return Err(ResetRequestError::EmailOff);
        };
        let email = normalize_email(email);
        self.limits
            .take(&[(Limiter::PasswordResetsPerIp, ip.as_deref()), (Limiter::PasswordResetsPerAccount, Some(&email))])
            .await?;
        // A passwordless account gets no link: a reset would turn its
        // password back on behind the passkeys (an admin's "remove all
        // passkeys" turns it on for a lost device).
        let found = self.ports.accounts.find_by_email(&email).await?;
        let Some((account, _)) = found.filter(|(a, _)| !a.disabled && !a.passwordless) else {
            return Ok(());
        };
        let now = self.ports.clock.now();
        let token = crate::random::random_string(
            self.ports.random.as_ref(),
            crate::formats::base62::ALPHABET,
            RESET_TOKEN_CHARS,
        );
        let until = now + Duration::minutes(PASSWORD_RESET_MINUTES);
        let record = serde_json::to_string(&ResetRecord { account_id: account.id, issued_at: now, expires_at: until })
            .map_err(|e| StoreError::new(e.to_string()))?;
        if !self.ports.single_use.put(&reset_key(&token), &record, now, until).await? {
            // 256 random bits met a live key: the generator is broken.
            return Err(StoreError::new("a reset token repeated").into());
        }
        let link = format!("{base_url}{RESET_PASSWORD_PATH}?token={token}");
        self.ports.mailer.queue(password_reset_email(&account.email, ip.as_deref(), &link, PASSWORD_RESET_MINUTES));
        self.audit_password(AuditKind::PasswordResetRequested, None, &account, ip, now).await;
        Ok(())
    }

    /// Whether `token` is a reset link that would work now (the reset page
    /// checks before asking for a new password; nothing is used up).
    pub async fn reset_link_works(&self, token: &str) -> Result<bool, StoreError> {
        let now = self.ports.clock.now();
        let Some(record) = self.ports.single_use.peek(&reset_key(token), now).await? else {
            return Ok(false);
        };
        Ok(self.account_for_reset(&record).await?.is_some())
    }

    /// Sets a new password through a reset link, using the link up. A
    /// password that breaks the rules is refused before the link is used.
    pub async fn reset_password(
        &self,
        token: &str,
        new: &SecretString,
        ip: Option<String>,
    ) -> Result<Account, ResetError> {
        check_new_password(new)?;
        let now = self.ports.clock.now();
        let record = self.ports.single_use.take(&reset_key(token), now).await?.ok_or(ResetError::InvalidLink)?;
        let account = self.account_for_reset(&record).await?.ok_or(ResetError::InvalidLink)?;
        self.revoke_grants(&account, RevokedBy::PasswordReset, ip.as_deref()).await?;
        let account = self.set_password(account.id, new).await?.ok_or(ResetError::InvalidLink)?;
        self.password_set(&account, PasswordChange::Reset, ip).await;
        Ok(account)
    }

    /// The active account a stored reset record names, unless its password
    /// changed (or its sessions were voided) since the link was sent.
    async fn account_for_reset(&self, record: &str) -> Result<Option<Account>, StoreError> {
        let Ok(record) = serde_json::from_str::<ResetRecord>(record) else {
            return Ok(None);
        };
        if record.expires_at <= self.ports.clock.now() {
            return Ok(None);
        }
        Ok(self
            .find_active(record.account_id)
            .await?
            // Whole seconds, as the embedded database keeps them and as
            // sessions are voided: a link sent in the second of a change is
            // void too (the person asks again).
            .filter(|account| {
                account.sessions_valid_after.is_none_or(|voided| voided.timestamp() < record.issued_at.timestamp())
            }))
    }

    /// Hashes and stores `new` (off the async threads), voiding the
    /// account's browser sessions.
    async fn set_password(&self, id: Uuid, new: &SecretString) -> Result<Option<Account>, StoreError> {
        let hash = self.ports.passwords.hash(new).await.map_err(StoreError::from)?;
        self.ports.accounts.set_password(id, &hash, self.ports.clock.now()).await
    }

    /// Revokes every device and app grant of `account` (each audited, with
    /// the person as the actor and `by` as the reason).
    async fn revoke_grants(&self, account: &Account, by: RevokedBy, ip: Option<&str>) -> Result<(), StoreError> {
        let selector = TokenSelector::Subject(SubjectId::account(account.id));
        let actor = Actor::Account { email: account.email.clone() };
        self.ports.revoke_selected(&selector, &actor, by, ip).await.map(drop)
    }

    /// Audits a password change and tells the person by email.
    async fn password_set(&self, account: &Account, how: PasswordChange, ip: Option<String>) {
        let now = self.ports.clock.now();
        if let Some(base_url) = email_base(&self.settings, self.ports.mailer.as_ref()) {
            self.ports.mailer.queue(password_changed_email(&account.email, how, ip.as_deref(), now, base_url));
        }
        let kind = match how {
            PasswordChange::Changed { .. } => AuditKind::PasswordChanged,
            PasswordChange::Reset => AuditKind::PasswordReset,
        };
        let actor = Actor::Account { email: account.email.clone() };
        self.audit_password(kind, Some(actor), account, ip, now).await;
    }

    /// Audits a password event of `account` (never the password or link).
    async fn audit_password(
        &self,
        kind: AuditKind,
        actor: Option<Actor>,
        account: &Account,
        ip: Option<String>,
        at: DateTime<Utc>,
    ) {
        self.ports
            .audit(AuditEvent {
                kind,
                actor,
                subject: Some(account.email.clone()),
                client_id: None,
                ip,
                details: serde_json::json!({ "account_id": account.id }),
                at,
            })
            .await;
    }
}
