//! Configuration: defaults → optional TOML file (`GATEHOUSE_CONFIG`) →
//! `GATEHOUSE_*` environment variables, validated once into a typed struct.
//! Every problem is reported as one line naming the variable.

mod mail;
mod raw;
mod secret;
mod sso;
mod webhook;

use crate::http::middleware::client_ip::{ProxyHeader, TrustedProxies};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use gatehouse_core::SecretString;
use gatehouse_core::services::Settings;
use gatehouse_store::tls::ExtraRoots;
use ipnet::IpNet;
use raw::RawConfig;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use mail::{SmtpConfig, SmtpSecurity};
pub use secret::MIN_SECRET_BYTES;
pub use sso::SsoConfig;
pub use webhook::{AuditWebhookConfig, signing_key};

/// A configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

/// `url` parsed, if it is https, or plain http to this machine (for trying
/// things out and for tests); else why not, naming `variable`.
fn https_or_loopback(variable: &str, url: &str) -> Result<url::Url, ConfigError> {
    let parsed = url::Url::parse(url).map_err(|e| problem(variable, e.to_string()))?;
    if parsed.scheme() == "https" || (parsed.scheme() == "http" && is_loopback(&parsed)) {
        Ok(parsed)
    } else {
        Err(problem(variable, "expected an https:// URL (http:// only for localhost)"))
    }
}

/// Whether `url` names this machine (`localhost` or a loopback address).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        // In a URL of a scheme the URL standard does not know (`smtp:`), an
        // address is an opaque host name.
        Some(url::Host::Domain(host)) => host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn problem(variable: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError { variable: variable.to_owned(), problem: problem.into() }
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
    /// Earlier secrets that still verify what they signed (a rotation).
    pub previous_secret_keys: Vec<SecretString>,
    /// Whether start-up applies pending migrations (else it refuses to
    /// start while any are pending).
    pub auto_migrate: bool,
    /// Where the built site is read from; `None` serves the copy embedded
    /// in the binary (or, in a binary built without it, `target/site`).
    pub site_root: Option<PathBuf>,
    pub settings: Settings,
    /// Certificate authorities every outgoing TLS connection trusts beside
    /// the system's (`GATEHOUSE_CA_FILE`).
    pub ca: ExtraRoots,
    /// The proxies whose forwarding header is believed, and that header.
    pub trusted_proxies: TrustedProxies,
    pub log_format: LogFormat,
    /// Where traces are exported over OTLP/HTTP; `None` exports nothing.
    pub otlp_endpoint: Option<String>,
    /// How long a graceful shutdown waits for requests in flight.
    pub shutdown_grace: std::time::Duration,
    pub sso: Option<SsoConfig>,
    /// Where every audit event is delivered, signed; `None`: nowhere.
    pub audit_webhook: Option<AuditWebhookConfig>,
    /// Where email to people goes; `None`: no email.
    pub smtp: Option<SmtpConfig>,
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
        let mut raw: RawConfig =
            figment.merge(Env::prefixed("GATEHOUSE_").ignore(&["CONFIG"])).extract().map_err(|err| {
                let variable = err.path.last().map(|k| format!("GATEHOUSE_{}", k.to_uppercase()));
                problem(variable.as_deref().unwrap_or("configuration"), err.kind.to_string())
            })?;
        // cargo-leptos names the built site's folder when it runs the server.
        if raw.site_root.is_none() {
            raw.site_root = std::env::var("LEPTOS_SITE_ROOT").ok();
        }
        Self::validate(raw)
    }

    /// Where flows, limits, single-use records and the token cache's
    /// invalidations live: Redis when it is configured, else PostgreSQL's
    /// own tables when the database is PostgreSQL (several instances either
    /// way), else this process (one instance).
    pub fn state_store_name(&self) -> &'static str {
        if self.redis_url.is_some() {
            "Redis"
        } else if self.database_url.starts_with("postgres:") || self.database_url.starts_with("postgresql:") {
            "PostgreSQL"
        } else {
            "in process"
        }
    }

    /// The built-in defaults alone, reading nothing from the environment:
    /// what tests start from, so a developer's own `GATEHOUSE_*` variables
    /// never change what a test runs.
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::validate(RawConfig::default())
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
            secret::check_secret(secret)?;
        }
        let previous_secret_keys = comma_list(raw.previous_secret_keys.as_deref())
            .map(|s| {
                let secret = SecretString::new(s);
                secret::check_secret(&secret).map_err(|e| problem("GATEHOUSE_PREVIOUS_SECRET_KEYS", e.problem))?;
                Ok(secret)
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
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
            grant_ttl: positive("GATEHOUSE_GRANT_TTL_SECS", raw.grant_ttl_secs, defaults.grant_ttl)?,
            grant_idle_ttl: positive(
                "GATEHOUSE_GRANT_IDLE_TTL_SECS",
                raw.grant_idle_ttl_secs,
                defaults.grant_idle_ttl,
            )?,
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
            dpop_nonce_required: raw.dpop_nonce_required.unwrap_or(defaults.dpop_nonce_required),
            admins_require_passkey: raw.admins_require_passkey.unwrap_or(defaults.admins_require_passkey),
            rate_limits,
            // Known once the server is bound (startup sets it).
            public_url: None,
        };
        let trusted_proxies = trusted_proxies(raw.trusted_proxies.as_deref(), raw.proxy_header.as_deref())?;
        let otlp_endpoint = match raw.otlp_endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            None => None,
            Some(endpoint) => match url::Url::parse(endpoint) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    Some(endpoint.trim_end_matches('/').to_owned())
                }
                _ => {
                    return Err(problem(
                        "GATEHOUSE_OTLP_ENDPOINT",
                        "expected a collector's http:// or https:// base URL",
                    ));
                }
            },
        };
        let ca = match raw.ca_file.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            None => ExtraRoots::none(),
            Some(path) => ExtraRoots::load(Path::new(path)).map_err(|e| problem("GATEHOUSE_CA_FILE", e))?,
        };
        let log_format = match raw.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(problem("GATEHOUSE_LOG_FORMAT", "expected text or json")),
        };
        let sso = sso::sso_config(
            raw.sso_issuer,
            raw.sso_client_id,
            raw.sso_client_secret,
            raw.sso_display_name,
            raw.sso_allowed_email_domains,
            sso::SsoChoices {
                recheck_secs: raw.sso_recheck_secs,
                offline_access: raw.sso_offline_access,
                trust_emails: raw.sso_trust_emails,
                admin_groups: raw.sso_admin_groups,
                groups_claim: raw.sso_groups_claim,
            },
        )?;
        let audit_webhook = webhook::audit_webhook_config(
            raw.audit_webhook_url,
            raw.audit_webhook_secret,
            raw.audit_webhook_timeout_secs,
        )?;
        let smtp = mail::smtp_config(raw.smtp_url, raw.email_from)?;
        if smtp.is_some() && public_url.is_none() {
            // Without it the links in emails would name the bound address,
            // which behind a proxy is an internal one.
            return Err(problem(
                "GATEHOUSE_PUBLIC_URL",
                "must be set with GATEHOUSE_SMTP_URL: the links in emails start with it",
            ));
        }
        Ok(Self {
            sso,
            audit_webhook,
            smtp,
            bind,
            metrics_bind,
            public_url,
            data_dir,
            database_url,
            redis_url,
            redis_key_prefix: raw.redis_key_prefix.unwrap_or_else(|| "gatehouse:".to_owned()),
            secret_key,
            previous_secret_keys,
            auto_migrate: raw.auto_migrate.unwrap_or(true),
            site_root: raw.site_root.filter(|root| !root.is_empty()).map(PathBuf::from),
            settings,
            trusted_proxies,
            ca,
            log_format,
            otlp_endpoint,
            shutdown_grace: std::time::Duration::from_secs(u64::from(raw.shutdown_grace_secs.unwrap_or(10))),
        })
    }
}

