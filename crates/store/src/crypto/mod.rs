//! Cryptographic adapters: passwords, randomness, Gatehouse's own envelopes,
//! DPoP proofs, the OpenID Connect relying party, and passkeys (WebAuthn).

mod dpop;
mod envelopes;
mod identity_provider;
mod passkeys;
mod passwords;
mod random;

pub use dpop::DpopProofs;
pub use envelopes::{JwsEnvelopes, fingerprint};
pub use identity_provider::{OidcProvider, OidcSettings};
pub use passkeys::WebAuthnPasskeys;
pub use passwords::Argon2Hasher;
pub use random::OsRandom;
