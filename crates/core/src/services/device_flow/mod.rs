//! The device authorization grant (RFC 8628), one file per part of SPEC §4:
//! `start` (the device asks), `approval` (a person looks up and decides)
//! and `redeem` (the device polls and gets its token).

mod approval;
mod redeem;
mod refresh;
mod start;

pub(crate) use approval::Recorded;
pub use approval::{ApprovalView, AuthorizeRequest, CodeLookup, DecideError, DecisionKind};
pub use redeem::{PollRequest, TokenGrant};
pub use refresh::RefreshRequest;
pub use start::{DEVICE_LABEL_MAX_CHARS, StartRequest, StartedFlow, USER_AGENT_MAX_CHARS, validate_device_label};

use super::clients::{ClientAuthError, ClientService};
use super::{Ports, Settings};
use crate::error::{OAuthError, OAuthErrorCode, StoreError};
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
    external: Option<Arc<super::sso::SsoSettings>>,
}

impl DeviceFlowService {
    pub(crate) fn new(
        ports: Ports,
        settings: Arc<Settings>,
        clients: ClientService,
        limits: RateLimitService,
        external: Option<Arc<super::sso::SsoSettings>>,
    ) -> Self {
        Self { clients, ports, settings, limits, external }
    }

    /// The rate limits (the SSO branch shares them).
    pub(crate) fn limits(&self) -> &RateLimitService {
        &self.limits
    }
}
