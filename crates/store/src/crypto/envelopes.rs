//! Gatehouse's own envelopes (the SSO state and the approval-grant cookie):
//! HS256 compact JWS with the server secret, through `jsonwebtoken`; and
//! values sealed with it (AES-256-GCM through `ring`, under a key derived
//! from the secret, the purpose bound in as associated data).
//!
//! The secret is a key ring: the current secret signs and derives; previous
//! ones (`GATEHOUSE_PREVIOUS_SECRET_KEYS`) still verify, so envelopes signed
//! before a rotation (an SSO sign-in in flight) stay good until they expire.
//!
//! Verification accepts exactly HS256 (so `alg: none`, HS512 or an RS256
//! "signed" with the secret as a public key all fail), requires the
//! purpose's audience, and leaves `exp` to the use case, which checks it
//! against the injected clock with a small leeway.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::StoreError;
use gatehouse_core::ports::{Derivation, EnvelopePurpose, EnvelopeSigner, SealPurpose};
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
    /// The sealing keys: the current secret's first, then the previous ones'.
    sealing: Vec<ring::aead::LessSafeKey>,
}

/// The version tag of sealed text, so another scheme can follow.
const SEALED_PREFIX: &str = "v1.";

/// The AES-256-GCM key `secret` seals with: an HMAC of a fixed label, so
/// it is independent of the envelopes' and derivations' use of the secret.
fn sealing_key(secret: &SecretString) -> ring::aead::LessSafeKey {
    let mut mac = hmac_of(secret);
    mac.update(b"gatehouse:sealing-key:v1");
    let bytes = mac.finalize().into_bytes();
    // 32 bytes is exactly AES-256's key length.
    let key = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &bytes).unwrap_or_else(|_| unreachable!());
    ring::aead::LessSafeKey::new(key)
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
            sealing: std::iter::once(current).chain(previous).map(sealing_key).collect(),
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

    fn seal(&self, purpose: SealPurpose, secret: &SecretString) -> Result<String, StoreError> {
        // A random 96-bit nonce per seal: far fewer seals than the 2^32 a
        // key may take with random nonces (NIST SP 800-38D §8.3).
        let mut nonce = [0u8; ring::aead::NONCE_LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| StoreError::new("the system random source failed"))?;
        let mut sealed = secret.expose().as_bytes().to_vec();
        self.sealing[0]
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(purpose.label()),
                &mut sealed,
            )
            .map_err(|_| StoreError::new("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    fn open(&self, purpose: SealPurpose, sealed: &str) -> Option<SecretString> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(SEALED_PREFIX)?).ok()?;
        if bytes.len() < ring::aead::NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(ring::aead::NONCE_LEN);
        self.sealing.iter().find_map(|key| {
            let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
            let mut buffer = ciphertext.to_vec();
            let plain = key.open_in_place(nonce, ring::aead::Aad::from(purpose.label()), &mut buffer).ok()?;
            String::from_utf8(plain.to_vec()).ok().map(SecretString::new)
        })
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
    fn sealed_values_open_for_their_purpose_and_survive_a_rotation() -> Result<(), StoreError> {
        let old = SecretString::new("k".repeat(32));
        let value = SecretString::new("provider-refresh-token");
        let sealed = envelopes().seal(SealPurpose::ProviderRefreshToken, &value)?;
        assert!(!sealed.contains("provider"), "sealed text must not show the value");
        assert_ne!(sealed, envelopes().seal(SealPurpose::ProviderRefreshToken, &value)?, "a fresh nonce per seal");
        assert_eq!(envelopes().open(SealPurpose::ProviderRefreshToken, &sealed), Some(value.clone()));
        // A previous secret still opens it; another secret does not.
        let rotated = JwsEnvelopes::new(&SecretString::new("n".repeat(32)), std::slice::from_ref(&old));
        assert_eq!(rotated.open(SealPurpose::ProviderRefreshToken, &sealed), Some(value));
        assert_eq!(
            JwsEnvelopes::new(&SecretString::new("n".repeat(32)), &[]).open(SealPurpose::ProviderRefreshToken, &sealed),
            None
        );
        // One flipped character, a truncation or another scheme opens nothing.
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(envelopes().open(SealPurpose::ProviderRefreshToken, &String::from_utf8_lossy(&flipped)), None);
        assert_eq!(envelopes().open(SealPurpose::ProviderRefreshToken, &sealed[..10]), None);
        assert_eq!(envelopes().open(SealPurpose::ProviderRefreshToken, &sealed.replacen("v1.", "v2.", 1)), None);
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
