//! Bearer and refresh tokens: prefix + 30 random base62 characters +
//! 6-character base62 CRC32 of the random part. The checksum lets a mistyped or truncated token
//! be rejected without a database read, and the prefix lets secret scanners
//! recognise a leaked one.

use super::base62;
use crate::random::{SecureRandom, random_string};
use crate::scope;
use crate::secret::{SecretString, sha256_hex};

const RANDOM_LENGTH: usize = 30;
const CHECKSUM_LENGTH: usize = 6;

/// The kinds of token Gatehouse mints, keyed by prefix. The kind, never the
/// stored row, decides the subject type and the widest scopes a token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Minted for a local account (`gtha_`).
    Account,
    /// Minted for an external SSO identity without an account row (`gthe_`).
    External,
    /// Minted for a confidential client itself, by the `client_credentials`
    /// grant (RFC 6749 §4.4): automation acting in its own name (`gthc_`).
    Client,
}

impl TokenKind {
    /// Every kind, for prefix lookup.
    pub const ALL: [TokenKind; 3] = [TokenKind::Account, TokenKind::External, TokenKind::Client];

    /// The prefix that starts every token of this kind.
    pub const fn prefix(self) -> &'static str {
        match self {
            TokenKind::Account => "gtha_",
            TokenKind::External => "gthe_",
            TokenKind::Client => "gthc_",
        }
    }

    /// What a stored token of this kind carries of `granted`. Rows hold the
    /// scopes narrowed for their kind when they were minted (through the
    /// scope registry, `ScopeCatalog::narrow`); this only makes sure, at
    /// every use, that an external token never carries `full` and a
    /// client's carries nothing but `admin` (the one scope whose meaning for
    /// a client Gatehouse defines).
    pub fn narrow(self, granted: &[String]) -> Vec<String> {
        match self {
            TokenKind::Account => granted.to_vec(),
            TokenKind::External => granted.iter().filter(|g| *g != scope::FULL).cloned().collect(),
            TokenKind::Client => granted.iter().filter(|g| *g == scope::ADMIN).cloned().collect(),
        }
    }

    /// The `subject_type` reported for tokens of this kind.
    pub const fn subject_type(self) -> &'static str {
        match self {
            TokenKind::Account => "account",
            TokenKind::External => "external_sso",
            TokenKind::Client => "client",
        }
    }

    /// The kind a subject gets: `Account` for a local account, else `External`.
    pub const fn of_subject(has_account: bool) -> Self {
        if has_account { TokenKind::Account } else { TokenKind::External }
    }

    /// The kind whose prefix starts `token`.
    pub fn from_token(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| token.starts_with(kind.prefix()))
    }
}

/// Why a presented string is not a well-formed token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedToken {
    /// No known prefix.
    #[error("unknown token prefix")]
    UnknownPrefix,
    /// Wrong length or characters, or the checksum does not match.
    #[error("malformed token (bad length, characters or checksum)")]
    BadChecksum,
}

/// A syntactically valid bearer token whose checksum matched.
#[derive(Debug, Clone)]
pub struct BearerToken {
    kind: TokenKind,
    value: SecretString,
}

impl BearerToken {
    /// Mints a fresh token of `kind`.
    pub fn generate(kind: TokenKind, random: &dyn SecureRandom) -> Self {
        Self { kind, value: shaped(kind.prefix(), random) }
    }

    /// The token of `kind` determined by a secret `seed`: the same seed
    /// always gives the same token, of the same shape as a generated one.
    pub fn derive(kind: TokenKind, seed: [u8; 32]) -> Self {
        Self::generate(kind, &crate::random::SeededStream::new(seed))
    }

    /// Checks prefix, length, alphabet and checksum; touches no storage.
    pub fn parse(presented: &str) -> Result<Self, MalformedToken> {
        let kind = TokenKind::from_token(presented).ok_or(MalformedToken::UnknownPrefix)?;
        check_shape(&presented[kind.prefix().len()..])?;
        Ok(Self { kind, value: SecretString::new(presented) })
    }

    /// The token's kind.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The plaintext, for the one response that carries it.
    pub fn expose(&self) -> &str {
        self.value.expose()
    }

    /// The SHA-256 under which the token rests.
    pub fn hash(&self) -> String {
        sha256_hex(self.value.expose())
    }
}

/// The prefix of every refresh token.
pub const REFRESH_PREFIX: &str = "gthr_";

/// A syntactically valid refresh token (RFC 6749 §6): the shape of a bearer
/// token under its own prefix, so it can never be mistaken for one.
#[derive(Debug, Clone)]
pub struct RefreshToken(SecretString);

impl RefreshToken {
    /// Mints a fresh refresh token.
    pub fn generate(random: &dyn SecureRandom) -> Self {
        Self(shaped(REFRESH_PREFIX, random))
    }

    /// The refresh token determined by a secret `seed`.
    pub fn derive(seed: [u8; 32]) -> Self {
        Self::generate(&crate::random::SeededStream::new(seed))
    }

