//! Sends the emails the use cases queue (`ports::Mailer`) through the mail
//! server `GATEHOUSE_SMTP_URL` names, over TLS with the same roots as every
//! other outgoing connection (the system's and `GATEHOUSE_CA_FILE`).
//!
//! Off the request path: `queue` hands the email to one task per instance,
//! which sends in order and retries a refused or unreachable server twice
//! (after 5 and 30 seconds) before giving up. A notice is worth little
//! hours late, so the queue lives in memory: emails still queued when the
//! process stops are not sent (counted as `dropped` only when the queue
//! was full). Every outcome is in `gatehouse_emails_total`.

use crate::config::{SmtpConfig, SmtpSecurity};
use gatehouse_core::ports::{Email, Mailer};
use gatehouse_store::tls::ExtraRoots;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;
use tokio::sync::mpsc;

/// Emails waiting to be sent, at most.
const QUEUE: usize = 1000;
/// The waits before the second and third tries.
const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(5), Duration::from_secs(30)];
/// How long one conversation with the mail server may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The mail server's sender (one per instance).
pub struct SmtpMailer {
    queue: mpsc::Sender<Email>,
}

impl SmtpMailer {
    /// Starts the sending task (on the current Tokio runtime). The error is
    /// one line, without the variable's name.
    pub fn start(config: &SmtpConfig, roots: &ExtraRoots) -> Result<Self, String> {
        let transport = transport(config, roots)?;
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(send_all(transport, config.from.clone(), waiting));
        Ok(Self { queue })
    }
}

impl Mailer for SmtpMailer {
    fn enabled(&self) -> bool {
        true
    }

    fn queue(&self, email: Email) {
        let kind = email.kind.as_str();
        if self.queue.try_send(email).is_err() {
            gatehouse_core::metrics::email(kind, "dropped");
            tracing::warn!(kind, "the email queue is full; an email was dropped");
        }
    }
}

/// The SMTP transport the URL describes, trusting `roots` beside the
/// system's.
fn transport(config: &SmtpConfig, roots: &ExtraRoots) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.url.expose())
        .map_err(|e| format!("cannot use the mail server URL: {e}"))?;
    let security = config.security();
    let builder = if security == SmtpSecurity::Plain {
        builder
    } else {
        let host = url::Url::parse(config.url.expose())
            .ok()
            .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()))
            .ok_or("the mail server URL names no host")?;
        let mut tls = TlsParameters::builder(host);
        if let Some(pem) = roots.pem() {
            tls = tls.add_root_certificate(Certificate::from_pem(pem).map_err(|e| format!("the CA bundle: {e}"))?);
        }
        let tls = tls.build_rustls().map_err(|e| format!("TLS to the mail server: {e}"))?;
        builder.tls(if security == SmtpSecurity::Wrapper { Tls::Wrapper(tls) } else { Tls::Required(tls) })
    };
    Ok(builder.timeout(Some(TIMEOUT)).build())
}

/// Sends each queued email in turn, until every sender is gone.
async fn send_all(
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    mut waiting: mpsc::Receiver<Email>,
) {
    while let Some(email) = waiting.recv().await {
        let kind = email.kind.as_str();
        let message = match message(&from, &email) {
            Ok(message) => message,
            Err(err) => {
                gatehouse_core::metrics::email(kind, "failed");
                tracing::error!(kind, error = %err, "an email could not be written");
                continue;
            }
        };
        let mut waits = RETRY_AFTER.iter();
        loop {
            match transport.send(message.clone()).await {
                Ok(_) => {
                    gatehouse_core::metrics::email(kind, "sent");
                    tracing::info!(kind, "email sent");
                    break;
                }
                Err(err) => match waits.next().filter(|_| !err.is_permanent()) {
                    Some(wait) => {
                        gatehouse_core::metrics::email(kind, "retried");
                        tracing::warn!(kind, error = %err, retry_in_secs = wait.as_secs(), "the mail server did not take an email");
                        tokio::time::sleep(*wait).await;
                    }
                    None => {
                        gatehouse_core::metrics::email(kind, "failed");
                        tracing::error!(kind, error = %err, "gave up sending an email");
                        break;
                    }
                },
            }
        }
    }
}

/// The plain-text message.
fn message(from: &lettre::message::Mailbox, email: &Email) -> Result<Message, String> {
    let to = email.to.parse::<lettre::message::Mailbox>().map_err(|e| format!("recipient: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&email.subject)
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(email.text.clone())
        .map_err(|e| e.to_string())
}
