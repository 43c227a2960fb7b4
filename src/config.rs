//! Configuration: defaults → optional TOML file (`GATEHOUSE_CONFIG`) →
//! `GATEHOUSE_*` environment variables, validated once into a typed struct.
//! Every problem is reported as one line naming the variable.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use gatehouse_core::SecretString;
use gatehouse_core::rate_limit::{Limiter, Quota, RateLimitSettings};
use gatehouse_core::services::Settings;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Shortest accepted server secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// A configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

fn problem(variable: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError { variable: variable.to_owned(), problem: problem.into() }
}

/// The raw settings as read; every field may be absent.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct RawConfig {
    bind: Option<String>,
    metrics_bind: Option<String>,
    public_url: Option<String>,
    data_dir: Option<String>,
    database_url: Option<String>,
    redis_url: Option<String>,
    redis_key_prefix: Option<String>,
    secret_key: Option<String>,
    site_root: Option<String>,
    device_code_expires_in: Option<u32>,
    poll_interval: Option<u32>,
    flow_tombstone_secs: Option<u32>,
    token_ttl_secs: Option<u32>,
    token_retention_days: Option<u32>,
    audit_retention_days: Option<u32>,
    prune_interval_secs: Option<u32>,
    shutdown_grace_secs: Option<u32>,
    enable_oauth_bearer: Option<bool>,
    trusted_proxies: Option<String>,
    log_format: Option<String>,
    sso_issuer: Option<String>,
    sso_client_id: Option<String>,
    sso_client_secret: Option<String>,
    sso_display_name: Option<String>,
    sso_allowed_email_domains: Option<String>,
    rate_limits: Option<String>,
    limit_device_authorization_per_ip: Option<String>,
    limit_device_authorization_per_client: Option<String>,
    limit_code_failures_per_ip: Option<String>,
    limit_code_failures_per_session: Option<String>,
    limit_unknown_device_code_per_ip: Option<String>,
    limit_sign_in_failures_per_account: Option<String>,
    limit_sign_in_failures_per_ip: Option<String>,
    limit_approvals_per_account: Option<String>,
    limit_bearer_per_token: Option<String>,
}

impl RawConfig {
    /// The `GATEHOUSE_LIMIT_<LIMITER>` setting of `limiter`.
    fn limit(&self, limiter: Limiter) -> Option<&str> {
        match limiter {
            Limiter::DeviceAuthorizationPerIp => self.limit_device_authorization_per_ip.as_deref(),
            Limiter::DeviceAuthorizationPerClient => self.limit_device_authorization_per_client.as_deref(),
            Limiter::CodeFailuresPerIp => self.limit_code_failures_per_ip.as_deref(),
            Limiter::CodeFailuresPerSession => self.limit_code_failures_per_session.as_deref(),
            Limiter::UnknownDeviceCodePerIp => self.limit_unknown_device_code_per_ip.as_deref(),
            Limiter::SignInFailuresPerAccount => self.limit_sign_in_failures_per_account.as_deref(),
            Limiter::SignInFailuresPerIp => self.limit_sign_in_failures_per_ip.as_deref(),
            Limiter::ApprovalsPerAccount => self.limit_approvals_per_account.as_deref(),
            Limiter::BearerPerToken => self.limit_bearer_per_token.as_deref(),
        }
    }

    /// `GATEHOUSE_RATE_LIMITS` (`on`, the default, or `off`), then each
    /// limiter's own setting.
    fn rate_limits(&self) -> Result<RateLimitSettings, ConfigError> {
        let mut limits = match self.rate_limits.as_deref().map(str::trim) {
            None | Some("on") => RateLimitSettings::default(),
            Some("off") => RateLimitSettings::off(),
            Some(_) => return Err(problem("GATEHOUSE_RATE_LIMITS", "expected on or off")),
        };
        for limiter in Limiter::ALL {
            if let Some(text) = self.limit(limiter) {
                let variable = format!("GATEHOUSE_LIMIT_{}", limiter.as_str().to_uppercase());
                limits.set(limiter, Quota::parse(text).map_err(|e| problem(&variable, e))?);
            }
        }
        Ok(limits)
    }
}

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
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// Where `/metrics` is served; `None` (the default) serves no metrics.
    pub metrics_bind: Option<SocketAddr>,
    /// Without trailing slash. `None` means "derive from the bound address".
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
    /// `None` means "read or create `<data_dir>/secret_key`".
    pub secret_key: Option<SecretString>,
    pub site_root: PathBuf,
    pub settings: Settings,
    pub trusted_proxies: Vec<IpAddr>,
    pub log_format: LogFormat,
    /// How long a graceful shutdown waits for requests in flight.
    pub shutdown_grace: std::time::Duration,
    pub sso: Option<SsoConfig>,
}

