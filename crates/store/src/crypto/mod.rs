//! Cryptographic adapters: passwords, randomness, Gatehouse's own envelopes,
//! DPoP proofs, and the OpenID Connect relying party.

mod dpop;
mod envelopes;
mod identity_provider;
mod passwords;
mod random;

pub use dpop::DpopProofs;
pub use envelopes::{JwsEnvelopes, fingerprint};
pub use identity_provider::{OidcProvider, OidcSettings};
pub use passwords::Argon2Hasher;
pub use random::OsRandom;
