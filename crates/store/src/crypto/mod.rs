//! Cryptographic adapters.

mod passwords;
mod random;

pub use passwords::Argon2Hasher;
pub use random::OsRandom;
