//! The settings' checks: each bad value is refused with its variable named.

use super::*;
use gatehouse_core::rate_limit::{Limiter, Quota, RateLimitSettings};

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
    assert_eq!(limits.quota(Limiter::CodeFailuresPerSession), Some(Limiter::CodeFailuresPerSession.default_quota()));
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
        RawConfig { trusted_proxies: Some("10.0.0.0/33".into()), ..Default::default() },
        RawConfig { proxy_header: Some("x-real-ip".into()), ..Default::default() },
        RawConfig { ipv6_prefix: Some(0), ..Default::default() },
        RawConfig { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() },
        RawConfig { otlp_endpoint: Some("collector:4318".into()), ..Default::default() },
        RawConfig {
            previous_secret_keys: Some("long-enough-secret-0123456789abcdef, short".into()),
            ..Default::default()
        },
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
        "GATEHOUSE_TRUSTED_PROXIES",
        "GATEHOUSE_PROXY_HEADER",
        "GATEHOUSE_IPV6_PREFIX",
        "GATEHOUSE_CA_FILE",
        "GATEHOUSE_OTLP_ENDPOINT",
        "GATEHOUSE_PREVIOUS_SECRET_KEYS",
    ];
    for (raw, variable) in cases.into_iter().zip(expected) {
        let err = Config::validate(raw).err().map(|e| e.variable);
        assert_eq!(err.as_deref(), Some(variable));
    }
}

#[test]
fn trusted_proxies_are_addresses_and_ranges_of_both_families() -> Result<(), ConfigError> {
    let raw = RawConfig {
        trusted_proxies: Some("10.0.0.1, 172.16.0.0/12 ,fd00::/8, ::ffff:192.168.0.0/112".into()),
        proxy_header: Some("Forwarded".into()),
        ipv6_prefix: Some(56),
        ..Default::default()
    };
    let config = Config::validate(raw)?;
    let ranges: Vec<String> = config.trusted_proxies.ranges.iter().map(ToString::to_string).collect();
    assert_eq!(ranges, ["10.0.0.1/32", "172.16.0.0/12", "fd00::/8", "192.168.0.0/16"]);
    assert_eq!(config.trusted_proxies.header, ProxyHeader::Forwarded);
    assert_eq!(config.settings.rate_limits.ipv6_prefix, 56);
    let defaults = Config::validate(RawConfig::default())?;
    assert!(defaults.trusted_proxies.ranges.is_empty());
    assert_eq!(defaults.trusted_proxies.header, ProxyHeader::XForwardedFor);
    assert_eq!(defaults.settings.rate_limits.ipv6_prefix, 64);
    Ok(())
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
    assert_eq!((on.admin_groups.len(), on.groups_claim.as_str()), (0, "groups"));
    let groups = RawConfig {
        sso_admin_groups: Some(" gatehouse-admins, /Platform Admins ,, ".into()),
        sso_groups_claim: Some("roles".into()),
        ..sso("https://idp.example", Some("g"), None)
    };
    let groups = Config::validate(groups)?.sso.ok_or_else(|| problem("test", "sso missing"))?;
    assert_eq!(groups.admin_groups, vec!["gatehouse-admins", "/Platform Admins"]);
    assert_eq!(groups.groups_claim, "roles");
    assert!(Config::validate(sso("http://127.0.0.1:9000", Some("g"), None))?.sso.is_some());
    for (raw, variable) in [
        (sso("http://idp.example", Some("g"), None), "GATEHOUSE_SSO_ISSUER"),
        (sso("not a url", Some("g"), None), "GATEHOUSE_SSO_ISSUER"),
        (sso("https://idp.example", None, None), "GATEHOUSE_SSO_CLIENT_ID"),
        (sso("https://idp.example", Some("g"), Some("a b")), "GATEHOUSE_SSO_ALLOWED_EMAIL_DOMAINS"),
        (
            RawConfig { sso_groups_claim: Some("email".into()), ..sso("https://idp.example", Some("g"), None) },
            "GATEHOUSE_SSO_GROUPS_CLAIM",
        ),
        (
            RawConfig { sso_admin_groups: Some("a\u{7}b".into()), ..sso("https://idp.example", Some("g"), None) },
            "GATEHOUSE_SSO_ADMIN_GROUPS",
        ),
    ] {
        assert_eq!(Config::validate(raw).err().map(|e| e.variable).as_deref(), Some(variable));
    }
    Ok(())
}

