//! The client side of DPoP (RFC 9449 §4): a key pair the CLI keeps beside
//! its token, and the proofs it signs with it. Signing is `ring`'s; the
//! proof is a compact JWS whose header carries the public key as a JWK.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A proof algorithm (RFC 9449 §4.2 `alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofAlgorithm {
    /// Ed25519; what `gatehouse login` uses.
    EdDsa,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

enum Signer {
    EdDsa(Ed25519KeyPair),
    Es256(EcdsaKeyPair),
}

/// A DPoP key pair: its PKCS#8 form (what is saved), and what signs.
pub struct DpopKey {
    pkcs8: Vec<u8>,
    signer: Signer,
    rng: SystemRandom,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey").field("jkt", &self.thumbprint()).finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A new random key.
    pub fn generate(algorithm: ProofAlgorithm) -> anyhow::Result<Self> {
        let rng = SystemRandom::new();
        let pkcs8 = match algorithm {
            ProofAlgorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng),
            ProofAlgorithm::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng),
        }
        .map_err(|_| anyhow::anyhow!("could not generate a DPoP key"))?;
        Self::from_pkcs8(algorithm, pkcs8.as_ref())
    }

    /// The key saved as `pkcs8`.
    pub fn from_pkcs8(algorithm: ProofAlgorithm, pkcs8: &[u8]) -> anyhow::Result<Self> {
        let rng = SystemRandom::new();
        let signer = match algorithm {
            ProofAlgorithm::EdDsa => Signer::EdDsa(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                    .map_err(|_| anyhow::anyhow!("the saved DPoP key is not an Ed25519 key"))?,
            ),
            ProofAlgorithm::Es256 => Signer::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                    .map_err(|_| anyhow::anyhow!("the saved DPoP key is not a P-256 key"))?,
            ),
        };
        Ok(Self { pkcs8: pkcs8.to_vec(), signer, rng })
    }

    /// The private key, PKCS#8 DER: what is saved.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a JWK, with only the members its thumbprint covers.
    pub fn public_jwk(&self) -> Value {
        match &self.signer {
            Signer::EdDsa(pair) => {
                json!({ "crv": "Ed25519", "kty": "OKP", "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()) })
            }
            Signer::Es256(pair) => {
                // An uncompressed point: 0x04, then x and y, 32 bytes each.
                let point = pair.public_key().as_ref();
                json!({
                    "crv": "P-256",
                    "kty": "EC",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                })
            }
        }
    }

    /// The JWK SHA-256 thumbprint (RFC 7638): the members of `public_jwk`
    /// are written in the sorted order the thumbprint requires.
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.public_jwk().to_string().as_bytes()))
    }

    fn algorithm(&self) -> &'static str {
        match self.signer {
            Signer::EdDsa(_) => "EdDSA",
            Signer::Es256(_) => "ES256",
        }
    }

    /// A proof for one request (RFC 9449 §4.2): `htm` and `htu` name it,
    /// `ath` binds it to the access token sent with it, `nonce` is the
    /// server's latest `DPoP-Nonce`.
    pub fn proof(&self, htm: &str, htu: &str, access_token: Option<&str>, nonce: Option<&str>) -> String {
        let mut jti = [0u8; 16];
        // The system RNG does not fail on the platforms Gatehouse runs on.
        let _ = self.rng.fill(&mut jti);
        let mut claims = json!({
            "htm": htm,
            "htu": htu,
            "iat": gatehouse_core::Clock::now(&gatehouse_core::SystemClock).timestamp(),
            "jti": URL_SAFE_NO_PAD.encode(jti),
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.sign(&json!({ "typ": "dpop+jwt", "alg": self.algorithm(), "jwk": self.public_jwk() }), &claims)
    }

    /// A compact JWS of `header` and `claims` signed with this key (also
    /// how tests build proofs that are wrong on purpose).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = match &self.signer {
            Signer::EdDsa(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
            Signer::Es256(pair) => {
                pair.sign(&self.rng, input.as_bytes()).map(|s| s.as_ref().to_vec()).unwrap_or_default()
            }
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}
