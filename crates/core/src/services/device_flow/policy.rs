//! The client's approval policy at the moments a person takes a code up:
//! entering it at `/device`, approving or denying it (RFC 10027's
//! mitigations; the rules themselves are pure, in `approval_policy` and
//! `flow`). A refusal is audited and counted and changes nothing; a second
//! person taking up a code ends its flow and revokes what it produced.

use super::{DecisionKind, DeviceFlowService};
use crate::actor::Actor;
use crate::approval_policy::{ApprovalEvidence, Approver, ApproverNetwork, Approvers, Proximity, Refusal};
use crate::error::StoreError;
use crate::flow::{CodeHolder, DeviceFlow};
use crate::model::{Account, FlowSubject, LOCAL_ISSUER};
use crate::ports::{AuditEvent, AuditKind};
use crate::rate_limit::{Visitor, network_of};
use crate::services::notifications;
use crate::services::revocation::RevokedBy;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Why the policy turned a person away, with what the page shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRefusal {
    pub refusal: Refusal,
    pub client_name: String,
    /// The device's network and the person's, as compared (`None`: an
    /// address Gatehouse could not establish).
    pub device_network: Option<String>,
    pub your_network: Option<String>,
    /// For `code_too_old`: how long after the device asked a code may be used.
    pub max_code_age_secs: Option<u32>,
    /// Where the client's approvers must be, and who they must be.
    pub approver_network: ApproverNetwork,
    pub approvers: Approvers,
}

/// The person entering or deciding a code, as the policy judges them.
#[derive(Debug, Clone)]
pub struct Decider {
    pub subject: FlowSubject,
    /// Who the audit trail names.
    pub actor: Actor,
    /// Gatehouse admin rights (an active admin account, or an SSO person
    /// whose groups grant them).
    pub is_admin: bool,
    /// The groups of their last SSO sign-in; none for a local account.
    pub groups: Vec<String>,
    /// They signed in through the SSO provider (phishing-resistant as far
    /// as Gatehouse can tell: the password is typed at the provider).
    pub through_sso: bool,
    /// What the audit details identify them by, beside the flow.
    pub identify: serde_json::Value,
}

impl Decider {
    /// The person as one person per code tells people apart.
    pub(crate) fn holder(&self, visitor: &Visitor, at: DateTime<Utc>) -> CodeHolder {
        CodeHolder::of(&crate::flow::Decision {
            subject: self.subject.clone(),
            at,
            from_ip: visitor.ip.clone(),
            browser: visitor.browser.clone(),
            from_ip_proven: visitor.ip_proven,
        })
    }
}

impl DeviceFlowService {
    /// The two networks as the page and the audit trail show them.
    fn networks(&self, flow: &DeviceFlow, visitor: &Visitor) -> (Option<String>, Option<String>) {
        let prefix = self.settings.rate_limits.ipv6_prefix;
        let shown = |ip: Option<std::net::IpAddr>| ip.map(|ip| network_of(&ip.to_string(), prefix).into_owned());
        (shown(flow.requester_address()), shown(visitor.proven_address()))
    }

    /// How the person's network compares with the device's.
    pub(crate) fn proximity(&self, flow: &DeviceFlow, visitor: &Visitor) -> Proximity {
        Proximity::of(flow.requester_address(), visitor.proven_address(), self.settings.rate_limits.ipv6_prefix)
    }

    /// Whether the policy `flow` is judged by lets `decider`, seen as
    /// `visitor`, make a decision of `kind` (entering a code counts as
    /// approving) at `now`. A denial is judged by the code's age alone.
    /// Pure reading: the page asks it before anyone decides.
    pub(crate) fn policy_refusal(
        &self,
        flow: &DeviceFlow,
        decider: &Decider,
        kind: DecisionKind,
        visitor: &Visitor,
        now: DateTime<Utc>,
    ) -> Option<PolicyRefusal> {
        let refusal = if flow.policy.too_old(flow.created_at, now) && !flow.is_expired(now) {
            Some(Refusal::CodeTooOld)
        } else if kind == DecisionKind::Deny {
            None
        } else {
            let approver = Approver {
                address: visitor.proven_address(),
                is_admin: decider.is_admin,
                groups: &decider.groups,
                phishing_resistant: decider.through_sso || visitor.passkey,
            };
            let judged =
                flow.policy.judge_approver(flow.requester_address(), &approver, self.settings.rate_limits.ipv6_prefix);
            // Admin rights behind a passkey (GATEHOUSE_ADMINS_REQUIRE_PASSKEY)
            // cover granting them to a device too.
            let admin_needs_passkey = self.settings.admins_require_passkey
                && super::approval::asks_for_admin(flow)
                && !approver.phishing_resistant;
            judged.err().or(admin_needs_passkey.then_some(Refusal::PasskeyRequired))
        }?;
        Some(self.refusal_of(flow, visitor, refusal))
    }

    /// `refusal` of `visitor` for `flow`, with what the page shows about it.
    fn refusal_of(&self, flow: &DeviceFlow, visitor: &Visitor, refusal: Refusal) -> PolicyRefusal {
        let (device_network, your_network) = self.networks(flow, visitor);
        PolicyRefusal {
            refusal,
            client_name: flow.client_name.clone(),
            device_network,
            your_network,
            max_code_age_secs: flow.policy.max_code_age_secs,
            approver_network: flow.policy.approver_network,
            approvers: flow.policy.approvers.clone(),
        }
    }

