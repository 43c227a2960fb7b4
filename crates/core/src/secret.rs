//! A string that must never reach a log line or a `Debug` dump.

use subtle::ConstantTimeEq;

/// A secret value (password, client secret, token, device code) whose `Debug`
/// output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call sites are where secrets are handled on purpose.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in constant time, so the comparison leaks no prefix length.
    pub fn constant_time_eq(&self, other: &str) -> bool {
        self.0.as_bytes().ct_eq(other.as_bytes()).into()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Hex SHA-256 of a secret: how tokens, device codes and client secrets rest.
pub fn sha256_hex(value: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = SecretString::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        let secret = SecretString::new("abc");
        assert!(secret.constant_time_eq("abc"));
        assert!(!secret.constant_time_eq("ab"));
        assert!(!secret.constant_time_eq("abd"));
    }
}
