//! DPoP (RFC 9449): proof-of-possession for access and refresh tokens.
//!
//! A client proves with every token request and every resource request that
//! it holds a private key; the tokens it gets are bound to that key's
//! thumbprint (`jkt`), so a token copied off a laptop is useless without the
//! key. The `ProofVerifier` port checks a proof's form and signature; this
//! module checks what the proof must match (RFC 9449 §4.3 steps 8–12):
//! the request's method and URI, a fresh `iat`, a server nonce where one is
//! required, the access token on resource requests, and that its `jti` was
//! never seen before — recorded in the state store, so a proof replayed to
//! another instance is refused too.
//!
//! Server nonces (§8) are stateless: the number of the current
//! [`NONCE_PERIOD`] and a MAC of it keyed by the server secret, so every
//! instance that shares the secret issues and accepts the same nonces, and a
//! nonce stays good for one to two periods.

use super::Ports;
use crate::error::{OAuthError, OAuthErrorCode, StoreError};
use crate::ports::{Derivation, ProofClaims};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use subtle::ConstantTimeEq;

/// The proof algorithms accepted (`dpop_signing_alg_values_supported`).
pub const ALGORITHMS: &[&str] = &["ES256", "EdDSA"];

/// How old a proof's `iat` may be.
const IAT_PAST: Duration = Duration::seconds(120);
/// How far ahead of our clock a proof's `iat` may be (the client's clock runs fast).
const IAT_FUTURE: Duration = Duration::seconds(60);
/// How long a seen `jti` of a proof without a nonce is remembered: as long
/// as a proof carrying it could pass the `iat` check.
const JTI_RETAINED: Duration = Duration::seconds(180);
/// The longest `jti` accepted (a random value; 43 characters is typical).
const JTI_MAX_CHARS: usize = 128;
/// How long one nonce period lasts; a nonce is accepted in its own period and the next.
pub const NONCE_PERIOD: i64 = 300;

/// What a proof is presented for: the HTTP method and the request's URI
/// (the server's public origin and the path), and on resource requests the
/// access token it accompanies.
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub access_token: Option<&'a str>,
}

/// A DPoP header as received, with the URI of the request that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedProof {
    pub proof: String,
    pub uri: String,
}

