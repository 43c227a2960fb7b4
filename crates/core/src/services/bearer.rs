//! Bearer authentication of resource requests (RFC 6750) and token revocation.

use super::{Ports, Settings};
use crate::error::StoreError;
use crate::formats::token::{BearerToken, MalformedToken, TokenKind};
use crate::model::{AccessTokenRecord, Account, WorkspaceMembership};
use crate::ports::{AuditEvent, AuditKind};
use chrono::Duration;
use std::sync::Arc;

/// `last_used_at` is written at most this often per token.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// Why a bearer request was refused.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    /// The operator switched bearer authentication off.
    #[error("bearer authentication is disabled")]
    Disabled,
    /// RFC 6750 `invalid_token`, with why.
    #[error("{0}")]
    InvalidToken(&'static str),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// A token that authenticated a request.
#[derive(Debug, Clone)]
pub struct AuthenticatedToken {
    pub record: AccessTokenRecord,
    pub kind: TokenKind,
    /// The kind's scopes, narrowed by the row.
    pub scopes: Vec<String>,
}

/// The subject of a token, as `/v1/me` reports it.
#[derive(Debug, Clone)]
pub struct TokenSubject {
    pub token: AuthenticatedToken,
    pub account: Option<Account>,
    pub workspaces: Vec<WorkspaceMembership>,
}

/// Bearer authentication use cases.
#[derive(Clone)]
pub struct BearerService {
    ports: Ports,
    settings: Arc<Settings>,
}

impl BearerService {
    pub(crate) fn new(ports: Ports, settings: Arc<Settings>) -> Self {
        Self { ports, settings }
    }

    /// Whether bearer authentication is on.
    pub fn enabled(&self) -> bool {
        self.settings.enable_oauth_bearer
    }

    /// Authenticates a presented token: format and checksum first (no
    /// storage touched for garbage), then the hash lookup, revocation and
    /// expiry. An expired token is hard-expired by compare-and-set.
    pub async fn authenticate(&self, presented: &str, ip: Option<&str>) -> Result<AuthenticatedToken, BearerError> {
        if !self.settings.enable_oauth_bearer {
            return Err(BearerError::Disabled);
        }
        let token = BearerToken::parse(presented).map_err(|err| match err {
            MalformedToken::UnknownPrefix => BearerError::InvalidToken("unknown token prefix"),
            MalformedToken::BadChecksum => BearerError::InvalidToken("malformed token"),
        })?;
        let record = self
            .ports
            .tokens
            .find_by_hash(&token.hash())
            .await?
            .filter(|r| r.revoked_at.is_none() && r.prefix == token.kind().prefix())
            .ok_or(BearerError::InvalidToken("unknown or revoked token"))?;
        let now = self.ports.clock.now();
        if record.expires_at <= now {
            if self.ports.tokens.hard_expire(record.id, now).await? {
                self.ports
                    .audit(AuditEvent {
                        kind: AuditKind::TokenExpired,
                        actor: Some("system".to_owned()),
                        subject: Some(record.subject_email.clone()),
                        client_id: Some(record.client_id.clone()),
                        ip: ip.map(str::to_owned),
                        details: serde_json::json!({ "token_id": record.id }),
                        at: now,
                    })
                    .await;
            }
            return Err(BearerError::InvalidToken("token expired"));
        }
        if record.last_used_at.is_none_or(|last| now - last >= TOUCH_EVERY) {
            self.ports.tokens.touch(record.id, now, ip).await?;
        }
        let kind = token.kind();
        let scopes =
            kind.scopes().iter().filter(|s| record.scopes.iter().any(|r| r == *s)).map(|s| (*s).to_owned()).collect();
        Ok(AuthenticatedToken { record, kind, scopes })
    }

    /// The token's subject with its account and workspaces.
    pub async fn subject(&self, token: AuthenticatedToken) -> Result<TokenSubject, BearerError> {
        let Some(account_id) = token.record.account_id else {
            return Ok(TokenSubject { token, account: None, workspaces: Vec::new() });
        };
        let account = self
            .ports
            .accounts
            .find_by_id(account_id)
            .await?
            .filter(|a| !a.disabled)
            .ok_or(BearerError::InvalidToken("the token's account is disabled"))?;
        let workspaces = self.ports.accounts.workspaces(account_id).await?;
        Ok(TokenSubject { token, account: Some(account), workspaces })
    }

    /// Revokes the presenting token (`DELETE /v1/oauth/authorizations/self`).
    pub async fn revoke_self(&self, token: &AuthenticatedToken, ip: Option<&str>) -> Result<(), StoreError> {
        let now = self.ports.clock.now();
        if self.ports.tokens.revoke(token.record.id, now).await? {
            self.ports
                .audit(AuditEvent {
                    kind: AuditKind::TokenRevoked,
                    actor: Some(token.record.subject_email.clone()),
                    subject: Some(token.record.subject_email.clone()),
                    client_id: Some(token.record.client_id.clone()),
                    ip: ip.map(str::to_owned),
                    details: serde_json::json!({ "token_id": token.record.id, "by": "self" }),
                    at: now,
                })
                .await;
        }
        Ok(())
    }
}