impl Config {
    /// Loads from the environment (and the TOML file it may name).
    pub fn load() -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        if let Ok(path) = std::env::var("GATEHOUSE_CONFIG") {
            if !Path::new(&path).is_file() {
                return Err(problem("GATEHOUSE_CONFIG", format!("no such file: {path}")));
            }
            figment = figment.merge(Toml::file(path));
        }
        let raw: RawConfig =
            figment.merge(Env::prefixed("GATEHOUSE_").ignore(&["CONFIG"])).extract().map_err(|err| {
                let variable = err.path.last().map(|k| format!("GATEHOUSE_{}", k.to_uppercase()));
                problem(variable.as_deref().unwrap_or("configuration"), err.kind.to_string())
            })?;
        Self::validate(raw)
    }

    fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        let rate_limits = raw.rate_limits()?;
        let bind: SocketAddr = raw
            .bind
            .as_deref()
            .unwrap_or("127.0.0.1:3000")
            .parse()
            .map_err(|_| problem("GATEHOUSE_BIND", "not a socket address like 127.0.0.1:3000"))?;
        let metrics_bind = match raw.metrics_bind.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
            None => None,
            Some(text) => {
                let address: SocketAddr = text
                    .parse()
                    .map_err(|_| problem("GATEHOUSE_METRICS_BIND", "not a socket address like 127.0.0.1:9300"))?;
                if address.port() != 0 && address.port() == bind.port() {
                    return Err(problem("GATEHOUSE_METRICS_BIND", "must not be the public listener's port"));
                }
                Some(address)
            }
        };
        let public_url = raw.public_url.map(|u| parse_public_url(&u)).transpose()?;
        let data_dir = PathBuf::from(raw.data_dir.unwrap_or_else(|| "data".to_owned()));
        let database_url = raw.database_url.unwrap_or_else(|| format!("sqlite://{}/gatehouse.db", data_dir.display()));
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres"))
            || url::Url::parse(&database_url).is_err()
        {
            return Err(problem("GATEHOUSE_DATABASE_URL", "expected a sqlite:// or postgres:// URL"));
        }
        let redis_url = raw.redis_url.filter(|u| !u.is_empty());
        if let Some(url) = &redis_url {
            url::Url::parse(url).map_err(|e| problem("GATEHOUSE_REDIS_URL", e.to_string()))?;
            if !gatehouse_store::state::is_redis_url(url) {
                return Err(problem("GATEHOUSE_REDIS_URL", "expected a redis://, rediss:// or redis+unix:// URL"));
            }
        }
        let secret_key = raw.secret_key.map(SecretString::new);
        if let Some(secret) = &secret_key {
            check_secret(secret)?;
        }
        let site_root = raw
            .site_root
            .or_else(|| std::env::var("LEPTOS_SITE_ROOT").ok())
            .unwrap_or_else(|| "target/site".to_owned());
        let defaults = Settings::default();
        let positive = |variable: &str, value: Option<u32>, default: u32| match value {
            Some(0) => Err(problem(variable, "must be greater than zero")),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        let settings = Settings {
            flow_expires_in: positive(
                "GATEHOUSE_DEVICE_CODE_EXPIRES_IN",
                raw.device_code_expires_in,
                defaults.flow_expires_in,
            )?,
            poll_interval: positive("GATEHOUSE_POLL_INTERVAL", raw.poll_interval, defaults.poll_interval)?,
            tombstone: positive("GATEHOUSE_FLOW_TOMBSTONE_SECS", raw.flow_tombstone_secs, defaults.tombstone)?,
            token_ttl: positive("GATEHOUSE_TOKEN_TTL_SECS", raw.token_ttl_secs, defaults.token_ttl)?,
            token_retention_days: positive(
                "GATEHOUSE_TOKEN_RETENTION_DAYS",
                raw.token_retention_days,
                defaults.token_retention_days,
            )?,
            audit_retention_days: positive(
                "GATEHOUSE_AUDIT_RETENTION_DAYS",
                raw.audit_retention_days,
                defaults.audit_retention_days,
            )?,
            prune_interval: positive(
                "GATEHOUSE_PRUNE_INTERVAL_SECS",
                raw.prune_interval_secs,
                defaults.prune_interval,
            )?,
            enable_oauth_bearer: raw.enable_oauth_bearer.unwrap_or(defaults.enable_oauth_bearer),
            rate_limits,
        };
        let trusted_proxies = raw
            .trusted_proxies
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpAddr>().map_err(|_| problem("GATEHOUSE_TRUSTED_PROXIES", format!("not an IP address: {s}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let log_format = match raw.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(problem("GATEHOUSE_LOG_FORMAT", "expected text or json")),
        };
        let sso = sso_config(
            raw.sso_issuer,
            raw.sso_client_id,
            raw.sso_client_secret,
            raw.sso_display_name,
            raw.sso_allowed_email_domains,
        )?;
        Ok(Self {
            sso,
            bind,
            metrics_bind,
            public_url,
            data_dir,
            database_url,
            redis_url,
            redis_key_prefix: raw.redis_key_prefix.unwrap_or_else(|| "gatehouse:".to_owned()),
            secret_key,
            site_root: PathBuf::from(site_root),
            settings,
            trusted_proxies,
            log_format,
            shutdown_grace: std::time::Duration::from_secs(u64::from(raw.shutdown_grace_secs.unwrap_or(10))),
        })
    }

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

/// Validates the SSO settings; `None` when the branch is off (no issuer).
fn sso_config(
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    display_name: Option<String>,
    allowed_email_domains: Option<String>,
) -> Result<Option<SsoConfig>, ConfigError> {
    let Some(issuer) = issuer.map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()) else {
        return Ok(None);
    };
    let parsed = url::Url::parse(&issuer).map_err(|e| problem("GATEHOUSE_SSO_ISSUER", e.to_string()))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !(parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback)) {
        return Err(problem("GATEHOUSE_SSO_ISSUER", "expected an https:// URL (http:// only for localhost)"));
    }
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
    Ok(Some(SsoConfig { issuer, client_id, client_secret, display_name, allowed_email_domains }))
}

