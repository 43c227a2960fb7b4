//! argon2id password hashing, run on the blocking pool behind a semaphore so
//! a burst of sign-ins can neither stall the async workers nor exhaust memory
//! (each hash holds 19 MiB while it runs).

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use gatehouse_core::StoreError;
use gatehouse_core::ports::PasswordHasher;
use gatehouse_core::secret::SecretString;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Memory cost in KiB (19 MiB, OWASP's argon2id minimum) and passes.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;

/// Verified against when the account does not exist, so that case costs the
/// same as a wrong password. A constant with the same parameters costs
/// exactly as much as a fresh one, and computing it at start-up would leave
/// 19 MiB behind in the allocator. (`verify` never accepts it: the account
/// is unknown either way.) A test checks its parameters match.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$a1+iuxtJxnQ6jXytOQWFUg$/c/Mw+fwZ23GmPJQ2uu+285b20XmEe7hf9GrStVVuKg";

/// argon2id behind the `PasswordHasher` port.
#[derive(Clone)]
pub struct Argon2Hasher {
    permits: Arc<Semaphore>,
}

fn argon2() -> Result<Argon2<'static>, StoreError> {
    let params = Params::new(MEMORY_KIB, PASSES, 1, None).map_err(StoreError::from_err)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Ok(argon2()?.hash_password(password.as_bytes(), &salt).map_err(StoreError::from_err)?.to_string())
}

impl Argon2Hasher {
    /// A hasher allowing `concurrency` hashes at once.
    pub fn new(concurrency: usize) -> Result<Self, StoreError> {
        Ok(Self { permits: Arc::new(Semaphore::new(concurrency.max(1))) })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _permit = self.permits.acquire().await.map_err(StoreError::from_err)?;
        tokio::task::spawn_blocking(work).await.map_err(StoreError::from_err)?
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &SecretString) -> Result<String, StoreError> {
        let password = password.clone();
        self.run(move || hash_blocking(password.expose())).await
    }

    async fn verify(&self, password: &SecretString, hash: Option<&str>) -> Result<bool, StoreError> {
        let password = password.clone();
        let known = hash.is_some();
        let hash = hash.unwrap_or(DUMMY_HASH).to_owned();
        self.run(move || {
            let parsed = PasswordHash::new(&hash).map_err(StoreError::from_err)?;
            let matches = argon2()?.verify_password(password.expose().as_bytes(), &parsed).is_ok();
            Ok(known && matches)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_fail() -> Result<(), StoreError> {
        let hasher = Argon2Hasher::new(2)?;
        let password = SecretString::new("correct horse");
        let hash = hasher.hash(&password).await?;
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify(&password, Some(&hash)).await?);
        assert!(!hasher.verify(&SecretString::new("wrong"), Some(&hash)).await?);
        // The dummy hash's own password must not sign in to a missing account.
        assert!(!hasher.verify(&SecretString::new("gatehouse-dummy-password"), None).await?);
        Ok(())
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() -> Result<(), StoreError> {
        let dummy = PasswordHash::new(DUMMY_HASH).map_err(StoreError::from_err)?;
        let real = hash_blocking("anything")?;
        let real = PasswordHash::new(&real).map_err(StoreError::from_err)?;
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        Ok(())
    }
}