    /// `policy_refusal`, audited and counted when it refuses: the flow
    /// stays as it was, for the right person to decide.
    pub(crate) async fn judge(
        &self,
        flow: &DeviceFlow,
        decider: &Decider,
        kind: DecisionKind,
        visitor: &Visitor,
        now: DateTime<Utc>,
    ) -> Result<(), Box<PolicyRefusal>> {
        let Some(refused) = self.policy_refusal(flow, decider, kind, visitor, now) else {
            return Ok(());
        };
        crate::metrics::approval(self.proximity(flow, visitor), refused.refusal.as_str());
        let mut details = decider.identify.clone();
        details["flow"] = serde_json::json!(flow.public_id());
        details["refusal"] = serde_json::json!(refused.refusal.as_str());
        details["device_network"] = serde_json::json!(refused.device_network);
        details["approver_network"] = serde_json::json!(refused.your_network);
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::DeviceApprovalRefused,
                actor: Some(decider.actor.clone()),
                subject: Some(decider.subject.email.clone()),
                client_id: Some(flow.client_id.clone()),
                ip: visitor.ip.clone(),
                details,
                at: now,
            })
            .await;
        Err(Box::new(refused))
    }

    /// A second person took up `flow`'s code, which `first` already had:
    /// the flow has ended (the state store recorded it); the grant it
    /// produced, if any, is revoked on every instance now, and both people
    /// and both networks go in the audit trail.
    pub(crate) async fn code_shared(
        &self,
        flow: &DeviceFlow,
        first: &CodeHolder,
        second: &Decider,
        visitor: &Visitor,
        revoke: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Box<PolicyRefusal>, StoreError> {
        crate::metrics::flow("shared");
        crate::metrics::approval(self.proximity(flow, visitor), Refusal::CodeShared.as_str());
        let prefix = self.settings.rate_limits.ipv6_prefix;
        let network = |ip: Option<&str>| ip.map(|ip| network_of(ip, prefix).into_owned());
        let mut details = second.identify.clone();
        details["flow"] = serde_json::json!(flow.public_id());
        details["first"] = serde_json::json!({ "email": first.email, "network": network(first.ip.as_deref()) });
        details["second"] =
            serde_json::json!({ "email": second.subject.email, "network": network(visitor.ip.as_deref()) });
        details["device_network"] = serde_json::json!(network(flow.requester_ip.as_deref()));
        details["revoked_token_id"] = serde_json::json!(revoke);
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::DeviceCodeShared,
                actor: Some(second.actor.clone()),
                subject: Some(first.email.clone()),
                client_id: Some(flow.client_id.clone()),
                ip: visitor.ip.clone(),
                details,
                at: now,
            })
            .await;
        if let Some(token_id) = revoke {
            self.ports.revoke_tokens(&[token_id], &Actor::System, RevokedBy::CodeShared, visitor.ip.as_deref()).await?;
        }
        if let Some(base_url) = notifications::email_base(&self.settings, self.ports.mailer.as_ref()) {
            for (to, first_one) in [(first.email.as_str(), true), (second.subject.email.as_str(), false)] {
                let email = notifications::code_shared_email(flow, to, first_one, revoke.is_some(), now, base_url);
                self.ports.mailer.queue(email);
            }
        }
        Ok(Box::new(self.refusal_of(flow, visitor, Refusal::CodeShared)))
    }

    /// What `flow`'s approval was judged on, for its grant to keep. A flow
    /// whose client requires confirmation is claimed only with the right code.
    pub(super) fn evidence(&self, flow: &DeviceFlow) -> ApprovalEvidence {
        let prefix = self.settings.rate_limits.ipv6_prefix;
        let approver = flow.status.decision().and_then(crate::flow::Decision::address);
        let network = |ip: Option<std::net::IpAddr>| ip.map(|ip| network_of(&ip.to_string(), prefix).into_owned());
        ApprovalEvidence {
            device_network: network(flow.requester_address()),
            approver_network: network(approver),
            proximity: Proximity::of(flow.requester_address(), approver, prefix),
            policy: flow.policy.clone(),
            confirmed_on_device: flow.needs_confirmation(),
        }
    }
}

/// A signed-in account as the policy judges it.
pub(crate) fn account_decider(account: &Account) -> Decider {
    Decider {
        subject: FlowSubject::new(Some(account.id), account.email.clone(), LOCAL_ISSUER.to_owned()),
        actor: Actor::Account { email: account.email.clone() },
        is_admin: account.is_admin && !account.disabled,
        groups: Vec::new(),
        through_sso: false,
        identify: serde_json::json!({}),
    }
}

/// Nobody signed in: only the code's age can be judged.
pub(super) fn anonymous_decider() -> Decider {
    Decider {
        subject: FlowSubject::new(None, String::new(), String::new()),
        actor: Actor::System,
        is_admin: false,
        groups: Vec::new(),
        through_sso: false,
        identify: serde_json::json!({}),
    }
}
