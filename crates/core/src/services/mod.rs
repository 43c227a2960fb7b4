//! Use cases: each combines ports under the device-flow rules.

pub mod accounts;
pub mod audit;
pub mod authorizations;
pub mod bearer;
pub mod clients;
pub mod device_flow;
pub mod dpop;
pub mod external;
pub mod notifications;
pub mod passkeys;
mod recent;
pub mod retention;
pub mod revocation;
pub mod scopes;
pub mod sso;

use crate::clock::Clock;
use crate::error::StoreError;
use crate::model::{Account, WorkspaceMembership};
use crate::ports::{
    AccountRepository, AuditEvent, AuditLog, ClientRepository, DatabaseHealth, DeviceFlowStore, EnvelopeSigner,
    IdentityProvider, Mailer, PasskeyRepository, PasskeyVerifier, PasswordHasher, ProofVerifier, RateLimiter,
    RetentionStore, ScopeRepository, SingleUseStore, TokenCache, TokenRepository,
};
use crate::random::SecureRandom;
use std::sync::Arc;

/// Every adapter the use cases need, chosen at startup.
#[derive(Clone)]
pub struct Ports {
    pub flows: Arc<dyn DeviceFlowStore>,
    pub token_cache: Arc<dyn TokenCache>,
    pub single_use: Arc<dyn SingleUseStore>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub signer: Arc<dyn EnvelopeSigner>,
    pub proofs: Arc<dyn ProofVerifier>,
    pub accounts: Arc<dyn AccountRepository>,
    pub clients: Arc<dyn ClientRepository>,
    pub tokens: Arc<dyn TokenRepository>,
    pub scopes: Arc<dyn ScopeRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub passwords: Arc<dyn PasswordHasher>,
    pub passkeys: Arc<dyn PasskeyRepository>,
    /// The WebAuthn checks (off, saying why, when the public URL does not
    /// allow passkeys).
    pub passkey_verifier: Arc<dyn PasskeyVerifier>,
    pub database: Arc<dyn DatabaseHealth>,
    pub retention: Arc<dyn RetentionStore>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn SecureRandom>,
    /// Email to people (`NoMailer` when no mail server is configured).
    pub mailer: Arc<dyn Mailer>,
}

impl Ports {
    /// Records an audit event. A failure to store it is logged by the adapter
    /// and does not undo the operation it describes.
    pub(crate) async fn audit(&self, event: AuditEvent) {
        // The adapter logs every event and every failure to store one.
        let _ = self.audit.record(event).await;
    }

    /// The account with this id and its workspaces, unless it is disabled or
    /// gone: the subject a token speaks for, checked at redemption and use.
    pub(crate) async fn active_account_with_workspaces(
        &self,
        account_id: uuid::Uuid,
    ) -> Result<Option<(Account, Vec<WorkspaceMembership>)>, StoreError> {
        let Some(account) = self.accounts.find_by_id(account_id).await?.filter(|a| !a.disabled) else {
            return Ok(None);
        };
        let workspaces = self.accounts.workspaces(account_id).await?;
        Ok(Some((account, workspaces)))
    }
}

/// Tunables of the device flow and tokens.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lifetime of a device flow (`expires_in`), seconds.
    pub flow_expires_in: u32,
    /// Initial polling interval, seconds.
    pub poll_interval: u32,
    /// How long an ended flow keeps answering `expired_token`/`invalid_grant`, seconds.
    pub tombstone: u32,
    /// Lifetime of an access token, seconds (a client may set its own).
    pub token_ttl: u32,
    /// Absolute lifetime of a grant with a refresh token, seconds.
    pub grant_ttl: u32,
    /// How long a grant with a refresh token lives unrefreshed, seconds.
    pub grant_idle_ttl: u32,
    /// Whether bearer authentication (and approving) is on.
    pub enable_oauth_bearer: bool,
    /// Tokens revoked or expired longer ago than this are deleted, days.
    pub token_retention_days: u32,
    /// Audit events older than this are deleted, days.
    pub audit_retention_days: u32,
    /// How often each instance runs retention, seconds.
    pub prune_interval: u32,
    /// Whether DPoP proofs at the token endpoint must carry a server nonce
    /// (RFC 9449 §8).
    pub dpop_nonce_required: bool,
    /// The quota of every rate limiter.
    pub rate_limits: crate::rate_limit::RateLimitSettings,
    /// The server's public URL, which links in emails start with; `None`
    /// for command-line tools, which send none.
    pub public_url: Option<String>,
    /// Admin rights need a passkey sign-in (or step-up) in the session
    /// (`GATEHOUSE_ADMINS_REQUIRE_PASSKEY`).
    pub admins_require_passkey: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            flow_expires_in: 600,
            poll_interval: 5,
            tombstone: 600,
            token_ttl: 3600,
            grant_ttl: 90 * 24 * 3600,
            grant_idle_ttl: 30 * 24 * 3600,
            enable_oauth_bearer: true,
            token_retention_days: 30,
            audit_retention_days: 365,
            prune_interval: 3600,
            dpop_nonce_required: true,
            rate_limits: crate::rate_limit::RateLimitSettings::default(),
            public_url: None,
            admins_require_passkey: false,
        }
    }
}

