//! RFC 8628 §3.3: a person looks up a code and approves or denies it.

use super::DeviceFlowService;
use crate::actor::Actor;
use crate::error::StoreError;
use crate::flow::{Decision, DeviceFlow, FlowChange, FlowKey, FlowStatus, Verdict};
use crate::formats::user_code::UserCode;
use crate::model::{AccessTokenRecord, Account, FlowSubject, LOCAL_ISSUER, SubjectId};
use crate::ports::{AuditEvent, AuditKind};
use crate::rate_limit::RateLimited;
use crate::rate_limit::{LimitError, Visitor};

/// What the `/device` page shows for a typed code, decided in one place.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalView {
    /// Unknown, expired, used, or decided by someone else: one generic
    /// answer, so codes reveal nothing about other people.
    Invalid,
    /// A pending code, and nobody signed in.
    SignInRequired { user_code: UserCode, client_name: String },
    /// The signed-in person already decided this request.
    Decided { approved: bool, flow: Box<DeviceFlow> },
    /// A pending request the signed-in person may approve or deny.
    Authorize(Box<AuthorizeRequest>),
}

/// A pending request, with what the page needs around it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizeRequest {
    pub flow: DeviceFlow,
    /// The active token approving would replace (rotation), if any.
    pub replaces: Option<AccessTokenRecord>,
    /// How long ago the device asked.
    pub requested_ago: chrono::Duration,
    /// How long the request has left.
    pub expires_in: chrono::Duration,
}

/// A pending code, as the lookup endpoint describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLookup {
    pub expires_in_remaining: i64,
    pub client_id: String,
    pub client_name: String,
}

/// Why a person's approve or deny did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// Unknown, expired or malformed code (one answer for all, so codes cannot be probed).
    #[error("expired_or_unknown")]
    ExpiredOrUnknown,
    #[error("already_resolved")]
    AlreadyResolved,
    /// Bearer authentication is switched off, so nothing may be approved.
    #[error("bearer_auth_disabled")]
    BearerAuthDisabled,
    /// The request asks for `admin`, and the approver is not an admin.
    #[error("admin_required")]
    AdminRequired,
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

crate::rate_limit::from_limit_error!(DecideError);

/// A person's decision on a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    Approve,
    Deny,
}

impl DeviceFlowService {
    /// The pending, unexpired flow for what a person typed, if any.
    pub async fn find_pending(&self, raw_user_code: &str) -> Result<Option<DeviceFlow>, StoreError> {
        let Some(code) = UserCode::normalize(raw_user_code) else {
            return Ok(None);
        };
        let now = self.ports.clock.now();
        Ok(self
            .ports
            .flows
            .find_by_user_code(&code, now)
            .await?
            .filter(|flow| flow.status == FlowStatus::Pending && !flow.is_expired(now)))
    }

    /// What `/v1/oauth/device/lookup` says about a typed code: `None` unless
    /// it names a pending, unexpired flow. A miss counts against `visitor`'s
    /// code-entry limits.
    pub async fn lookup(&self, raw_user_code: &str, visitor: &Visitor) -> Result<Option<CodeLookup>, LimitError> {
        Ok(self.pending_for(raw_user_code, visitor).await?.map(|flow| {
            // Whole seconds, rounded up: a flow with 0.4 s left is not expired.
            let remaining_ms = (flow.expires_at - self.ports.clock.now()).num_milliseconds().max(0);
            CodeLookup {
                expires_in_remaining: (remaining_ms + 999) / 1000,
                client_id: flow.client_id,
                client_name: flow.client_name,
            }
        }))
    }

    /// `find_pending` for what `visitor` typed, under its code-entry limits:
    /// a code naming no pending request counts as a failure.
    pub(crate) async fn pending_for(
        &self,
        raw_user_code: &str,
        visitor: &Visitor,
    ) -> Result<Option<DeviceFlow>, LimitError> {
        self.limits
            .code_entry(visitor, async {
                let flow = self.find_pending(raw_user_code).await?;
                let found = flow.is_some();
                Ok((flow, found))
            })
            .await
    }