#[test]
fn an_audit_webhook_needs_an_https_url_and_a_whsec_secret() -> Result<(), ConfigError> {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let hook = |url: &str, secret: Option<&str>, timeout: Option<u32>| RawConfig {
        audit_webhook_url: Some(url.into()),
        audit_webhook_secret: secret.map(Into::into),
        audit_webhook_timeout_secs: timeout,
        ..Default::default()
    };
    assert!(Config::validate(RawConfig::default())?.audit_webhook.is_none());
    let on = Config::validate(hook("https://siem.example/hook", Some(SECRET), None))?;
    let on = on.audit_webhook.ok_or_else(|| problem("test", "webhook missing"))?;
    assert_eq!((on.url.as_str(), on.timeout.as_secs()), ("https://siem.example/hook", 10));
    assert!(Config::validate(hook("http://127.0.0.1:9/hook", Some(SECRET), Some(60)))?.audit_webhook.is_some());
    for (raw, variable) in [
        (hook("http://siem.example/hook", Some(SECRET), None), "GATEHOUSE_AUDIT_WEBHOOK_URL"),
        (hook("not a url", Some(SECRET), None), "GATEHOUSE_AUDIT_WEBHOOK_URL"),
        (hook("https://siem.example/hook", None, None), "GATEHOUSE_AUDIT_WEBHOOK_SECRET"),
        (hook("https://siem.example/hook", Some("whsec_c2hvcnQ="), None), "GATEHOUSE_AUDIT_WEBHOOK_SECRET"),
        (
            hook("https://siem.example/hook", Some("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), None),
            "GATEHOUSE_AUDIT_WEBHOOK_SECRET",
        ),
        (hook("https://siem.example/hook", Some(SECRET), Some(0)), "GATEHOUSE_AUDIT_WEBHOOK_TIMEOUT_SECS"),
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
    assert_eq!(std::fs::metadata(&nested)?.permissions().mode() & 0o777, 0o700, "a new data directory is owner-only");
    Ok(())
}

#[test]
fn a_mail_server_needs_the_public_url_its_links_start_with() {
    let mail = |public_url: Option<&str>| RawConfig {
        smtp_url: Some("smtps://mail.example.com".into()),
        email_from: Some("gatehouse@example.com".into()),
        public_url: public_url.map(Into::into),
        ..Default::default()
    };
    let refused = Config::validate(mail(None)).err().map(|e| e.variable);
    assert_eq!(refused.as_deref(), Some("GATEHOUSE_PUBLIC_URL"));
    let config = Config::validate(mail(Some("https://gatehouse.example.com"))).expect("valid");
    assert!(config.smtp.is_some());
}

#[test]
fn postgres_without_redis_keeps_the_state_in_postgres() -> Result<(), ConfigError> {
    let config = |database: &str, redis: Option<&str>| {
        Config::validate(RawConfig {
            database_url: Some(database.into()),
            redis_url: redis.map(Into::into),
            ..Default::default()
        })
    };
    assert_eq!(config("postgres://db/gatehouse", None)?.state_store_name(), "PostgreSQL");
    assert_eq!(config("postgresql://db/gatehouse", None)?.state_store_name(), "PostgreSQL");
    assert_eq!(config("postgres://db/gatehouse", Some("redis://cache"))?.state_store_name(), "Redis");
    assert_eq!(config("sqlite://data/gatehouse.db", None)?.state_store_name(), "in process");
    Ok(())
}
