//! The records the domain works with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The issuer recorded for subjects that are local accounts.
pub const LOCAL_ISSUER: &str = "local";
/// The issuer under which a confidential client's own grants
/// (`client_credentials`) are recorded, with the client id as subject id.
pub const CLIENT_ISSUER: &str = "client";

/// A local account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    /// Browser sessions signed in at or before this instant are void.
    pub sessions_valid_after: Option<DateTime<Utc>>,
    /// The password is off: the account signs in with a passkey only.
    #[serde(default)]
    pub passwordless: bool,
}

/// A workspace an account belongs to, with its role there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceMembership {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

/// Whether a client can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    Public,
    Confidential,
}

impl ClientType {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Public => "public",
            ClientType::Confidential => "confidential",
        }
    }

    /// Parses the stored form.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "public" => Some(ClientType::Public),
            "confidential" => Some(ClientType::Confidential),
            _ => None,
        }
    }
}

/// A registered OAuth client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    /// SHA-256 of the secret, for confidential clients.
    pub secret_hash: Option<String>,
    pub allowed_scopes: Vec<String>,
    pub device_grant_enabled: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    /// Its token settings.
    pub policy: TokenPolicy,
    /// Who may approve its requests, from where, and how (RFC 10027).
    pub approval: crate::approval_policy::ApprovalPolicy,
}

/// A client's token settings. `None` takes the server's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenPolicy {
    /// Whether its grants carry a refresh token (RFC 6749 §6).
    pub refresh_allowed: bool,
    /// Lifetime of an access token, seconds.
    pub access_token_ttl: Option<u32>,
    /// Absolute lifetime of a grant with a refresh token, seconds.
    pub grant_ttl: Option<u32>,
    /// How long a grant with a refresh token lives unrefreshed, seconds.
    pub grant_idle_ttl: Option<u32>,
    /// The device flow's initial polling interval, seconds.
    pub poll_interval: Option<u32>,
    /// Whether its tokens are bound to a DPoP key (RFC 9449).
    pub dpop: DpopMode,
}

/// Whether a client's tokens are DPoP-bound (RFC 9449).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DpopMode {
    /// Bearer tokens only; DPoP proofs are ignored.
    Off,
    /// Bound when the client presents a proof, bearer otherwise.
    #[default]
    Allowed,
    /// Every token request must carry a proof.
    Required,
}

impl DpopMode {
    pub const ALL: [DpopMode; 3] = [DpopMode::Off, DpopMode::Allowed, DpopMode::Required];

    /// The stored (and command-line) form.
    pub fn as_str(self) -> &'static str {
        match self {
            DpopMode::Off => "off",
            DpopMode::Allowed => "allowed",
            DpopMode::Required => "required",
        }
    }

    /// Parses the stored form.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mode| mode.as_str() == value)
    }
}

/// Which kinds of subject may hold a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScopeHolders {
    /// Local Gatehouse accounts only.
    Accounts,
    /// People signed in through the SSO provider only.
    External,
    /// Both.
    Everyone,
}

impl ScopeHolders {
    /// The stored and typed name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeHolders::Accounts => "accounts",
            ScopeHolders::External => "external",
            ScopeHolders::Everyone => "everyone",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [ScopeHolders::Accounts, ScopeHolders::External, ScopeHolders::Everyone]
            .into_iter()
            .find(|h| h.as_str() == value)
    }

    /// Whether an external (SSO) subject may hold it; else only accounts.
    pub fn allows(self, kind: crate::formats::token::TokenKind) -> bool {
        use crate::formats::token::TokenKind;
        matches!(
            (self, kind),
            (ScopeHolders::Everyone, _)
                | (ScopeHolders::Accounts, TokenKind::Account)
                | (ScopeHolders::External, TokenKind::External)
        )
    }
}

/// One scope of the operator's registry: what a token may be allowed to do,
/// in the words the approval page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeDefinition {
    pub name: String,
    /// Plain words for the person approving ("Run apps you have access to").
    pub description: String,
    pub holders: ScopeHolders,
    /// One of the four scopes Gatehouse ships with; it cannot be deleted.
    pub built_in: bool,
    pub created_at: DateTime<Utc>,
}

/// Who a grant belongs to, as the issuer that vouches for them names them:
/// a local account by its id under [`LOCAL_ISSUER`], an SSO person by the
/// provider's `sub` under the provider's issuer (OpenID Connect Core §2:
/// only `iss` and `sub` together identify someone). The email is an
/// attribute: two provider accounts sharing one are two subjects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubjectId {
    pub issuer: String,
    pub id: String,
}

impl SubjectId {
    /// A local account.
    pub fn account(account_id: Uuid) -> Self {
        Self { issuer: LOCAL_ISSUER.to_owned(), id: account_id.to_string() }
    }
}

