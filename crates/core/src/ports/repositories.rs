//! The relational database: accounts, clients, scopes, tokens, readiness and retention.

use crate::error::StoreError;
use crate::listing::{TokenQuery, TokenSelector};
use crate::model::{
    AccessTokenRecord, Account, GrantRotation, IssuedToken, NewAccessToken, OAuthClient, ProviderSession,
    RefreshLookup, ScopeDefinition, ScopeHolders, SsoPerson, SubjectId, TokenPolicy, WorkspaceMembership,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

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
    /// Sets an active account's password hash and voids its browser
    /// sessions from before `at`; `None` when there is no such active
    /// account.
    async fn set_password(
        &self,
        id: Uuid,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Account>, StoreError>;
    /// Records an SSO person at a sign-in, to the console or to approve a
    /// device (keeping their first sign-in's time); returns what was
    /// recorded before, if anything.
    async fn record_sso_person(&self, person: &SsoPerson) -> Result<Option<SsoPerson>, StoreError>;
    /// The SSO person, as of their last SSO sign-in.
    async fn find_sso_person(&self, subject: &SubjectId) -> Result<Option<SsoPerson>, StoreError>;
    /// Sets an SSO person's admin right as a provider recheck found their
    /// groups (their sign-in times stay); returns the right it replaced,
    /// `None` when no such person is recorded.
    async fn set_sso_person_admin(&self, subject: &SubjectId, is_admin: bool) -> Result<Option<bool>, StoreError>;
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
    pub policy: TokenPolicy,
    pub approval: crate::approval_policy::ApprovalPolicy,
}

/// The operator's scope registry.
#[async_trait]
pub trait ScopeRepository: Send + Sync {
    /// Every scope: the built-in ones first, then by creation.
    async fn list_scopes(&self) -> Result<Vec<ScopeDefinition>, StoreError>;
    /// Adds a scope; false when one with its name exists.
    async fn create_scope(&self, scope: &ScopeDefinition) -> Result<bool, StoreError>;
    /// Changes a scope's words and holders; false when there is none.
    async fn update_scope(&self, name: &str, description: &str, holders: ScopeHolders) -> Result<bool, StoreError>;
    /// Deletes a scope that is not built in; false when there is none such.
    async fn delete_scope(&self, name: &str) -> Result<bool, StoreError>;
}

/// Grants and their tokens, stored as hashes.
#[async_trait]
pub trait TokenRepository: Send + Sync {
    /// Mints a grant, or replaces in place the active grant for the same
    /// (subject, client_id, device_label): new secrets,
    /// lifetimes and scopes, and the refresh tokens it had rotated away are
    /// forgotten (they belong to the approval it replaces), and its provider
    /// session is the new one's. An external subject's grants minted before
    /// subjects were keyed by `sub` (no subject id) that bear the same
    /// email at the same issuer become this subject's first.
    async fn issue(&self, token: &NewAccessToken) -> Result<IssuedToken, StoreError>;
    /// What the refresh token with this hash is: a grant's current one, one
    /// a grant rotated away, or nothing known.
    async fn find_by_refresh_hash(&self, refresh_hash: &str) -> Result<RefreshLookup, StoreError>;
    /// Rotates an unrevoked grant's secrets if it still holds the presented
    /// refresh token, retiring that one, in one transaction; `None` when it
    /// no longer does (another refresh won) or the grant was revoked.
    async fn rotate(&self, rotation: &GrantRotation) -> Result<Option<AccessTokenRecord>, StoreError>;
    /// The provider session kept beside an unrevoked grant, if it has one.
    async fn provider_session(&self, grant_id: Uuid) -> Result<Option<ProviderSession>, StoreError>;
    /// Records that the provider honoured the grant's session at `at`, with
    /// the (possibly rotated) refresh token to use next time.
    async fn provider_session_checked(
        &self,
        grant_id: Uuid,
        sealed_refresh_token: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The row holding this token hash (active or hard-expired rows have none).
    async fn find_by_hash(&self, token_hash: &str) -> Result<Option<AccessTokenRecord>, StoreError>;
    /// The active row a new approval for this device would rotate.
    async fn find_active_for_device(
        &self,
        subject: &SubjectId,
        client_id: &str,
        device_label: &str,
    ) -> Result<Option<AccessTokenRecord>, StoreError>;
    /// The row with this id, in any state.
    async fn find_by_id(&self, id: Uuid) -> Result<Option<AccessTokenRecord>, StoreError>;
    /// The subject's unrevoked tokens that have not expired by `now`, most
    /// recently used (else created) first.
    async fn list_active_for_subject(
        &self,
        subject: &SubjectId,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccessTokenRecord>, StoreError>;
    /// Records the subject's email as its issuer now asserts it on every
    /// grant of the subject (the address is an attribute that can change);
    /// returns how many grants changed.
    async fn update_subject_email(&self, subject: &SubjectId, email: &str) -> Result<u64, StoreError>;
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

/// Readiness of the relational database.
#[async_trait]
pub trait DatabaseHealth: Send + Sync {
    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Retention: deleting rows Gatehouse no longer needs to keep (SPEC §5).
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes at most `batch` rows of `what` that are past `cutoff`, in one
    /// short transaction. `None` when another instance is pruning right now
    /// (PostgreSQL: an advisory transaction lock), so this one stops.
    async fn prune_batch(&self, what: Prunable, cutoff: DateTime<Utc>, batch: u32) -> Result<Option<u64>, StoreError>;
}

/// What retention deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prunable {
    /// Tokens revoked or expired before the cutoff.
    Tokens,
    /// Browser sessions that expired before the cutoff.
    Sessions,
    /// Audit events that happened before the cutoff.
    AuditEvents,
}