    /// What the `/device` page shows `principal` for the code they typed.
    /// Reading never changes a flow; a code that shows nothing (`Invalid`)
    /// counts against `visitor`'s code-entry limits.
    pub async fn approval_view(
        &self,
        raw_user_code: &str,
        principal: Option<&crate::actor::Principal>,
        visitor: &Visitor,
    ) -> Result<ApprovalView, LimitError> {
        self.limits
            .code_entry(visitor, async {
                let view = self.view_for(raw_user_code, principal).await?;
                let hit = view != ApprovalView::Invalid;
                Ok((view, hit))
            })
            .await
    }

    async fn view_for(
        &self,
        raw_user_code: &str,
        principal: Option<&crate::actor::Principal>,
    ) -> Result<ApprovalView, StoreError> {
        let Some(flow) = self.find_any(raw_user_code).await? else {
            return Ok(ApprovalView::Invalid);
        };
        let now = self.ports.clock.now();
        let pending = flow.status == FlowStatus::Pending && !flow.is_expired(now);
        let Some(account) = principal.and_then(|p| p.account()) else {
            return Ok(if pending {
                ApprovalView::SignInRequired { user_code: flow.user_code, client_name: flow.client_name }
            } else {
                ApprovalView::Invalid
            });
        };
        if !pending {
            // Only the person who decided sees the outcome.
            let mine = flow.status.decision().is_some_and(|d| d.subject.account_id == Some(account.id));
            let approved = match &flow.status {
                FlowStatus::Denied { .. } => false,
                FlowStatus::Approved { .. } | FlowStatus::Redeeming { .. } | FlowStatus::Redeemed { .. } => true,
                _ => return Ok(ApprovalView::Invalid),
            };
            return Ok(if mine {
                ApprovalView::Decided { approved, flow: Box::new(flow) }
            } else {
                ApprovalView::Invalid
            });
        }
        let replaces = self.token_replaced_by_approving(&flow, &SubjectId::account(account.id)).await?;
        Ok(ApprovalView::Authorize(Box::new(AuthorizeRequest {
            requested_ago: now - flow.created_at,
            expires_in: flow.expires_at - now,
            flow,
            replaces,
        })))
    }

    /// The flow for what a person typed, whatever its state (for result pages).
    pub async fn find_any(&self, raw_user_code: &str) -> Result<Option<DeviceFlow>, StoreError> {
        match UserCode::normalize(raw_user_code) {
            Some(code) => self.ports.flows.find_by_user_code(&code, self.ports.clock.now()).await,
            None => Ok(None),
        }
    }

    /// The active token that approving `flow` as `subject` would replace,
    /// for the approval page's rotation notice.
    pub async fn token_replaced_by_approving(
        &self,
        flow: &DeviceFlow,
        subject: &SubjectId,
    ) -> Result<Option<AccessTokenRecord>, StoreError> {
        self.ports
            .tokens
            .find_active_for_device(subject, &flow.client_id, flow.device_label.as_deref().unwrap_or_default())
            .await
    }

    /// A signed-in account approves or denies the flow with this user code.
    /// Refused while `visitor` is over its code-entry limits (even for the
    /// right code) or the account over its approvals; a code naming no
    /// pending request counts as a code-entry failure.
    pub async fn decide_as_account(
        &self,
        raw_user_code: &str,
        account: &Account,
        kind: DecisionKind,
        visitor: &Visitor,
    ) -> Result<DeviceFlow, DecideError> {
        if kind == DecisionKind::Approve && !self.settings.enable_oauth_bearer {
            return Err(DecideError::BearerAuthDisabled);
        }
        let attempt = async {
            if kind == DecisionKind::Approve
                && let Err(limited) = self.limits.take_approval(&SubjectId::account(account.id)).await
            {
                // Over the approvals limit is not a wrong code.
                return Ok((Err(limited.into()), true));
            }
            let decided = match UserCode::normalize(raw_user_code) {
                None => Err(DecideError::ExpiredOrUnknown),
                Some(code)
                    if kind == DecisionKind::Approve
                        && !is_active_admin(account)
                        && self
                            .ports
                            .flows
                            .find_by_user_code(&code, self.ports.clock.now())
                            .await?
                            .is_some_and(|flow| asks_for_admin(&flow)) =>
                {
                    Err(DecideError::AdminRequired)
                }
                Some(code) => {
                    let subject = FlowSubject::new(Some(account.id), account.email.clone(), LOCAL_ISSUER.to_owned());
                    let actor = Actor::Account { email: account.email.clone() };
                    let identify = serde_json::json!({});
                    let key = FlowKey::UserCode(code);
                    match self.record_decision(key, subject, actor, kind, visitor.ip.clone(), identify).await? {
                        Recorded::Decided(flow) => Ok(*flow),
                        Recorded::Refused(Verdict::AlreadyResolved) => Err(DecideError::AlreadyResolved),
                        Recorded::Refused(_) | Recorded::NoFlow => Err(DecideError::ExpiredOrUnknown),
                    }
                }
            };
            let named_a_request = !matches!(decided, Err(DecideError::ExpiredOrUnknown));
            Ok::<_, DecideError>((decided, named_a_request))
        };
        self.limits.code_failures_of(visitor, attempt).await?
    }

