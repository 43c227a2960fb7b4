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

crate::named_enum::named_enum! {
    /// The kinds of audit event, each with its stored and logged name.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum AuditKind {
        DeviceApproved = "device.approved",
        DeviceDenied = "device.denied",
        /// A client's approval policy turned a person away (RFC 10027).
        DeviceApprovalRefused = "device.approval_refused",
        /// A second person took up a code a first person already had.
        DeviceCodeShared = "device.code_shared",
        /// A device sent too many wrong confirmation codes.
        DeviceConfirmationFailed = "device.confirmation_failed",
        DeviceRedeemed = "device.redeemed",
        DeviceRedelivered = "device.redelivered",
        PollFromDifferentIp = "device.poll_from_different_ip",
        TokenExpired = "token.expired",
        TokenRevoked = "token.revoked",
        RefreshReuseDetected = "grant.refresh_reuse_detected",
        SignInFailed = "signin.failed",
        AccountCreated = "account.created",
        AccountDisabled = "account.disabled",
        AccountEnabled = "account.enabled",
        AdminGranted = "account.admin_granted",
        AdminRemoved = "account.admin_removed",
        ClientCreated = "client.created",
        ClientUpdated = "client.updated",
        ClientDisabled = "client.disabled",
        ClientEnabled = "client.enabled",
        ClientSecretRotated = "client.secret_rotated",
        SsoSignedIn = "sso.signed_in",
        SsoFailed = "sso.failed",
        ScopeCreated = "scope.created",
        ScopeUpdated = "scope.updated",
        ScopeDeleted = "scope.deleted",
        /// A confidential client was issued a token in its own name
        /// (`client_credentials`).
        ClientTokenIssued = "client.token_issued",
        /// A call of the admin REST API that changes nothing (what changes
        /// something is audited as that change).
        AdminApiRead = "admin_api.read",
        /// A person changed their own password, signed in with the old one.
        PasswordChanged = "account.password_changed",
        /// A password reset link was sent (only for an account that exists).
        PasswordResetRequested = "account.password_reset_requested",
        /// A password was set through a reset link.
        PasswordReset = "account.password_reset",
        /// A person added a passkey to their account.
        PasskeyAdded = "passkey.added",
        /// A person removed one of their passkeys.
        PasskeyRemoved = "passkey.removed",
        /// A person signed in (or stepped up) with a passkey.
        PasskeySignedIn = "passkey.signed_in",
        /// A passkey answer did not verify (wrong site, bad signature, …).
        PasskeyFailed = "passkey.failed",
        /// A passkey's signature counter went back: the authenticator may
        /// have been cloned, and the sign-in was refused.
        PasskeyCloneSuspected = "passkey.clone_suspected",
        /// An admin removed every passkey of an account.
        PasskeysRemovedByAdmin = "passkey.all_removed",
        /// A person turned their password off (passkeys only).
        PasswordTurnedOff = "account.password_turned_off",
        /// A person turned their password back on.
        PasswordTurnedOn = "account.password_turned_on",
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
        for &kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AuditKind::parse("device.exploded"), None);
        let mut names: Vec<_> = AuditKind::ALL.iter().map(|kind| kind.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditKind::ALL.len(), "every name is one kind's");
    }
}
