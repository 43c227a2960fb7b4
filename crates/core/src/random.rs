//! Randomness is a port: the core never reaches for a global RNG, so the
//! formats can be tested with fixed bytes and the wasm build stays free of
//! an OS entropy source.

/// A cryptographically secure source of random bytes (the OS CSPRNG in production).
pub trait SecureRandom: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// Draws `count` characters uniformly from `alphabet` by rejection sampling,
/// so no character is more likely than another.
pub fn random_string(random: &dyn SecureRandom, alphabet: &[u8], count: usize) -> String {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    // Largest multiple of the alphabet size that fits in a byte: bytes at or
    // above it are rejected to avoid modulo bias.
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(count);
    let mut buf = [0u8; 64];
    while out.len() < count {
        random.fill(&mut buf);
        for &byte in &buf {
            if usize::from(byte) < limit {
                out.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
                if out.len() == count {
                    break;
                }
            }
        }
    }
    out
}

/// Bytes expanded from a secret 32-byte seed (SHA-256 of the seed and a
/// block counter): for a value that must come out the same when derived
/// again, such as a redemption's token. Each `fill` starts a new block.
pub struct SeededStream {
    seed: [u8; 32],
    block: std::sync::atomic::AtomicU64,
}

impl SeededStream {
    /// A stream determined by `seed`; secret as long as `seed` is.
    pub fn new(seed: [u8; 32]) -> Self {
        Self { seed, block: std::sync::atomic::AtomicU64::new(0) }
    }
}

impl SecureRandom for SeededStream {
    fn fill(&self, buf: &mut [u8]) {
        use sha2::{Digest, Sha256};
        for chunk in buf.chunks_mut(32) {
            let block = self.block.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let bytes = Sha256::new().chain_update(self.seed).chain_update(block.to_be_bytes()).finalize();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::SecureRandom;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Deterministic bytes (a counter-seeded xorshift) for unit tests.
    pub struct CountingRandom(AtomicU64);

    impl CountingRandom {
        pub fn new(seed: u64) -> Self {
            Self(AtomicU64::new(seed))
        }
    }

    impl SecureRandom for CountingRandom {
        fn fill(&self, buf: &mut [u8]) {
            for byte in buf {
                let mut x = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
                x ^= x >> 33;
                x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
                x ^= x >> 33;
                *byte = (x & 0xff) as u8;
            }
        }
    }
}
