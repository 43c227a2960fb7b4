//! Approving as the external subject: `approval_context` reads the grant,
//! `decide` spends it once.

use super::*;
use crate::actor::Actor;
use crate::flow::FlowKey;
use crate::formats::user_code::UserCode;
use crate::model::FlowSubject;
use crate::services::device_flow::{DecisionKind, Recorded};

impl SsoService {
    /// What the authorize-sso view shows, read from the approval-grant
    /// cookie, in the browser session that signed in. Reading spends nothing.
    pub async fn approval_context(
        &self,
        grant_cookie: Option<&str>,
        session_binding: Option<&str>,
    ) -> Result<ApprovalContext, SsoError> {
        let now = self.ports.clock.now();
        let grant = self.bound_grant(grant_cookie, session_binding, now).ok_or(SsoError::NoSession)?;
        if self.ports.single_use.peek(&format!("{GRANT_KEY}{}", grant.jti), now).await?.is_none() {
            return Err(SsoError::NoSession);
        }
        let flow = self.pending_flow(&grant.user_code, &grant.flow, now).await?;
        let replaces = self.device_flows.token_replaced_by_approving(&flow, &grant.subject().id()).await?;
        Ok(ApprovalContext {
            subject: grant.subject(),
            scopes: self.device_flows.scopes().catalog().await?.narrow(crate::TokenKind::External, &flow.scopes),
            csrf_token: grant.csrf,
            expires_at: DateTime::from_timestamp(grant.exp, 0).unwrap_or(now),
            request: AuthorizeRequest {
                requested_ago: now - flow.created_at,
                expires_in: flow.expires_at - now,
                flow,
                replaces,
            },
        })
    }

    /// `approve-external` and its deny twin: spends the approval grant once
    /// and decides the flow as its external subject.
    pub async fn decide(
        &self,
        grant_cookie: Option<&str>,
        session_binding: Option<&str>,
        csrf_token: &str,
        raw_user_code: &str,
        kind: DecisionKind,
        ip: Option<String>,
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
        // Checked before the grant is spent, so a refused person can still
        // deny. A flow no longer pending is left to the steps below, which
        // say whether the grant or the flow is gone.
        if kind == DecisionKind::Approve {
            let asks_for_admin = match self.pending_flow(&grant.user_code, &grant.flow, now).await {
                Ok(flow) => crate::services::device_flow::asks_for_admin(&flow),
                Err(SsoError::UserCodeNotPending) => false,
                Err(err) => return Err(err),
            };
            if asks_for_admin
                && !self.ports.accounts.find_sso_person(&grant.subject().id()).await?.is_some_and(|p| p.is_admin)
            {
                return Err(SsoError::AdminRequired);
            }
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
        let identify = serde_json::json!({ "issuer": grant.iss, "sub": grant.sub, "flow": grant.flow });
        let flow_subject = FlowSubject {
            sub: Some(subject.sub.clone()),
            provider_token: record.provider_token,
            ..FlowSubject::new(None, subject.email.clone(), subject.issuer.clone())
        };
        let actor = Actor::External { email: subject.email.clone() };
        let key = FlowKey::DeviceCodeHash(flow.device_code_hash.clone());
        let flow = match self.device_flows.record_decision(key, flow_subject, actor, kind, ip, identify).await? {
            Recorded::Decided(flow) => *flow,
            Recorded::Refused(_) | Recorded::NoFlow => return Err(SsoError::UserCodeNotPending),
        };
        Ok((flow, subject))
    }
}
