//! The external-SSO branch (SPEC §2.2): a person proves who they are at an
//! OpenID Connect provider instead of with a local account, and approves the
//! device as that identity, with no account row.
//!
//! 1. `initiate`: the code must be pending. A sign-in record (nonce, PKCE
//!    verifier, browser binding) is kept in the single-use store under a
//!    fresh `jti`; the provider gets only a signed state envelope naming that
//!    `jti`, the nonce and the PKCE challenge.
//! 2. `complete`: the envelope must verify and be unexpired, the browser must
//!    hold the binding, and the record is taken (so a `jti` is spent once).
//!    The provider's ID token is verified, the email checked, and an
//!    approval grant (an envelope bound to one flow and one subject) is
//!    issued for the approval-grant cookie.
//! 3. `approval_context` reads the grant; `decide` spends it once and
//!    approves or denies as the external subject.

use super::device_flow::{AuthorizeRequest, DecisionKind, DeviceFlowService, Recorded};
use super::limits::Visitor;
use super::{Ports, Settings};
use crate::actor::Actor;
use crate::error::StoreError;
use crate::flow::{DeviceFlow, FlowKey, FlowStatus};
use crate::formats::base62;
use crate::formats::user_code::UserCode;
use crate::model::FlowSubject;
use crate::ports::{
    AuditEvent, AuditKind, EnvelopePurpose, IdentityProvider, ProviderError, ProviderIdentity, ProviderSignIn,
};
use crate::random::random_string;
use crate::rate_limit::RateLimited;
use crate::secret::{SecretString, sha256_hex};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How long a person has to finish signing in at the provider.
pub const SIGN_IN_LIFETIME: Duration = Duration::minutes(10);
/// How long an approval grant (and its cookie) lasts.
pub const GRANT_LIFETIME: Duration = Duration::minutes(5);
/// Clock skew tolerated when checking an envelope's `exp`.
pub const ENVELOPE_LEEWAY: Duration = Duration::seconds(5);

/// The SSO branch's settings (present only when an issuer is configured).
#[derive(Debug, Clone, Default)]
pub struct SsoSettings {
    /// The provider's issuer URL, recorded as the subject issuer of tokens.
    pub issuer: String,
    /// What the chooser's button says ("Acme SSO").
    pub display_name: String,
    /// Lowercased email domains allowed to approve; empty allows any.
    pub allowed_email_domains: Vec<String>,
}

/// Every refusal of the SSO branch. `Display` is the wire code (SPEC §3).
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("invalid_user_code")]
    InvalidUserCode,
    /// The provider could not be reached (discovery, keys, token endpoint).
    #[error("sso_initiate_failed")]
    ProviderUnreachable,
    #[error("invalid_sso_state")]
    InvalidState,
    #[error("invalid_sso_assertion")]
    InvalidAssertion(AssertionProblem),
    /// The person cancelled or was refused at the provider (`error=` on the callback).
    #[error("access_denied")]
    ProviderDenied,
    #[error("user_code_not_pending")]
    UserCodeNotPending,
    /// No usable approval grant when reading the approval context.
    #[error("no_session")]
    NoSession,
    /// No usable approval grant when approving or denying.
    #[error("invalid_session")]
    InvalidSession,
    #[error("session_already_consumed")]
    SessionAlreadyConsumed,
    #[error("csrf_mismatch")]
    CsrfMismatch,
    #[error("user_code_mismatch")]
    UserCodeMismatch,
    #[error("bearer_auth_disabled")]
    BearerAuthDisabled,
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Why a provider's answer was not accepted (recorded in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionProblem {
    /// The code exchange was refused, or the ID token failed verification.
    IdTokenRejected,
    NoEmail,
    EmailNotVerified,
    EmailDomainNotAllowed,
}

impl AssertionProblem {
    /// The reason as logged and audited.
    pub fn as_str(self) -> &'static str {
        match self {
            AssertionProblem::IdTokenRejected => "id_token_rejected",
            AssertionProblem::NoEmail => "no_email",
            AssertionProblem::EmailNotVerified => "email_not_verified",
            AssertionProblem::EmailDomainNotAllowed => "email_domain_not_allowed",
        }
    }
}

