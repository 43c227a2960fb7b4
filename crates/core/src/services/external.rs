//! SSO people as holders of grants, below both the SSO branch (which signs
//! them in) and the token endpoint (which refreshes their grants), so that
//! neither depends on the other for it: the branch's settings, whether an
//! email domain is allowed, admin rights from the provider's groups, and
//! whether a grant's person may still hold it.
//!
//! Whether a person may still hold their grant is asked at every refresh: its issuer must be the configured provider, its email in
//! an allowed domain, and — when the provider issued a refresh token at
//! sign-in — the provider must still honour that sign-in.
//!
//! The provider is asked at most once per `SsoSettings::recheck_every` per
//! grant (a refresh at the provider with the sealed refresh token, OpenID
//! Connect Core §12). Its `invalid_grant` means the person was disabled or
//! signed out there: the grant is revoked (audited as `token.revoked`,
//! `by: revoked_at_provider`). A provider that cannot be reached changes
//! nothing and the refresh fails closed with a 503, so an outage neither
//! signs people out nor lets a leaver through.
//!
//! A recheck the provider honours also says who the person is now (the
//! refreshed ID token, else userinfo): another `sub` ends the grant, and
//! their groups set their admin rights again, audited when they change
//! (`by: sso_groups_recheck`). A provider that tells neither (or whose word
//! fails verification) cannot confirm admin rights, so they lapse until the
//! person signs in again; the grant itself stands.

use super::Ports;
use super::revocation::RevokedBy;
use crate::error::StoreError;
use crate::model::{AccessTokenRecord, SubjectId};
use crate::ports::{IdentityProvider, ProviderRecheck, SealPurpose};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

/// The SSO branch's settings (present only when an issuer is configured).
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// The provider's issuer URL, recorded as the subject issuer of tokens.
    pub issuer: String,
    /// What the chooser's button says ("Acme SSO").
    pub display_name: String,
    /// Lowercased email domains allowed to approve; empty allows any.
    pub allowed_email_domains: Vec<String>,
    /// How long the provider's word on a grant's subject holds: a refresh of
    /// an external grant asks the provider again once its last answer is
    /// older than this (zero: at every refresh).
    pub recheck_every: Duration,
    /// Whether an ID token without `email_verified` is taken as verified
    /// (for a provider that only ever asserts verified addresses).
    pub trust_unverified_emails: bool,
    /// Members of any of these provider groups are console admins
    /// (re-evaluated at each of their sign-ins); empty: no SSO admins.
    pub admin_groups: Vec<String>,
}

impl SsoSettings {
    /// The admin groups (`GATEHOUSE_SSO_ADMIN_GROUPS`) among `groups`.
    pub(crate) fn admin_groups_held(&self, groups: &[String]) -> Vec<String> {
        groups.iter().filter(|group| self.admin_groups.contains(group)).cloned().collect()
    }
}

/// An SSO person's admin right changing with their provider's groups.
pub(crate) struct AdminChange<'a> {
    pub person: &'a SubjectId,
    pub email: &'a str,
    /// The admin groups they are in now.
    pub held: &'a [String],
    /// `sso_groups` at a sign-in, `sso_groups_recheck` at a provider recheck.
    pub by: &'static str,
}

impl AdminChange<'_> {
    /// Records the change in the audit log (`account.admin_granted` or
    /// `account.admin_removed`).
    pub(crate) async fn audit(&self, ports: &Ports, is_admin: bool, ip: Option<String>, at: DateTime<Utc>) {
        ports
            .audit(crate::ports::AuditEvent {
                kind: if is_admin {
                    crate::ports::AuditKind::AdminGranted
                } else {
                    crate::ports::AuditKind::AdminRemoved
                },
                actor: Some(crate::actor::Actor::System),
                subject: Some(self.email.to_owned()),
                client_id: None,
                ip,
                details: serde_json::json!({
                    "issuer": self.person.issuer,
                    "sub": self.person.id,
                    "by": self.by,
                    "admin_groups_held": self.held,
                }),
                at,
            })
            .await;
    }
}

impl Default for SsoSettings {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            display_name: String::new(),
            allowed_email_domains: Vec::new(),
            recheck_every: DEFAULT_RECHECK_EVERY,
            trust_unverified_emails: false,
            admin_groups: Vec::new(),
        }
    }
}

/// How often, by default, the provider is asked again about a grant's subject.
pub const DEFAULT_RECHECK_EVERY: Duration = Duration::hours(1);