/// A person who signs in through the SSO provider, as of their last sign-in
/// there, to the console or to approve a device (no account row: the
/// provider is the source of truth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoPerson {
    pub subject: SubjectId,
    pub email: String,
    pub name: Option<String>,
    /// Whether the provider's groups made them an admin at that sign-in
    /// (`GATEHOUSE_SSO_ADMIN_GROUPS`).
    pub is_admin: bool,
    pub first_signed_in_at: DateTime<Utc>,
    pub last_signed_in_at: DateTime<Utc>,
}

/// Who a flow was approved for: a local account or an external identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSubject {
    /// Set for local accounts; `None` for external SSO identities.
    pub account_id: Option<Uuid>,
    pub email: String,
    pub issuer: String,
    /// An external identity's `sub` at its provider. Absent from flows
    /// stored before subjects were keyed by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// For an external identity: the refresh token its provider issued at
    /// sign-in, sealed with the server secret, so a grant can ask the
    /// provider again later. Absent from flows stored before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_token: Option<String>,
}

impl FlowSubject {
    /// A subject the provider keeps no refresh token for (a local account,
    /// or an external identity whose provider issued none).
    pub fn new(account_id: Option<Uuid>, email: String, issuer: String) -> Self {
        Self { account_id, email, issuer, sub: None, provider_token: None }
    }

    /// Who the grant will belong to: the account, else the provider's `sub`
    /// (`None` only for an external flow stored before `sub` was kept).
    pub fn subject_id(&self) -> Option<SubjectId> {
        match (self.account_id, &self.sub) {
            (Some(account_id), _) => Some(SubjectId::account(account_id)),
            (None, Some(sub)) => Some(SubjectId { issuer: self.issuer.clone(), id: sub.clone() }),
            (None, None) => None,
        }
    }
}

/// What a grant keeps to ask the SSO provider whether its subject's sign-in
/// still stands: the provider's refresh token (sealed with the server
/// secret) and when the provider last honoured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSession {
    pub sealed_refresh_token: String,
    pub checked_at: DateTime<Utc>,
}

/// A grant: one device's standing authorization, holding its current access
/// token and, for clients allowed it, its current refresh token (only their
/// hashes are stored). Rows cached by an earlier version lack the newer
/// fields, hence their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenRecord {
    pub id: Uuid,
    pub subject_email: String,
    pub subject_issuer: String,
    /// The subject's id under `subject_issuer` (see [`SubjectId`]); `None`
    /// for an external grant minted before subjects were keyed by `sub`,
    /// until its person signs in again.
    #[serde(default)]
    pub subject_id: Option<String>,
    pub account_id: Option<Uuid>,
    pub client_id: String,
    /// Empty when the device reported no label.
    pub device_label: String,
    pub prefix: String,
    /// The grant's scopes.
    pub scopes: Vec<String>,
    /// The current access token's scopes, when a refresh narrowed them.
    #[serde(default)]
    pub access_scopes: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    /// When the grant ends unless refreshed (or, without a refresh token,
    /// when its access token ends).
    pub expires_at: DateTime<Utc>,
    /// When the current access token ends; `None`: with the grant.
    #[serde(default)]
    pub access_expires_at: Option<DateTime<Utc>>,
    /// The end no refresh can move.
    #[serde(default)]
    pub max_expires_at: Option<DateTime<Utc>>,
    /// Whether the grant holds a refresh token.
    #[serde(default)]
    pub refreshable: bool,
    #[serde(default)]
    pub refreshed_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The thumbprint of the DPoP key its tokens are bound to (RFC 9449);
    /// `None` for bearer grants.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
    /// What its approval was judged on; `None` for grants from before it
    /// was kept, and for `client_credentials`.
    #[serde(default)]
    pub approval: Option<crate::approval_policy::ApprovalEvidence>,
}

impl AccessTokenRecord {
    /// When the current access token stops working.
    pub fn access_ends_at(&self) -> DateTime<Utc> {
        self.access_expires_at.map_or(self.expires_at, |at| at.min(self.expires_at))
    }

    /// The current access token's scopes.
    pub fn access_scopes(&self) -> &[String] {
        self.access_scopes.as_deref().unwrap_or(&self.scopes)
    }

    /// Who the grant belongs to (`None` for one no subject has claimed yet).
    pub fn subject(&self) -> Option<SubjectId> {
        Some(SubjectId { issuer: self.subject_issuer.clone(), id: self.subject_id.clone()? })
    }

    /// The `sub` resource servers see for the grant's subject (introspection
    /// and `/v1/me`, `docs/api.md`): stable, and never the same for two
    /// people. A local account's is its id (a UUID). An SSO person's is
    /// `sso:` and the hex SHA-256 of `<issuer length>:<issuer><provider sub>`,
    /// so two provider accounts sharing an address are two subjects. An
    /// external grant from before subjects were keyed by `sub` hashes
    /// `email:<issuer length>:<issuer><email>` instead, until its person's
    /// next sign-in claims it.
    pub fn public_sub(&self) -> String {
        let external = |kind: &str, id: &str| {
            let issuer = &self.subject_issuer;
            format!("sso:{}", crate::secret::sha256_hex(&format!("{kind}{}:{issuer}{id}", issuer.len())))
        };
        match (self.account_id, &self.subject_id) {
            (Some(account_id), _) => account_id.to_string(),
            (None, Some(sub)) => external("", sub),
            (None, None) => external("email:", &self.subject_email),
        }
    }