/// The lifetimes a client's grants get, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub access: u32,
    pub grant: u32,
    pub idle: u32,
}

impl Settings {
    /// The client's own lifetimes where it has them, else the server's.
    pub fn lifetimes(&self, policy: &crate::model::TokenPolicy) -> Lifetimes {
        Lifetimes {
            access: policy.access_token_ttl.unwrap_or(self.token_ttl),
            grant: policy.grant_ttl.unwrap_or(self.grant_ttl),
            idle: policy.grant_idle_ttl.unwrap_or(self.grant_idle_ttl),
        }
    }
}

impl Services {
    /// The current time, from the injected clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.ports.clock.now()
    }

    /// A random base62 string of `len` characters from the injected CSPRNG
    /// (CSRF tokens).
    pub fn random_base62(&self, len: usize) -> String {
        crate::random::random_string(self.ports.random.as_ref(), crate::formats::base62::ALPHABET, len)
    }

    /// Readiness: the database and the state store both answer.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.ports.database.ping().await?;
        self.ports.flows.ping().await
    }

    /// The adapters, for tests that arrange or inspect state directly.
    #[cfg(any(test, feature = "testing"))]
    pub fn ports(&self) -> &Ports {
        &self.ports
    }
}

/// The use cases, ready to be shared by the REST edge and the pages.
#[derive(Clone)]
pub struct Services {
    pub device_flows: device_flow::DeviceFlowService,
    pub accounts: accounts::AccountService,
    pub passkeys: passkeys::PasskeyService,
    pub audit: audit::AuditService,
    pub authorizations: authorizations::AuthorizationService,
    pub bearer: bearer::BearerService,
    pub clients: clients::ClientService,
    pub retention: retention::RetentionService,
    /// The operator's scope registry.
    pub scopes: scopes::ScopeService,
    pub limits: crate::rate_limit::RateLimitService,
    /// DPoP proofs and nonces (RFC 9449).
    pub dpop: dpop::DpopService,
    /// The external-SSO branch, when an issuer is configured.
    pub sso: Option<sso::SsoService>,
    /// The adapters; edges and pages go through the use cases above, and
    /// tests reach these through `ports()` (feature `testing`).
    ports: Ports,
}

impl Services {
    /// Wires the use cases over `ports`; the SSO branch is on when `sso`
    /// names a provider.
    pub fn new(
        ports: Ports,
        settings: Settings,
        sso: Option<(external::SsoSettings, Arc<dyn IdentityProvider>)>,
    ) -> Self {
        let settings = Arc::new(settings);
        // One client service, so its short-lived cache is forgotten for every
        // user of it when a client changes.
        let scopes = scopes::ScopeService::new(ports.clone());
        let clients = clients::ClientService::new(ports.clone(), scopes.clone());
        let limits = crate::rate_limit::RateLimitService::new(
            ports.rate_limiter.clone(),
            ports.clock.clone(),
            Arc::new(settings.rate_limits.clone()),
        );
        let dpop = dpop::DpopService::new(ports.clone(), settings.dpop_nonce_required);
        let external = sso.as_ref().map(|(sso_settings, provider)| {
            external::ExternalSubjects::new(ports.clone(), Arc::new(sso_settings.clone()), provider.clone())
        });
        let device_flows = device_flow::DeviceFlowService::new(
            ports.clone(),
            settings.clone(),
            clients.clone(),
            limits.clone(),
            external,
            dpop.clone(),
            scopes.clone(),
        );
        let sso = sso.map(|(sso_settings, provider)| {
            sso::SsoService::new(ports.clone(), settings.clone(), sso_settings, provider, device_flows.clone())
        });
        Self {
            device_flows,
            sso,
            accounts: accounts::AccountService::new(ports.clone(), limits.clone(), settings.clone()),
            passkeys: passkeys::PasskeyService::new(ports.clone(), limits.clone(), settings.clone()),
            audit: audit::AuditService::new(ports.clone()),
            authorizations: authorizations::AuthorizationService::new(ports.clone(), clients.clone()),
            bearer: bearer::BearerService::new(ports.clone(), settings.clone(), limits.clone(), dpop.clone()),
            retention: retention::RetentionService::new(ports.clone(), settings),
            scopes,
            clients,
            limits,
            dpop,
            ports,
        }
    }
}
