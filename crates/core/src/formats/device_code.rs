//! The secret a polling client holds: ≥ 256 bits, stored only as SHA-256.

use super::base62;
use crate::random::{SecureRandom, random_string};
use crate::secret::{SecretString, sha256_hex};

/// 44 base62 characters carry 44 × log2(62) ≈ 262 bits.
const LENGTH: usize = 44;

/// A device code as handed to the client. Its `Debug` is redacted.
#[derive(Debug, Clone)]
pub struct DeviceCode(SecretString);

impl DeviceCode {
    /// A fresh device code from the CSPRNG.
    pub fn generate(random: &dyn SecureRandom) -> Self {
        Self(SecretString::new(random_string(random, base62::ALPHABET, LENGTH)))
    }

    /// Wraps a device code received from a client.
    pub fn from_client(value: &str) -> Self {
        Self(SecretString::new(value))
    }

    /// The plaintext, for the one response that carries it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The hash under which the flow is stored and looked up.
    pub fn hash(&self) -> String {
        sha256_hex(self.0.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::CountingRandom;

    #[test]
    fn is_long_enough_and_hashes_stably() {
        let random = CountingRandom::new(3);
        let code = DeviceCode::generate(&random);
        assert_eq!(code.expose().len(), LENGTH);
        assert!((LENGTH as f64) * 62f64.log2() >= 256.0);
        assert_eq!(code.hash(), DeviceCode::from_client(code.expose()).hash());
        assert_eq!(code.hash().len(), 64);
        assert!(!format!("{code:?}").contains(code.expose()));
    }
}
