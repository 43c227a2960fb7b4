//! An admin's view of a person's passkeys: how many, and removing them all
//! (for a lost device).

use super::PasskeyService;
use crate::actor::Admin;
use crate::error::StoreError;
use crate::ports::{AuditEvent, AuditKind, PasskeyRecord};
use uuid::Uuid;

impl PasskeyService {
    /// The account's passkeys, for an admin.
    pub async fn list_for(&self, _admin: &Admin, account_id: Uuid) -> Result<Vec<PasskeyRecord>, StoreError> {
        self.ports.passkeys.list(account_id).await
    }

    /// How many passkeys each of these accounts has, in one query (the
    /// accounts page); accounts with none are left out.
    pub async fn counts_for(&self, _admin: &Admin, account_ids: &[Uuid]) -> Result<Vec<(Uuid, u64)>, StoreError> {
        self.ports.passkeys.count_by_account(account_ids).await
    }

    /// Removes every passkey of the account and turns its password back on,
    /// so the person can reset it; audited when anything was removed.
    /// Returns how many were removed.
    pub async fn remove_all(&self, admin: &Admin, account_id: Uuid) -> Result<u64, StoreError> {
        let Some(account) = self.ports.accounts.find_by_id(account_id).await? else {
            return Ok(0);
        };
        let removed = self.ports.passkeys.remove_all(account_id).await?;
        if removed > 0 || account.passwordless {
            self.ports
                .audit(AuditEvent {
                    kind: AuditKind::PasskeysRemovedByAdmin,
                    actor: Some(admin.actor().clone()),
                    subject: Some(account.email.clone()),
                    client_id: None,
                    ip: admin.ip().map(str::to_owned),
                    details: serde_json::json!({ "account_id": account.id, "removed": removed }),
                    at: self.ports.clock.now(),
                })
                .await;
        }
        Ok(removed)
    }
}
