//! Signing in at the provider: `initiate` (to approve one device) and
//! `initiate_console` (to use the console) send the browser there, and
//! `complete` takes it back: it issues the approval grant, or names the
//! person the console session is for.

use super::*;
use crate::actor::Actor;
use crate::formats::email::{EmailAddress, EmailProblem};
use crate::model::SsoPerson;
use crate::ports::{AuditEvent, AuditKind, ProviderError, ProviderIdentity, ProviderSignIn, SealPurpose};
use crate::rate_limit::{Limiter, Visitor};

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
    /// For a console sign-in (no flow then): where to go afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    console_next: Option<String>,
}

/// What stands in for the flow in a console sign-in's state and record
/// (flows are named by hashes, so it names none).
const CONSOLE: &str = "console";

/// The most groups an approval grant carries (it travels in a cookie).
const MAX_GRANT_GROUPS: usize = 64;

impl SsoService {
    /// `GET /v1/oauth/device/sso-initiate`: starts a sign-in at the provider
    /// for the pending flow with this code.
    pub async fn initiate(&self, raw_user_code: &str, visitor: &Visitor) -> Result<SsoRedirect, SsoError> {
        let flow = self.device_flows.pending_for(raw_user_code, visitor).await?.ok_or(SsoError::InvalidUserCode)?;
        // Each sign-in stores a record until it ends: bounded per address
        // and per pending code.
        let flow_id = flow.public_id();
        let limits =
            [(Limiter::SsoInitiatePerIp, visitor.ip.as_deref()), (Limiter::SsoInitiatePerFlow, Some(&*flow_id))];
        self.device_flows.limits().take(&limits).await?;
        self.start_sign_in(flow.user_code.display(), flow_id, None).await
    }

    /// `GET /signin/sso?next=`: starts a sign-in at the provider for the
    /// console; `next` is a local path the caller has checked.
    pub async fn initiate_console(&self, next: &str, visitor: &Visitor) -> Result<SsoRedirect, SsoError> {
        self.device_flows.limits().take(&[(Limiter::SsoInitiatePerIp, visitor.ip.as_deref())]).await?;
        self.start_sign_in(String::new(), CONSOLE.to_owned(), Some(next.to_owned())).await
    }

    /// Keeps the sign-in record and sends the browser to the provider.
    async fn start_sign_in(
        &self,
        user_code: String,
        flow: String,
        console_next: Option<String>,
    ) -> Result<SsoRedirect, SsoError> {
        let now = self.ports.clock.now();
        let jti = self.random(32);
        let binding = self.random(43);
        let record = SignInRecord {
            user_code,
            flow,
            bnd: sha256_hex(&binding),
            nonce: self.random(32),
            // RFC 7636 §4.1: 43–128 unreserved characters.
            pkce_verifier: self.random(64),
            console_next,
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
            return Err(StoreError::new("SSO sign-in id collision").into());
        }
        Ok(SsoRedirect { location, browser_binding: SecretString::new(binding) })
    }

    /// `GET /v1/device/sso-complete`: verifies the state, the browser and the
    /// provider's ID token, and issues the approval grant (or, for a console
    /// sign-in, names the person). Every refusal leaves the flow pending.
    pub async fn complete(&self, callback: Callback) -> Result<Completed, SsoError> {
        let result = self.complete_inner(&callback).await;
        if let Err(err) = &result {
            self.refused(err, &callback).await;
        }
        result
    }

    async fn complete_inner(&self, callback: &Callback) -> Result<Completed, SsoError> {
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
        if let Some(next) = record.console_next {
            let person = self.signed_in_person(&subject, &identity.groups, callback, None).await?;
            return Ok(Completed::Console(ConsoleSignIn { person, next }));
        }
        let flow = self.pending_flow(&record.user_code, &record.flow, now).await?;

        let session_binding = self.random(43);
        let grant = GrantClaims {
            jti: self.random(32),
            flow: record.flow,
            user_code: flow.user_code.display(),
            email: subject.email.clone(),
            iss: subject.issuer.clone(),
            sub: subject.sub.clone(),
            name: subject.name.clone(),
            ses: sha256_hex(&session_binding),
            csrf: self.random(32),
            exp: (now + GRANT_LIFETIME).timestamp(),
            iat: now.timestamp(),
            groups: identity.groups.iter().take(MAX_GRANT_GROUPS).cloned().collect(),
        };
        let cookie_value = self.ports.signer.sign(EnvelopePurpose::ApprovalGrant, to_json(&grant)?)?;
        // The provider's refresh token waits server-side, sealed, for the
        // approval; the cookie never carries it.
        let record = GrantRecord {
            provider_token: match &identity.refresh_token {
                Some(token) => Some(self.ports.signer.seal(SealPurpose::ProviderRefreshToken, token)?),
                None => None,
            },
        };
        let stored = serde_json::to_string(&record).map_err(StoreError::from_err)?;
        self.ports.single_use.put(&format!("{GRANT_KEY}{}", grant.jti), &stored, now, now + GRANT_LIFETIME).await?;
        let approving = Approving {
            flow: &grant.flow,
            client_id: &flow.client_id,
            provider_token: record.provider_token.is_some(),
        };
        self.signed_in_person(&subject, &identity.groups, callback, Some(approving)).await?;
        Ok(Completed::Approval(IssuedGrant {
            cookie_value: SecretString::new(cookie_value),
            max_age: GRANT_LIFETIME,
            session_binding: SecretString::new(session_binding),
        }))
    }