    /// Records `subject`'s decision on the flow under `key` and audits it as
    /// done by `actor`: the one path for account and SSO decisions. The audit
    /// details are `identify` plus the flow's public id (never its user
    /// code), the device label and scopes.
    pub(crate) async fn record_decision(
        &self,
        key: FlowKey,
        subject: FlowSubject,
        actor: Actor,
        kind: DecisionKind,
        ip: Option<String>,
        mut identify: serde_json::Value,
    ) -> Result<Recorded, StoreError> {
        let now = self.ports.clock.now();
        let email = subject.email.clone();
        let decision = Decision { subject, at: now, from_ip: ip.clone() };
        let change = match kind {
            DecisionKind::Approve => FlowChange::Approve(decision),
            DecisionKind::Deny => FlowChange::Deny(decision),
        };
        let Some((flow, transition)) = self.ports.flows.apply(&key, &change, now).await? else {
            return Ok(Recorded::NoFlow);
        };
        if transition.verdict != Verdict::Decided {
            return Ok(Recorded::Refused(transition.verdict));
        }
        let flow = transition.next.unwrap_or(flow);
        crate::metrics::flow(match kind {
            DecisionKind::Approve => "approved",
            DecisionKind::Deny => "denied",
        });
        if kind == DecisionKind::Approve {
            self.notify_approved(&flow, &email, ip.as_deref(), now);
        }
        identify["flow"] = serde_json::json!(flow.public_id());
        identify["device_label"] = serde_json::json!(flow.device_label);
        identify["scopes"] = serde_json::json!(flow.scopes);
        self.ports
            .audit(AuditEvent {
                kind: match kind {
                    DecisionKind::Approve => AuditKind::DeviceApproved,
                    DecisionKind::Deny => AuditKind::DeviceDenied,
                },
                actor: Some(actor),
                subject: Some(email),
                client_id: Some(flow.client_id.clone()),
                ip,
                details: identify,
                at: now,
            })
            .await;
        Ok(Recorded::Decided(Box::new(flow)))
    }

    /// Emails the person a device was just approved for: the signal that
    /// gives device-code phishing away, since the victim approves a code
    /// the attacker's device asked for.
    fn notify_approved(
        &self,
        flow: &DeviceFlow,
        to: &str,
        approver_ip: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let Some(base_url) = crate::services::notifications::email_base(&self.settings, self.ports.mailer.as_ref())
        else {
            return;
        };
        let notice = crate::services::notifications::ApprovalNotice {
            flow,
            to,
            approver_ip,
            at,
            base_url,
            ipv6_prefix: self.settings.rate_limits.ipv6_prefix,
        };
        self.ports.mailer.queue(notice.email());
    }
}

/// Whether a request asks for the admin API's scope, which only an admin
/// may approve.
pub(crate) fn asks_for_admin(flow: &DeviceFlow) -> bool {
    flow.scopes.iter().any(|s| s == crate::scope::ADMIN)
}

fn is_active_admin(account: &Account) -> bool {
    account.is_admin && !account.disabled
}

/// What recording a decision did.
pub(crate) enum Recorded {
    Decided(Box<DeviceFlow>),
    /// The flow was there but the decision did not take effect.
    Refused(Verdict),
    /// No flow is retained under the key.
    NoFlow,
}