/// Whether `email`'s domain is in `allowed` (an empty list allows any).
pub fn email_domain_allowed(email: &str, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let domain = email.rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default();
    allowed.iter().any(|a| a.eq_ignore_ascii_case(&domain))
}

/// The SSO provider as the grants of its people see it.
#[derive(Clone)]
pub(crate) struct ExternalSubjects {
    ports: Ports,
    settings: Arc<SsoSettings>,
    provider: Arc<dyn IdentityProvider>,
}

/// Whether a grant's external subject may keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    Allowed,
    /// No longer: the grant is to be revoked for this reason.
    NotAllowed(RevokedBy),
}

impl ExternalSubjects {
    pub(crate) fn new(ports: Ports, settings: Arc<SsoSettings>, provider: Arc<dyn IdentityProvider>) -> Self {
        Self { ports, settings, provider }
    }

    /// Whether `grant`'s subject may still hold it, asking the provider if
    /// its last answer is older than the recheck period.
    pub(crate) async fn standing(&self, grant: &AccessTokenRecord) -> Result<Standing, StoreError> {
        if self.settings.issuer != grant.subject_issuer
            || !email_domain_allowed(&grant.subject_email, &self.settings.allowed_email_domains)
        {
            return Ok(Standing::NotAllowed(RevokedBy::SubjectNotAllowed));
        }
        let Some(session) = self.ports.tokens.provider_session(grant.id).await? else {
            return Ok(Standing::Allowed); // The provider issued no refresh token.
        };
        let now = self.ports.clock.now();
        if now - session.checked_at < self.settings.recheck_every {
            return Ok(Standing::Allowed);
        }
        let Some(refresh_token) =
            self.ports.signer.open(SealPurpose::ProviderRefreshToken, &session.sealed_refresh_token)
        else {
            // Sealed with a secret no longer configured: nothing can ask the
            // provider for this grant any more, so it cannot be kept.
            tracing::warn!(grant_id = %grant.id, "a provider refresh token no longer opens with the server secret");
            return Ok(Standing::NotAllowed(RevokedBy::RevokedAtProvider));
        };
        match self.provider.recheck(&refresh_token).await {
            Ok(ProviderRecheck::Honoured { refresh_token: rotated, identity }) => {
                crate::metrics::provider_rechecks("honoured");
                let subject = grant.subject();
                if let (Some(subject), Some(identity)) = (&subject, &identity)
                    && (identity.issuer != subject.issuer || identity.subject != subject.id)
                {
                    tracing::warn!(grant_id = %grant.id, "the identity provider answered a recheck for another person");
                    return Ok(Standing::NotAllowed(RevokedBy::RevokedAtProvider));
                }
                let sealed = match rotated {
                    Some(token) => self.ports.signer.seal(SealPurpose::ProviderRefreshToken, &token)?,
                    None => session.sealed_refresh_token,
                };
                self.ports.tokens.provider_session_checked(grant.id, &sealed, now).await?;
                if let Some(subject) = &subject {
                    let groups = identity.map(|identity| identity.groups).unwrap_or_default();
                    self.recheck_admin(subject, &grant.subject_email, &groups).await?;
                }
                Ok(Standing::Allowed)
            }
            Ok(ProviderRecheck::Revoked(reason)) => {
                crate::metrics::provider_rechecks("revoked");
                tracing::info!(grant_id = %grant.id, subject = %grant.subject_email, reason, "the identity provider no longer honours this sign-in");
                Ok(Standing::NotAllowed(RevokedBy::RevokedAtProvider))
            }
            Err(err) => {
                crate::metrics::provider_rechecks("unreachable");
                tracing::warn!(grant_id = %grant.id, error = %err, "could not ask the identity provider about a grant");
                Err(StoreError::new("the identity provider could not be asked about this grant; retry shortly"))
            }
        }
    }

    /// Sets an SSO person's admin right as their groups at the provider
    /// say now, auditing a change.
    async fn recheck_admin(&self, person: &SubjectId, email: &str, groups: &[String]) -> Result<(), StoreError> {
        let held = self.settings.admin_groups_held(groups);
        let is_admin = !held.is_empty();
        if self.ports.accounts.set_sso_person_admin(person, is_admin).await? == Some(!is_admin) {
            let change = AdminChange { person, email, held: &held, by: "sso_groups_recheck" };
            change.audit(&self.ports, is_admin, None, self.ports.clock.now()).await;
        }
        Ok(())
    }
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