/// Why a proof was refused.
#[derive(Debug, thiserror::Error)]
pub enum DpopError {
    /// RFC 9449 `invalid_dpop_proof`, with why.
    #[error("{0}")]
    InvalidProof(Cow<'static, str>),
    /// RFC 9449 `use_dpop_nonce`: the proof must carry the server's current
    /// nonce, which the answer's `DPoP-Nonce` header gives.
    #[error("this proof must carry the server's current nonce (DPoP-Nonce)")]
    UseNonce,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

impl DpopError {
    fn invalid(why: &'static str) -> Self {
        DpopError::InvalidProof(Cow::Borrowed(why))
    }

    /// The OAuth error a token-endpoint answer carries for it (RFC 9449 §5,
    /// §8); `Err` is a storage fault.
    pub fn into_oauth(self) -> Result<OAuthError, StoreError> {
        match self {
            DpopError::InvalidProof(why) => Ok(OAuthError::new(OAuthErrorCode::InvalidDpopProof, why)),
            err @ DpopError::UseNonce => Ok(OAuthError::new(OAuthErrorCode::UseDpopNonce, err.to_string())),
            DpopError::Unavailable(err) => Err(err),
        }
    }
}

/// The value of a proof's `ath` for `access_token`: base64url(SHA-256).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// Whether `jkt` has the form of a JWK SHA-256 thumbprint: 43 base64url characters.
pub fn is_thumbprint(jkt: &str) -> bool {
    jkt.len() == 43 && URL_SAFE_NO_PAD.decode(jkt).is_ok_and(|bytes| bytes.len() == 32)
}

/// Checks DPoP proofs and issues server nonces.
#[derive(Clone)]
pub struct DpopService {
    ports: Ports,
    /// Whether token requests must carry a server nonce.
    nonce_required_for_tokens: bool,
}

impl DpopService {
    pub(crate) fn new(ports: Ports, nonce_required_for_tokens: bool) -> Self {
        Self { ports, nonce_required_for_tokens }
    }

    /// The nonce to hand out now (`DPoP-Nonce`).
    pub fn nonce(&self) -> String {
        self.nonce_of_period(self.ports.clock.now().timestamp().div_euclid(NONCE_PERIOD))
    }

    fn nonce_of_period(&self, period: i64) -> String {
        let mac = self.ports.signer.derive(Derivation::DpopNonce, &period.to_be_bytes());
        format!("{period:x}.{}", URL_SAFE_NO_PAD.encode(&mac[..18]))
    }

    /// Whether `nonce` is this period's or the last one's.
    fn nonce_is_fresh(&self, nonce: &str, now: DateTime<Utc>) -> bool {
        let current = now.timestamp().div_euclid(NONCE_PERIOD);
        let Some(period) = nonce.split_once('.').and_then(|(period, _)| i64::from_str_radix(period, 16).ok()) else {
            return false;
        };
        (period == current || period == current - 1)
            && bool::from(nonce.as_bytes().ct_eq(self.nonce_of_period(period).as_bytes()))
    }

    /// Checks a proof on a token request (RFC 9449 §5): the key's thumbprint
    /// when it passes.
    pub async fn check_token_request(&self, presented: &PresentedProof) -> Result<String, DpopError> {
        let target = ProofTarget { method: "POST", uri: &presented.uri, access_token: None };
        self.check(&presented.proof, &target, self.nonce_required_for_tokens).await
    }

    /// Checks a proof on a resource request (RFC 9449 §7): the key's
    /// thumbprint when it passes. A nonce is not required there, but one that
    /// is present must be fresh.
    pub async fn check_resource_request(&self, proof: &str, target: &ProofTarget<'_>) -> Result<String, DpopError> {
        self.check(proof, target, false).await
    }

    /// RFC 9449 §4.3: signature and form through the port, then every claim
    /// against the request, the clock and the nonce, and last the `jti`,
    /// spent only by a proof that passed everything else.
    async fn check(&self, proof: &str, target: &ProofTarget<'_>, nonce_required: bool) -> Result<String, DpopError> {
        let answer = self.check_claims(proof, target, nonce_required).await;
        crate::metrics::dpop_proof(match &answer {
            Ok(_) => "accepted",
            Err(DpopError::InvalidProof(_)) => "invalid_dpop_proof",
            Err(DpopError::UseNonce) => "use_dpop_nonce",
            Err(DpopError::Unavailable(_)) => "unavailable",
        });
        answer
    }

    async fn check_claims(
        &self,
        proof: &str,
        target: &ProofTarget<'_>,
        nonce_required: bool,
    ) -> Result<String, DpopError> {
        let claims = self.ports.proofs.verify(proof).map_err(DpopError::invalid)?;
        let now = self.ports.clock.now();
        if claims.htm != target.method {
            return Err(DpopError::invalid("the proof's htm is not this request's method"));
        }
        if !same_uri(&claims.htu, target.uri) {
            return Err(DpopError::invalid("the proof's htu is not this request's URI"));
        }
        let iat = DateTime::from_timestamp(claims.iat, 0)
            .ok_or_else(|| DpopError::invalid("the proof's iat is not a time"))?;
        // Freshness comes from a server nonce when the proof carries one
        // (§11.1), so a client whose clock is off still gets through; without
        // one, from `iat`. A stale nonce, a missing required one, or an `iat`
        // out of range is answered `use_dpop_nonce`, which tells the client
        // how to recover: sign again with the nonce the answer carries.
        let fresh_by_nonce = match &claims.nonce {
            Some(nonce) if self.nonce_is_fresh(nonce, now) => true,
            Some(_) => return Err(DpopError::UseNonce),
            None if nonce_required => return Err(DpopError::UseNonce),
            None => false,
        };
        if !fresh_by_nonce && (iat < now - IAT_PAST || iat > now + IAT_FUTURE) {
            return Err(DpopError::UseNonce);
        }
        match (target.access_token, &claims.ath) {
            (Some(token), Some(ath)) if bool::from(ath.as_bytes().ct_eq(access_token_hash(token).as_bytes())) => {}
            (Some(_), _) => return Err(DpopError::invalid("the proof's ath is not the hash of this access token")),
            (None, _) => {}
        }
        if claims.jti.is_empty() || claims.jti.chars().count() > JTI_MAX_CHARS {
            return Err(DpopError::invalid("the proof's jti is missing or too long"));
        }
        // Remembered as long as the proof could pass: its nonce's life, or
        // the `iat` window.
        let retained = if fresh_by_nonce { Duration::seconds(2 * NONCE_PERIOD) } else { JTI_RETAINED };
        if !self.ports.single_use.put(&jti_key(&claims), "", now, now + retained).await? {
            return Err(DpopError::invalid("this proof was already used"));
        }
        Ok(claims.jkt)
    }
}

/// Where a seen `jti` is recorded: per key, hashed to a fixed length.
fn jti_key(claims: &ProofClaims) -> String {
    let digest = Sha256::digest(format!("{}\n{}", claims.jkt, claims.jti).as_bytes());
    format!("dpop-jti:{}", URL_SAFE_NO_PAD.encode(digest))
}

/// RFC 9449 §4.3 step 9: `htu` names the request's URI, ignoring any query
/// and fragment; scheme and host compare case-insensitively and a default
/// port is the same as none (RFC 3986 §6.2.2–6.2.3).
fn same_uri(htu: &str, expected: &str) -> bool {
    fn normalise(uri: &str) -> Option<(String, Option<u16>, String)> {
        let mut uri = url::Url::parse(uri).ok()?;
        uri.set_query(None);
        uri.set_fragment(None);
        Some((format!("{}://{}", uri.scheme(), uri.host_str()?), uri.port_or_known_default(), uri.path().to_owned()))
    }
    matches!((normalise(htu), normalise(expected)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_ignores_query_fragment_case_and_default_port() {
        let expected = "https://id.example.com/v1/oauth/device/token";
        assert!(same_uri("https://ID.example.com:443/v1/oauth/device/token?x=1#f", expected));
        assert!(!same_uri("https://id.example.com/v1/oauth/device/token/", expected));
        assert!(!same_uri("http://id.example.com/v1/oauth/device/token", expected));
        assert!(!same_uri("https://id.example.com:8443/v1/oauth/device/token", expected));
        assert!(!same_uri("not a uri", expected));
    }

    #[test]
    fn thumbprints_are_43_base64url_characters_of_32_bytes() {
        assert!(is_thumbprint("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
        assert!(!is_thumbprint("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4"));
        assert!(!is_thumbprint("0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
    }

    #[test]
    fn ath_is_the_base64url_sha256_of_the_token() {
        // RFC 9449 §7.1's example token and its ath.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
