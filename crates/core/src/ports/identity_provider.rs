//! The external OpenID Connect provider of the single sign-on branch.

use crate::secret::SecretString;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// What Gatehouse asks the identity provider for when a sign-in starts.
#[derive(Debug, Clone)]
pub struct ProviderSignIn {
    /// The signed SSO state envelope.
    pub state: String,
    pub nonce: String,
    /// The PKCE verifier; only its S256 challenge goes into the URL.
    pub pkce_verifier: SecretString,
}

/// An identity the provider vouched for in a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The provider's issuer (`iss`).
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    /// The groups the ID token lists the person in (the claim
    /// `GATEHOUSE_SSO_GROUPS_CLAIM` names); empty when it lists none.
    pub groups: Vec<String>,
    /// The provider's refresh token, when it issued one (`offline_access`):
    /// what lets Gatehouse ask it later whether the sign-in still stands.
    pub refresh_token: Option<SecretString>,
}

/// What the provider said when asked again about a sign-in (a refresh with
/// its refresh token, OpenID Connect Core §12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderRecheck {
    /// The sign-in still stands; `refresh_token` is the one to use next time
    /// when the provider rotated it. `identity` is the person as the
    /// provider describes them now (a refreshed ID token, verified, or else
    /// its userinfo endpoint), `None` when it offered neither; its groups
    /// decide the person's admin rights from here on.
    Honoured { refresh_token: Option<SecretString>, identity: Option<ProviderIdentity> },
    /// The provider refused the refresh token (`invalid_grant`): the person
    /// was disabled or signed out there, or the grant was revoked.
    Revoked(String),
}

/// Why the identity provider gave no identity.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Discovery, the key set or the token endpoint could not be reached or
    /// answered nonsense.
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
    /// The provider answered, but refused the code or sent an ID token that
    /// failed verification (signature, issuer, audience, expiry, nonce).
    #[error("identity provider assertion refused: {0}")]
    Refused(String),
}

/// The external OpenID Connect provider, as a relying party sees it
/// (authorization code + PKCE S256, discovery from the issuer).
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// The authorization endpoint URL that starts `sign_in` at the provider.
    async fn authorization_url(&self, sign_in: &ProviderSignIn) -> Result<String, ProviderError>;
    /// Exchanges `code` with the PKCE verifier and verifies the ID token
    /// against the provider's key set and `nonce`, as of `now`.
    async fn redeem_code(
        &self,
        code: &str,
        pkce_verifier: &SecretString,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<ProviderIdentity, ProviderError>;
    /// Refreshes at the provider with `refresh_token`: whether the provider
    /// still honours the sign-in it was issued for. Any answer other than
    /// a refusal of the token itself is `ProviderError`.
    async fn recheck(&self, refresh_token: &SecretString) -> Result<ProviderRecheck, ProviderError>;
}
