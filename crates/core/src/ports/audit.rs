//! The audit log.

use crate::actor::Actor;
use crate::error::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// One audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub kind: AuditKind,
    /// Who did it; `None` for an anonymous visitor (a failed sign-in).
    pub actor: Option<Actor>,
    /// Whom or what it concerned.
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// The kinds of audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    DeviceApproved,
    DeviceDenied,
    DeviceRedeemed,
    DeviceRedelivered,
    PollFromDifferentIp,
    TokenExpired,
    TokenRevoked,
    RefreshReuseDetected,
    SignInFailed,
    AccountCreated,
    AccountDisabled,
    AccountEnabled,
    AdminGranted,
    AdminRemoved,
    ClientCreated,
    ClientUpdated,
    ClientDisabled,
    ClientEnabled,
    ClientSecretRotated,
    SsoSignedIn,
    SsoFailed,
    ScopeCreated,
    ScopeUpdated,
    ScopeDeleted,
    /// A confidential client was issued a token in its own name
    /// (`client_credentials`).
    ClientTokenIssued,
    /// A call of the admin REST API that changes nothing (what changes
    /// something is audited as that change).
    AdminApiRead,
    /// A person changed their own password, signed in with the old one.
    PasswordChanged,
    /// A password reset link was sent (only for an account that exists).
    PasswordResetRequested,
    /// A password was set through a reset link.
    PasswordReset,
}

impl AuditKind {
    /// Every kind, for parsing the stored name.
    pub const ALL: [AuditKind; 29] = [
        AuditKind::DeviceApproved,
        AuditKind::DeviceDenied,
        AuditKind::DeviceRedeemed,
        AuditKind::DeviceRedelivered,
        AuditKind::PollFromDifferentIp,
        AuditKind::TokenExpired,
        AuditKind::TokenRevoked,
        AuditKind::RefreshReuseDetected,
        AuditKind::SignInFailed,
        AuditKind::AccountCreated,
        AuditKind::AccountDisabled,
        AuditKind::AccountEnabled,
        AuditKind::AdminGranted,
        AuditKind::AdminRemoved,
        AuditKind::ClientCreated,
        AuditKind::ClientUpdated,
        AuditKind::ClientDisabled,
        AuditKind::ClientEnabled,
        AuditKind::ClientSecretRotated,
        AuditKind::SsoSignedIn,
        AuditKind::SsoFailed,
        AuditKind::ScopeCreated,
        AuditKind::ScopeUpdated,
        AuditKind::ScopeDeleted,
        AuditKind::ClientTokenIssued,
        AuditKind::AdminApiRead,
        AuditKind::PasswordChanged,
        AuditKind::PasswordResetRequested,
        AuditKind::PasswordReset,
    ];

    /// The kind with this stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The stored and logged name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::DeviceApproved => "device.approved",
            AuditKind::DeviceDenied => "device.denied",
            AuditKind::DeviceRedeemed => "device.redeemed",
            AuditKind::DeviceRedelivered => "device.redelivered",
            AuditKind::PollFromDifferentIp => "device.poll_from_different_ip",
            AuditKind::TokenExpired => "token.expired",
            AuditKind::TokenRevoked => "token.revoked",
            AuditKind::RefreshReuseDetected => "grant.refresh_reuse_detected",
            AuditKind::SignInFailed => "signin.failed",
            AuditKind::AccountCreated => "account.created",
            AuditKind::AccountDisabled => "account.disabled",
            AuditKind::AccountEnabled => "account.enabled",
            AuditKind::AdminGranted => "account.admin_granted",
            AuditKind::AdminRemoved => "account.admin_removed",
            AuditKind::ClientCreated => "client.created",
            AuditKind::ClientUpdated => "client.updated",
            AuditKind::ClientDisabled => "client.disabled",
            AuditKind::ClientEnabled => "client.enabled",
            AuditKind::ClientSecretRotated => "client.secret_rotated",
            AuditKind::SsoSignedIn => "sso.signed_in",
            AuditKind::SsoFailed => "sso.failed",
            AuditKind::ScopeCreated => "scope.created",
            AuditKind::ScopeUpdated => "scope.updated",
            AuditKind::ScopeDeleted => "scope.deleted",
            AuditKind::ClientTokenIssued => "client.token_issued",
            AuditKind::AdminApiRead => "admin_api.read",
            AuditKind::PasswordChanged => "account.password_changed",
            AuditKind::PasswordResetRequested => "account.password_reset_requested",
            AuditKind::PasswordReset => "account.password_reset",
        }
    }
}

/// A stored audit event and its id (ids grow with time).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub event: AuditEvent,
}

/// A filtered page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub kind: Option<AuditKind>,
    /// The actor's name (an email, a client id, `system`, `cli`).
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    /// Events at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Events before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Continue with events older than this id.
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Where audit events are stored (and logged).
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Stores the event.
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError>;
    /// The newest `limit` events, newest first.
    async fn recent(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
    /// A page of events matching `query`, newest first, keyset-paginated by id.
    async fn search(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
}

/// An audit event waiting to be delivered to the webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub record: AuditRecord,
    /// Deliveries tried and failed so far.
    pub attempts: u32,
    /// Not to be tried before this instant (backoff after a failure).
    pub next_attempt_at: DateTime<Utc>,
}

/// The outbox of audit events for the webhook: filled by [`AuditLog::record`]
/// in the event's own transaction while a webhook is configured, drained by
/// the one instance holding the delivery lease.
#[async_trait]
pub trait AuditOutbox: Send + Sync {
    /// Takes the delivery lease for `holder` until `until`, or renews it;
    /// false while another holder's lease runs at `now`.
    async fn lease(&self, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The first `limit` undelivered events, in event order.
    async fn pending(&self, limit: u32) -> Result<Vec<PendingDelivery>, StoreError>;
    /// The receiver took the event: it leaves the outbox.
    async fn delivered(&self, event_id: i64) -> Result<(), StoreError>;
    /// A delivery failed: counted, and not tried again before `retry_at`.
    async fn failed(&self, event_id: i64, retry_at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;
    /// How many events wait, and when the oldest of them happened.
    async fn backlog(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::AuditKind;

    #[test]
    fn every_audit_kind_parses_back_from_its_stored_name() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AuditKind::parse("device.exploded"), None);
    }
}
