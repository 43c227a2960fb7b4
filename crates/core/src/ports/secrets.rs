//! What is keyed by the server secret, and password hashing.

use crate::error::StoreError;
use crate::secret::SecretString;
use async_trait::async_trait;

/// What a Gatehouse envelope is for; an envelope made for one purpose never
/// verifies for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopePurpose {
    /// The `state` of an SSO sign-in, sent through the identity provider.
    SsoState,
    /// The approval-grant cookie set after the SSO callback.
    ApprovalGrant,
}

impl EnvelopePurpose {
    /// The audience (`aud`) written into and required of the envelope.
    pub fn audience(self) -> &'static str {
        match self {
            EnvelopePurpose::SsoState => "gatehouse:sso-state",
            EnvelopePurpose::ApprovalGrant => "gatehouse:approval-grant",
        }
    }
}

/// What a value derived from the server secret is for; each purpose
/// derives different bytes from the same input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derivation {
    /// The access token a flow's redemption yields, from its device code.
    RedemptionToken,
    /// The refresh token a flow's redemption yields, from its device code.
    RedemptionRefreshToken,
    /// A DPoP server nonce (RFC 9449 §8), from its period's number.
    DpopNonce,
    /// The code an approving browser shows for its device to confirm, from
    /// the flow's device-code hash.
    ConfirmationCode,
}

impl Derivation {
    /// The label mixed into the derivation (domain separation).
    pub fn label(self) -> &'static [u8] {
        match self {
            Derivation::RedemptionToken => b"gatehouse:redemption-token:v1",
            Derivation::RedemptionRefreshToken => b"gatehouse:redemption-refresh-token:v1",
            Derivation::DpopNonce => b"gatehouse:dpop-nonce:v1",
            Derivation::ConfirmationCode => b"gatehouse:confirmation-code:v1",
        }
    }
}

/// What a value sealed with the server secret is; a value sealed for one
/// purpose never opens as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealPurpose {
    /// A refresh token the SSO provider issued for a grant's subject.
    ProviderRefreshToken,
}

impl SealPurpose {
    /// The associated data bound into the seal (domain separation).
    pub fn label(self) -> &'static [u8] {
        match self {
            SealPurpose::ProviderRefreshToken => b"gatehouse:provider-refresh-token:v1",
        }
    }
}

/// Everything keyed by the server secret: Gatehouse's own envelopes (HS256
/// compact JWS; verification checks the algorithm, signature and purpose,
/// and the use case checks `exp` against the injected clock) and values
/// derived from it.
pub trait EnvelopeSigner: Send + Sync {
    /// Signs `claims` (a JSON object) for `purpose`.
    fn sign(&self, purpose: EnvelopePurpose, claims: serde_json::Value) -> Result<String, StoreError>;
    /// The claims of a well-signed envelope for `purpose`; `None` for
    /// anything else (another algorithm, a flipped byte, another purpose).
    fn verify(&self, purpose: EnvelopePurpose, envelope: &str) -> Option<serde_json::Value>;
    /// 32 bytes derived from `input` for `purpose` (HMAC-SHA256 with the
    /// server secret): the same on every instance that shares the secret,
    /// unguessable without it.
    fn derive(&self, purpose: Derivation, input: &[u8]) -> [u8; 32];
    /// `secret` encrypted and authenticated for `purpose` (AEAD under a key
    /// derived from the server secret), as text fit to store.
    fn seal(&self, purpose: SealPurpose, secret: &SecretString) -> Result<String, StoreError>;
    /// What `sealed` holds, if it was sealed for `purpose` with the current
    /// or a previous server secret and not altered; `None` otherwise.
    fn open(&self, purpose: SealPurpose, sealed: &str) -> Option<SecretString>;
}

/// What a DPoP proof (RFC 9449 §4.2) says, once its signature verified with
/// the public key in its own header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofClaims {
    /// The key's JWK SHA-256 thumbprint (RFC 7638), base64url.
    pub jkt: String,
    pub htm: String,
    pub htu: String,
    /// Seconds since the epoch.
    pub iat: i64,
    pub jti: String,
    /// base64url(SHA-256(access token)), on resource requests.
    pub ath: Option<String>,
    pub nonce: Option<String>,
}

/// Checks a DPoP proof's form and signature (RFC 9449 §4.3 steps 1–7): a
/// compact JWS with `typ` `dpop+jwt`, an allowed asymmetric `alg`, a public
/// `jwk` of that algorithm's key type and no private part, a signature that
/// verifies with it, and the claims every proof carries. What the claims must
/// match (method, URI, time, nonce, token, replay) is the use case's.
pub trait ProofVerifier: Send + Sync {
    /// The claims of a well-formed, well-signed proof; why not otherwise.
    fn verify(&self, proof: &str) -> Result<ProofClaims, &'static str>;
}

/// Why a password was not hashed or verified.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is taken and the bounded queue is full, or no slot
    /// came free soon: the caller answers 503 at once.
    #[error("password hashing is busy")]
    Busy,
    #[error(transparent)]
    Failed(#[from] StoreError),
}

impl From<HashError> for StoreError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => StoreError::new("password hashing is busy"),
            HashError::Failed(e) => e,
        }
    }
}

/// Password hashing (argon2id), off the async threads, with a bounded queue.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password.
    async fn hash(&self, password: &SecretString) -> Result<String, HashError>;
    /// Verifies `password` against `hash`; with no hash it spends the same
    /// time on a dummy hash and answers false, so unknown accounts are not
    /// distinguishable from wrong passwords.
    async fn verify(&self, password: &SecretString, hash: Option<&str>) -> Result<bool, HashError>;
    /// Whether a hash asked for now would be refused at once
    /// (`HashError::Busy`): every slot and place in the queue is taken, or
    /// hashing is paced on a busy machine. Lets a sign-in be refused before
    /// it reads anything.
    fn is_busy(&self) -> bool {
        false
    }
}
