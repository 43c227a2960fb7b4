//! The records the domain works with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The issuer recorded for subjects that are local accounts.
pub const LOCAL_ISSUER: &str = "local";

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
}

/// Who a flow was approved for: a local account or an external identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSubject {
    /// Set for local accounts; `None` for external SSO identities.
    pub account_id: Option<Uuid>,
    pub email: String,
    pub issuer: String,
}

/// A stored access token (never the plaintext).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenRecord {
    pub id: Uuid,
    pub subject_email: String,
    pub subject_issuer: String,
    pub account_id: Option<Uuid>,
    pub client_id: String,
    /// Empty when the device reported no label.
    pub device_label: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
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
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The row a mint produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub id: Uuid,
    /// True when an active token for the same device was replaced in place.
    pub rotated: bool,
}
