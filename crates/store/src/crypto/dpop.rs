//! DPoP proofs (RFC 9449 §4.2–4.3): form and signature, through `jsonwebtoken`.
//!
//! The header is read here before any signature check, because the key that
//! verifies the proof is the one the proof carries: its `jwk` must be a
//! public key of exactly the type the `alg` names (an ES256 proof with a
//! P-256 key, an EdDSA proof with an Ed25519 key), and the thumbprint that
//! tokens are bound to is computed from that key's required members
//! (RFC 7638 §3.2). `jsonwebtoken` then verifies the signature with the
//! same algorithm only, so `none`, HMAC and RSA proofs never verify.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::ports::{ProofClaims, ProofVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Proofs longer than this are refused unread (an EC proof is about 600 bytes).
const MAX_PROOF_BYTES: usize = 4096;
/// Members that only a private JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Verifies DPoP proofs of the algorithms in
/// [`ALGORITHMS`](gatehouse_core::services::dpop::ALGORITHMS).
#[derive(Debug, Default, Clone, Copy)]
pub struct DpopProofs;

/// The claims every proof carries (RFC 9449 §4.2).
#[derive(Deserialize)]
struct Claims {
    htm: String,
    htu: String,
    iat: i64,
    jti: String,
    ath: Option<String>,
    nonce: Option<String>,
}

impl ProofVerifier for DpopProofs {
    fn verify(&self, proof: &str) -> Result<ProofClaims, &'static str> {
        if proof.len() > MAX_PROOF_BYTES {
            return Err("the DPoP proof is too long");
        }
        let header = proof
            .split('.')
            .next()
            .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .ok_or("the DPoP proof is not a compact JWS")?;
        if !header["typ"].as_str().is_some_and(|typ| typ.eq_ignore_ascii_case("dpop+jwt")) {
            return Err("the DPoP proof's typ is not dpop+jwt");
        }
        let jwk = header["jwk"].as_object().ok_or("the DPoP proof's header has no jwk")?;
        if PRIVATE_MEMBERS.iter().any(|member| jwk.contains_key(*member)) {
            return Err("the DPoP proof's jwk holds a private key");
        }
        let member = |name: &str| jwk.get(name).and_then(Value::as_str);
        let coordinate = |name: &str| member(name).filter(|value| decoded_len(value) == Some(32));
        let (algorithm, key, thumbprint_input) = match header["alg"].as_str() {
            Some("ES256") => {
                let (Some("EC"), Some("P-256"), Some(x), Some(y)) =
                    (member("kty"), member("crv"), coordinate("x"), coordinate("y"))
                else {
                    return Err("an ES256 proof's jwk must be a P-256 public key");
                };
                let key = DecodingKey::from_ec_components(x, y).map_err(|_| "the DPoP proof's jwk is malformed")?;
                (Algorithm::ES256, key, format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#))
            }
            Some("EdDSA") => {
                let (Some("OKP"), Some("Ed25519"), Some(x)) = (member("kty"), member("crv"), coordinate("x")) else {
                    return Err("an EdDSA proof's jwk must be an Ed25519 public key");
                };
                let key = DecodingKey::from_ed_components(x).map_err(|_| "the DPoP proof's jwk is malformed")?;
                (Algorithm::EdDSA, key, format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#))
            }
            _ => return Err("the DPoP proof's alg is not one of ES256, EdDSA"),
        };
        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Claims>(proof, &key, &validation)
            .map_err(|_| "the DPoP proof's signature or claims are invalid")?
            .claims;
        Ok(ProofClaims {
            jkt: URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes())),
            htm: claims.htm,
            htu: claims.htu,
            iat: claims.iat,
            jti: claims.jti,
            ath: claims.ath,
            nonce: claims.nonce,
        })
    }
}

/// The length of a base64url value once decoded.
fn decoded_len(value: &str) -> Option<usize> {
    URL_SAFE_NO_PAD.decode(value).ok().map(|bytes| bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_for_an_ed25519_key() {
        // RFC 8037 Appendix A.3: the thumbprint of its example public key.
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let input = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        assert_eq!(
            URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes())),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn garbage_is_refused_before_any_key_is_built() {
        assert!(DpopProofs.verify("not a jws").is_err());
        assert!(DpopProofs.verify(&"a".repeat(MAX_PROOF_BYTES + 1)).is_err());
        let hs256 = format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(br#"{"typ":"dpop+jwt","alg":"HS256","jwk":{}}"#));
        assert_eq!(DpopProofs.verify(&hs256), Err("the DPoP proof's alg is not one of ES256, EdDSA"));
    }
}
