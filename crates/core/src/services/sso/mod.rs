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

mod approval;
mod refusals;
mod sign_in;

pub use refusals::REFUSAL_WINDOW;

pub(crate) use super::external::AdminChange;
pub use super::external::{DEFAULT_RECHECK_EVERY, SsoSettings, email_domain_allowed};

use super::device_flow::{AuthorizeRequest, DeviceFlowService};
use super::{Ports, Settings};
use crate::error::StoreError;
use crate::flow::DeviceFlow;
use crate::formats::base62;
use crate::model::SubjectId;
use crate::ports::{EnvelopePurpose, IdentityProvider};
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
    /// The request asks for `admin`, and the person is not an admin.
    #[error("admin_required")]
    AdminRequired,
    /// The client's approval policy refused the person, or the code was shared.
    #[error("{}", .0.refusal.as_str())]
    Refused(Box<crate::services::device_flow::PolicyRefusal>),
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

crate::rate_limit::from_limit_error!(SsoError);

/// Why a provider's answer was not accepted (recorded in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionProblem {
    /// The code exchange was refused, or the ID token failed verification.
    IdTokenRejected,
    NoEmail,
    /// The address hides characters or passes for another one.
    EmailLookalike,
    EmailNotVerified,
    EmailDomainNotAllowed,
}

impl AssertionProblem {
    /// The reason as logged and audited.
    pub fn as_str(self) -> &'static str {
        match self {
            AssertionProblem::IdTokenRejected => "id_token_rejected",
            AssertionProblem::NoEmail => "no_email",
            AssertionProblem::EmailLookalike => "email_lookalike",
            AssertionProblem::EmailNotVerified => "email_not_verified",
            AssertionProblem::EmailDomainNotAllowed => "email_domain_not_allowed",
        }
    }
}

/// What the server keeps under an approval grant's `jti` until it is spent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct GrantRecord {
    /// The provider's refresh token, sealed with the server secret.
    #[serde(default)]
    provider_token: Option<String>,
}

/// The claims of the approval-grant cookie: one flow, one subject, once.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GrantClaims {
    jti: String,
    flow: String,
    user_code: String,
    email: String,
    iss: String,
    /// The person's `sub` at the provider: with `iss`, who they are.
    sub: String,
    name: Option<String>,
    /// SHA-256 of the session binding the browser's session holds: the grant
    /// is good only in the browser session that signed in, and dies with
    /// its sign-out.
    ses: String,
    /// Echoed by the approve and deny forms (signed double-submit).
    csrf: String,
    exp: i64,
    iat: i64,
    /// The groups this sign-in carried, for a client whose approvers are
    /// named by group (grants from before read as none).
    #[serde(default)]
    groups: Vec<String>,
}

/// Where the browser goes to sign in at the provider, and the value of the
/// browser-binding cookie to set on the way.
#[derive(Debug, Clone)]
pub struct SsoRedirect {
    pub location: String,
    pub browser_binding: SecretString,
}

/// What a sign-in that came back from the provider is for.
#[derive(Debug, Clone)]
pub enum Completed {
    /// Approving one device: the approval grant to set.
    Approval(IssuedGrant),
    /// Using the console: the person to sign the browser session in as.
    Console(ConsoleSignIn),
}

/// A person signed in to the console through the provider.
#[derive(Debug, Clone)]
pub struct ConsoleSignIn {
    pub person: crate::model::SsoPerson,
    /// Where to go now (the local path the sign-in was started with).
    pub next: String,
}

/// What the callback hands the edge: the approval-grant cookie's value.
#[derive(Debug, Clone)]
pub struct IssuedGrant {
    pub cookie_value: SecretString,
    pub max_age: Duration,
    /// What the browser's server-side session must hold for the grant to be
    /// used; ending the session (sign-out) voids the grant.
    pub session_binding: SecretString,
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
    /// The provider's `sub`.
    pub sub: String,
    pub name: Option<String>,
}

impl ExternalSubject {
    /// Who the person is: (issuer, `sub`).
    pub fn id(&self) -> SubjectId {
        SubjectId { issuer: self.issuer.clone(), id: self.sub.clone() }
    }
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
    /// The client's approval policy turns this person away: the page says
    /// why and offers only Deny.
    pub refused: Option<Box<crate::services::device_flow::PolicyRefusal>>,
}

/// The SSO branch's use cases.
#[derive(Clone)]
pub struct SsoService {
    ports: Ports,
    settings: Arc<Settings>,
    sso: Arc<SsoSettings>,
    provider: Arc<dyn IdentityProvider>,
    device_flows: DeviceFlowService,
    refusals: Arc<refusals::RefusalTally>,
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
        Self { ports, settings, sso: Arc::new(sso), provider, device_flows, refusals: Arc::default() }
    }

    /// The branch's settings (the chooser shows the display name).
    pub fn settings(&self) -> &SsoSettings {
        &self.sso
    }

    /// The person a console session signed in as, as of their last sign-in;
    /// `None` for a subject of another issuer than the one configured now.
    pub async fn person(&self, subject: &SubjectId) -> Result<Option<crate::model::SsoPerson>, StoreError> {
        if subject.issuer != self.sso.issuer {
            return Ok(None);
        }
        self.ports.accounts.find_sso_person(subject).await
    }

    fn random(&self, len: usize) -> String {
        random_string(self.ports.random.as_ref(), base62::ALPHABET, len)
    }

    /// The flow a sign-in or grant names, if it is still the same flow and pending.
    async fn pending_flow(&self, user_code: &str, flow_hash: &str, now: DateTime<Utc>) -> Result<DeviceFlow, SsoError> {
        let flow = self.device_flows.find_any(user_code).await?;
        match flow {
            Some(flow) if flow.public_id() == flow_hash && flow.is_open(now) => Ok(flow),
            _ => Err(SsoError::UserCodeNotPending),
        }
    }

    /// The claims of an unexpired approval grant whose session binding the
    /// browser's session holds.
    fn bound_grant(
        &self,
        grant_cookie: Option<&str>,
        session_binding: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<GrantClaims> {
        let grant: GrantClaims = self.verified(EnvelopePurpose::ApprovalGrant, grant_cookie, now)?;
        let held = sha256_hex(session_binding?);
        SecretString::new(held).constant_time_eq(&grant.ses).then_some(grant)
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
}

/// Claims with an expiry the use case checks against its clock.
trait HasExpiry {
    fn exp(&self) -> i64;
}

impl GrantClaims {
    /// The external subject the grant names.
    fn subject(&self) -> ExternalSubject {
        ExternalSubject {
            email: self.email.clone(),
            issuer: self.iss.clone(),
            sub: self.sub.clone(),
            name: self.name.clone(),
        }
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
