//! Signing in with a passkey (a discoverable credential: no address typed
//! first), and a signed-in person proving themselves again with one
//! (step-up, for an approval or admin rights that require it).

use super::{PasskeyError, PasskeyService, Purpose, Started};
use crate::model::Account;
use crate::ports::{AuditEvent, AuditKind, CeremonyFailure, PasskeyRecord};
use crate::rate_limit::{Limiter, Visitor};
use crate::services::accounts::SignedIn;
use serde::{Deserialize, Serialize};

/// How a browser session was signed in to a local account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    Password,
    /// A passkey: phishing-resistant (the browser binds it to this site).
    Passkey,
}

impl PasskeyService {
    /// Starts a sign-in with any passkey of this site.
    pub async fn start_sign_in(&self, visitor: &Visitor) -> Result<Started, PasskeyError> {
        self.check_on()?;
        let start = self.ports.passkey_verifier.start_sign_in()?;
        let ceremony_id = self.keep(Purpose::SignIn, start.state, visitor).await?;
        Ok(Started { ceremony_id, options: start.options })
    }

    /// Finishes a sign-in: the account the passkey belongs to, if it is
    /// active. Failures count against the address like wrong passwords.
    pub async fn finish_sign_in(
        &self,
        ceremony_id: &str,
        answer: &serde_json::Value,
        visitor: &Visitor,
    ) -> Result<SignedIn, PasskeyError> {
        self.check_on()?;
        let state = self.take(ceremony_id, Purpose::SignIn).await?;
        let (signed_in, _) = self.verify(&state, answer, visitor).await?;
        Ok(signed_in)
    }

    /// Starts a signed-in `account`'s step-up.
    pub async fn start_step_up(&self, account: &Account, visitor: &Visitor) -> Result<Started, PasskeyError> {
        self.check_on()?;
        if self.ports.passkeys.list(account.id).await?.is_empty() {
            return Err(PasskeyError::NoPasskey);
        }
        let start = self.ports.passkey_verifier.start_sign_in()?;
        let ceremony_id = self.keep(Purpose::StepUp { account: account.id }, start.state, visitor).await?;
        Ok(Started { ceremony_id, options: start.options })
    }

    /// Finishes a step-up: the passkey must be one of `account`'s own.
    pub async fn finish_step_up(
        &self,
        account: &Account,
        ceremony_id: &str,
        answer: &serde_json::Value,
        visitor: &Visitor,
    ) -> Result<SignedIn, PasskeyError> {
        self.check_on()?;
        let state = self.take(ceremony_id, Purpose::StepUp { account: account.id }).await?;
        let (signed_in, _) = self.verify(&state, answer, visitor).await?;
        if signed_in.account.id != account.id {
            return Err(PasskeyError::WrongAccount);
        }
        Ok(signed_in)
    }

    /// Verifies a sign-in answer under the sign-in failure limit of the
    /// address, and records the use.
    async fn verify(
        &self,
        state: &str,
        answer: &serde_json::Value,
        visitor: &Visitor,
    ) -> Result<(SignedIn, PasskeyRecord), PasskeyError> {
        let failure_keys = [(Limiter::SignInFailuresPerIp, visitor.ip.as_deref())];
        let checked = self
            .limits
            .failures_of(&failure_keys, async {
                match self.check_answer(state, answer, visitor).await {
                    // A fault is not a failed sign-in: its unit is kept
                    // only until the limiter's refill.
                    Err(PasskeyError::Unavailable(err)) => Err(PasskeyError::Unavailable(err)),
                    checked => {
                        let ok = checked.is_ok();
                        Ok((checked, ok))
                    }
                }
            })
            .await?;
        let (signed_in, record) = checked?;
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::PasskeySignedIn,
                actor: Some(crate::actor::Actor::Account { email: signed_in.account.email.clone() }),
                subject: Some(signed_in.account.email.clone()),
                client_id: None,
                ip: visitor.ip.clone(),
                details: serde_json::json!({ "passkey_id": record.id, "name": record.name }),
                at: self.ports.clock.now(),
            })
            .await;
        Ok((signed_in, record))
    }

    async fn check_answer(
        &self,
        state: &str,
        answer: &serde_json::Value,
        visitor: &Visitor,
    ) -> Result<(SignedIn, PasskeyRecord), PasskeyError> {
        let (credential_id, user_handle) = match self.ports.passkey_verifier.claimed(answer) {
            Ok(claimed) => claimed,
            Err(failure) => {
                self.audit_failure(None, &failure, visitor).await;
                return Err(failure.into());
            }
        };
        let read_at = self.ports.clock.now();
        let found = self.ports.passkeys.find_by_credential_id(&credential_id).await?;
        let Some(record) = found.filter(|record| record.account_id == user_handle) else {
            self.audit_failure(None, &CeremonyFailure::Rejected("unknown credential".into()), visitor).await;
            return Err(PasskeyError::UnknownPasskey);
        };
        let Some(account) = self.ports.accounts.find_by_id(record.account_id).await?.filter(|a| !a.disabled) else {
            return Err(PasskeyError::UnknownPasskey);
        };
        let used = match self.ports.passkey_verifier.finish_sign_in(state, answer, &record.credential) {
            Ok(used) => used,
            Err(failure) => {
                self.audit_failure(Some(account.email.clone()), &failure, visitor).await;
                return Err(failure.into());
            }
        };
        self.ports.passkeys.record_use(record.id, &used.credential, used.backed_up, self.ports.clock.now()).await?;
        Ok((SignedIn { account, read_at, method: SignInMethod::Passkey }, record))
    }
}