/// The claims of the SSO state envelope. It travels through the provider,
/// so it holds nothing secret: the nonce and PKCE verifier stay in the
/// sign-in record, found by `jti`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StateClaims {
    jti: String,
    /// The flow this sign-in is for (a hash that reveals nothing of its codes).
    flow: String,
    /// SHA-256 of the browser-binding cookie's value.
    bnd: String,
    exp: i64,
    iat: i64,
}

/// A sign-in in progress, kept server-side under its `jti`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignInRecord {
    user_code: String,
    flow: String,
    bnd: String,
    nonce: String,
    pkce_verifier: String,
}

/// The claims of the approval-grant cookie: one flow, one subject, once.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GrantClaims {
    jti: String,
    flow: String,
    user_code: String,
    email: String,
    iss: String,
    name: Option<String>,
    /// Echoed by the approve and deny forms (signed double-submit).
    csrf: String,
    exp: i64,
    iat: i64,
}

/// Where the browser goes to sign in at the provider, and the value of the
/// browser-binding cookie to set on the way.
#[derive(Debug, Clone)]
pub struct SsoRedirect {
    pub location: String,
    pub browser_binding: SecretString,
}

/// What the callback hands the edge: the approval-grant cookie's value.
#[derive(Debug, Clone)]
pub struct IssuedGrant {
    pub cookie_value: SecretString,
    pub max_age: Duration,
}

/// What the SSO callback received.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's `error` parameter (RFC 6749 §4.1.2.1).
    pub error: Option<String>,
    /// The browser-binding cookie, if the browser sent it.
    pub browser_binding: Option<String>,
    pub ip: Option<String>,
}

/// The external subject an approval grant names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSubject {
    pub email: String,
    pub issuer: String,
    pub name: Option<String>,
}

/// Everything the authorize-sso view shows, read from the approval grant.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalContext {
    pub subject: ExternalSubject,
    pub request: AuthorizeRequest,
    /// The scopes the external token would carry (its kind's, narrowed).
    pub scopes: Vec<String>,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// The SSO branch's use cases.
#[derive(Clone)]
pub struct SsoService {
    ports: Ports,
    settings: Arc<Settings>,
    sso: Arc<SsoSettings>,
    provider: Arc<dyn IdentityProvider>,
    device_flows: DeviceFlowService,
}

const SIGN_IN_KEY: &str = "sso-sign-in:";
const GRANT_KEY: &str = "sso-grant:";

impl SsoService {
    pub(crate) fn new(
        ports: Ports,
        settings: Arc<Settings>,
        sso: SsoSettings,
        provider: Arc<dyn IdentityProvider>,
        device_flows: DeviceFlowService,
    ) -> Self {
        Self { ports, settings, sso: Arc::new(sso), provider, device_flows }
    }

    /// The branch's settings (the chooser shows the display name).
    pub fn settings(&self) -> &SsoSettings {
        &self.sso
    }

    fn random(&self, len: usize) -> String {
        random_string(self.ports.random.as_ref(), base62::ALPHABET, len)
    }

