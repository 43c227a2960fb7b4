//! RFC 6749 §6: refreshing a grant the device flow created.
//!
//! Every refresh rotates both secrets of the grant: a new access token and a
//! new refresh token, by compare-and-set on the presented refresh token, so
//! of racing refreshes with one token exactly one wins. The token it
//! replaces is retired, and presenting a retired token again is reuse
//! (RFC 9700 §4.14.2): the whole grant is revoked at once on every instance
//! and the event audited (`grant.refresh_reuse_detected`).
//!
//! A retried refresh whose answer was lost presents a retired token too, and
//! is treated the same way: a retry and a replay by whoever copied the token
//! cannot be told apart, so the grant ends and the device signs in again
//! (docs/api.md, "Grants and refresh tokens"). Clients keep that rare by refreshing one at a
//! time, as `gatehouse login`'s credentials file lock does.
//!
//! Each refresh also checks again everything approval checked: the client
//! is enabled and still allowed refresh tokens, the account is active, an
//! external subject is still from the configured provider and an allowed
//! email domain, and the provider still honours its sign-in (asked at most
//! once per period, `external::ExternalSubjects`). A subject that no longer
//! passes has its grant revoked.
//!
//! A grant bound to a DPoP key refreshes only with a proof of that key
//! (RFC 9449 §5), checked before anything rotates: a refresh token copied
//! without its key can neither be used nor, once retired, end the grant as
//! reuse.

use super::redeem::{TokenGrant, grant_of};
use super::{DeviceFlowService, FlowError, oauth};
use crate::actor::Actor;
use crate::error::{OAuthError, OAuthErrorCode};
use crate::formats::token::{BearerToken, RefreshToken, TokenKind};
use crate::model::{
    AccessTokenRecord, Account, DpopMode, FlowSubject, GrantRotation, RefreshLookup, WorkspaceMembership,
};
use crate::ports::{AuditEvent, AuditKind};
use crate::rate_limit::Limiter;
use crate::secret::SecretString;
use crate::services::dpop::PresentedProof;
use crate::services::external::Standing;
use crate::services::revocation::RevokedBy;
use crate::services::scopes::ScopeCatalog;
use chrono::Duration;

/// A `grant_type=refresh_token` request plus what the edge saw.
#[derive(Debug, Clone, Default)]
pub struct RefreshRequest {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub refresh_token: Option<String>,
    /// A narrower scope for the new access token (RFC 6749 §6).
    pub scope: Option<String>,
    pub ip: Option<String>,
    /// The request's DPoP proof (RFC 9449 §5), if any.
    pub dpop: Option<PresentedProof>,
}

/// The one answer for every refresh token that cannot be used, so an
/// answer tells nothing about which tokens exist.
fn unusable() -> FlowError {
    oauth(OAuthErrorCode::InvalidGrant, "the refresh token is invalid, expired or revoked")
}

impl DeviceFlowService {
    /// RFC 6749 §6: rotates the grant holding `refresh_token` and answers
    /// its new tokens.
    pub async fn refresh(&self, request: RefreshRequest) -> Result<TokenGrant, FlowError> {
        let answer = self.answer_refresh(request).await;
        crate::metrics::refresh_answer(match &answer {
            Ok(_) => "refreshed",
            Err(err) => err.metric_label(),
        });
        answer
    }