    /// What every SSO sign-in records: the person as the provider describes
    /// them now (their address on their grants, their admin rights from
    /// `GATEHOUSE_SSO_ADMIN_GROUPS`, audited when those change), and the
    /// sign-in itself.
    async fn signed_in_person(
        &self,
        subject: &ExternalSubject,
        groups: &[String],
        callback: &Callback,
        approving: Option<Approving<'_>>,
    ) -> Result<SsoPerson, StoreError> {
        let now = self.ports.clock.now();
        let renamed = self.ports.tokens.update_subject_email(&subject.id(), &subject.email).await?;
        let admin_by = self.sso.admin_groups_held(groups);
        let person = SsoPerson {
            subject: subject.id(),
            email: subject.email.clone(),
            name: subject.name.clone(),
            is_admin: !admin_by.is_empty(),
            first_signed_in_at: now,
            last_signed_in_at: now,
        };
        let before = self.ports.accounts.record_sso_person(&person).await?;
        if before.as_ref().is_some_and(|before| before.is_admin) != person.is_admin {
            let change =
                AdminChange { person: &person.subject, email: &person.email, held: &admin_by, by: "sso_groups" };
            change.audit(&self.ports, person.is_admin, callback.ip.clone(), now).await;
        }
        let mut details = serde_json::json!({
            "issuer": subject.issuer,
            "sub": subject.sub,
            "grants_with_email_updated": renamed,
        });
        match &approving {
            Some(approving) => {
                details["flow"] = serde_json::json!(approving.flow);
                details["provider_refresh_token"] = serde_json::json!(approving.provider_token);
            }
            None => details["console"] = serde_json::json!(true),
        }
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::SsoSignedIn,
                actor: Some(Actor::External { email: subject.email.clone() }),
                subject: Some(subject.email.clone()),
                client_id: approving.map(|approving| approving.client_id.to_owned()),
                ip: callback.ip.clone(),
                details,
                at: now,
            })
            .await;
        let first_signed_in_at = before.map_or(now, |before| before.first_signed_in_at);
        Ok(SsoPerson { first_signed_in_at, ..person })
    }

    /// The email rules: present, a usable address (`formats::email`),
    /// verified (an explicit `email_verified: true`, unless the operator
    /// trusts this provider's addresses), in an allowed domain.
    fn accept_identity(&self, identity: &ProviderIdentity) -> Result<ExternalSubject, SsoError> {
        let raw = identity.email.as_deref().ok_or(SsoError::InvalidAssertion(AssertionProblem::NoEmail))?;
        let email = EmailAddress::parse(raw)
            .map_err(|problem| {
                SsoError::InvalidAssertion(match problem {
                    EmailProblem::Malformed => AssertionProblem::NoEmail,
                    EmailProblem::HiddenCharacters | EmailProblem::Lookalike => AssertionProblem::EmailLookalike,
                })
            })?
            .into_string();
        let verified = identity.email_verified.unwrap_or(self.sso.trust_unverified_emails);
        if !verified {
            return Err(SsoError::InvalidAssertion(AssertionProblem::EmailNotVerified));
        }
        if !email_domain_allowed(&email, &self.sso.allowed_email_domains) {
            return Err(SsoError::InvalidAssertion(AssertionProblem::EmailDomainNotAllowed));
        }
        Ok(ExternalSubject {
            email,
            issuer: identity.issuer.clone(),
            sub: identity.subject.clone(),
            name: identity.name.clone(),
        })
    }

    /// Counts a refusal at the callback by its reason (`refusals`): never a
    /// row per request, since anyone can call the callback with junk.
    async fn refused(&self, err: &SsoError, callback: &Callback) {
        let reason = match err {
            SsoError::InvalidAssertion(problem) => problem.as_str(),
            SsoError::ProviderDenied => "cancelled_at_provider",
            SsoError::InvalidState => "invalid_sso_state",
            SsoError::UserCodeNotPending => "user_code_not_pending",
            SsoError::ProviderUnreachable => "provider_unreachable",
            SsoError::Unavailable(_) => "unavailable",
            _ => "refused",
        };
        self.count_refusal(reason, callback.ip.as_deref()).await;
    }
}

/// The flow an approval sign-in is for, as its audit row names it.
#[derive(Clone, Copy)]
struct Approving<'a> {
    flow: &'a str,
    client_id: &'a str,
    provider_token: bool,
}

impl HasExpiry for StateClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}
