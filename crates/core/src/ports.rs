//! The ports the domain needs; adapters in `gatehouse-store` implement them.
//! Each port offers whole operations so every backend can make them atomic.

use crate::actor::Actor;
use crate::error::StoreError;
use crate::flow::{DeviceFlow, FlowChange, FlowKey, Transition};
use crate::formats::user_code::UserCode;
use crate::listing::{TokenQuery, TokenSelector};
use crate::model::{AccessTokenRecord, Account, IssuedToken, NewAccessToken, OAuthClient, WorkspaceMembership};
use crate::rate_limit::{RateCheck, RateLimited, RateMode};
use crate::secret::SecretString;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Where in-flight device flows live (in-process or Redis).
#[async_trait]
pub trait DeviceFlowStore: Send + Sync {
    /// Spends one unit of each of `limits` (as `RateLimiter::check` with
    /// `RateMode::Take` at the flow's creation, over the same state as the
    /// backend's limiter), then stores the new flow, kept until
    /// `retain_until` (its expiry plus the tombstone period). A store that
    /// holds flows and limits side by side does both in one atomic step: for
    /// Redis that is one script call instead of two, which is most of what
    /// the limits cost issuance.
    ///
    /// A refusal spends and stores nothing. A user code already taken stores
    /// nothing but keeps the units spent: the caller retries with a fresh
    /// code and no limits, as the same request.
    async fn insert_within(
        &self,
        flow: &DeviceFlow,
        retain_until: DateTime<Utc>,
        limits: &[RateCheck],
    ) -> Result<Inserted, StoreError>;

    /// Stores a new flow with no limits to spend; false, storing nothing,
    /// when the user code is already taken.
    async fn insert(&self, flow: &DeviceFlow, retain_until: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.insert_within(flow, retain_until, &[]).await? == Inserted::Stored)
    }

    /// The flow with this user code, if it is still retained.
    async fn find_by_user_code(&self, code: &UserCode, now: DateTime<Utc>) -> Result<Option<DeviceFlow>, StoreError>;

    /// Applies `change` atomically with respect to every other change to the
    /// same flow: `DeviceFlow::apply` on the current value, then the new value
    /// stored only if nothing changed it meanwhile. `None` when no flow is
    /// retained under `key`.
    async fn apply(
        &self,
        key: &FlowKey,
        change: &FlowChange,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceFlow, Transition)>, StoreError>;

    /// Checks the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// What `DeviceFlowStore::insert_within` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The flow is stored and the limits spent.
    Stored,
    /// Another retained flow holds the user code: nothing stored, the
    /// limits spent.
    UserCodeTaken,
    /// A limit refused: nothing stored, nothing spent.
    Limited(RateLimited),
}

/// Short-lived records each used at most once, shared by every instance
/// through the state store (in-process or Redis): the SSO sign-ins in
/// progress and the approval grants not yet used. `take` is atomic, so of
/// two racing callers exactly one gets the record.
#[async_trait]
pub trait SingleUseStore: Send + Sync {
    /// Stores `value` under `key` from `now` until `until`; false, storing
    /// nothing, when the key is already held.
    async fn put(&self, key: &str, value: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The value under `key`, leaving it in place.
    async fn peek(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;
    /// Removes and returns the value under `key`.
    async fn take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;
}

/// The rate limiters' shared state (in-process or Redis): one GCRA
/// arrival time per key (`rate_limit::gcra_step`), so every instance counts
/// against the same quota.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Checks every key at `now`. With `RateMode::Take`, spends one unit
    /// from each key only if every key has one, atomically. `Some` names the
    /// limiter that refused (the one with the longest wait).
    async fn check(
        &self,
        checks: &[RateCheck],
        mode: RateMode,
        now: DateTime<Utc>,
    ) -> Result<Option<RateLimited>, StoreError>;
}

/// What a Gatehouse envelope is for; an envelope made for one purpose never
/// verifies for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopePurpose {
    /// The `state` of an SSO sign-in, sent through the identity provider.
    SsoState,
    /// The approval-grant cookie set after the SSO callback.
    ApprovalGrant,
}

impl EnvelopePurpose {
    /// The audience (`aud`) written into and required of the envelope.
    pub fn audience(self) -> &'static str {
        match self {
            EnvelopePurpose::SsoState => "gatehouse:sso-state",
            EnvelopePurpose::ApprovalGrant => "gatehouse:approval-grant",
        }
    }
}