    /// Checks prefix, length, alphabet and checksum; touches no storage.
    pub fn parse(presented: &str) -> Result<Self, MalformedToken> {
        let rest = presented.strip_prefix(REFRESH_PREFIX).ok_or(MalformedToken::UnknownPrefix)?;
        check_shape(rest)?;
        Ok(Self(SecretString::new(presented)))
    }

    /// The plaintext, for the one response that carries it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The SHA-256 under which the token rests.
    pub fn hash(&self) -> String {
        sha256_hex(self.0.expose())
    }
}

/// `prefix`, the random part and its checksum.
fn shaped(prefix: &str, random: &dyn SecureRandom) -> SecretString {
    let body = random_string(random, base62::ALPHABET, RANDOM_LENGTH);
    SecretString::new(format!("{prefix}{body}{}", checksum(&body)))
}

/// Checks what follows the prefix: length, alphabet and checksum.
fn check_shape(rest: &str) -> Result<(), MalformedToken> {
    if rest.len() != RANDOM_LENGTH + CHECKSUM_LENGTH || !base62::is_base62(rest) {
        return Err(MalformedToken::BadChecksum);
    }
    let (body, sum) = rest.split_at(RANDOM_LENGTH);
    if checksum(body) != sum {
        return Err(MalformedToken::BadChecksum);
    }
    Ok(())
}

fn checksum(body: &str) -> String {
    base62::encode_fixed(u64::from(crc32fast::hash(body.as_bytes())), CHECKSUM_LENGTH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::CountingRandom;

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let random = CountingRandom::new(11);
        for kind in TokenKind::ALL {
            let token = BearerToken::generate(kind, &random);
            let text = token.expose();
            assert!(text.starts_with(kind.prefix()));
            assert_eq!(text.len(), kind.prefix().len() + 36);
            let parsed = BearerToken::parse(text).map(|t| t.kind());
            assert_eq!(parsed, Ok(kind));
        }
    }

    #[test]
    fn derived_tokens_are_well_formed_and_fixed_by_their_seed() {
        let token = BearerToken::derive(TokenKind::External, [7; 32]);
        assert_eq!(BearerToken::parse(token.expose()).map(|t| t.kind()), Ok(TokenKind::External));
        assert_eq!(token.expose(), BearerToken::derive(TokenKind::External, [7; 32]).expose());
        assert_ne!(token.expose(), BearerToken::derive(TokenKind::External, [8; 32]).expose());
        // The kind changes only the prefix: the seed decides the secret part.
        let account = BearerToken::derive(TokenKind::Account, [7; 32]);
        assert_eq!(account.expose()["gtha_".len()..], token.expose()["gthe_".len()..]);
    }

    #[test]
    fn rejects_typos_truncation_and_unknown_prefixes() {
        let random = CountingRandom::new(5);
        let token = BearerToken::generate(TokenKind::Account, &random);
        let text = token.expose().to_owned();

        assert_eq!(BearerToken::parse(&text[..text.len() - 1]).err(), Some(MalformedToken::BadChecksum));
        let mut typo = text.clone().into_bytes();
        typo[8] = if typo[8] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap_or_default();
        assert_eq!(BearerToken::parse(&typo).err(), Some(MalformedToken::BadChecksum));
        assert_eq!(BearerToken::parse(&text.replacen("gtha_", "ghp_x", 1)).err(), Some(MalformedToken::UnknownPrefix));
        assert_eq!(BearerToken::parse("gtha_!!").err(), Some(MalformedToken::BadChecksum));
    }

    #[test]
    fn refresh_tokens_have_their_own_prefix_and_are_never_bearer_tokens() {
        let random = CountingRandom::new(3);
        let refresh = RefreshToken::generate(&random);
        assert!(refresh.expose().starts_with("gthr_"));
        assert!(RefreshToken::parse(refresh.expose()).is_ok());
        assert_eq!(BearerToken::parse(refresh.expose()).err(), Some(MalformedToken::UnknownPrefix));
        let bearer = BearerToken::generate(TokenKind::Account, &random);
        assert_eq!(RefreshToken::parse(bearer.expose()).err(), Some(MalformedToken::UnknownPrefix));
        let text = refresh.expose();
        assert_eq!(RefreshToken::parse(&text[..text.len() - 1]).err(), Some(MalformedToken::BadChecksum));
        assert_eq!(RefreshToken::derive([4; 32]).expose(), RefreshToken::derive([4; 32]).expose());
    }

    #[test]
    fn an_external_token_never_carries_full() {
        let granted: Vec<String> = vec!["full".into(), "apps:run".into()];
        assert_eq!(TokenKind::Account.narrow(&granted), granted);
        assert_eq!(TokenKind::External.narrow(&granted), vec!["apps:run"]);
        assert_eq!(TokenKind::External.subject_type(), "external_sso");
        let granted: Vec<String> = vec!["full".into(), "admin".into(), "apps:run".into()];
        assert_eq!(TokenKind::Client.narrow(&granted), vec!["admin"]);
    }
}
