//! RFC 8628 §3.3: a person looks up a code and approves or denies it.

use super::DeviceFlowService;
use super::policy::{Decider, PolicyRefusal, account_decider, anonymous_decider};

use crate::error::StoreError;
use crate::flow::{Decision, DeviceFlow, FlowChange, FlowKey, FlowStatus, Verdict};
use crate::formats::user_code::UserCode;
use crate::model::{AccessTokenRecord, Account, SubjectId};
use crate::ports::{AuditEvent, AuditKind};
use crate::rate_limit::RateLimited;
use crate::rate_limit::{LimitError, Visitor};
use chrono::{DateTime, Utc};

/// What the `/device` page shows for a typed code, decided in one place.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalView {
    /// Unknown, expired, used, or decided by someone else: one generic
    /// answer, so codes reveal nothing about other people.
    Invalid,
    /// A pending code, and nobody signed in.
    SignInRequired { user_code: UserCode, client_name: String },
    /// The signed-in person already decided this request. For a client
    /// that requires the device to confirm, `confirmation_code` is what the
    /// person types on the device, until it is redeemed.
    Decided { approved: bool, flow: Box<DeviceFlow>, confirmation_code: Option<String> },
    /// A pending request the signed-in person may approve or deny.
    Authorize(Box<AuthorizeRequest>),
    /// The client's approval policy turns this person away; the request
    /// stays pending for someone it admits.
    Refused(Box<PolicyRefusal>),
    /// The code was shared: a second person took it up after a first, so
    /// the request ended. Shown to either of the two.
    Shared { you_were_first: bool, client_name: String },
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
    /// Someone else already entered or decided this code: approving or
    /// denying it now ends it (one person per code).
    pub opened_by_someone_else: bool,
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
    /// The client's approval policy refused the person, or the code was
    /// shared; the page explains which.
    #[error("{}", .0.refusal.as_str())]
    Refused(Box<PolicyRefusal>),
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
        Ok(self.ports.flows.find_by_user_code(&code, now).await?.filter(|flow| flow.is_open(now)))
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
        self.counted_view(raw_user_code, principal, visitor, false).await
    }

    /// A signed-in person entered a code at `/device` (a form they sent,
    /// not a link they followed): unless the policy turns them away, they
    /// become its first holder, or, when someone else already is, its
    /// second, which ends the flow (one person per code). Then the view,
    /// as `approval_view` gives it, under the same limits.
    pub async fn enter_code(
        &self,
        raw_user_code: &str,
        principal: Option<&crate::actor::Principal>,
        visitor: &Visitor,
    ) -> Result<ApprovalView, LimitError> {
        self.counted_view(raw_user_code, principal, visitor, true).await
    }

    /// The view of a typed code under the code-entry limits (a code that
    /// shows nothing counts as a failure), having first taken the code up
    /// as the signed-in account when `take_up`.
    async fn counted_view(
        &self,
        raw_user_code: &str,
        principal: Option<&crate::actor::Principal>,
        visitor: &Visitor,
        take_up: bool,
    ) -> Result<ApprovalView, LimitError> {
        self.limits
            .code_entry(visitor, async {
                if take_up
                    && let (Some(account), Some(code)) =
                        (principal.and_then(|p| p.account()), UserCode::normalize(raw_user_code))
                {
                    // Boxed: taking a code up (and ending a shared flow) is a
                    // deep future, and the page's plain views must not carry it.
                    Box::pin(self.open_as(&code, &account_decider(account), visitor)).await?;
                }
                let view = self.view_for(raw_user_code, principal, visitor).await?;
                let hit = view != ApprovalView::Invalid;
                Ok((view, hit))
            })
            .await
    }

    /// Records `decider` as a holder of the open flow under `code`, unless
    /// the policy refuses them (a refused person is no holder).
    async fn open_as(&self, code: &UserCode, decider: &Decider, visitor: &Visitor) -> Result<(), StoreError> {
        let now = self.ports.clock.now();
        let Some(flow) = self.ports.flows.find_by_user_code(code, now).await? else {
            return Ok(());
        };
        let refused = self.policy_refusal(&flow, decider, DecisionKind::Approve, visitor, now).is_some();
        if flow.was_shared() || flow.is_expired(now) || refused {
            return Ok(());
        }
        let key = FlowKey::DeviceCodeHash(flow.device_code_hash.clone());
        let change = FlowChange::Open(decider.holder(visitor, now));
        if let Some((flow, transition)) = self.ports.flows.apply(&key, &change, now).await?
            && let Verdict::CodeShared { first, revoke } = transition.verdict
        {
            self.code_shared(&flow, &first, decider, visitor, revoke, now).await?;
        }
        Ok(())
    }

    async fn view_for(
        &self,
        raw_user_code: &str,
        principal: Option<&crate::actor::Principal>,
        visitor: &Visitor,
    ) -> Result<ApprovalView, StoreError> {
        let Some(flow) = self.find_any(raw_user_code).await? else {
            return Ok(ApprovalView::Invalid);
        };
        let now = self.ports.clock.now();
        let account = principal.and_then(|p| p.account());
        let me = account.map(|account| account_decider(account).holder(visitor, now));
        if flow.was_shared() {
            let is = |holder: &Option<crate::flow::CodeHolder>| {
                holder.as_ref().zip(me.as_ref()).is_some_and(|(holder, me)| holder.subject == me.subject)
            };
            return Ok(if is(&flow.holders.first) || is(&flow.holders.second) {
                ApprovalView::Shared { you_were_first: is(&flow.holders.first), client_name: flow.client_name }
            } else {
                ApprovalView::Invalid
            });
        }
        // Too old to enter, though not expired: said plainly, to anyone.
        if flow.status == FlowStatus::Pending && !flow.is_expired(now) && flow.policy.too_old(flow.created_at, now) {
            let anyone = account.map_or_else(anonymous_decider, account_decider);
            if let Some(refused) = self.policy_refusal(&flow, &anyone, DecisionKind::Deny, visitor, now) {
                return Ok(ApprovalView::Refused(Box::new(refused)));
            }
        }
        let pending = flow.is_open(now);
        let Some(account) = account else {
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
                // The device never confirmed: denied after all.
                _ if flow.confirmation_failed() => false,
                FlowStatus::Denied { .. } => false,
                FlowStatus::Approved { .. } | FlowStatus::Redeeming { .. } | FlowStatus::Redeemed { .. } => true,
                _ => return Ok(ApprovalView::Invalid),
            };
            let awaiting = flow.needs_confirmation() && matches!(flow.status, FlowStatus::Approved { .. });
            let confirmation_code = awaiting.then(|| self.confirmation_code(&flow));
            return Ok(if mine {
                ApprovalView::Decided { approved, flow: Box::new(flow), confirmation_code }
            } else {
                ApprovalView::Invalid
            });
        }
        let decider = account_decider(account);
        if let Some(refused) = self.policy_refusal(&flow, &decider, DecisionKind::Approve, visitor, now) {
            return Ok(ApprovalView::Refused(Box::new(refused)));
        }
        let opened_by_someone_else = flow.policy.one_person_per_code
            && flow.holders.first.as_ref().zip(me.as_ref()).is_some_and(|(first, me)| first.is_other(me));
        let replaces = self.token_replaced_by_approving(&flow, &SubjectId::account(account.id)).await?;
        Ok(ApprovalView::Authorize(Box::new(AuthorizeRequest {
            requested_ago: now - flow.created_at,
            expires_in: flow.expires_at - now,
            flow,
            replaces,
            opened_by_someone_else,
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
                Some(code) => self.decide_code(&code, &account_decider(account), kind, visitor).await,
            };
            let named_a_request = !matches!(decided, Err(DecideError::ExpiredOrUnknown));
            Ok::<_, DecideError>((decided, named_a_request))
        };
        self.limits.code_failures_of(visitor, attempt).await?
    }

    /// `decider`'s decision on the flow with this user code, as
    /// `decide_as_account` and the SSO branch make it: refused while the
    /// request asks for `admin` and they are not an admin, or while its
    /// client's approval policy turns them away (nothing changes, and the
    /// request stays for someone it admits).
    pub(crate) async fn decide_code(
        &self,
        code: &UserCode,
        decider: &Decider,
        kind: DecisionKind,
        visitor: &Visitor,
    ) -> Result<DeviceFlow, DecideError> {
        let now = self.ports.clock.now();
        let Some(flow) = self.ports.flows.find_by_user_code(code, now).await? else {
            return Err(DecideError::ExpiredOrUnknown);
        };
        self.check_decision(&flow, decider, kind, visitor, now).await?;
        let key = FlowKey::DeviceCodeHash(flow.device_code_hash.clone());
        match self.record_decision(key, decider, kind, visitor, now).await? {
            Recorded::Decided(flow) => Ok(*flow),
            Recorded::Shared(refused) => Err(DecideError::Refused(refused)),
            Recorded::Refused(Verdict::AlreadyResolved) => Err(DecideError::AlreadyResolved),
            Recorded::Refused(_) | Recorded::NoFlow => Err(DecideError::ExpiredOrUnknown),
        }
    }

    /// Whether `decider` may make this decision on `flow` at all: an
    /// approval of a request for `admin` needs an admin, and one the
    /// client's approval policy refuses changes nothing (the request stays
    /// for someone it admits; a refused person is no second person for one
    /// person per code either). A denial is judged by the code's age alone:
    /// anyone holding the code may stop it.
    pub(crate) async fn check_decision(
        &self,
        flow: &DeviceFlow,
        decider: &Decider,
        kind: DecisionKind,
        visitor: &Visitor,
        now: DateTime<Utc>,
    ) -> Result<(), DecideError> {
        if flow.is_expired(now) || flow.was_shared() {
            return Ok(());
        }
        let pending = flow.status == FlowStatus::Pending;
        if pending && kind == DecisionKind::Approve && !decider.is_admin && asks_for_admin(flow) {
            return Err(DecideError::AdminRequired);
        }
        self.judge(flow, decider, kind, visitor, now).await.map_err(DecideError::Refused)
    }

    /// Records `decider`'s decision on the flow under `key` and audits it:
    /// the one path for account and SSO decisions. The audit details are
    /// the decider's `identify` plus the flow's public id (never its user
    /// code), the device label and scopes, and how the networks compared.
    pub(crate) async fn record_decision(
        &self,
        key: FlowKey,
        decider: &Decider,
        kind: DecisionKind,
        visitor: &Visitor,
        now: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        let email = decider.subject.email.clone();
        let decision = Decision {
            subject: decider.subject.clone(),
            at: now,
            from_ip: visitor.ip.clone(),
            browser: visitor.browser.clone(),
            from_ip_proven: visitor.ip_proven,
        };
        let change = match kind {
            DecisionKind::Approve => FlowChange::Approve(decision),
            DecisionKind::Deny => FlowChange::Deny(decision),
        };
        let Some((flow, transition)) = self.ports.flows.apply(&key, &change, now).await? else {
            return Ok(Recorded::NoFlow);
        };
        match transition.verdict {
            Verdict::Decided => {}
            Verdict::CodeShared { first, revoke } => {
                let refused = self.code_shared(&flow, &first, decider, visitor, revoke, now).await?;
                return Ok(Recorded::Shared(refused));
            }
            verdict => return Ok(Recorded::Refused(verdict)),
        }
        let flow = transition.next.unwrap_or(flow);
        let proximity = self.proximity(&flow, visitor);
        let outcome = match kind {
            DecisionKind::Approve => "approved",
            DecisionKind::Deny => "denied",
        };
        crate::metrics::flow(outcome);
        crate::metrics::approval(proximity, outcome);
        if kind == DecisionKind::Approve {
            self.notify_approved(&flow, &email, visitor.ip.as_deref(), now);
        }
        let mut details = decider.identify.clone();
        details["flow"] = serde_json::json!(flow.public_id());
        details["device_label"] = serde_json::json!(flow.device_label);
        details["scopes"] = serde_json::json!(flow.scopes);
        details["proximity"] = serde_json::json!(proximity.as_str());
        self.ports
            .audit(AuditEvent {
                kind: match kind {
                    DecisionKind::Approve => AuditKind::DeviceApproved,
                    DecisionKind::Deny => AuditKind::DeviceDenied,
                },
                actor: Some(decider.actor.clone()),
                subject: Some(email),
                client_id: Some(flow.client_id.clone()),
                ip: visitor.ip.clone(),
                details,
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

/// What recording a decision did.
pub(crate) enum Recorded {
    Decided(Box<DeviceFlow>),
    /// A second person decided a code a first person had: the flow ended.
    Shared(Box<PolicyRefusal>),
    /// The flow was there but the decision did not take effect.
    Refused(Verdict),
    /// No flow is retained under the key.
    NoFlow,
}
