//! An email address as an identity provider asserts it, in the one form
//! Gatehouse compares: NFKC-normalised and lowercased, with the tricks that
//! would let one address pass for another refused.
//!
//! Refused: control and invisible formatting characters (bidirectional
//! overrides, zero-width joiners), and any non-ASCII character that
//! normalisation or lowercasing would turn into ASCII: the Kelvin sign `K`
//! (U+212A) would otherwise become the `k` of `kim@…`, fullwidth letters
//! their ASCII twins, `İ` an `i`. Also refused: a part of the address (the
//! local part or one domain label) that mixes scripts (UTS #39 §5.1), as
//! `аda` does with a Cyrillic `а` among Latin letters. A genuinely non-ASCII
//! address (`zoë@…`, `иван@пример.рф`, a Latin name at a Cyrillic domain)
//! stays as it is, in its composed form.

use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

/// The longest address (RFC 5321 §4.5.3.1.3 path limit, less the brackets).
pub const MAX_LEN: usize = 254;

/// A checked, normalised email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// Why an asserted address was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailProblem {
    #[error("not an email address")]
    Malformed,
    #[error("control or invisible formatting characters")]
    HiddenCharacters,
    #[error("characters that pass for other ones")]
    Lookalike,
}

/// Whether `c` hides or reorders text: controls, and Unicode's format
/// characters that matter in practice (bidi marks, overrides and isolates,
/// zero-width characters, the BOM, soft hyphen).
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}')
        || matches!(c, '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Whether non-ASCII `c` becomes (partly) ASCII under NFKC or lowercasing.
fn passes_for_ascii(c: char) -> bool {
    !c.is_ascii() && (std::iter::once(c).nfkc().any(|d| d.is_ascii()) || c.to_lowercase().any(|d| d.is_ascii()))
}

impl EmailAddress {
    /// Checks and normalises `raw`.
    pub fn parse(raw: &str) -> Result<Self, EmailProblem> {
        let raw = raw.trim();
        if raw.chars().any(hidden) {
            return Err(EmailProblem::HiddenCharacters);
        }
        if raw.chars().any(passes_for_ascii) {
            return Err(EmailProblem::Lookalike);
        }
        let email: String = raw.nfkc().collect::<String>().to_lowercase();
        if email.split(['@', '.']).any(|part| !part.is_single_script()) {
            return Err(EmailProblem::Lookalike);
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(EmailProblem::Malformed);
        };
        let well_formed = !local.is_empty()
            && !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(char::is_whitespace)
            && email.len() <= MAX_LEN;
        if well_formed { Ok(Self(email)) } else { Err(EmailProblem::Malformed) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_composition() {
        assert_eq!(
            EmailAddress::parse("  Kim@Acme.Example ").map(EmailAddress::into_string),
            Ok("kim@acme.example".into())
        );
        // "zoë" with a combining diaeresis becomes the composed form.
        assert_eq!(
            EmailAddress::parse("Zoe\u{308}@acme.example").map(EmailAddress::into_string),
            Ok("zo\u{eb}@acme.example".into())
        );
    }

    #[test]
    fn single_script_parts_of_any_script_are_kept() {
        for raw in ["иван@пример.рф", "ada@пример.рф", "zoë@acme.example", "山田@例え.jp"] {
            assert!(EmailAddress::parse(raw).is_ok(), "{raw}");
        }
    }

    #[test]
    fn refuses_lookalikes_and_hidden_characters() {
        for (raw, problem) in [
            ("\u{212a}im@acme.example", EmailProblem::Lookalike), // Kelvin sign
            ("ｋim@acme.example", EmailProblem::Lookalike),       // fullwidth k
            ("kim@acme.exam\u{fb01}le", EmailProblem::Lookalike), // the "fi" ligature
            ("\u{130}da@acme.example", EmailProblem::Lookalike),  // İ lowercases to i + dot
            ("\u{430}da@acme.example", EmailProblem::Lookalike),  // Cyrillic а among Latin letters
            ("ada@\u{430}cme.example", EmailProblem::Lookalike),  // in a domain label
            ("ada@acme.ex\u{3b1}mple", EmailProblem::Lookalike),  // Greek α
            ("kim\u{202e}@acme.example", EmailProblem::HiddenCharacters),
            ("k\u{200b}im@acme.example", EmailProblem::HiddenCharacters),
            ("kim\n@acme.example", EmailProblem::HiddenCharacters),
            ("kim", EmailProblem::Malformed),
            ("kim@localhost", EmailProblem::Malformed),
            ("k im@acme.example", EmailProblem::Malformed),
            ("@acme.example", EmailProblem::Malformed),
        ] {
            assert_eq!(EmailAddress::parse(raw), Err(problem), "{raw:?}");
        }
    }
}
