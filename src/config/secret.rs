//! The server secret: from the environment, or kept in the data directory.

use super::{Config, ConfigError, problem};
use gatehouse_core::SecretString;

/// Shortest accepted server secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

impl Config {
    /// The secret from the environment, or the one kept in the data directory
    /// (created with mode 0600 on first start). The flag is true when created.
    pub fn load_or_create_secret(&self) -> Result<(SecretString, bool), ConfigError> {
        if let Some(secret) = &self.secret_key {
            check_secret(secret)?;
            return Ok((secret.clone(), false));
        }
        let path = self.data_dir.join("secret_key");
        let variable = "GATEHOUSE_SECRET_KEY";
        if path.exists() {
            let secret = std::fs::read_to_string(&path)
                .map_err(|e| problem(variable, format!("cannot read {}: {e}", path.display())))?;
            let secret = secret.trim().to_owned();
            if secret.len() < MIN_SECRET_BYTES {
                return Err(problem(variable, format!("{} holds fewer than {MIN_SECRET_BYTES} bytes", path.display())));
            }
            return Ok((SecretString::new(secret), false));
        }
        use gatehouse_core::random::random_string;
        let secret = random_string(&gatehouse_store::crypto::OsRandom, gatehouse_core::formats::base62::ALPHABET, 64);
        crate::files::write_private(&path, secret.as_bytes())
            .map_err(|e| problem(variable, format!("cannot write {}: {e}", path.display())))?;
        Ok((SecretString::new(secret), true))
    }
}

pub(super) fn check_secret(secret: &SecretString) -> Result<(), ConfigError> {
    if secret.expose().len() < MIN_SECRET_BYTES {
        return Err(problem("GATEHOUSE_SECRET_KEY", format!("must be at least {MIN_SECRET_BYTES} bytes")));
    }
    Ok(())
}
