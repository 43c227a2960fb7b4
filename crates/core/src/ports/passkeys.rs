//! Passkeys (WebAuthn): where they are kept, and the ceremonies' checks.
//!
//! The core decides who may do what with a passkey (registration only when
//! signed in, the last passkey of a passwordless account kept, a cloned
//! authenticator refused and audited); the verifier adapter only runs the
//! WebAuthn checks (challenge, origin, relying party, signature, user
//! verification, the signature counter) on what the browser sent.

use crate::error::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A passkey registered to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyRecord {
    pub id: Uuid,
    pub account_id: Uuid,
    /// The credential id the authenticator chose, base64url without padding.
    pub credential_id: String,
    /// The person's name for it ("work laptop").
    pub name: String,
    /// The verifier's own record of the credential (public key, signature
    /// counter, backup flags), opaque to the core.
    pub credential: String,
    /// Whether the authenticator said the credential is backed up (synced).
    pub backed_up: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What removing a passkey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyRemoval {
    Removed,
    /// No passkey with this id belongs to the account.
    NotFound,
    /// It is the account's last passkey and its password is off.
    LastWhilePasswordless,
}

/// What turning the password off or on did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordlessChange {
    Changed,
    /// It already was so.
    Unchanged,
    /// The password cannot be turned off without a passkey.
    NoPasskey,
    NotFound,
}

/// Where passkeys are kept (the database).
#[async_trait]
pub trait PasskeyRepository: Send + Sync {
    /// Stores a new passkey; false, storing nothing, when its credential id
    /// is already registered (to anyone).
    async fn add(&self, passkey: &PasskeyRecord) -> Result<bool, StoreError>;
    /// The account's passkeys, oldest first.
    async fn list(&self, account_id: Uuid) -> Result<Vec<PasskeyRecord>, StoreError>;
    /// How many passkeys each of these accounts has (accounts with none
    /// are left out).
    async fn count_by_account(&self, account_ids: &[Uuid]) -> Result<Vec<(Uuid, u64)>, StoreError>;
    /// The passkey with this credential id.
    async fn find_by_credential_id(&self, credential_id: &str) -> Result<Option<PasskeyRecord>, StoreError>;
    /// Renames one of the account's passkeys; false when it has none by that id.
    async fn rename(&self, account_id: Uuid, id: Uuid, name: &str) -> Result<bool, StoreError>;
    /// Removes one of the account's passkeys, unless it is the last one and
    /// the account's password is off: decided under the account's row lock,
    /// so two removals racing cannot both pass the check.
    async fn remove(&self, account_id: Uuid, id: Uuid) -> Result<PasskeyRemoval, StoreError>;
    /// Removes every passkey of the account and turns its password back on
    /// (an admin's answer to a lost device); the number removed.
    async fn remove_all(&self, account_id: Uuid) -> Result<u64, StoreError>;
    /// Records a sign-in with the passkey: its updated credential, backup
    /// flag and the time.
    async fn record_use(
        &self,
        id: Uuid,
        credential: &str,
        backed_up: bool,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Turns the account's password off (only while it has a passkey,
    /// checked under the account's row lock) or back on.
    async fn set_passwordless(&self, account_id: Uuid, passwordless: bool) -> Result<PasswordlessChange, StoreError>;
}

/// A ceremony's start: the options for the browser's
/// `navigator.credentials` call, and the state its finish needs (kept by
/// the server, never sent).
#[derive(Debug, Clone)]
pub struct CeremonyStart {
    pub options: serde_json::Value,
    pub state: String,
}

/// Who a new passkey is for, as the authenticator will show it.
#[derive(Debug, Clone)]
pub struct PasskeyUser<'a> {
    /// The user handle (the account id), which a discoverable credential
    /// returns at sign-in.
    pub id: Uuid,
    pub email: &'a str,
    pub name: &'a str,
}

/// A credential a registration produced.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub credential_id: String,
    pub credential: String,
    pub backed_up: bool,
}

/// What a verified sign-in says about the credential.
#[derive(Debug, Clone)]
pub struct VerifiedUse {
    /// The credential's record with the new counter and flags.
    pub credential: String,
    pub backed_up: bool,
}

/// Why the verifier refused what the browser sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CeremonyFailure {
    /// Not a WebAuthn answer at all (unreadable JSON, missing parts).
    #[error("not a passkey answer: {0}")]
    Malformed(String),
    /// A check failed: challenge, origin, relying party, signature, user
    /// verification.
    #[error("the passkey answer did not verify: {0}")]
    Rejected(String),
    /// The signature counter did not move forward: the authenticator may
    /// have been cloned.
    #[error("the signature counter went back")]
    CounterWentBack,
}

/// The WebAuthn checks (an adapter over a WebAuthn library).
pub trait PasskeyVerifier: Send + Sync {
    /// Why passkeys are off (the public URL is not a secure context with a
    /// host name), if they are.
    fn off_because(&self) -> Option<String>;
    /// Starts registering a discoverable credential for `user`, excluding
    /// the credentials it already has (their stored records).
    fn start_registration(&self, user: &PasskeyUser<'_>, existing: &[String]) -> Result<CeremonyStart, StoreError>;
    /// Checks the browser's registration answer against the state.
    fn finish_registration(&self, state: &str, answer: &serde_json::Value) -> Result<NewCredential, CeremonyFailure>;
    /// Starts a sign-in with any discoverable credential of this site.
    fn start_sign_in(&self) -> Result<CeremonyStart, StoreError>;
    /// The credential id and user handle a sign-in answer names, before
    /// anything is verified (to find the stored credential).
    fn claimed(&self, answer: &serde_json::Value) -> Result<(String, Uuid), CeremonyFailure>;
    /// Checks a sign-in answer against the state and the stored credential.
    fn finish_sign_in(
        &self,
        state: &str,
        answer: &serde_json::Value,
        credential: &str,
    ) -> Result<VerifiedUse, CeremonyFailure>;
}
