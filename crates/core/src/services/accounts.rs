//! Local accounts: creation and password sign-in.

mod passwords;

pub use passwords::{PASSWORD_RESET_MINUTES, PasswordChangeError, ResetError, ResetRequestError};

use super::Ports;
use super::revocation::RevokedBy;
use crate::actor::Admin;
use crate::error::StoreError;
use crate::listing::{Page, TokenSelector};
use crate::model::{Account, SubjectId, WorkspaceMembership};
use crate::ports::{
    AccountChange, AccountChangeOutcome, AccountQuery, AuditEvent, AuditKind, CreateAccountError, HashError, NewAccount,
};
use crate::rate_limit::RateLimitService;
use crate::rate_limit::{Limiter, RateLimited};
use crate::secret::SecretString;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Shortest accepted password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Longest accepted password, in bytes: longer ones are refused before
/// hashing, so nobody can make the server hash megabytes.
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("not a valid email address")]
    InvalidEmail,
    #[error("the name must not be empty")]
    EmptyName,
    #[error(transparent)]
    Password(#[from] PasswordRuleError),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Why sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown email, wrong password and disabled account all look alike.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many failed sign-ins for this account or from this address.
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// Every password-hashing slot is taken and the queue is full: try again
    /// in a moment (503 at once, rather than waiting behind a flood).
    #[error("sign-in is busy")]
    Busy,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

crate::rate_limit::from_limit_error!(SignInError);

/// Why an admin's change to an account was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountAdminError {
    #[error("no such account")]
    NotFound,
    #[error("the last active admin cannot be disabled or lose admin rights")]
    LastAdmin,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// A new password that breaks the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRuleError {
    #[error("the password must be at least {PASSWORD_MIN_CHARS} characters")]
    WeakPassword,
    #[error("the password must be at most {PASSWORD_MAX_BYTES} bytes")]
    PasswordTooLong,
}

/// Checks a password a person chose against the rules.
pub fn check_new_password(password: &SecretString) -> Result<(), PasswordRuleError> {
    if password.expose().chars().count() < PASSWORD_MIN_CHARS {
        return Err(PasswordRuleError::WeakPassword);
    }
    if password.expose().len() > PASSWORD_MAX_BYTES {
        return Err(PasswordRuleError::PasswordTooLong);
    }
    Ok(())
}

/// Largest page of the account listing.
pub const MAX_ACCOUNT_PAGE: u32 = 100;

/// What `create` needs.
#[derive(Debug, Clone)]
pub struct AccountRegistration {
    pub email: String,
    pub name: String,
    pub password: SecretString,
    pub is_admin: bool,
    /// The first workspace's name; defaults to "<name>'s workspace".
    pub workspace_name: Option<String>,
}

/// Account use cases.
#[derive(Clone)]
pub struct AccountService {
    ports: Ports,
    limits: RateLimitService,
    settings: std::sync::Arc<super::Settings>,
}

/// A password that checked out: the account, and when its hash was read.
/// A browser session counts from that instant, not from when the (slow)
/// check ended, so a password reset or change landing in between voids it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub account: Account,
    pub read_at: DateTime<Utc>,
    /// How: a password, or a passkey (phishing-resistant).
    pub method: super::passkeys::SignInMethod,
}

/// Canonical form of an email address for lookups: trimmed and lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.len() <= 254
}

impl AccountService {
    pub(crate) fn new(ports: Ports, limits: RateLimitService, settings: std::sync::Arc<super::Settings>) -> Self {
        Self { ports, limits, settings }
    }