/// The non-empty, trimmed entries of a comma-separated setting.
fn comma_list(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// `GATEHOUSE_TRUSTED_PROXIES` (addresses and CIDR ranges, comma-separated;
/// an IPv4-mapped IPv6 entry means its IPv4 address) and
/// `GATEHOUSE_PROXY_HEADER`.
fn trusted_proxies(ranges: Option<&str>, header: Option<&str>) -> Result<TrustedProxies, ConfigError> {
    let ranges = comma_list(ranges)
        .map(|s| {
            let range = match s.parse::<IpNet>() {
                Ok(range) => range,
                Err(_) => s
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| problem("GATEHOUSE_TRUSTED_PROXIES", format!("not an address or CIDR range: {s}")))?,
            };
            Ok(canonical_range(range))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let header = match header {
        None => ProxyHeader::default(),
        Some(text) => ProxyHeader::parse(text)
            .ok_or_else(|| problem("GATEHOUSE_PROXY_HEADER", "expected x-forwarded-for or forwarded"))?,
    };
    Ok(TrustedProxies { ranges, header })
}

/// `::ffff:10.0.0.0/104` is `10.0.0.0/8`: addresses are compared in their
/// canonical form, so ranges are too.
fn canonical_range(range: IpNet) -> IpNet {
    match range {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map(IpNet::V4).unwrap_or(range),
            None => range,
        },
        _ => range,
    }
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
mod tests;