    /// Whether the grant belongs to `subject`.
    pub fn belongs_to(&self, subject: &SubjectId) -> bool {
        self.subject_issuer == subject.issuer && self.subject_id.as_deref() == Some(subject.id.as_str())
    }
}

/// What the token repository needs to mint (or rotate) a token row.
#[derive(Debug, Clone)]
pub struct NewAccessToken {
    /// The id used if a new row is created; a rotated row keeps its own.
    pub id: Uuid,
    pub subject: FlowSubject,
    pub client_id: String,
    pub device_label: String,
    pub prefix: String,
    pub token_hash: String,
    /// SHA-256 of the refresh token, when the client gets one.
    pub refresh_token_hash: Option<String>,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// When the grant ends unless refreshed.
    pub expires_at: DateTime<Utc>,
    /// When the access token ends.
    pub access_expires_at: DateTime<Utc>,
    /// The grant's absolute end.
    pub max_expires_at: DateTime<Utc>,
    /// The DPoP key its tokens are bound to, if any.
    pub dpop_jkt: Option<String>,
    /// The provider session to keep beside a refreshable external grant.
    pub provider_session: Option<ProviderSession>,
    /// What its approval was judged on (`None` for `client_credentials`).
    pub approval: Option<crate::approval_policy::ApprovalEvidence>,
}

/// A refresh's rotation: the grant's new secrets and lifetimes, written only
/// if the grant still holds the refresh token that was presented.
#[derive(Debug, Clone)]
pub struct GrantRotation {
    pub grant_id: Uuid,
    pub presented_refresh_hash: String,
    pub token_hash: String,
    pub refresh_token_hash: String,
    /// The new access token's scopes; `None`: the grant's.
    pub access_scopes: Option<Vec<String>>,
    pub access_expires_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// What a presented refresh token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshLookup {
    /// The current refresh token of this grant (maybe revoked or expired).
    Current(AccessTokenRecord),
    /// A token this grant rotated away: presenting it again is reuse.
    Retired(AccessTokenRecord),
    Unknown,
}

/// The row a mint produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub id: Uuid,
    /// True when an active token for the same device was replaced in place.
    pub rotated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(account_id: Option<Uuid>, issuer: &str, subject_id: Option<&str>, email: &str) -> AccessTokenRecord {
        let at = DateTime::UNIX_EPOCH;
        AccessTokenRecord {
            id: Uuid::nil(),
            subject_email: email.into(),
            subject_issuer: issuer.into(),
            subject_id: subject_id.map(str::to_owned),
            account_id,
            client_id: "cli".into(),
            device_label: String::new(),
            prefix: "gtha_".into(),
            scopes: vec!["full".into()],
            access_scopes: None,
            created_at: at,
            last_used_at: None,
            last_used_ip: None,
            expires_at: at,
            access_expires_at: None,
            max_expires_at: None,
            refreshable: false,
            refreshed_at: None,
            revoked_at: None,
            dpop_jkt: None,
            approval: None,
        }
    }

    #[test]
    fn the_public_sub_is_stable_and_never_names_two_people() {
        let id = Uuid::from_u128(7);
        let account = grant(Some(id), LOCAL_ISSUER, Some(&id.to_string()), "ada@example.com");
        assert_eq!(account.public_sub(), id.to_string());
        // As documented: `sso:` and the hex SHA-256 of `<issuer length>:<issuer><sub>`.
        let sam = grant(None, "https://idp.example", Some("sam-1"), "sam@sso.example");
        let expected = format!("sso:{}", crate::secret::sha256_hex("19:https://idp.examplesam-1"));
        assert_eq!(sam.public_sub(), expected);
        // Another provider account with the same address is another subject,
        // and so is the same `sub` at another issuer.
        let other = grant(None, "https://idp.example", Some("sam-2"), "sam@sso.example");
        let elsewhere = grant(None, "https://idp.example.org", Some("sam-1"), "sam@sso.example");
        assert_ne!(sam.public_sub(), other.public_sub());
        assert_ne!(sam.public_sub(), elsewhere.public_sub());
        // A grant from before subjects were keyed by `sub` keeps answering,
        // by its address, never colliding with a `sub` that looks like one.
        let legacy = grant(None, "https://idp.example", None, "sam@sso.example");
        let lookalike = grant(None, "https://idp.example", Some("email:sam@sso.example"), "x@sso.example");
        assert!(legacy.public_sub().starts_with("sso:"));
        assert_ne!(legacy.public_sub(), lookalike.public_sub());
    }
}