    /// `GET /v1/oauth/device/sso-initiate`: starts a sign-in at the provider
    /// for the pending flow with this code.
    pub async fn initiate(&self, raw_user_code: &str, visitor: &Visitor) -> Result<SsoRedirect, SsoError> {
        let flow = self.device_flows.pending_for(raw_user_code, visitor).await?.ok_or(SsoError::InvalidUserCode)?;
        let now = self.ports.clock.now();
        let jti = self.random(32);
        let binding = self.random(43);
        let record = SignInRecord {
            user_code: flow.user_code.display(),
            flow: flow.public_id(),
            bnd: sha256_hex(&binding),
            nonce: self.random(32),
            // RFC 7636 §4.1: 43–128 unreserved characters.
            pkce_verifier: self.random(64),
        };
        let claims = StateClaims {
            jti: jti.clone(),
            flow: record.flow.clone(),
            bnd: record.bnd.clone(),
            exp: (now + SIGN_IN_LIFETIME).timestamp(),
            iat: now.timestamp(),
        };
        let state = self.ports.signer.sign(EnvelopePurpose::SsoState, to_json(&claims)?)?;
        let sign_in = ProviderSignIn {
            state,
            nonce: record.nonce.clone(),
            pkce_verifier: SecretString::new(record.pkce_verifier.clone()),
        };
        // Ask the provider first, so an unreachable one leaves nothing behind.
        let location = self.provider.authorization_url(&sign_in).await.map_err(|err| {
            tracing::warn!(error = %err, "could not start an SSO sign-in");
            SsoError::ProviderUnreachable
        })?;
        let stored = serde_json::to_string(&record).map_err(StoreError::from_err)?;
        if !self.ports.single_use.put(&format!("{SIGN_IN_KEY}{jti}"), &stored, now, now + SIGN_IN_LIFETIME).await? {
            return Err(StoreError("SSO sign-in id collision".into()).into());
        }
        Ok(SsoRedirect { location, browser_binding: SecretString::new(binding) })
    }

    /// `GET /v1/device/sso-complete`: verifies the state, the browser and the
    /// provider's ID token, and issues the approval grant. Every refusal
    /// leaves the flow pending.
    pub async fn complete(&self, callback: Callback) -> Result<IssuedGrant, SsoError> {
        let result = self.complete_inner(&callback).await;
        if let Err(err) = &result {
            self.audit_failure(err, &callback).await;
        }
        result
    }

