//! The metrics the use cases record, named once here. They go through the
//! `metrics` facade: recorded by whatever exporter the binary installs
//! (Prometheus on `GATEHOUSE_METRICS_BIND`), free when none is.

/// A limiter refused a request.
pub fn rate_limited(limiter: &'static str) {
    ::metrics::counter!("gatehouse_rate_limited_total", "limiter" => limiter).increment(1);
}

/// A code-entry failure past the alarm threshold across all addresses
/// (`GATEHOUSE_LIMIT_CODE_FAILURES_ALARM`).
pub fn code_failure_alarm() {
    ::metrics::counter!("gatehouse_code_failure_alarms_total").increment(1);
}

/// Password hashes running or waiting for a slot.
pub fn sign_in_queue_depth(depth: usize) {
    ::metrics::gauge!("gatehouse_sign_in_queue_depth").set(depth as f64);
}

/// Something happened to a device flow: `started`, `approved`, `denied`,
/// `redeemed`, `shared` (a second person ended it), or `refused_network`
/// (a device outside its client's networks asked; nothing was stored).
pub fn flow(event: &'static str) {
    ::metrics::counter!("gatehouse_flows_total", "event" => event).increment(1);
}

/// A person's decision on a flow, or the policy's refusal of it:
/// `proximity` is `same`, `different` or `unknown` (the approver's network
/// against the device's), `outcome` is `approved`, `denied`, or the refusal
/// (`network_not_allowed`, `code_too_old`, `code_shared`,
/// `approver_not_allowed`, `confirmation_failed`).
pub fn approval(proximity: crate::approval_policy::Proximity, outcome: &'static str) {
    ::metrics::counter!("gatehouse_approvals_total", "proximity" => proximity.as_str(), "outcome" => outcome)
        .increment(1);
}

/// The token endpoint answered a poll: `issued`, `redelivered` (the same
/// token again for a retry whose answer was lost), `rate_limited`,
/// `unavailable`, or the OAuth error code (`authorization_pending`,
/// `slow_down`, `access_denied`, `expired_token` for a flow past its
/// lifetime, `invalid_grant`, `invalid_client`, …).
pub fn poll_answer(answer: &'static str) {
    ::metrics::counter!("gatehouse_token_polls_total", "answer" => answer).increment(1);
}

/// The answer to a refresh (RFC 6749 §6): `refreshed`, `rate_limited`,
/// `unavailable`, or the OAuth error code (`invalid_grant`, …).
pub fn refresh_answer(answer: &'static str) {
    ::metrics::counter!("gatehouse_token_refreshes_total", "answer" => answer).increment(1);
}

/// The SSO provider was asked whether a grant's subject still stands:
/// `honoured`, `revoked` (the grant then ends) or `unreachable`.
pub fn provider_rechecks(answer: &'static str) {
    ::metrics::counter!("gatehouse_provider_rechecks_total", "answer" => answer).increment(1);
}

/// A sign-in coming back to `sso-complete` was refused, by `reason`
/// (`invalid_sso_state`, `cancelled_at_provider`, an assertion problem…).
pub fn sso_refusal(reason: &'static str) {
    ::metrics::counter!("gatehouse_sso_refusals_total", "reason" => reason).increment(1);
}

/// An audit event's delivery to the webhook: `delivered` or `failed`.
pub fn audit_webhook_delivery(outcome: &'static str) {
    ::metrics::counter!("gatehouse_audit_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// The webhook's backlog after a delivery pass: events waiting, and how
/// long ago the oldest of them happened (seconds; 0 when none wait).
pub fn audit_webhook_backlog(waiting: u64, lag_seconds: f64) {
    ::metrics::gauge!("gatehouse_audit_webhook_backlog").set(waiting as f64);
    ::metrics::gauge!("gatehouse_audit_webhook_lag_seconds").set(lag_seconds);
}

/// An email to a person, by `kind` (`device_approved`, `password_reset`,
/// `password_changed`) and `outcome`: `sent`, `retried` (a try failed and
/// another follows), `failed` (given up) or `dropped` (the queue was full).
pub fn email(kind: &'static str, outcome: &'static str) {
    ::metrics::counter!("gatehouse_emails_total", "kind" => kind, "outcome" => outcome).increment(1);
}

/// A DPoP proof (RFC 9449) was checked: `accepted`, `invalid_dpop_proof`
/// (a replayed one included), `use_dpop_nonce` or `unavailable`.
pub fn dpop_proof(answer: &'static str) {
    ::metrics::counter!("gatehouse_dpop_proofs_total", "answer" => answer).increment(1);
}

/// Something happened to grants and their tokens: `issued` (every grant
/// handed out), `rotated` (those of them that replaced a device's earlier
/// grant), `refreshed`, `refresh_reuse_detected`, `revoked`, `hard_expired`.
pub fn tokens(event: &'static str, count: u64) {
    ::metrics::counter!("gatehouse_tokens_total", "event" => event).increment(count);
}

/// Whether this instance hears token revocations from the others (the
/// PostgreSQL state store's listener): 0 while its token cache is off.
pub fn revocation_listener(listening: bool) {
    ::metrics::gauge!("gatehouse_revocation_listener_up").set(if listening { 1.0 } else { 0.0 });
}

/// A dependency failed: `state_store` (in process, Redis or PostgreSQL) or `database`.
pub fn dependency_error(dependency: &'static str) {
    ::metrics::counter!("gatehouse_dependency_errors_total", "dependency" => dependency).increment(1);
}

/// One call to a dependency (`database`: one SQL statement; `state_store`:
/// one Redis round trip, or one statement of the PostgreSQL state store) and
/// how long it took.
pub fn dependency_call(dependency: &'static str, elapsed: std::time::Duration) {
    ::metrics::histogram!("gatehouse_dependency_duration_seconds", "dependency" => dependency)
        .record(elapsed.as_secs_f64());
}
