//! The JSON bodies of the REST surface (SPEC §3), as types: the server
//! writes them and `gatehouse login`/`status` read them, so both sides
//! cannot drift apart.

use chrono::{DateTime, SecondsFormat, Utc};
use gatehouse_core::model::{Account, WorkspaceMembership};
use gatehouse_core::services::accounts::default_workspace;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An instant as the JSON answers write it: RFC 3339 in UTC, whole seconds.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Every error answer: `{"error": "...", "error_description": "..."}`, plus
/// the new `interval` of a `slow_down`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
}

/// `POST /v1/oauth/device/code` (RFC 8628 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    #[serde(default)]
    pub interval: Option<u64>,
    /// Gatehouse's extension (docs/api.md): the device must send the code
    /// the approving browser shows, as `confirmation_code` with its polls.
    /// Present only when true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_required: Option<bool>,
}

/// The account a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBody {
    pub id: Uuid,
    pub email: String,
    pub name: String,
}

/// A workspace of that account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceBody {
    pub id: Uuid,
    pub name: String,
    pub role: String,
}

/// The subject fields shared by the token response and `/v1/me`: an
/// account with its workspaces, or an external identity (`account: null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectBody {
    pub account: Option<AccountBody>,
    #[serde(default)]
    pub workspaces: Vec<WorkspaceBody>,
    #[serde(default)]
    pub default_workspace_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_issuer: Option<String>,
}

impl SubjectBody {
    /// The subject of a token: its account, or the external identity.
    pub fn new(account: Option<&Account>, workspaces: &[WorkspaceMembership], email: &str, issuer: &str) -> Self {
        match account {
            Some(account) => Self {
                account: Some(AccountBody { id: account.id, email: account.email.clone(), name: account.name.clone() }),
                workspaces: workspaces
                    .iter()
                    .map(|w| WorkspaceBody { id: w.id, name: w.name.clone(), role: w.role.clone() })
                    .collect(),
                default_workspace_id: default_workspace(workspaces).map(|w| w.id),
                subject_email: None,
                subject_issuer: None,
            },
            None => Self {
                account: None,
                workspaces: Vec::new(),
                default_workspace_id: None,
                subject_email: Some(email.to_owned()),
                subject_issuer: Some(issuer.to_owned()),
            },
        }
    }

    /// "Name <email>" for an account, else the external subject's email.
    pub fn describe(&self) -> String {
        match (&self.account, &self.subject_email) {
            (Some(account), _) => format!("{} <{}>", account.name, account.email),
            (None, Some(email)) => email.clone(),
            (None, None) => "unknown".to_owned(),
        }
    }
}

/// A successful redemption (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    /// For clients allowed refresh tokens (RFC 6749 §5.1, §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    /// When the access token ends.
    pub expires_at: String,
    /// When the grant ends unless refreshed (with a refresh token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_expires_at: Option<String>,
    pub token_id: Uuid,
    pub subject_type: String,
    #[serde(flatten)]
    pub subject: SubjectBody,
}

/// `GET /v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeResponse {
    /// The subject's stable id, as introspection names it
    /// (`AccessTokenRecord::public_sub`); empty from a server older than it.
    #[serde(default)]
    pub sub: String,
    pub subject_type: String,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub token_id: Uuid,
    pub expires_at: String,
    #[serde(flatten)]
    pub subject: SubjectBody,
}
