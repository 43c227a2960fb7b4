//! The OS CSPRNG behind the core's `SecureRandom` port.

use gatehouse_core::random::SecureRandom;
use rand::RngCore;

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf);
    }
}