/// Signs and verifies Gatehouse's own envelopes: HS256 compact JWS with the
/// server secret. Verification checks the algorithm, signature and purpose;
/// the use case checks `exp` against the injected clock.
pub trait EnvelopeSigner: Send + Sync {
    /// Signs `claims` (a JSON object) for `purpose`.
    fn sign(&self, purpose: EnvelopePurpose, claims: serde_json::Value) -> Result<String, StoreError>;
    /// The claims of a well-signed envelope for `purpose`; `None` for
    /// anything else (another algorithm, a flipped byte, another purpose).
    fn verify(&self, purpose: EnvelopePurpose, envelope: &str) -> Option<serde_json::Value>;
}

/// What Gatehouse asks the identity provider for when a sign-in starts.
#[derive(Debug, Clone)]
pub struct ProviderSignIn {
    /// The signed SSO state envelope.
    pub state: String,
    pub nonce: String,
    /// The PKCE verifier; only its S256 challenge goes into the URL.
    pub pkce_verifier: SecretString,
}

/// An identity the provider vouched for in a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The provider's issuer (`iss`).
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
}

/// Why the identity provider gave no identity.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Discovery, the key set or the token endpoint could not be reached or
    /// answered nonsense.
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
    /// The provider answered, but refused the code or sent an ID token that
    /// failed verification (signature, issuer, audience, expiry, nonce).
    #[error("identity provider assertion refused: {0}")]
    Refused(String),
}

/// The external OpenID Connect provider, as a relying party sees it
/// (authorization code + PKCE S256, discovery from the issuer).
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// The authorization endpoint URL that starts `sign_in` at the provider.
    async fn authorization_url(&self, sign_in: &ProviderSignIn) -> Result<String, ProviderError>;
    /// Exchanges `code` with the PKCE verifier and verifies the ID token
    /// against the provider's key set and `nonce`, as of `now`.
    async fn redeem_code(
        &self,
        code: &str,
        pkce_verifier: &SecretString,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<ProviderIdentity, ProviderError>;
}

/// What the token cache remembers about a token hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CachedLookup {
    /// The row (active when cached; expiry is re-checked on every use).
    Found(Box<AccessTokenRecord>),
    /// No usable row has this hash.
    Missing,
}

/// A shared cache of token lookups, so bearer requests on a warm token skip
/// SQL. Lives in the state store (in-process or Redis), so invalidation
/// reaches every instance at once.
#[async_trait]
pub trait TokenCache: Send + Sync {
    /// The cached lookup for a token hash; when it is a positive entry, also
    /// spends one unit of each of `limits` at `now`, in the same step, over
    /// the same state as the backend's limiter (for Redis one call instead
    /// of two on every bearer request). A refusal spends nothing; a miss or
    /// a negative entry spends nothing and is never refused.
    async fn get_within(
        &self,
        token_hash: &str,
        limits: &[RateCheck],
        now: DateTime<Utc>,
    ) -> Result<(Option<CachedLookup>, Option<RateLimited>), StoreError>;

    /// The cached lookup for a token hash, spending nothing.
    async fn get(&self, token_hash: &str) -> Result<Option<CachedLookup>, StoreError> {
        Ok(self.get_within(token_hash, &[], Utc::now()).await?.0)
    }
    /// Caches a lookup for `ttl`. A positive entry is refused (silently)
    /// while its token id is invalidated, so a lookup that raced a
    /// revocation cannot resurrect the token.
    async fn put(&self, token_hash: &str, lookup: &CachedLookup, ttl: chrono::Duration) -> Result<(), StoreError>;
    /// Forgets the token with this id, after the database committed its
    /// revocation, rotation or expiry.
    async fn invalidate(&self, token_id: Uuid) -> Result<(), StoreError>;
}

/// A new account with its first workspace.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub workspace_id: Uuid,
    pub workspace_name: String,
    pub created_at: DateTime<Utc>,
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An admin's change to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// Disable (and void its browser sessions).
    Disable,
    Enable,
    GrantAdmin,
    RemoveAdmin,
}

/// What an `AccountChange` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChangeOutcome {
    /// Changed; the account as it is now.
    Changed(Account),
    /// It was already so; nothing changed.
    Unchanged(Account),
    /// Refused: it would leave no active admin.
    LastAdmin,
    NotFound,
}

/// A page of accounts, by email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountQuery {
    /// Matches email or name containing this text (case-insensitive).
    pub text: Option<String>,
    /// Continue after this email.
    pub after_email: Option<String>,
    pub limit: u32,
}

