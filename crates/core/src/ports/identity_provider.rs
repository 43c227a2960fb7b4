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
}