    /// Creates an account with its first workspace; the password is hashed
    /// with argon2id off the async threads.
    pub async fn create(&self, admin: &Admin, registration: AccountRegistration) -> Result<Account, AccountError> {
        let email = normalize_email(&registration.email);
        if !looks_like_email(&email) {
            return Err(AccountError::InvalidEmail);
        }
        let name = registration.name.trim().to_owned();
        if name.is_empty() {
            return Err(AccountError::EmptyName);
        }
        check_new_password(&registration.password)?;
        let password_hash = self.ports.passwords.hash(&registration.password).await.map_err(StoreError::from)?;
        let now = self.ports.clock.now();
        let new = NewAccount {
            id: Uuid::new_v4(),
            workspace_name: registration
                .workspace_name
                .map(|w| w.trim().to_owned())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| format!("{name}'s workspace")),
            email,
            name,
            password_hash,
            is_admin: registration.is_admin,
            workspace_id: Uuid::new_v4(),
            created_at: now,
        };
        let account = self.ports.accounts.create(&new).await.map_err(|err| match err {
            CreateAccountError::EmailTaken => AccountError::EmailTaken,
            CreateAccountError::Store(e) => AccountError::Unavailable(e),
        })?;
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::AccountCreated,
                actor: Some(admin.actor().clone()),
                subject: Some(account.email.clone()),
                client_id: None,
                ip: admin.ip().map(str::to_owned),
                details: serde_json::json!({ "is_admin": account.is_admin }),
                at: now,
            })
            .await;
        Ok(account)
    }

    /// Checks an email and password. Unknown accounts cost the same argon2
    /// work and get the same answer as wrong passwords. Refused before any
    /// hashing while the account or the address is over its failure limit;
    /// a failure counts against both (a success resets neither).
    pub async fn sign_in(
        &self,
        email: &str,
        password: &SecretString,
        ip: Option<String>,
    ) -> Result<SignedIn, SignInError> {
        // A flood is refused before it costs a limiter call or a database
        // read; a refusal here says nothing about the account.
        if self.ports.passwords.is_busy() {
            return Err(SignInError::Busy);
        }
        let email = normalize_email(email);
        let failure_keys =
            [(Limiter::SignInFailuresPerAccount, Some(email.as_str())), (Limiter::SignInFailuresPerIp, ip.as_deref())];
        let attempt = async {
            let verified = if password.expose().len() > PASSWORD_MAX_BYTES {
                None
            } else {
                let read_at = self.ports.clock.now();
                let found = self.ports.accounts.find_by_email(&email).await?.map(|found| (found, read_at));
                let hash = found.as_ref().map(|((_, hash), _)| hash.as_str());
                match self.ports.passwords.verify(password, hash).await {
                    // A passwordless account's password (still stored) is
                    // refused like a wrong one, after the same work.
                    Ok(verified) => {
                        found.filter(|((account, _), _)| verified && !account.disabled && !account.passwordless)
                    }
                    // Busy is not a failed sign-in: the unit goes back.
                    Err(HashError::Busy) => return Ok((Err(SignInError::Busy), true)),
                    Err(HashError::Failed(err)) => return Err(SignInError::from(err)),
                }
            };
            let succeeded = verified.is_some();
            let method = super::passkeys::SignInMethod::Password;
            let signed_in = verified.map(|((account, _), read_at)| SignedIn { account, read_at, method });
            Ok((signed_in.ok_or(SignInError::InvalidCredentials), succeeded))
        };
        match self.limits.failures_of(&failure_keys, attempt).await? {
            Ok(account) => Ok(account),
            Err(SignInError::InvalidCredentials) => {
                self.ports
                    .audit(AuditEvent {
                        kind: AuditKind::SignInFailed,
                        actor: None,
                        subject: Some(email.clone()),
                        client_id: None,
                        ip: ip.clone(),
                        details: serde_json::Value::Null,
                        at: self.ports.clock.now(),
                    })
                    .await;
                Err(SignInError::InvalidCredentials)
            }
            Err(other) => Err(other),
        }
    }

    /// The active account with this id (sessions re-check it on every request).
    pub async fn find_active(&self, id: Uuid) -> Result<Option<Account>, StoreError> {
        Ok(self.ports.accounts.find_by_id(id).await?.filter(|a| !a.disabled))
    }

    /// The account's workspaces, oldest membership first.
    pub async fn workspaces(&self, account_id: Uuid) -> Result<Vec<WorkspaceMembership>, StoreError> {
        self.ports.accounts.workspaces(account_id).await
    }

    /// A page of accounts in email order, optionally only those whose email
    /// or name contains `text`.
    pub async fn search(
        &self,
        _admin: &Admin,
        text: Option<&str>,
        after_email: Option<String>,
        limit: u32,
    ) -> Result<Page<Account, String>, StoreError> {
        let limit = limit.clamp(1, MAX_ACCOUNT_PAGE);
        let query = AccountQuery {
            text: text.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned),
            after_email,
            limit: limit + 1,
        };
        let items = self.ports.accounts.search(&query).await?;
        Ok(Page::cut(items, limit, |last| last.email.clone()))
    }

    /// The account with this id, whatever its state.
    pub async fn find_by_id(&self, _admin: &Admin, id: Uuid) -> Result<Option<Account>, StoreError> {
        self.ports.accounts.find_by_id(id).await
    }

    /// The account with this email, whatever its state.
    pub async fn find_by_email(&self, _admin: &Admin, email: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.ports.accounts.find_by_email(&normalize_email(email)).await?.map(|(account, _)| account))
    }

    /// An admin changes an account. Disabling also revokes every token of
    /// the account and voids its browser sessions, at once; the last active
    /// admin can be neither disabled nor demoted. Returns the account as it
    /// is now.
    pub async fn change(
        &self,
        admin: &Admin,
        account_id: Uuid,
        change: AccountChange,
        ip: Option<&str>,
    ) -> Result<Account, AccountAdminError> {
        let now = self.ports.clock.now();
        let account = match self.ports.accounts.change(account_id, change, now).await? {
            AccountChangeOutcome::NotFound => return Err(AccountAdminError::NotFound),
            AccountChangeOutcome::LastAdmin => return Err(AccountAdminError::LastAdmin),
            AccountChangeOutcome::Unchanged(account) => account,
            AccountChangeOutcome::Changed(account) => {
                self.ports
                    .audit(AuditEvent {
                        kind: match change {
                            AccountChange::Disable => AuditKind::AccountDisabled,
                            AccountChange::Enable => AuditKind::AccountEnabled,
                            AccountChange::GrantAdmin => AuditKind::AdminGranted,
                            AccountChange::RemoveAdmin => AuditKind::AdminRemoved,
                        },
                        actor: Some(admin.actor().clone()),
                        subject: Some(account.email.clone()),
                        client_id: None,
                        ip: ip.map(str::to_owned),
                        details: serde_json::json!({ "account_id": account.id }),
                        at: now,
                    })
                    .await;
                account
            }
        };
        if change == AccountChange::Disable {
            // Also when it was already disabled: a retry after a fault
            // finishes revoking what the first try did not reach.
            let selector = TokenSelector::Subject(SubjectId::account(account.id));
            self.ports.revoke_selected(&selector, admin.actor(), RevokedBy::AccountDisabled, ip).await?;
        }
        Ok(account)
    }

    /// Whether no account exists yet (first run).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.ports.accounts.count().await? == 0)
    }
}

/// The workspace a token's subject works in by default: the oldest workspace
/// the account owns, else the oldest it belongs to.
pub fn default_workspace(workspaces: &[WorkspaceMembership]) -> Option<&WorkspaceMembership> {
    workspaces.iter().find(|w| w.role == "owner").or_else(|| workspaces.first())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shape() {
        assert!(looks_like_email("ada@example.com"));
        assert!(!looks_like_email("ada@localhost"));
        assert!(!looks_like_email("@example.com"));
        assert!(!looks_like_email("ada example@example.com"));
        assert_eq!(normalize_email("  Ada@Example.COM "), "ada@example.com");
    }
}
