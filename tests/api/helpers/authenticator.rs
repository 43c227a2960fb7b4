//! A software authenticator that makes discoverable (resident) passkeys,
//! as a phone or laptop would: ES256 keys (ring), user verification done,
//! "none" attestation, a signature counter. It answers the options a
//! Gatehouse ceremony starts with, in the JSON the page's script sends.
//! (`webauthn-authenticator-rs`'s soft passkey keeps no user handle, so it
//! cannot sign in without an address typed first.)

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One credential the authenticator keeps.
struct Credential {
    id: Vec<u8>,
    rp_id: String,
    user_handle: Vec<u8>,
    key: EcdsaKeyPair,
    counter: u32,
}

/// The authenticator, and the origin its browser reports.
pub struct SoftPasskey {
    pub origin: String,
    credentials: Vec<Credential>,
    rng: SystemRandom,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).expect("base64url")
}

/// The little CBOR an attestation needs (RFC 8949): unsigned and negative
/// integers, byte and text strings, maps.
mod cbor {
    fn head(out: &mut Vec<u8>, major: u8, value: u64) {
        let major = major << 5;
        match value {
            0..=23 => out.push(major | value as u8),
            24..=0xff => out.extend([major | 24, value as u8]),
            0x100..=0xffff => {
                out.push(major | 25);
                out.extend((value as u16).to_be_bytes());
            }
            _ => {
                out.push(major | 26);
                out.extend((value as u32).to_be_bytes());
            }
        }
    }
    pub fn int(out: &mut Vec<u8>, value: i64) {
        if value >= 0 { head(out, 0, value as u64) } else { head(out, 1, (-1 - value) as u64) }
    }
    pub fn bytes(out: &mut Vec<u8>, value: &[u8]) {
        head(out, 2, value.len() as u64);
        out.extend(value);
    }
    pub fn text(out: &mut Vec<u8>, value: &str) {
        head(out, 3, value.len() as u64);
        out.extend(value.as_bytes());
    }
    pub fn map(out: &mut Vec<u8>, entries: usize) {
        head(out, 5, entries as u64);
    }
}

impl SoftPasskey {
    /// An authenticator in a browser at `origin` (the page's origin).
    pub fn at(origin: &str) -> Self {
        Self { origin: origin.to_owned(), credentials: Vec::new(), rng: SystemRandom::new() }
    }

    /// The same credentials, used from a browser at another origin (a
    /// look-alike site relaying the ceremony).
    pub fn moved_to(&mut self, origin: &str) {
        self.origin = origin.to_owned();
    }

    /// Makes the last credential's counter go back by `by` (a cloned key).
    pub fn rewind(&mut self, by: u32) {
        let last = self.credentials.last_mut().expect("a credential");
        last.counter = last.counter.saturating_sub(by);
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false })
            .to_string()
            .into_bytes()
    }

    /// `navigator.credentials.create` with the ceremony's options: a new
    /// discoverable credential, as the page's script would send it.
    pub fn create(&mut self, options: &Value) -> String {
        let key = &options["publicKey"];
        assert_eq!(key["authenticatorSelection"]["residentKey"], "required", "a discoverable credential");
        let algorithms: Vec<i64> =
            key["pubKeyCredParams"].as_array().expect("algorithms").iter().filter_map(|p| p["alg"].as_i64()).collect();
        assert!(algorithms.contains(&-7), "ES256 offered: {algorithms:?}");
        let rp_id = key["rp"]["id"].as_str().expect("rp id").to_owned();
        let challenge = key["challenge"].as_str().expect("challenge");
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.rng).expect("key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &self.rng).expect("key");
        let public = pair.public_key().as_ref().to_vec();
        let id: Vec<u8> = (0..32).map(|_| rand_byte(&self.rng)).collect();
        let credential = Credential {
            id: id.clone(),
            rp_id: rp_id.clone(),
            user_handle: unb64(key["user"]["id"].as_str().expect("user id")),
            key: pair,
            counter: 1,
        };
        let mut cose = Vec::new();
        cbor::map(&mut cose, 5);
        cbor::int(&mut cose, 1);
        cbor::int(&mut cose, 2); // kty: EC2
        cbor::int(&mut cose, 3);
        cbor::int(&mut cose, -7); // alg: ES256
        cbor::int(&mut cose, -1);
        cbor::int(&mut cose, 1); // crv: P-256
        cbor::int(&mut cose, -2);
        cbor::bytes(&mut cose, &public[1..33]);
        cbor::int(&mut cose, -3);
        cbor::bytes(&mut cose, &public[33..65]);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(0x01 | 0x04 | 0x40); // user present, verified, attested data
        auth_data.extend(credential.counter.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        auth_data.extend(cose);
        let mut attestation = Vec::new();
        cbor::map(&mut attestation, 3);
        cbor::text(&mut attestation, "fmt");
        cbor::text(&mut attestation, "none");
        cbor::text(&mut attestation, "attStmt");
        cbor::map(&mut attestation, 0);
        cbor::text(&mut attestation, "authData");
        cbor::bytes(&mut attestation, &auth_data);
        let client_data = self.client_data("webauthn.create", challenge);
        self.credentials.push(credential);
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": { "attestationObject": b64(&attestation), "clientDataJSON": b64(&client_data) },
            "extensions": {},
        })
        .to_string()
    }

    /// `navigator.credentials.get` with the ceremony's options: an
    /// assertion by the newest credential for its relying party, with its
    /// user handle (a discoverable sign-in).
    pub fn get(&mut self, options: &Value) -> String {
        let key = &options["publicKey"];
        let rp_id = key["rpId"].as_str().expect("rp id");
        assert_eq!(key["userVerification"], "required");
        let challenge = key["challenge"].as_str().expect("challenge").to_owned();
        let client_data = self.client_data("webauthn.get", &challenge);
        let credential =
            self.credentials.iter_mut().rev().find(|c| c.rp_id == rp_id).expect("a credential for this site");
        credential.counter += 1;
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(0x01 | 0x04);
        auth_data.extend(credential.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature = credential.key.sign(&SystemRandom::new(), &signed).expect("sign");
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&credential.user_handle),
            },
            "extensions": {},
        })
        .to_string()
    }
}

fn rand_byte(rng: &SystemRandom) -> u8 {
    let mut byte = [0u8; 1];
    ring::rand::SecureRandom::fill(rng, &mut byte).expect("random");
    byte[0]
}
