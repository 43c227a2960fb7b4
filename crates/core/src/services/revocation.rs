//! The one way tokens are revoked, whoever asks: fence the cache, revoke in
//! the database, audit, drop the cache entries.

use super::Ports;
use crate::actor::Actor;
use crate::error::StoreError;
use crate::listing::TokenSelector;
use crate::model::AccessTokenRecord;
use crate::ports::{AuditEvent, AuditKind};
use uuid::Uuid;

/// Ids revoked per database statement, so revoking a large client never
/// holds row locks on everything at once.
const BATCH: usize = 500;

/// Why a token was revoked; recorded as the audit event's `by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBy {
    /// The token's own subject (its device, or the settings page).
    Owner,
    /// The client the token was issued to (RFC 7009).
    Client,
    /// An administrator.
    Admin,
    /// Its account was disabled.
    AccountDisabled,
    /// A refresh found its subject no longer allowed (account inactive,
    /// provider or email domain no longer accepted).
    SubjectNotAllowed,
    /// A refresh token it had rotated away was presented again.
    RefreshReuse,
    /// The SSO provider no longer honours its subject's sign-in.
    RevokedAtProvider,
    /// Its account's password was reset through an emailed link.
    PasswordReset,
    /// Its account's password was changed, asking for devices to be signed out.
    PasswordChanged,
    /// A `client_credentials` token whose client's secret was rotated.
    ClientSecretRotated,
    /// The grant of a device code a second person took up (one person per code).
    CodeShared,
}

impl RevokedBy {
    fn as_str(self) -> &'static str {
        match self {
            RevokedBy::Owner => "self",
            RevokedBy::Client => "client",
            RevokedBy::Admin => "admin",
            RevokedBy::AccountDisabled => "account_disabled",
            RevokedBy::SubjectNotAllowed => "subject_not_allowed",
            RevokedBy::RefreshReuse => "refresh_reuse",
            RevokedBy::RevokedAtProvider => "revoked_at_provider",
            RevokedBy::PasswordReset => "password_reset",
            RevokedBy::PasswordChanged => "password_changed",
            RevokedBy::ClientSecretRotated => "client_secret_rotated",
            RevokedBy::CodeShared => "code_shared",
        }
    }
}

impl Ports {
    /// Revokes every unrevoked token `selector` selects, as `revoke_tokens`
    /// does; returns how many this call revoked.
    pub(crate) async fn revoke_selected(
        &self,
        selector: &TokenSelector,
        actor: &Actor,
        by: RevokedBy,
        ip: Option<&str>,
    ) -> Result<usize, StoreError> {
        let ids = self.tokens.unrevoked_ids(selector).await?;
        Ok(self.revoke_tokens(&ids, actor, by, ip).await?.len())
    }

    /// Revokes the tokens among `ids` that are still unrevoked and returns
    /// the rows this call revoked, each audited.
    ///
    /// The cache is fenced first: the entries are dropped and re-caching them
    /// is refused for a while, so once the database commits, no instance
    /// accepts the tokens again. If the fence fails, nothing has changed and
    /// the caller may simply retry. A revoke that reached the database is
    /// always audited, and the entries are dropped once more afterwards
    /// (best effort: the fence already keeps them out).
    pub(crate) async fn revoke_tokens(
        &self,
        ids: &[Uuid],
        actor: &Actor,
        by: RevokedBy,
        ip: Option<&str>,
    ) -> Result<Vec<AccessTokenRecord>, StoreError> {
        let mut revoked = Vec::new();
        for batch in ids.chunks(BATCH) {
            let now = self.clock.now();
            for id in batch {
                self.token_cache.invalidate(*id, now).await?;
            }
            let rows = self.tokens.revoke(batch, now).await?;
            crate::metrics::tokens("revoked", rows.len() as u64);
            for row in &rows {
                self.audit(AuditEvent {
                    kind: AuditKind::TokenRevoked,
                    actor: Some(actor.clone()),
                    subject: Some(row.subject_email.clone()),
                    client_id: Some(row.client_id.clone()),
                    ip: ip.map(str::to_owned),
                    details: serde_json::json!({
                        "token_id": row.id,
                        "by": by.as_str(),
                        "device_label": row.device_label,
                    }),
                    at: now,
                })
                .await;
                if let Err(err) = self.token_cache.invalidate(row.id, now).await {
                    tracing::warn!(error = %err.report(), token_id = %row.id, "revoked; the fenced cache entry could not be dropped again");
                }
            }
            revoked.extend(rows);
        }
        Ok(revoked)
    }
}
