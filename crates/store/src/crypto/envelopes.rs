//! Gatehouse's own envelopes (the SSO state and the approval-grant cookie):
//! HS256 compact JWS with the server secret, through `jsonwebtoken`.
//!
//! The secret is a key ring: the current secret signs and derives; previous
//! ones (`GATEHOUSE_PREVIOUS_SECRET_KEYS`) still verify, so envelopes signed
//! before a rotation (an SSO sign-in in flight) stay good until they expire.
//!
//! Verification accepts exactly HS256 (so `alg: none`, HS512 or an RS256
//! "signed" with the secret as a public key all fail), requires the
//! purpose's audience, and leaves `exp` to the use case, which checks it
//! against the injected clock with a small leeway.

use gatehouse_core::StoreError;
use gatehouse_core::ports::{Derivation, EnvelopePurpose, EnvelopeSigner};
use gatehouse_core::secret::SecretString;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

/// Signs and verifies envelopes with the server secret.
pub struct JwsEnvelopes {
    encoding: EncodingKey,
    /// The current secret's key first, then the previous ones'.
    decoding: Vec<DecodingKey>,
    /// The secret itself, for HMAC derivations.
    derivation: Hmac<sha2::Sha256>,
}

fn hmac_of(secret: &SecretString) -> Hmac<sha2::Sha256> {
    // HMAC takes a key of any length.
    <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.expose().as_bytes()).unwrap_or_else(|_| unreachable!())
}

/// A name for `secret` that can be stored and compared without revealing
/// it: an HMAC under the secret of a fixed label, 128 bits in hex.
pub fn fingerprint(secret: &SecretString) -> String {
    let mut mac = hmac_of(secret);
    mac.update(b"gatehouse:secret-fingerprint:v1");
    hex::encode(&mac.finalize().into_bytes()[..16])
}

impl JwsEnvelopes {
    /// Envelopes signed with `current` and verified with it or any of
    /// `previous` (each at least 32 bytes; checked at startup).
    pub fn new(current: &SecretString, previous: &[SecretString]) -> Self {
        let bytes = current.expose().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: std::iter::once(current)
                .chain(previous)
                .map(|secret| DecodingKey::from_secret(secret.expose().as_bytes()))
                .collect(),
            derivation: hmac_of(current),
        }
    }
}

impl EnvelopeSigner for JwsEnvelopes {
    fn sign(&self, purpose: EnvelopePurpose, mut claims: serde_json::Value) -> Result<String, StoreError> {
        let object = claims.as_object_mut().ok_or_else(|| StoreError::new("envelope claims must be an object"))?;
        object.insert("aud".into(), purpose.audience().into());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(StoreError::from_err)
    }

    fn verify(&self, purpose: EnvelopePurpose, envelope: &str) -> Option<serde_json::Value> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_audience(&[purpose.audience()]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        // `exp` is checked by the use case against the injected clock.
        validation.validate_exp = false;
        let mut refusal = None;
        for key in &self.decoding {
            match jsonwebtoken::decode::<serde_json::Value>(envelope, key, &validation) {
                Ok(data) => return Some(data.claims),
                Err(err) => refusal = Some(err),
            }
        }
        if let Some(err) = refusal {
            tracing::debug!(error = %err, purpose = purpose.audience(), "envelope refused");
        }
        None
    }

    fn derive(&self, purpose: Derivation, input: &[u8]) -> [u8; 32] {
        let mut mac = self.derivation.clone();
        let label = purpose.label();
        // Length-prefixed label, so no label-and-input pair reads as another.
        mac.update(&(label.len() as u64).to_be_bytes());
        mac.update(label);
        mac.update(input);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelopes() -> JwsEnvelopes {
        JwsEnvelopes::new(&SecretString::new("k".repeat(32)), &[])
    }

    #[test]
    fn round_trips_for_its_purpose_only() -> Result<(), StoreError> {
        let signed = envelopes().sign(EnvelopePurpose::SsoState, json!({"jti": "a", "exp": 1}))?;
        let claims = envelopes().verify(EnvelopePurpose::SsoState, &signed);
        assert_eq!(claims.and_then(|c| c["jti"].as_str().map(str::to_owned)).as_deref(), Some("a"));
        assert!(envelopes().verify(EnvelopePurpose::ApprovalGrant, &signed).is_none());
        let other = JwsEnvelopes::new(&SecretString::new("j".repeat(32)), &[]);
        assert!(other.verify(EnvelopePurpose::SsoState, &signed).is_none());
        Ok(())
    }

    #[test]
    fn previous_secrets_verify_and_only_the_current_one_signs() -> Result<(), StoreError> {
        let old = SecretString::new("k".repeat(32));
        let new = SecretString::new("n".repeat(32));
        let signed_before = envelopes().sign(EnvelopePurpose::SsoState, json!({"jti": "a", "exp": 1}))?;
        let rotated = JwsEnvelopes::new(&new, std::slice::from_ref(&old));
        assert!(rotated.verify(EnvelopePurpose::SsoState, &signed_before).is_some());
        let signed_after = rotated.sign(EnvelopePurpose::SsoState, json!({"jti": "b", "exp": 1}))?;
        assert!(envelopes().verify(EnvelopePurpose::SsoState, &signed_after).is_none());
        assert!(JwsEnvelopes::new(&new, &[]).verify(EnvelopePurpose::SsoState, &signed_after).is_some());
        // Derivations follow the current secret alone.
        assert_eq!(
            rotated.derive(Derivation::RedemptionToken, b"c"),
            JwsEnvelopes::new(&new, &[]).derive(Derivation::RedemptionToken, b"c")
        );
        assert_ne!(fingerprint(&old), fingerprint(&new));
        assert_eq!(fingerprint(&old), fingerprint(&SecretString::new("k".repeat(32))));
        assert!(!fingerprint(&old).contains("kkkk"));
        Ok(())
    }

    #[test]
    fn refuses_other_algorithms() -> Result<(), StoreError> {
        let key = EncodingKey::from_secret("k".repeat(32).as_bytes());
        let claims = json!({"jti": "a", "exp": 1, "aud": "gatehouse:sso-state"});
        let hs512 =
            jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &key).map_err(StoreError::from_err)?;
        assert!(envelopes().verify(EnvelopePurpose::SsoState, &hs512).is_none());
        // alg: none, with an empty signature.
        let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims.to_string().as_bytes()));
        assert!(envelopes().verify(EnvelopePurpose::SsoState, &none).is_none());
        Ok(())
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn derivations_depend_on_the_secret_and_the_input() {
        let a = envelopes().derive(Derivation::RedemptionToken, b"code-1");
        assert_eq!(a, envelopes().derive(Derivation::RedemptionToken, b"code-1"));
        assert_ne!(a, envelopes().derive(Derivation::RedemptionToken, b"code-2"));
        let other = JwsEnvelopes::new(&SecretString::new("j".repeat(32)), &[]);
        assert_ne!(a, other.derive(Derivation::RedemptionToken, b"code-1"));
    }
}