fn check_secret(secret: &SecretString) -> Result<(), ConfigError> {
    if secret.expose().len() < MIN_SECRET_BYTES {
        return Err(problem("GATEHOUSE_SECRET_KEY", format!("must be at least {MIN_SECRET_BYTES} bytes")));
    }
    Ok(())
}

/// Checks the public URL and strips its trailing slash.
fn parse_public_url(value: &str) -> Result<String, ConfigError> {
    let variable = "GATEHOUSE_PUBLIC_URL";
    let url = url::Url::parse(value).map_err(|e| problem(variable, format!("not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(problem(variable, "expected an http:// or https:// URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(problem(variable, "must not have a query or fragment"));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_setup() -> Result<(), ConfigError> {
        let config = Config::validate(RawConfig::default())?;
        assert_eq!(config.bind.to_string(), "127.0.0.1:3000");
        assert_eq!(config.database_url, "sqlite://data/gatehouse.db");
        assert!(config.redis_url.is_none());
        assert_eq!(config.settings.flow_expires_in, 600);
        assert_eq!(config.settings.poll_interval, 5);
        assert_eq!(config.settings.rate_limits, RateLimitSettings::default());
        Ok(())
    }

    #[test]
    fn rate_limits_switch_off_together_or_one_by_one() -> Result<(), ConfigError> {
        let raw = RawConfig {
            limit_code_failures_per_ip: Some("3/10m".into()),
            limit_bearer_per_token: Some("off".into()),
            ..Default::default()
        };
        let limits = Config::validate(raw)?.settings.rate_limits;
        let three = Quota { limit: 3, period: std::time::Duration::from_secs(600) };
        assert_eq!(limits.quota(Limiter::CodeFailuresPerIp), Some(three));
        assert_eq!(limits.quota(Limiter::BearerPerToken), None);
        assert_eq!(
            limits.quota(Limiter::CodeFailuresPerSession),
            Some(Limiter::CodeFailuresPerSession.default_quota())
        );
        // All off, then one back on.
        let raw = RawConfig {
            rate_limits: Some("off".into()),
            limit_code_failures_per_ip: Some("3/10m".into()),
            ..Default::default()
        };
        let limits = Config::validate(raw)?.settings.rate_limits;
        assert_eq!(limits.quota(Limiter::CodeFailuresPerIp), Some(three));
        assert_eq!(limits.quota(Limiter::SignInFailuresPerIp), None);
        Ok(())
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            RawConfig { public_url: Some("not a url".into()), ..Default::default() },
            RawConfig { secret_key: Some("short".into()), ..Default::default() },
            RawConfig { database_url: Some("mysql://x".into()), ..Default::default() },
            RawConfig { bind: Some("nope".into()), ..Default::default() },
            RawConfig { trusted_proxies: Some("10.0.0.1, x".into()), ..Default::default() },
            RawConfig { redis_url: Some("http://127.0.0.1:6379".into()), ..Default::default() },
            RawConfig { rate_limits: Some("sometimes".into()), ..Default::default() },
            RawConfig { metrics_bind: Some("127.0.0.1:3000".into()), ..Default::default() },
            RawConfig { limit_code_failures_per_ip: Some("10 an hour".into()), ..Default::default() },
        ];
        let expected = [
            "GATEHOUSE_PUBLIC_URL",
            "GATEHOUSE_SECRET_KEY",
            "GATEHOUSE_DATABASE_URL",
            "GATEHOUSE_BIND",
            "GATEHOUSE_TRUSTED_PROXIES",
            "GATEHOUSE_REDIS_URL",
            "GATEHOUSE_RATE_LIMITS",
            "GATEHOUSE_METRICS_BIND",
            "GATEHOUSE_LIMIT_CODE_FAILURES_PER_IP",
        ];
        for (raw, variable) in cases.into_iter().zip(expected) {
            let err = Config::validate(raw).err().map(|e| e.variable);
            assert_eq!(err.as_deref(), Some(variable));
        }
    }

    #[test]
    fn sso_settings_are_checked_only_when_an_issuer_is_set() -> Result<(), ConfigError> {
        let off = Config::validate(RawConfig { sso_client_id: Some("x".into()), ..Default::default() })?;
        assert!(off.sso.is_none());
        let sso = |issuer: &str, client: Option<&str>, domains: Option<&str>| RawConfig {
            sso_issuer: Some(issuer.into()),
            sso_client_id: client.map(Into::into),
            sso_allowed_email_domains: domains.map(Into::into),
            ..Default::default()
        };
        let on = Config::validate(sso("https://idp.example", Some("gatehouse"), Some(" Acme.example, @b.example ")))?;
        let on = on.sso.ok_or_else(|| problem("test", "sso missing"))?;
        assert_eq!(on.allowed_email_domains, vec!["acme.example", "b.example"]);
        assert_eq!(on.display_name, "SSO");
        assert!(Config::validate(sso("http://127.0.0.1:9000", Some("g"), None))?.sso.is_some());
        for (raw, variable) in [
            (sso("http://idp.example", Some("g"), None), "GATEHOUSE_SSO_ISSUER"),
            (sso("not a url", Some("g"), None), "GATEHOUSE_SSO_ISSUER"),
            (sso("https://idp.example", None, None), "GATEHOUSE_SSO_CLIENT_ID"),
            (sso("https://idp.example", Some("g"), Some("a b")), "GATEHOUSE_SSO_ALLOWED_EMAIL_DOMAINS"),
        ] {
            assert_eq!(Config::validate(raw).err().map(|e| e.variable).as_deref(), Some(variable));
        }
        Ok(())
    }

    #[test]
    fn redis_is_reached_over_tcp_tls_or_a_unix_socket() -> Result<(), ConfigError> {
        for url in ["redis://127.0.0.1:6379", "rediss://cache.example:6380", "redis+unix:///run/redis.sock"] {
            let config = Config::validate(RawConfig { redis_url: Some(url.into()), ..Default::default() })?;
            assert_eq!(config.redis_url.as_deref(), Some(url));
        }
        Ok(())
    }

    #[test]
    fn secret_file_is_created_private_and_reused() -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let config =
            Config::validate(RawConfig { data_dir: Some(dir.path().display().to_string()), ..Default::default() })?;
        let (first, created) = config.load_or_create_secret()?;
        assert!(created);
        let mode = std::fs::metadata(dir.path().join("secret_key"))?.permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (second, created) = config.load_or_create_secret()?;
        assert!(!created);
        assert_eq!(first, second);
        let nested = dir.path().join("fresh");
        let fresh_config =
            Config::validate(RawConfig { data_dir: Some(nested.display().to_string()), ..Default::default() })?;
        fresh_config.load_or_create_secret()?;
        assert_eq!(
            std::fs::metadata(&nested)?.permissions().mode() & 0o777,
            0o700,
            "a new data directory is owner-only"
        );
        Ok(())
    }
}