    async fn answer_refresh(&self, request: RefreshRequest) -> Result<TokenGrant, FlowError> {
        let client = self.clients.authenticate(request.client_id.as_deref(), request.client_secret.as_ref()).await?;
        let proof = self.proof_for(&client, request.dpop)?;
        let presented = request
            .refresh_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| oauth(OAuthErrorCode::InvalidRequest, "refresh_token is required"))?;
        let Ok(refresh_token) = RefreshToken::parse(presented) else {
            return Err(unusable());
        };
        let ip = request.ip.as_deref();
        let grant = match self.ports.tokens.find_by_refresh_hash(&refresh_token.hash()).await? {
            RefreshLookup::Current(grant) => grant,
            RefreshLookup::Retired(grant) => {
                // Only the client the grant belongs to can trigger the
                // revocation: another client learns nothing and ends nothing.
                // For a DPoP-bound grant, only with a proof of its key: an old
                // refresh token copied without the key cannot end the grant.
                if grant.client_id == client.client_id
                    && (grant.dpop_jkt.is_none()
                        || self.proven_key(proof.as_ref(), grant.dpop_jkt.as_deref()).await.is_ok())
                {
                    self.refresh_reuse_detected(&grant, ip).await?;
                }
                return Err(unusable());
            }
            RefreshLookup::Unknown => {
                // Refresh tokens cannot be guessed; this limit only keeps a
                // stream of junk from costing a lookup each.
                self.limits.take(&[(Limiter::UnknownRefreshTokenPerIp, ip)]).await?;
                return Err(unusable());
            }
        };
        let now = self.ports.clock.now();
        if grant.client_id != client.client_id || grant.revoked_at.is_some() || grant.expires_at <= now {
            return Err(unusable());
        }
        if !client.policy.refresh_allowed {
            return Err(oauth(OAuthErrorCode::UnauthorizedClient, "this client may not use refresh tokens"));
        }
        let registry = self.scopes.catalog().await?;
        let scopes = narrowed_scopes(&grant.scopes, request.scope.as_deref(), &registry)?;
        // A bound grant refreshes only with a proof of its key (RFC 9449
        // §5); a bearer grant stays bearer, unless its client now requires
        // DPoP, when it must sign in again.
        if grant.dpop_jkt.is_some() {
            self.proven_key(proof.as_ref(), grant.dpop_jkt.as_deref()).await?;
        } else if client.policy.dpop == DpopMode::Required {
            return Err(oauth(OAuthErrorCode::InvalidGrant, "this client now requires DPoP: sign in again"));
        }
        let (kind, account, workspaces) = match self.subject_still_allowed(&grant).await? {
            Ok(allowed) => allowed,
            Err(reason) => {
                self.ports.revoke_tokens(&[grant.id], &Actor::System, reason, ip).await?;
                return Err(oauth(
                    OAuthErrorCode::InvalidGrant,
                    match reason {
                        RevokedBy::RevokedAtProvider => "the identity provider no longer honours this sign-in",
                        _ => "the grant's subject may no longer hold it",
                    },
                ));
            }
        };