/// Accounts, workspaces and memberships.
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Creates the account, its workspace and its owner membership in one transaction.
    async fn create(&self, account: &NewAccount) -> Result<Account, CreateAccountError>;
    /// The account and its password hash, by (lowercased) email.
    async fn find_by_email(&self, email: &str) -> Result<Option<(Account, String)>, StoreError>;
    /// The account by id.
    async fn find_by_id(&self, id: Uuid) -> Result<Option<Account>, StoreError>;
    /// The account's workspaces, oldest membership first.
    async fn workspaces(&self, account_id: Uuid) -> Result<Vec<WorkspaceMembership>, StoreError>;
    /// How many accounts exist.
    async fn count(&self) -> Result<u64, StoreError>;
    /// A page of accounts in email order.
    async fn search(&self, query: &AccountQuery) -> Result<Vec<Account>, StoreError>;
    /// Applies `change` atomically, refusing (`LastAdmin`) to disable or
    /// demote the last active admin, even when two admins race to do so.
    /// `Disable` also sets `sessions_valid_after` to `at`.
    async fn change(
        &self,
        id: Uuid,
        change: AccountChange,
        at: DateTime<Utc>,
    ) -> Result<AccountChangeOutcome, StoreError>;
}

/// Registered OAuth clients.
#[async_trait]
pub trait ClientRepository: Send + Sync {
    /// The client by id.
    async fn find(&self, client_id: &str) -> Result<Option<OAuthClient>, StoreError>;
    /// Registers a client; false when the id is taken.
    async fn create(&self, client: &OAuthClient) -> Result<bool, StoreError>;
    /// Every client, oldest first.
    async fn list(&self) -> Result<Vec<OAuthClient>, StoreError>;
    /// Disables an enabled client; true when this call disabled it.
    async fn disable(&self, client_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Enables a disabled client; true when this call enabled it.
    async fn enable(&self, client_id: &str) -> Result<bool, StoreError>;
    /// Changes a client's name, allowed scopes and device-grant switch;
    /// false when no client has this id.
    async fn update(&self, client_id: &str, edit: &ClientEdit) -> Result<bool, StoreError>;
    /// Replaces a confidential client's secret hash; false when no
    /// confidential client has this id.
    async fn set_secret_hash(&self, client_id: &str, secret_hash: &str) -> Result<bool, StoreError>;
}

/// What an admin may change about a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientEdit {
    pub name: String,
    pub allowed_scopes: Vec<String>,
    pub device_grant_enabled: bool,
}

/// Access tokens, stored as hashes.
#[async_trait]
pub trait TokenRepository: Send + Sync {
    /// Mints a token row, or rotates in place the active row for the same
    /// (subject_email, subject_issuer, client_id, device_label).
    async fn issue(&self, token: &NewAccessToken) -> Result<IssuedToken, StoreError>;
    /// The row holding this token hash (active or hard-expired rows have none).
    async fn find_by_hash(&self, token_hash: &str) -> Result<Option<AccessTokenRecord>, StoreError>;
    /// The active row a new approval for this device would rotate.
    async fn find_active_for_device(
        &self,
        subject_email: &str,
        subject_issuer: &str,
        client_id: &str,
        device_label: &str,
    ) -> Result<Option<AccessTokenRecord>, StoreError>;
    /// The row with this id, in any state.
    async fn find_by_id(&self, id: Uuid) -> Result<Option<AccessTokenRecord>, StoreError>;
    /// The subject's unrevoked tokens that have not expired by `now`, most
    /// recently used (else created) first.
    async fn list_active_for_subject(
        &self,
        subject_email: &str,
        subject_issuer: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccessTokenRecord>, StoreError>;
    /// A page of every token matching `query`, most recently used (else
    /// created) first, keyset-paginated.
    async fn search(&self, query: &TokenQuery) -> Result<Vec<AccessTokenRecord>, StoreError>;
    /// The ids of the unrevoked tokens `selector` picks.
    async fn unrevoked_ids(&self, selector: &TokenSelector) -> Result<Vec<Uuid>, StoreError>;
    /// Revokes those of `ids` that are still unrevoked, by compare-and-set;
    /// returns the rows this call revoked.
    async fn revoke(&self, ids: &[Uuid], at: DateTime<Utc>) -> Result<Vec<AccessTokenRecord>, StoreError>;
    /// Marks an expired token revoked and forgets its hash, by compare-and-set
    /// so only one caller wins; true for the winner.
    async fn hard_expire(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Records use, at most once a minute per token.
    async fn touch(&self, id: Uuid, at: DateTime<Utc>, ip: Option<&str>) -> Result<(), StoreError>;
}

/// One audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub kind: AuditKind,
    /// Who did it; `None` for an anonymous visitor (a failed sign-in).
    pub actor: Option<Actor>,
    /// Whom or what it concerned.
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// The kinds of audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    DeviceApproved,
    DeviceDenied,
    DeviceRedeemed,
    PollFromDifferentIp,
    TokenExpired,
    TokenRevoked,
    SignInFailed,
    AccountCreated,
    AccountDisabled,
    AccountEnabled,
    AdminGranted,
    AdminRemoved,
    ClientCreated,
    ClientUpdated,
    ClientDisabled,
    ClientEnabled,
    ClientSecretRotated,
    SsoSignedIn,
    SsoFailed,
}

impl AuditKind {
    /// Every kind, for parsing the stored name.
    pub const ALL: [AuditKind; 19] = [
        AuditKind::DeviceApproved,
        AuditKind::DeviceDenied,
        AuditKind::DeviceRedeemed,
        AuditKind::PollFromDifferentIp,
        AuditKind::TokenExpired,
        AuditKind::TokenRevoked,
        AuditKind::SignInFailed,
        AuditKind::AccountCreated,
        AuditKind::AccountDisabled,
        AuditKind::AccountEnabled,
        AuditKind::AdminGranted,
        AuditKind::AdminRemoved,
        AuditKind::ClientCreated,
        AuditKind::ClientUpdated,
        AuditKind::ClientDisabled,
        AuditKind::ClientEnabled,
        AuditKind::ClientSecretRotated,
        AuditKind::SsoSignedIn,
        AuditKind::SsoFailed,
    ];

