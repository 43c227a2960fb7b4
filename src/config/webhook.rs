//! The signed audit webhook's settings.

use super::{ConfigError, problem};
use gatehouse_core::SecretString;

/// Where every audit event is delivered, signed (Standard Webhooks); present
/// only when `GATEHOUSE_AUDIT_WEBHOOK_URL` is set.
#[derive(Debug, Clone)]
pub struct AuditWebhookConfig {
    pub url: String,
    /// The signing secret as given (`whsec_` and base64 of at least 24 bytes).
    pub secret: SecretString,
    /// How long one delivery may take before it counts as failed.
    pub timeout: std::time::Duration,
}

/// How long one delivery may take unless `GATEHOUSE_AUDIT_WEBHOOK_TIMEOUT_SECS` says.
const DEFAULT_TIMEOUT_SECS: u32 = 10;
/// The Standard Webhooks secret prefix.
pub const SECRET_PREFIX: &str = "whsec_";

/// Validates the webhook settings; `None` without a URL.
pub(super) fn audit_webhook_config(
    url: Option<String>,
    secret: Option<String>,
    timeout_secs: Option<u32>,
) -> Result<Option<AuditWebhookConfig>, ConfigError> {
    let Some(url) = url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    super::https_or_loopback("GATEHOUSE_AUDIT_WEBHOOK_URL", &url)?;
    let secret = secret
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| problem("GATEHOUSE_AUDIT_WEBHOOK_SECRET", "required when GATEHOUSE_AUDIT_WEBHOOK_URL is set"))?;
    if signing_key(&secret).is_none_or(|key| key.len() < 24) {
        return Err(problem(
            "GATEHOUSE_AUDIT_WEBHOOK_SECRET",
            "expected whsec_ and the base64 of at least 24 random bytes (e.g. whsec_$(openssl rand -base64 32))",
        ));
    }
    let timeout = match timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS) {
        secs @ 1..=60 => std::time::Duration::from_secs(u64::from(secs)),
        _ => return Err(problem("GATEHOUSE_AUDIT_WEBHOOK_TIMEOUT_SECS", "between 1 and 60")),
    };
    Ok(Some(AuditWebhookConfig { url, secret: SecretString::new(secret), timeout }))
}

/// The HMAC key a `whsec_…` secret stands for (Standard Webhooks: the
/// base64 after the prefix).
pub fn signing_key(secret: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let encoded = secret.strip_prefix(SECRET_PREFIX)?;
    base64::engine::general_purpose::STANDARD.decode(encoded).ok()
}