    async fn complete_inner(&self, callback: &Callback) -> Result<IssuedGrant, SsoError> {
        let now = self.ports.clock.now();
        let claims: StateClaims =
            self.verified(EnvelopePurpose::SsoState, callback.state.as_deref(), now).ok_or(SsoError::InvalidState)?;
        let binding = callback.browser_binding.as_deref().ok_or(SsoError::InvalidState)?;
        if !SecretString::new(sha256_hex(binding)).constant_time_eq(&claims.bnd) {
            return Err(SsoError::InvalidState);
        }
        // Spending the sign-in record is what makes the `jti` single-use.
        let record: SignInRecord =
            match self.ports.single_use.take(&format!("{SIGN_IN_KEY}{}", claims.jti), now).await? {
                Some(stored) => serde_json::from_str(&stored).map_err(|_| SsoError::InvalidState)?,
                None => return Err(SsoError::InvalidState),
            };
        if record.flow != claims.flow || record.bnd != claims.bnd {
            return Err(SsoError::InvalidState);
        }
        if callback.error.is_some() {
            return Err(SsoError::ProviderDenied);
        }
        let code = callback.code.as_deref().filter(|c| !c.is_empty()).ok_or(SsoError::InvalidState)?;
        let identity = self
            .provider
            .redeem_code(code, &SecretString::new(record.pkce_verifier.clone()), &record.nonce, now)
            .await
            .map_err(|err| match err {
                ProviderError::Unreachable(detail) => {
                    tracing::warn!(error = %detail, "identity provider unreachable at the SSO callback");
                    SsoError::ProviderUnreachable
                }
                ProviderError::Refused(detail) => {
                    tracing::warn!(error = %detail, "identity provider assertion refused");
                    SsoError::InvalidAssertion(AssertionProblem::IdTokenRejected)
                }
            })?;
        let subject = self.accept_identity(&identity)?;
        let flow = self.pending_flow(&record.user_code, &record.flow, now).await?;

        let grant = GrantClaims {
            jti: self.random(32),
            flow: record.flow,
            user_code: flow.user_code.display(),
            email: subject.email.clone(),
            iss: subject.issuer.clone(),
            name: subject.name.clone(),
            csrf: self.random(32),
            exp: (now + GRANT_LIFETIME).timestamp(),
            iat: now.timestamp(),
        };
        let cookie_value = self.ports.signer.sign(EnvelopePurpose::ApprovalGrant, to_json(&grant)?)?;
        self.ports.single_use.put(&format!("{GRANT_KEY}{}", grant.jti), "unused", now, now + GRANT_LIFETIME).await?;
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::SsoSignedIn,
                actor: Some(Actor::External { email: subject.email.clone() }),
                subject: Some(subject.email.clone()),
                client_id: Some(flow.client_id.clone()),
                ip: callback.ip.clone(),
                details: serde_json::json!({ "issuer": subject.issuer, "flow": grant.flow }),
                at: now,
            })
            .await;
        Ok(IssuedGrant { cookie_value: SecretString::new(cookie_value), max_age: GRANT_LIFETIME })
    }

    /// The email rules: present, not marked unverified, in an allowed domain.
    fn accept_identity(&self, identity: &ProviderIdentity) -> Result<ExternalSubject, SsoError> {
        let email = identity
            .email
            .as_deref()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| e.contains('@'))
            .ok_or(SsoError::InvalidAssertion(AssertionProblem::NoEmail))?;
        if identity.email_verified == Some(false) {
            return Err(SsoError::InvalidAssertion(AssertionProblem::EmailNotVerified));
        }
        if !email_domain_allowed(&email, &self.sso.allowed_email_domains) {
            return Err(SsoError::InvalidAssertion(AssertionProblem::EmailDomainNotAllowed));
        }
        Ok(ExternalSubject { email, issuer: identity.issuer.clone(), name: identity.name.clone() })
    }

    /// The flow a sign-in or grant names, if it is still the same flow and pending.
    async fn pending_flow(&self, user_code: &str, flow_hash: &str, now: DateTime<Utc>) -> Result<DeviceFlow, SsoError> {
        let flow = self.device_flows.find_any(user_code).await?;
        match flow {
            Some(flow)
                if flow.public_id() == flow_hash && flow.status == FlowStatus::Pending && !flow.is_expired(now) =>
            {
                Ok(flow)
            }
            _ => Err(SsoError::UserCodeNotPending),
        }
    }

    /// The claims of an unexpired envelope for `purpose`.
    fn verified<T: serde::de::DeserializeOwned + HasExpiry>(
        &self,
        purpose: EnvelopePurpose,
        envelope: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<T> {
        let claims: T = serde_json::from_value(self.ports.signer.verify(purpose, envelope?)?).ok()?;
        (now.timestamp() < claims.exp() + ENVELOPE_LEEWAY.num_seconds()).then_some(claims)
    }

    /// What the authorize-sso view shows, read from the approval-grant
    /// cookie. Reading spends nothing.
    pub async fn approval_context(&self, grant_cookie: Option<&str>) -> Result<ApprovalContext, SsoError> {
        let now = self.ports.clock.now();
        let grant: GrantClaims =
            self.verified(EnvelopePurpose::ApprovalGrant, grant_cookie, now).ok_or(SsoError::NoSession)?;
        if self.ports.single_use.peek(&format!("{GRANT_KEY}{}", grant.jti), now).await?.is_none() {
            return Err(SsoError::NoSession);
        }
        let flow = self.pending_flow(&grant.user_code, &grant.flow, now).await?;
        let replaces = self.device_flows.token_replaced_by_approving(&flow, &grant.email, &grant.iss).await?;
        Ok(ApprovalContext {
            subject: grant.subject(),
            scopes: crate::TokenKind::External.narrow(&flow.scopes),
            csrf_token: grant.csrf,
            expires_at: DateTime::from_timestamp(grant.exp, 0).unwrap_or(now),
            request: AuthorizeRequest {
                requested_ago: now - flow.created_at,
                expires_in: flow.expires_at - now,
                flow,
                replaces,
            },
        })
    }

    /// `approve-external` and its deny twin: spends the approval grant once
    /// and decides the flow as its external subject.
    pub async fn decide(
        &self,
        grant_cookie: Option<&str>,
        csrf_token: &str,
        raw_user_code: &str,
        kind: DecisionKind,
        ip: Option<String>,
    ) -> Result<(DeviceFlow, ExternalSubject), SsoError> {
        if kind == DecisionKind::Approve && !self.settings.enable_oauth_bearer {
            return Err(SsoError::BearerAuthDisabled);
        }
        let now = self.ports.clock.now();
        let grant: GrantClaims =
            self.verified(EnvelopePurpose::ApprovalGrant, grant_cookie, now).ok_or(SsoError::InvalidSession)?;
        if !SecretString::new(grant.csrf.clone()).constant_time_eq(csrf_token) {
            return Err(SsoError::CsrfMismatch);
        }
        if UserCode::normalize(raw_user_code).map(|c| c.display()).as_deref() != Some(grant.user_code.as_str()) {
            return Err(SsoError::UserCodeMismatch);
        }
        if self.ports.single_use.take(&format!("{GRANT_KEY}{}", grant.jti), now).await?.is_none() {
            return Err(SsoError::SessionAlreadyConsumed);
        }
        let flow = self.pending_flow(&grant.user_code, &grant.flow, now).await?;
        if kind == DecisionKind::Approve {
            self.device_flows.limits().take_approval(&grant.email, &grant.iss).await?;
        }
        let identify = serde_json::json!({ "issuer": grant.iss, "flow": grant.flow });
        let subject = grant.subject();
        let flow_subject =
            FlowSubject { account_id: None, email: subject.email.clone(), issuer: subject.issuer.clone() };
        let actor = Actor::External { email: subject.email.clone() };
        let key = FlowKey::DeviceCodeHash(flow.device_code_hash.clone());
        let flow = match self.device_flows.record_decision(key, flow_subject, actor, kind, ip, identify).await? {
            Recorded::Decided(flow) => *flow,
            Recorded::Refused(_) | Recorded::NoFlow => return Err(SsoError::UserCodeNotPending),
        };
        Ok((flow, subject))
    }

    async fn audit_failure(&self, err: &SsoError, callback: &Callback) {
        let reason = match err {
            SsoError::InvalidAssertion(problem) => problem.as_str(),
            SsoError::ProviderDenied => "cancelled_at_provider",
            SsoError::InvalidState => "invalid_sso_state",
            SsoError::UserCodeNotPending => "user_code_not_pending",
            SsoError::ProviderUnreachable => "provider_unreachable",
            SsoError::Unavailable(_) => return,
            _ => "refused",
        };
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::SsoFailed,
                actor: None,
                subject: None,
                client_id: None,
                ip: callback.ip.clone(),
                details: serde_json::json!({ "reason": reason, "issuer": self.sso.issuer }),
                at: self.ports.clock.now(),
            })
            .await;
    }
}

/// Claims with an expiry the use case checks against its clock.
trait HasExpiry {
    fn exp(&self) -> i64;
}

impl HasExpiry for StateClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

impl GrantClaims {
    /// The external subject the grant names.
    fn subject(&self) -> ExternalSubject {
        ExternalSubject { email: self.email.clone(), issuer: self.iss.clone(), name: self.name.clone() }
    }
}

impl HasExpiry for GrantClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

fn to_json<T: Serialize>(claims: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(claims).map_err(StoreError::from_err)
}

/// Whether `email`'s domain is in `allowed` (an empty list allows any).
pub fn email_domain_allowed(email: &str, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let domain = email.rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default();
    allowed.iter().any(|a| a.eq_ignore_ascii_case(&domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_domains() {
        let allowed = vec!["acme.example".to_owned()];
        assert!(email_domain_allowed("ada@acme.example", &allowed));
        assert!(email_domain_allowed("ada@ACME.example", &allowed));
        assert!(!email_domain_allowed("ada@evil.example", &allowed));
        assert!(!email_domain_allowed("ada@sub.acme.example", &allowed));
        assert!(!email_domain_allowed("acme.example", &allowed));
        assert!(email_domain_allowed("anyone@anywhere", &[]));
    }
}