        // The registry and the client may have changed since approval: the
        // new access token carries only what its person may hold and its
        // client may ask for now.
        let mut scopes = registry.narrow(kind, &scopes);
        // (A client allowed `full` may still ask for what `full` stands for.)
        scopes.retain(|scope| crate::scope::covers(&client.allowed_scopes, scope));
        if scopes.is_empty() {
            return Err(oauth(OAuthErrorCode::InvalidGrant, "none of the grant's scopes may be held any more"));
        }
        let lifetimes = self.settings.lifetimes(&client.policy);
        let access_token = BearerToken::generate(kind, self.ports.random.as_ref());
        let new_refresh = RefreshToken::generate(self.ports.random.as_ref());
        let access_expires_at = now + Duration::seconds(i64::from(lifetimes.access));
        let max_expires_at = grant.max_expires_at.unwrap_or(grant.expires_at);
        let expires_at = max_expires_at.min(now + Duration::seconds(i64::from(lifetimes.idle)));
        let rotation = GrantRotation {
            grant_id: grant.id,
            presented_refresh_hash: refresh_token.hash(),
            token_hash: access_token.hash(),
            refresh_token_hash: new_refresh.hash(),
            access_scopes: (scopes != grant.scopes).then(|| scopes.clone()),
            access_expires_at: access_expires_at.min(expires_at),
            expires_at,
            at: now,
        };
        let Some(rotated) = self.ports.tokens.rotate(&rotation).await? else {
            // Another refresh with the same token committed first (or the
            // grant was revoked meanwhile): now it is retired, and this is reuse.
            if let RefreshLookup::Retired(grant) = self.ports.tokens.find_by_refresh_hash(&refresh_token.hash()).await?
            {
                self.refresh_reuse_detected(&grant, ip).await?;
            }
            return Err(unusable());
        };
        // The access token it replaced must stop working on every instance now.
        self.ports.token_cache.invalidate(grant.id, now).await?;
        crate::metrics::tokens("refreshed", 1);
        let subject =
            FlowSubject::new(rotated.account_id, rotated.subject_email.clone(), rotated.subject_issuer.clone());
        Ok(grant_of(access_token, Some(new_refresh), &rotated, subject, account, workspaces, now))
    }

    /// The kind of token the grant's subject gets, if it may still hold the
    /// grant: an active account, or an external identity the configured
    /// provider still vouches for (`external::ExternalSubjects`); else why not.
    async fn subject_still_allowed(
        &self,
        grant: &AccessTokenRecord,
    ) -> Result<Result<(TokenKind, Option<Account>, Vec<WorkspaceMembership>), RevokedBy>, FlowError> {
        Ok(match grant.account_id {
            Some(account_id) => self
                .ports
                .active_account_with_workspaces(account_id)
                .await?
                .map(|(account, workspaces)| (TokenKind::Account, Some(account), workspaces))
                .ok_or(RevokedBy::SubjectNotAllowed),
            None => match &self.external {
                None => Err(RevokedBy::SubjectNotAllowed),
                Some(external) => match external.standing(grant).await? {
                    Standing::Allowed => Ok((TokenKind::External, None, Vec::new())),
                    Standing::NotAllowed(reason) => Err(reason),
                },
            },
        })
    }

    /// Ends a grant whose retired refresh token was presented again, on every
    /// instance, and records it.
    async fn refresh_reuse_detected(&self, grant: &AccessTokenRecord, ip: Option<&str>) -> Result<(), FlowError> {
        let revoked = self.ports.revoke_tokens(&[grant.id], &Actor::System, RevokedBy::RefreshReuse, ip).await?;
        if revoked.is_empty() {
            return Ok(()); // Already revoked: detected and recorded before.
        }
        crate::metrics::tokens("refresh_reuse_detected", 1);
        tracing::warn!(grant_id = %grant.id, client_id = %grant.client_id, "a rotated refresh token was presented again; grant revoked");
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::RefreshReuseDetected,
                actor: Some(Actor::Client { client_id: grant.client_id.clone() }),
                subject: Some(grant.subject_email.clone()),
                client_id: Some(grant.client_id.clone()),
                ip: ip.map(str::to_owned),
                details: serde_json::json!({ "grant_id": grant.id, "device_label": grant.device_label }),
                at: self.ports.clock.now(),
            })
            .await;
        Ok(())
    }
}

/// The new access token's scopes: the grant's, or the narrower `requested`
/// set (RFC 6749 §6: never wider; unknown scopes are `invalid_scope`).
/// Only scopes granted by name count: `full` covers other scopes on
/// Gatehouse's own routes, but a resource server reading a token's scope
/// literally must never be shown one nobody approved.
fn narrowed_scopes(
    granted: &[String],
    requested: Option<&str>,
    registry: &ScopeCatalog,
) -> Result<Vec<String>, FlowError> {
    let Some(requested) = requested else {
        return Ok(granted.to_vec());
    };
    let requested = crate::scope::parse(requested);
    let invalid = |description| FlowError::OAuth(OAuthError::new(OAuthErrorCode::InvalidScope, description));
    if requested.is_empty() {
        return Err(invalid("scope is empty"));
    }
    if requested.iter().any(|s| !registry.knows(s) || !granted.contains(s)) {
        return Err(invalid("a refresh can only narrow the granted scope"));
    }
    Ok(requested)
}
