//! The token endpoint's grants. The device authorization grant (RFC 8628),
//! one file per part of SPEC §4: `start` (the device asks), `approval` (a
//! person looks up and decides) and `redeem` (the device polls and gets its
//! token); and the grants the same endpoint serves besides: `refresh`
//! (RFC 6749 §6) and `client_credentials` (a confidential client's own
//! token, RFC 6749 §4.4).

mod approval;
mod client_credentials;
mod confirmation;
mod policy;
mod redeem;
mod refresh;
mod start;

pub(crate) use approval::Recorded;
pub use approval::{ApprovalView, AuthorizeRequest, CodeLookup, DecideError, DecisionKind};
pub use client_credentials::{CLIENT_TOKEN_MAX_TTL, ClientCredentialsRequest};
pub use policy::{Decider, PolicyRefusal};
pub use redeem::{PollRequest, TokenGrant};
pub use refresh::RefreshRequest;
pub use start::{DEVICE_LABEL_MAX_CHARS, StartRequest, StartedFlow, USER_AGENT_MAX_CHARS, validate_device_label};

use super::clients::{ClientAuthError, ClientService};
use super::dpop::{DpopError, DpopService, PresentedProof};
use super::scopes::ScopeService;
use super::{Ports, Settings};
use crate::error::{OAuthError, OAuthErrorCode, StoreError};
use crate::model::{DpopMode, OAuthClient};
use crate::rate_limit::RateLimitService;
use crate::rate_limit::RateLimited;
use std::sync::Arc;

/// A device-grant failure: an OAuth error answer, or a storage fault (503).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

crate::rate_limit::from_limit_error!(FlowError);

impl FlowError {
    /// The failure as the token endpoint's metrics label it: the OAuth
    /// error code, `rate_limited` or `unavailable`.
    pub(crate) fn metric_label(&self) -> &'static str {
        match self {
            FlowError::OAuth(err) => err.code.as_str(),
            FlowError::RateLimited(_) => "rate_limited",
            FlowError::Unavailable(_) => "unavailable",
        }
    }
}

impl From<DpopError> for FlowError {
    fn from(err: DpopError) -> Self {
        match err.into_oauth() {
            Ok(oauth) => FlowError::OAuth(oauth),
            Err(storage) => FlowError::Unavailable(storage),
        }
    }
}

impl From<ClientAuthError> for FlowError {
    fn from(err: ClientAuthError) -> Self {
        match err {
            ClientAuthError::OAuth(e) => FlowError::OAuth(e),
            ClientAuthError::Unavailable(e) => FlowError::Unavailable(e),
        }
    }
}

fn oauth(code: OAuthErrorCode, description: &'static str) -> FlowError {
    FlowError::OAuth(OAuthError::new(code, description))
}

/// The device authorization grant use cases.
#[derive(Clone)]
pub struct DeviceFlowService {
    ports: Ports,
    settings: Arc<Settings>,
    clients: ClientService,
    limits: RateLimitService,
    /// The SSO provider whose people may hold grants, when one is configured.
    external: Option<super::external::ExternalSubjects>,
    dpop: DpopService,
    scopes: ScopeService,
}

impl DeviceFlowService {
    pub(crate) fn new(
        ports: Ports,
        settings: Arc<Settings>,
        clients: ClientService,
        limits: RateLimitService,
        external: Option<super::external::ExternalSubjects>,
        dpop: DpopService,
        scopes: ScopeService,
    ) -> Self {
        Self { clients, ports, settings, limits, external, dpop, scopes }
    }

    /// The scope registry the flows narrow their scopes by.
    pub(crate) fn scopes(&self) -> &ScopeService {
        &self.scopes
    }

    /// The proof a token request carries, as the client's DPoP mode sees
    /// it: ignored when the client's tokens are never bound, required when
    /// they always are.
    fn proof_for(
        &self,
        client: &OAuthClient,
        proof: Option<PresentedProof>,
    ) -> Result<Option<PresentedProof>, FlowError> {
        match (client.policy.dpop, proof) {
            (DpopMode::Off, _) => Ok(None),
            (DpopMode::Required, None) => {
                Err(oauth(OAuthErrorCode::InvalidDpopProof, "this client must present a DPoP proof"))
            }
            (_, proof) => Ok(proof),
        }
    }

    /// The key a token request proves it holds (RFC 9449 §5), checked
    /// against the key its code or grant is bound to, if any.
    async fn proven_key(
        &self,
        proof: Option<&PresentedProof>,
        bound_to: Option<&str>,
    ) -> Result<Option<String>, FlowError> {
        let key = match proof {
            Some(proof) => Some(self.dpop.check_token_request(proof).await?),
            None => None,
        };
        match (bound_to, key.as_deref()) {
            (Some(bound), Some(key)) if bound != key => {
                Err(oauth(OAuthErrorCode::InvalidDpopProof, "the proof's key is not the one this grant is bound to"))
            }
            (Some(_), None) => {
                Err(oauth(OAuthErrorCode::InvalidDpopProof, "this grant is DPoP-bound: present a proof with its key"))
            }
            _ => Ok(key),
        }
    }

    /// The rate limits (the SSO branch shares them).
    pub(crate) fn limits(&self) -> &RateLimitService {
        &self.limits
    }
}
