//! The settings as read, before validation: every field may be absent.

use super::{ConfigError, problem};
use gatehouse_core::rate_limit::{Limiter, Quota, RateLimitSettings};
use serde::{Deserialize, Serialize};

/// The raw settings as read; every field may be absent.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct RawConfig {
    pub(super) bind: Option<String>,
    pub(super) metrics_bind: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) data_dir: Option<String>,
    pub(super) database_url: Option<String>,
    pub(super) redis_url: Option<String>,
    pub(super) redis_key_prefix: Option<String>,
    pub(super) secret_key: Option<String>,
    pub(super) previous_secret_keys: Option<String>,
    pub(super) auto_migrate: Option<bool>,
    pub(super) site_root: Option<String>,
    pub(super) device_code_expires_in: Option<u32>,
    pub(super) poll_interval: Option<u32>,
    pub(super) flow_tombstone_secs: Option<u32>,
    pub(super) token_ttl_secs: Option<u32>,
    pub(super) grant_ttl_secs: Option<u32>,
    pub(super) grant_idle_ttl_secs: Option<u32>,
    pub(super) token_retention_days: Option<u32>,
    pub(super) audit_retention_days: Option<u32>,
    pub(super) prune_interval_secs: Option<u32>,
    pub(super) shutdown_grace_secs: Option<u32>,
    pub(super) enable_oauth_bearer: Option<bool>,
    pub(super) dpop_nonce_required: Option<bool>,
    pub(super) admins_require_passkey: Option<bool>,
    pub(super) trusted_proxies: Option<String>,
    pub(super) ca_file: Option<String>,
    pub(super) proxy_header: Option<String>,
    pub(super) ipv6_prefix: Option<u8>,
    pub(super) log_format: Option<String>,
    pub(super) otlp_endpoint: Option<String>,
    pub(super) sso_issuer: Option<String>,
    pub(super) sso_client_id: Option<String>,
    pub(super) sso_client_secret: Option<String>,
    pub(super) sso_display_name: Option<String>,
    pub(super) sso_allowed_email_domains: Option<String>,
    pub(super) sso_recheck_secs: Option<u32>,
    pub(super) sso_offline_access: Option<bool>,
    pub(super) sso_trust_emails: Option<bool>,
    pub(super) sso_admin_groups: Option<String>,
    pub(super) audit_webhook_url: Option<String>,
    pub(super) audit_webhook_secret: Option<String>,
    pub(super) audit_webhook_timeout_secs: Option<u32>,
    pub(super) smtp_url: Option<String>,
    pub(super) email_from: Option<String>,
    pub(super) sso_groups_claim: Option<String>,
    pub(super) rate_limits: Option<String>,
    pub(super) limit_device_authorization_per_ip: Option<String>,
    pub(super) limit_device_authorization_per_client: Option<String>,
    pub(super) limit_device_authorization_reserved_per_ip: Option<String>,
    pub(super) limit_code_failures_per_ip: Option<String>,
    pub(super) limit_code_failures_per_session: Option<String>,
    pub(super) limit_code_failures_alarm: Option<String>,
    pub(super) limit_unknown_device_code_per_ip: Option<String>,
    pub(super) limit_unknown_refresh_token_per_ip: Option<String>,
    pub(super) limit_sign_in_failures_per_account: Option<String>,
    pub(super) limit_sign_in_failures_per_ip: Option<String>,
    pub(super) limit_approvals_per_account: Option<String>,
    pub(super) limit_bearer_per_token: Option<String>,
    pub(super) limit_sso_initiate_per_ip: Option<String>,
    pub(super) limit_sso_initiate_per_flow: Option<String>,
    pub(super) limit_password_resets_per_ip: Option<String>,
    pub(super) limit_password_resets_per_account: Option<String>,
    pub(super) limit_passkey_ceremonies_per_ip: Option<String>,
}

impl RawConfig {
    /// The `GATEHOUSE_LIMIT_<LIMITER>` setting of `limiter`.
    fn limit(&self, limiter: Limiter) -> Option<&str> {
        match limiter {
            Limiter::DeviceAuthorizationPerIp => self.limit_device_authorization_per_ip.as_deref(),
            Limiter::DeviceAuthorizationPerClient => self.limit_device_authorization_per_client.as_deref(),
            Limiter::DeviceAuthorizationReservedPerIp => self.limit_device_authorization_reserved_per_ip.as_deref(),
            Limiter::CodeFailuresPerIp => self.limit_code_failures_per_ip.as_deref(),
            Limiter::CodeFailuresPerSession => self.limit_code_failures_per_session.as_deref(),
            Limiter::CodeFailuresAlarm => self.limit_code_failures_alarm.as_deref(),
            Limiter::UnknownDeviceCodePerIp => self.limit_unknown_device_code_per_ip.as_deref(),
            Limiter::UnknownRefreshTokenPerIp => self.limit_unknown_refresh_token_per_ip.as_deref(),
            Limiter::SignInFailuresPerAccount => self.limit_sign_in_failures_per_account.as_deref(),
            Limiter::SignInFailuresPerIp => self.limit_sign_in_failures_per_ip.as_deref(),
            Limiter::ApprovalsPerAccount => self.limit_approvals_per_account.as_deref(),
            Limiter::BearerPerToken => self.limit_bearer_per_token.as_deref(),
            Limiter::SsoInitiatePerIp => self.limit_sso_initiate_per_ip.as_deref(),
            Limiter::SsoInitiatePerFlow => self.limit_sso_initiate_per_flow.as_deref(),
            Limiter::PasswordResetsPerIp => self.limit_password_resets_per_ip.as_deref(),
            Limiter::PasswordResetsPerAccount => self.limit_password_resets_per_account.as_deref(),
            Limiter::PasskeyCeremoniesPerIp => self.limit_passkey_ceremonies_per_ip.as_deref(),
        }
    }

    /// `GATEHOUSE_RATE_LIMITS` (`on`, the default, or `off`), then each
    /// limiter's own setting.
    pub(super) fn rate_limits(&self) -> Result<RateLimitSettings, ConfigError> {
        let mut limits = match self.rate_limits.as_deref().map(str::trim) {
            None | Some("on") => RateLimitSettings::default(),
            Some("off") => RateLimitSettings::off(),
            Some(_) => return Err(problem("GATEHOUSE_RATE_LIMITS", "expected on or off")),
        };
        for &limiter in Limiter::ALL {
            if let Some(text) = self.limit(limiter) {
                let variable = format!("GATEHOUSE_LIMIT_{}", limiter.as_str().to_uppercase());
                limits.set(limiter, Quota::parse(text).map_err(|e| problem(&variable, e))?);
            }
        }
        limits.ipv6_prefix = match self.ipv6_prefix {
            None => limits.ipv6_prefix,
            Some(prefix @ 1..=128) => prefix,
            Some(_) => return Err(problem("GATEHOUSE_IPV6_PREFIX", "expected a prefix length from 1 to 128")),
        };
        Ok(limits)
    }
}
