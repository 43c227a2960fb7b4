//! Approving as the external subject: `approval_context` reads the grant,
//! `decide` spends it once.

use super::*;
use crate::actor::Actor;
use crate::flow::FlowKey;
use crate::formats::user_code::UserCode;
use crate::model::FlowSubject;
use crate::rate_limit::Visitor;
use crate::services::device_flow::{DecideError, Decider, DecisionKind, Recorded};

impl SsoService {
    /// What the authorize-sso view shows, read from the approval-grant
    /// cookie, in the browser session that signed in. Reading spends nothing.
    pub async fn approval_context(
        &self,
        grant_cookie: Option<&str>,
        session_binding: Option<&str>,
        visitor: &Visitor,
    ) -> Result<ApprovalContext, SsoError> {
        let now = self.ports.clock.now();
        let grant = self.bound_grant(grant_cookie, session_binding, now).ok_or(SsoError::NoSession)?;
        if self.ports.single_use.peek(&format!("{GRANT_KEY}{}", grant.jti), now).await?.is_none() {
            return Err(SsoError::NoSession);
        }
        let flow = self.pending_flow(&grant.user_code, &grant.flow, now).await?;
        let decider = self.decider(&grant, FlowSubject::new(None, grant.email.clone(), grant.iss.clone())).await?;
        let refused = self.device_flows.policy_refusal(&flow, &decider, DecisionKind::Approve, visitor, now);
        let replaces = self.device_flows.token_replaced_by_approving(&flow, &grant.subject().id()).await?;
        let me = decider.holder(visitor, now);
        let opened_by_someone_else =
            flow.policy.one_person_per_code && flow.holders.first.as_ref().is_some_and(|first| first.is_other(&me));
        Ok(ApprovalContext {
            subject: grant.subject(),
            scopes: self.device_flows.scopes().catalog().await?.narrow(crate::TokenKind::External, &flow.scopes),
            csrf_token: grant.csrf,
            expires_at: DateTime::from_timestamp(grant.exp, 0).unwrap_or(now),
            refused: refused.map(Box::new),
            request: AuthorizeRequest {
                requested_ago: now - flow.created_at,
                expires_in: flow.expires_at - now,
                flow,
                replaces,
                opened_by_someone_else,
            },
        })
    }

    /// The grant's person as the approval policy judges them: admin rights
    /// as recorded at their last sign-in, and the groups the grant carries.
    async fn decider(&self, grant: &GrantClaims, subject: FlowSubject) -> Result<Decider, StoreError> {
        let external = grant.subject();
        let is_admin = self.ports.accounts.find_sso_person(&external.id()).await?.is_some_and(|p| p.is_admin);
        Ok(Decider {
            subject: FlowSubject { sub: Some(external.sub.clone()), ..subject },
            actor: Actor::External { email: external.email.clone() },
            is_admin,
            groups: grant.groups.clone(),
            through_sso: true,
            identify: serde_json::json!({ "issuer": grant.iss, "sub": grant.sub, "flow": grant.flow }),
        })
    }

    /// `approve-external` and its deny twin: spends the approval grant once
    /// and decides the flow as its external subject.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide(
        &self,
        grant_cookie: Option<&str>,
        session_binding: Option<&str>,
        csrf_token: &str,
        raw_user_code: &str,
        kind: DecisionKind,
        visitor: &Visitor,
    ) -> Result<(DeviceFlow, ExternalSubject), SsoError> {
        if kind == DecisionKind::Approve && !self.settings.enable_oauth_bearer {
            return Err(SsoError::BearerAuthDisabled);
        }
        let now = self.ports.clock.now();
        let grant = self.bound_grant(grant_cookie, session_binding, now).ok_or(SsoError::InvalidSession)?;
        if !SecretString::new(grant.csrf.clone()).constant_time_eq(csrf_token) {
            return Err(SsoError::CsrfMismatch);
        }
        if UserCode::normalize(raw_user_code).map(|c| c.display()).as_deref() != Some(grant.user_code.as_str()) {
            return Err(SsoError::UserCodeMismatch);
        }
        // Checked before the grant is spent, so a person the policy refuses
        // can still deny. A flow no longer pending is left to the steps
        // below, which say whether the grant or the flow is gone.
        let subject = FlowSubject::new(None, grant.email.clone(), grant.iss.clone());
        let mut decider = self.decider(&grant, subject).await?;
        match self.pending_flow(&grant.user_code, &grant.flow, now).await {
            Ok(flow) => {
                let checked = self.device_flows.check_decision(&flow, &decider, kind, visitor, now).await;
                checked.map_err(|err| match err {
                    DecideError::AdminRequired => SsoError::AdminRequired,
                    DecideError::Refused(refused) => SsoError::Refused(refused),
                    DecideError::Unavailable(err) => SsoError::Unavailable(err),
                    _ => SsoError::UserCodeNotPending,
                })?;
            }
            Err(SsoError::UserCodeNotPending) => {}
            Err(err) => return Err(err),
        }
        let Some(stored) = self.ports.single_use.take(&format!("{GRANT_KEY}{}", grant.jti), now).await? else {
            return Err(SsoError::SessionAlreadyConsumed);
        };
        // A record from before it held anything reads as holding nothing.
        let record: GrantRecord = serde_json::from_str(&stored).unwrap_or_default();
        let flow = self.pending_flow(&grant.user_code, &grant.flow, now).await?;
        let subject = grant.subject();
        if kind == DecisionKind::Approve {
            self.device_flows.limits().take_approval(&subject.id()).await?;
        }
        decider.subject.provider_token = record.provider_token;
        let key = FlowKey::DeviceCodeHash(flow.device_code_hash.clone());
        let flow = match self.device_flows.record_decision(key, &decider, kind, visitor, now).await? {
            Recorded::Decided(flow) => *flow,
            Recorded::Shared(refused) => return Err(SsoError::Refused(refused)),
            Recorded::Refused(_) | Recorded::NoFlow => return Err(SsoError::UserCodeNotPending),
        };
        Ok((flow, subject))
    }
}
