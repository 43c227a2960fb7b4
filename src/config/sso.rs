//! The external-SSO branch's settings.

use super::{ConfigError, problem};
use gatehouse_core::SecretString;

/// The external-SSO branch's settings (SPEC §8); present only when
/// `GATEHOUSE_SSO_ISSUER` is set.
#[derive(Debug, Clone)]
pub struct SsoConfig {
    /// The provider's issuer URL, exactly as its discovery document states it.
    pub issuer: String,
    pub client_id: String,
    /// `None`: Gatehouse is a public client (PKCE alone).
    pub client_secret: Option<SecretString>,
    pub display_name: String,
    /// Lowercased; empty allows any domain.
    pub allowed_email_domains: Vec<String>,
    /// How long the provider's word that a grant's subject still stands
    /// holds before a refresh asks it again (zero: every refresh).
    pub recheck_every: chrono::Duration,
    /// Whether sign-ins ask for `offline_access` when the provider offers it.
    pub offline_access: bool,
    /// Whether an ID token without `email_verified` counts as verified.
    pub trust_emails: bool,
    /// Members of any of these provider groups are admins in the console.
    pub admin_groups: Vec<String>,
    /// The ID-token claim listing a person's groups.
    pub groups_claim: String,
}

/// The claim read for a person's groups unless `GATEHOUSE_SSO_GROUPS_CLAIM` says.
pub const DEFAULT_GROUPS_CLAIM: &str = "groups";
/// Claims that say who someone is or how the token was issued: never groups.
const STANDARD_CLAIMS: [&str; 10] =
    ["iss", "sub", "aud", "exp", "iat", "nonce", "azp", "email", "email_verified", "name"];

/// The SSO settings that are plain choices, as read.
#[derive(Debug, Default)]
pub(super) struct SsoChoices {
    pub(super) recheck_secs: Option<u32>,
    pub(super) offline_access: Option<bool>,
    pub(super) trust_emails: Option<bool>,
    pub(super) admin_groups: Option<String>,
    pub(super) groups_claim: Option<String>,
}

/// Validates the SSO settings; `None` when the branch is off (no issuer).
pub(super) fn sso_config(
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    display_name: Option<String>,
    allowed_email_domains: Option<String>,
    choices: SsoChoices,
) -> Result<Option<SsoConfig>, ConfigError> {
    let Some(issuer) = issuer.map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()) else {
        return Ok(None);
    };
    let parsed = super::https_or_loopback("GATEHOUSE_SSO_ISSUER", &issuer)?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(problem("GATEHOUSE_SSO_ISSUER", "an issuer URL has no query or fragment"));
    }
    let client_id = client_id
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| problem("GATEHOUSE_SSO_CLIENT_ID", "required when GATEHOUSE_SSO_ISSUER is set"))?;
    let client_secret = client_secret.filter(|s| !s.is_empty()).map(SecretString::new);
    let display_name =
        display_name.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()).unwrap_or_else(|| "SSO".into());
    if display_name.chars().count() > 40 || display_name.chars().any(char::is_control) {
        return Err(problem("GATEHOUSE_SSO_DISPLAY_NAME", "at most 40 characters, no control characters"));
    }
    let allowed_email_domains = allowed_email_domains
        .unwrap_or_default()
        .split(',')
        .map(|d| d.trim().trim_start_matches('@').to_lowercase())
        .filter(|d| !d.is_empty())
        .map(|d| {
            let valid = d.contains('.')
                && d.split('.')
                    .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            if valid {
                Ok(d)
            } else {
                Err(problem("GATEHOUSE_SSO_ALLOWED_EMAIL_DOMAINS", format!("not a domain: {d}")))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let recheck_every = match choices.recheck_secs {
        None => gatehouse_core::services::sso::DEFAULT_RECHECK_EVERY,
        Some(secs @ 0..=86_400) => chrono::Duration::seconds(i64::from(secs)),
        Some(_) => return Err(problem("GATEHOUSE_SSO_RECHECK_SECS", "at most 86400 (a day)")),
    };
    let admin_groups: Vec<String> = choices
        .admin_groups
        .unwrap_or_default()
        .split(',')
        .map(|group| group.trim().to_owned())
        .filter(|group| !group.is_empty())
        .collect();
    if admin_groups.iter().any(|group| group.chars().any(char::is_control)) {
        return Err(problem("GATEHOUSE_SSO_ADMIN_GROUPS", "group names hold no control characters"));
    }
    let groups_claim = choices.groups_claim.map(|c| c.trim().to_owned()).unwrap_or_default();
    let groups_claim = if groups_claim.is_empty() { DEFAULT_GROUPS_CLAIM.to_owned() } else { groups_claim };
    if STANDARD_CLAIMS.contains(&groups_claim.as_str()) || groups_claim.chars().any(|c| c.is_control() || c == ' ') {
        return Err(problem(
            "GATEHOUSE_SSO_GROUPS_CLAIM",
            "the name of a claim listing groups, such as groups or roles",
        ));
    }
    Ok(Some(SsoConfig {
        issuer,
        client_id,
        client_secret,
        display_name,
        allowed_email_domains,
        recheck_every,
        offline_access: choices.offline_access.unwrap_or(true),
        trust_emails: choices.trust_emails.unwrap_or(false),
        admin_groups,
        groups_claim,
    }))
}
