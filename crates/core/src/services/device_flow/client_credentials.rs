//! RFC 6749 §4.4: a confidential client's token in its own name, for
//! automation (Terraform, CI, an HR off-boarding job) calling the admin API.
//!
//! The token endpoint is shared with the device grant, so this lives beside
//! it. Only a confidential client may use it, and only for scopes an admin
//! allowed it; a client's own token carries `admin` and nothing else (the
//! one scope whose meaning for a client Gatehouse defines), so a client
//! allowed other scopes for its device flows gains nothing here. Each token
//! is its own grant (automation runs in parallel, and one run must not end
//! another's token), lives at most `CLIENT_TOKEN_MAX_TTL`, and has no
//! refresh token: the client asks again. Disabling the client or taking
//! `admin` from it ends what its tokens may do at their next use.

use super::redeem::TokenGrant;
use super::{DeviceFlowService, FlowError, oauth};
use crate::actor::Actor;
use crate::error::OAuthErrorCode;
use crate::formats::token::{BearerToken, TokenKind};
use crate::model::{CLIENT_ISSUER, ClientType, FlowSubject, NewAccessToken};
use crate::ports::{AuditEvent, AuditKind};
use crate::secret::SecretString;
use crate::services::dpop::PresentedProof;
use chrono::Duration;
use uuid::Uuid;

/// The longest a client's own token lives, whatever its access-token
/// lifetime: it is an admin credential, and asking again costs one request.
pub const CLIENT_TOKEN_MAX_TTL: u32 = 3600;

/// A `grant_type=client_credentials` request plus what the edge saw.
#[derive(Debug, Clone)]
pub struct ClientCredentialsRequest {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    /// The `scope` parameter; absent: every scope the client may hold itself.
    pub scope: Option<String>,
    pub ip: Option<String>,
    pub dpop: Option<PresentedProof>,
}

impl DeviceFlowService {
    /// Issues a confidential client a token in its own name.
    pub async fn client_credentials(&self, request: ClientCredentialsRequest) -> Result<TokenGrant, FlowError> {
        let client = self.clients.authenticate(request.client_id.as_deref(), request.client_secret.as_ref()).await?;
        if client.client_type != ClientType::Confidential {
            return Err(oauth(
                OAuthErrorCode::UnauthorizedClient,
                "the client_credentials grant is for confidential clients",
            ));
        }
        // RFC 6749 §3.3: a scope the client was not allowed is refused, not
        // silently dropped.
        let requested = match request.scope.as_deref() {
            None => client.allowed_scopes.clone(),
            Some(param) => {
                let requested = crate::scope::parse(param);
                if requested.is_empty() || requested.iter().any(|s| !client.allowed_scopes.contains(s)) {
                    return Err(oauth(
                        OAuthErrorCode::InvalidScope,
                        "a requested scope is not allowed for this client",
                    ));
                }
                requested
            }
        };
        let scopes = self.scopes.catalog().await?.narrow(TokenKind::Client, &requested);
        if scopes.is_empty() {
            return Err(oauth(
                OAuthErrorCode::InvalidScope,
                "a client's own token carries only the admin scope, and this client is not allowed it",
            ));
        }
        let proof = self.proof_for(&client, request.dpop)?;
        let dpop_jkt = self.proven_key(proof.as_ref(), None).await?;

        let now = self.ports.clock.now();
        let ttl = self.settings.lifetimes(&client.policy).access.min(CLIENT_TOKEN_MAX_TTL);
        let expires_at = now + Duration::seconds(i64::from(ttl));
        let token = BearerToken::generate(TokenKind::Client, self.ports.random.as_ref());
        let id = Uuid::new_v4();
        let subject = FlowSubject {
            sub: Some(client.client_id.clone()),
            ..FlowSubject::new(None, client.client_id.clone(), CLIENT_ISSUER.to_owned())
        };
        let new_token = NewAccessToken {
            id,
            subject: subject.clone(),
            client_id: client.client_id.clone(),
            // One grant per token: the device label is what keeps grants of
            // one subject and client apart.
            device_label: format!("client_credentials {}", id.simple()),
            prefix: TokenKind::Client.prefix().to_owned(),
            token_hash: token.hash(),
            refresh_token_hash: None,
            scopes: scopes.clone(),
            created_at: now,
            expires_at,
            access_expires_at: expires_at,
            max_expires_at: expires_at,
            dpop_jkt: dpop_jkt.clone(),
            provider_session: None,
            approval: None,
        };
        let issued = self.ports.tokens.issue(&new_token).await?;
        crate::metrics::tokens("client_credentials", 1);
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::ClientTokenIssued,
                actor: Some(Actor::Client { client_id: client.client_id.clone() }),
                subject: Some(client.client_id.clone()),
                client_id: Some(client.client_id.clone()),
                ip: request.ip,
                details: serde_json::json!({ "token_id": issued.id, "scopes": scopes, "dpop_bound": dpop_jkt.is_some() }),
                at: now,
            })
            .await;
        Ok(TokenGrant {
            token,
            refresh_token: None,
            token_id: issued.id,
            expires_in: ttl,
            expires_at,
            grant_expires_at: expires_at,
            scopes,
            subject,
            account: None,
            workspaces: Vec::new(),
            rotated: false,
            redelivered: false,
            dpop_bound: dpop_jkt.is_some(),
        })
    }
}