    /// The kind with this stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The stored and logged name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::DeviceApproved => "device.approved",
            AuditKind::DeviceDenied => "device.denied",
            AuditKind::DeviceRedeemed => "device.redeemed",
            AuditKind::PollFromDifferentIp => "device.poll_from_different_ip",
            AuditKind::TokenExpired => "token.expired",
            AuditKind::TokenRevoked => "token.revoked",
            AuditKind::SignInFailed => "signin.failed",
            AuditKind::AccountCreated => "account.created",
            AuditKind::AccountDisabled => "account.disabled",
            AuditKind::AccountEnabled => "account.enabled",
            AuditKind::AdminGranted => "account.admin_granted",
            AuditKind::AdminRemoved => "account.admin_removed",
            AuditKind::ClientCreated => "client.created",
            AuditKind::ClientUpdated => "client.updated",
            AuditKind::ClientDisabled => "client.disabled",
            AuditKind::ClientEnabled => "client.enabled",
            AuditKind::ClientSecretRotated => "client.secret_rotated",
            AuditKind::SsoSignedIn => "sso.signed_in",
            AuditKind::SsoFailed => "sso.failed",
        }
    }
}

/// A stored audit event and its id (ids grow with time).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub event: AuditEvent,
}

/// A filtered page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub kind: Option<AuditKind>,
    /// The actor's name (an email, a client id, `system`, `cli`).
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    /// Events at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Events before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Continue with events older than this id.
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Where audit events are stored (and logged).
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Stores the event.
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError>;
    /// The newest `limit` events, newest first.
    async fn recent(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
    /// A page of events matching `query`, newest first, keyset-paginated by id.
    async fn search(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
}

/// Why a password was not hashed or verified.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is taken and the bounded queue is full, or no slot
    /// came free soon: the caller answers 503 at once.
    #[error("password hashing is busy")]
    Busy,
    #[error(transparent)]
    Failed(#[from] StoreError),
}

impl From<HashError> for StoreError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => StoreError("password hashing is busy".into()),
            HashError::Failed(e) => e,
        }
    }
}

/// Password hashing (argon2id), off the async threads, with a bounded queue.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password.
    async fn hash(&self, password: &SecretString) -> Result<String, HashError>;
    /// Verifies `password` against `hash`; with no hash it spends the same
    /// time on a dummy hash and answers false, so unknown accounts are not
    /// distinguishable from wrong passwords.
    async fn verify(&self, password: &SecretString, hash: Option<&str>) -> Result<bool, HashError>;
    /// Whether a hash asked for now would be refused at once
    /// (`HashError::Busy`): every slot and place in the queue is taken, or
    /// hashing is paced on a busy machine. Lets a sign-in be refused before
    /// it reads anything.
    fn is_busy(&self) -> bool {
        false
    }
}

/// Readiness of the relational database, and its upkeep.
#[async_trait]
pub trait DatabaseHealth: Send + Sync {
    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Deletes at most `batch` rows of `what` that are past `cutoff`, in one
    /// short transaction. `None` when another instance is pruning right now
    /// (PostgreSQL: an advisory transaction lock), so this one stops.
    async fn prune_batch(&self, what: Prunable, cutoff: DateTime<Utc>, batch: u32) -> Result<Option<u64>, StoreError>;
}

/// What the retention pruner deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prunable {
    /// Tokens revoked or expired before the cutoff.
    Tokens,
    /// Browser sessions that expired before the cutoff.
    Sessions,
    /// Audit events that happened before the cutoff.
    AuditEvents,
}

#[cfg(test)]
mod tests {
    use super::AuditKind;

    #[test]
    fn every_audit_kind_parses_back_from_its_stored_name() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AuditKind::parse("device.exploded"), None);
    }
}
