//! The code a person types: 8 characters from 20 consonants, shown `XXXX-XXXX`.

use crate::random::{SecureRandom, random_string};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// No vowels (so no words can form) and no digits (nothing to confuse with O/I).
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code, without the separator.
pub const LENGTH: usize = 8;

/// A user code in canonical form: exactly eight alphabet characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserCode(String);

impl UserCode {
    /// A fresh random code.
    pub fn generate(random: &dyn SecureRandom) -> Self {
        Self(random_string(random, ALPHABET, LENGTH))
    }

    /// Normalizes what a person typed or pasted: Unicode NFKC (full-width
    /// letters become ASCII), uppercase, and every character outside the
    /// alphabet dropped (spaces, dashes of any kind). `None` unless exactly
    /// eight characters remain.
    pub fn normalize(input: &str) -> Option<Self> {
        let canonical: String = input
            .nfkc()
            .flat_map(char::to_uppercase)
            .filter(|c| c.is_ascii() && ALPHABET.contains(&(*c as u8)))
            .collect();
        (canonical.len() == LENGTH).then_some(Self(canonical))
    }

    /// The canonical eight characters, as stored and keyed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form shown to people: `WDJB-MJHT`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..LENGTH / 2], &self.0[LENGTH / 2..])
    }
}

impl std::fmt::Debug for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserCode({})", self.display())
    }
}

impl std::fmt::Display for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl TryFrom<String> for UserCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        // Stored codes are already canonical, and every poll decodes one:
        // skip NFKC for them (normalizing a canonical code returns it as is).
        if value.len() == LENGTH && value.bytes().all(|b| ALPHABET.contains(&b)) {
            return Ok(Self(value));
        }
        Self::normalize(&value).ok_or_else(|| "not a user code".to_owned())
    }
}

impl From<UserCode> for String {
    fn from(value: UserCode) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::CountingRandom;

    #[test]
    fn generated_codes_use_only_the_alphabet() {
        let random = CountingRandom::new(7);
        for _ in 0..1000 {
            let code = UserCode::generate(&random);
            assert_eq!(code.as_str().len(), LENGTH);
            assert!(code.as_str().bytes().all(|b| ALPHABET.contains(&b)));
        }
    }

    #[test]
    fn generation_covers_the_whole_alphabet() {
        let random = CountingRandom::new(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.extend(UserCode::generate(&random).as_str().bytes());
        }
        assert_eq!(seen.len(), ALPHABET.len());
    }

    #[test]
    fn normalizes_every_documented_form() {
        let canonical = UserCode::normalize("WDJB-MJHT").map(|c| c.as_str().to_owned());
        assert_eq!(canonical.as_deref(), Some("WDJBMJHT"));
        for input in [
            "wdjb mjht",
            "WDJB–MJHT",          // en dash
            "ＷＤＪＢ－ＭＪＨＴ", // full-width
            " wdjbmjht\n",
            "WDJB.MJHT",
        ] {
            assert_eq!(UserCode::normalize(input).map(|c| c.as_str().to_owned()), canonical, "{input:?}");
        }
    }

    #[test]
    fn rejects_wrong_lengths_and_foreign_characters() {
        assert!(UserCode::normalize("").is_none());
        assert!(UserCode::normalize("WDJB-MJH").is_none());
        assert!(UserCode::normalize("WDJB-MJHTB").is_none());
        // Vowels and digits are not in the alphabet, so they are dropped.
        assert!(UserCode::normalize("AEIO-U123").is_none());
    }

    #[test]
    fn decoding_accepts_canonical_codes_as_is_and_normalizes_the_rest() {
        for (input, expected) in [("WDJBMJHT", Some("WDJBMJHT")), ("wdjb-mjht", Some("WDJBMJHT")), ("WDJBMJHA", None)] {
            let decoded = UserCode::try_from(input.to_owned()).ok();
            assert_eq!(decoded.as_ref().map(UserCode::as_str), expected, "{input}");
        }
    }

    #[test]
    fn displays_with_a_separator() {
        let code = UserCode::normalize("wdjbmjht").map(|c| c.display());
        assert_eq!(code.as_deref(), Some("WDJB-MJHT"));
    }
}
