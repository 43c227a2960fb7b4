//! Delivers the audit log to `GATEHOUSE_AUDIT_WEBHOOK_URL`, one event per
//! request, signed in the Standard Webhooks format: `webhook-id` (stable
//! across retries, so a receiver can drop duplicates), `webhook-timestamp`
//! (Unix seconds of the attempt) and `webhook-signature`
//! (`v1,` + base64 of HMAC-SHA256 over `id.timestamp.body` with the
//! secret's key).
//!
//! Delivery is at least once and never on a request's path: events wait in
//! the database's outbox (written in their own transaction) until the
//! receiver answers 2xx. One instance at a time delivers (a lease in the
//! database), in event order; a failure is retried with exponential
//! backoff (1 s doubling to 5 minutes) and holds back the events after it,
//! so each subject's events arrive in the order they happened. The outbox
//! survives restarts, and retention never prunes an undelivered event.

use crate::config::{AuditWebhookConfig, signing_key};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use gatehouse_core::ports::{AuditOutbox, PendingDelivery};
use gatehouse_core::{Clock, StoreError};
use std::sync::Arc;

/// How long a lease lasts past the next delivery's timeout unless renewed
/// (renewed before every delivery, so it cannot lapse while one is out).
const LEASE: Duration = Duration::seconds(30);
/// Events read from the outbox at a time.
const BATCH: u32 = 100;
/// How often the job looks for events to deliver.
const POLL_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// The longest wait between two tries of one event.
const MAX_BACKOFF_SECS: i64 = 300;

/// The webhook's deliverer (one per instance).
pub struct AuditWebhook {
    outbox: Arc<dyn AuditOutbox>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    url: String,
    /// The longest a delivery may take (`GATEHOUSE_AUDIT_WEBHOOK_TIMEOUT_SECS`).
    timeout: Duration,
    key: ring::hmac::Key,
    /// This instance's name in the lease.
    holder: String,
    /// One pass at a time in this instance (the job's, or a test's).
    one_pass: tokio::sync::Mutex<()>,
}

