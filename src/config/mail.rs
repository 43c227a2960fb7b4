//! Email settings: the mail server (`GATEHOUSE_SMTP_URL`) and the sender
//! (`GATEHOUSE_EMAIL_FROM`).

use super::{ConfigError, problem};
use gatehouse_core::SecretString;

/// Where email goes; present only when `GATEHOUSE_SMTP_URL` is set.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// `smtps://user:password@host:465` (TLS from the first byte) or
    /// `smtp://user:password@host:587?tls=required` (STARTTLS, required).
    /// Secret: it may hold the server's password.
    pub url: SecretString,
    /// The sender, `Name <address>` or an address.
    pub from: lettre::message::Mailbox,
}

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (`smtps://`).
    Wrapper,
    /// Plain, then STARTTLS, refusing a server that does not offer it.
    StartTls,
    /// No TLS at all: only for a mail server on the same machine.
    Plain,
}

impl SmtpConfig {
    /// The settings for this mail server URL and sender, checked as
    /// `GATEHOUSE_SMTP_URL` and `GATEHOUSE_EMAIL_FROM` are.
    pub fn new(url: &str, from: &str) -> Result<Self, ConfigError> {
        smtp_config(Some(url.to_owned()), Some(from.to_owned()))?
            .ok_or_else(|| problem("GATEHOUSE_SMTP_URL", "must not be empty"))
    }

    /// The host and how the connection is protected, from the checked URL.
    pub fn security(&self) -> SmtpSecurity {
        match url::Url::parse(self.url.expose()) {
            Ok(url) if url.scheme() == "smtps" => SmtpSecurity::Wrapper,
            Ok(url) if url.query_pairs().any(|(k, v)| k == "tls" && v == "required") => SmtpSecurity::StartTls,
            _ => SmtpSecurity::Plain,
        }
    }
}

/// Validates the email settings; `None` without a mail server.
pub(super) fn smtp_config(url: Option<String>, from: Option<String>) -> Result<Option<SmtpConfig>, ConfigError> {
    const URL: &str = "GATEHOUSE_SMTP_URL";
    let Some(url) = url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let parsed = url::Url::parse(&url).map_err(|e| problem(URL, format!("not a URL ({e})")))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(problem(URL, "names no mail server host"));
    }
    let tls = parsed.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    match (parsed.scheme(), tls.as_deref()) {
        ("smtps", None) | ("smtp", Some("required")) => {}
        ("smtp", None) if super::is_loopback(&parsed) => {}
        _ => {
            return Err(problem(
                URL,
                "expected smtps://host (TLS) or smtp://host?tls=required (STARTTLS); plain smtp:// only for localhost",
            ));
        }
    }
    let from = from
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .ok_or_else(|| problem("GATEHOUSE_EMAIL_FROM", "required when GATEHOUSE_SMTP_URL is set"))?;
    let from = from
        .parse::<lettre::message::Mailbox>()
        .map_err(|e| problem("GATEHOUSE_EMAIL_FROM", format!("expected an address or Name <address> ({e})")))?;
    Ok(Some(SmtpConfig { url: SecretString::new(url), from }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Result<Option<SmtpConfig>, ConfigError> {
        smtp_config(Some(url.to_owned()), Some("Gatehouse <gatehouse@example.com>".to_owned()))
    }

    #[test]
    fn email_goes_over_tls_except_to_this_machine() {
        let security = |url: &str| config(url).ok().flatten().map(|c| c.security());
        assert_eq!(security("smtps://u:p@mail.example.com"), Some(SmtpSecurity::Wrapper));
        assert_eq!(security("smtp://mail.example.com:587?tls=required"), Some(SmtpSecurity::StartTls));
        assert_eq!(security("smtp://127.0.0.1:2525"), Some(SmtpSecurity::Plain));
        assert_eq!(security("smtp://localhost:25"), Some(SmtpSecurity::Plain));
        for refused in [
            "smtp://mail.example.com",
            "smtp://mail.example.com?tls=opportunistic",
            "http://mail.example.com",
            "smtps://",
        ] {
            let err = config(refused).err().unwrap_or_else(|| panic!("{refused} accepted"));
            assert_eq!(err.variable, "GATEHOUSE_SMTP_URL");
        }
        assert!(matches!(smtp_config(None, None), Ok(None)));
    }

    #[test]
    fn a_sender_is_required_and_must_be_an_address() {
        let url = Some("smtps://mail.example.com".to_owned());
        assert_eq!(smtp_config(url.clone(), None).err().map(|e| e.variable), Some("GATEHOUSE_EMAIL_FROM".to_owned()));
        assert!(smtp_config(url.clone(), Some("not an address".to_owned())).is_err());
        let config = smtp_config(url, Some("Gatehouse <auth@example.com>".to_owned())).ok().flatten();
        assert_eq!(config.map(|c| c.from.email.to_string()), Some("auth@example.com".to_owned()));
    }
}