impl AuditWebhook {
    /// A deliverer for `config`, trusting `roots` beside the system's.
    pub fn new(
        config: &AuditWebhookConfig,
        roots: &gatehouse_store::tls::ExtraRoots,
        outbox: Arc<dyn AuditOutbox>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let key =
            signing_key(config.secret.expose()).ok_or("GATEHOUSE_AUDIT_WEBHOOK_SECRET is not whsec_ and base64")?;
        let mut http = reqwest::Client::builder();
        for certificate in roots.for_reqwest() {
            http = http.add_root_certificate(certificate);
        }
        let http = http
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .build()
            .map_err(|e| format!("the webhook's HTTP client: {e}"))?;
        Ok(Self {
            outbox,
            clock,
            http,
            url: config.url.clone(),
            timeout: Duration::from_std(config.timeout).unwrap_or(LEASE),
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            holder: uuid::Uuid::new_v4().to_string(),
            one_pass: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs until the task is dropped (at shutdown; what is undelivered
    /// stays in the outbox for the next start or another instance).
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(err) = self.deliver_due().await {
                tracing::warn!(error = %err.report(), "audit webhook: the outbox is unreachable; trying again");
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// One pass: if this instance holds the lease, delivers the waiting
    /// events in order until the outbox is empty, an event is not due yet,
    /// or a delivery fails. Returns how many were delivered.
    ///
    /// The lease is renewed before every delivery to last past its
    /// timeout: a batch of slow answers can take longer than any fixed
    /// lease, and a lease lapsing mid-batch would let a second instance
    /// deliver beside this one, out of order.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let _one_pass = self.one_pass.lock().await;
        let mut delivered = 0;
        'passes: loop {
            if !self.hold_lease().await? {
                break;
            }
            let batch = self.outbox.pending(BATCH).await?;
            if batch.is_empty() {
                break;
            }
            for pending in batch {
                let now = self.clock.now();
                if pending.next_attempt_at > now || !self.hold_lease().await? {
                    break 'passes;
                }
                match self.send(&pending, now).await {
                    Ok(()) => {
                        self.outbox.delivered(pending.record.id).await?;
                        gatehouse_core::metrics::audit_webhook_delivery("delivered");
                        delivered += 1;
                    }
                    Err(error) => {
                        let attempts = pending.attempts.saturating_add(1);
                        let retry_at = now + backoff(attempts);
                        tracing::warn!(event_id = pending.record.id, attempts, %error, %retry_at, "audit webhook delivery failed");
                        self.outbox.failed(pending.record.id, retry_at, &error).await?;
                        gatehouse_core::metrics::audit_webhook_delivery("failed");
                        break 'passes;
                    }
                }
            }
        }
        let (waiting, oldest) = self.outbox.backlog().await?;
        let lag = oldest.map_or(0.0, |oldest| (self.clock.now() - oldest).num_milliseconds().max(0) as f64 / 1000.0);
        gatehouse_core::metrics::audit_webhook_backlog(waiting, lag);
        Ok(delivered)
    }

    /// Takes or renews the lease until the next delivery's timeout has
    /// passed and `LEASE` more; false while another instance holds it.
    async fn hold_lease(&self) -> Result<bool, StoreError> {
        let now = self.clock.now();
        self.outbox.lease(&self.holder, now, now + self.timeout + LEASE).await
    }

    /// Posts one event; `Err` says why it did not arrive.
    async fn send(&self, pending: &PendingDelivery, now: DateTime<Utc>) -> Result<(), String> {
        let (id, timestamp, body) = (message_id(pending.record.id), now.timestamp(), payload(pending).to_string());
        let signed = ring::hmac::sign(&self.key, format!("{id}.{timestamp}.{body}").as_bytes());
        let signature = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(signed.as_ref()));
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(unreached)?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(format!("answered {status}")),
        }
    }
}

/// Why a delivery got no answer, without the URL: it may carry a password
/// or a token in its query, and this text is logged and stored.
fn unreached(err: reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    let err = err.without_url();
    let mut text = format!("unreachable: {err}");
    let mut cause = std::error::Error::source(&err);
    while let Some(err) = cause {
        text.push_str(&format!(": {err}"));
        cause = err.source();
    }
    text
}

/// The `webhook-id` of an audit event: the same at every try.
pub fn message_id(event_id: i64) -> String {
    format!("msg_audit_{event_id}")
}

/// What the receiver gets (Standard Webhooks' `type`, `timestamp`, `data`).
fn payload(pending: &PendingDelivery) -> serde_json::Value {
    let event = &pending.record.event;
    serde_json::json!({
        "type": format!("audit.{}", event.kind.as_str()),
        "timestamp": event.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": {
            "id": pending.record.id,
            "kind": event.kind.as_str(),
            "occurred_at": event.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "actor": event.actor.as_ref().map(|actor| serde_json::json!({ "kind": actor.kind(), "name": actor.name() })),
            "subject": event.subject,
            "client_id": event.client_id,
            "ip": event.ip,
            "details": event.details,
        },
    })
}

/// How long to wait after the `attempts`-th failure: 1 s, doubling, at
/// most five minutes.
fn backoff(attempts: u32) -> Duration {
    Duration::seconds(
        1_i64.checked_shl(attempts.saturating_sub(1).min(20)).unwrap_or(MAX_BACKOFF_SECS).min(MAX_BACKOFF_SECS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failure_names_no_password_or_query_of_the_url() {
        // Port 1 on loopback refuses at once.
        let err = reqwest::Client::new()
            .post("http://hook-user:hunter2@127.0.0.1:1/hook?token=s3cret")
            .send()
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("s3cret"), "reqwest's own text names the URL: {err}");
        let text = unreached(err);
        assert!(text.starts_with("unreachable: "), "{text}");
        assert!(!text.contains("hunter2") && !text.contains("s3cret") && !text.contains("/hook"), "{text}");
    }

    #[test]
    fn backoff_doubles_from_a_second_to_five_minutes() {
        let waits: Vec<i64> = (1..=12).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX).num_seconds(), 300);
    }
}
