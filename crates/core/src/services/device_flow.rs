//! The device authorization grant: start, look up, decide, poll and redeem.

use super::clients::{ClientAuthError, ClientService};
use super::limits::{LimitError, RateLimitService, Visitor};
use super::{Ports, Settings};
use crate::actor::Actor;
use crate::error::{OAuthError, OAuthErrorCode, StoreError};
use crate::flow::{Decision, DeviceFlow, FlowChange, FlowKey, FlowStatus, Verdict};
use crate::formats::device_code::DeviceCode;
use crate::formats::token::{BearerToken, TokenKind};
use crate::formats::user_code::UserCode;
use crate::model::{AccessTokenRecord, Account, FlowSubject, LOCAL_ISSUER, NewAccessToken, WorkspaceMembership};
use crate::ports::{AuditEvent, AuditKind, Inserted};
use crate::rate_limit::{Limiter, RateLimited};
use crate::scope;
use crate::secret::SecretString;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use uuid::Uuid;

/// Longest accepted `device_label`, in characters.
pub const DEVICE_LABEL_MAX_CHARS: usize = 64;
/// The requester's User-Agent is kept (and shown) up to this many
/// characters: a flow's size must not be the caller's choice.
pub const USER_AGENT_MAX_CHARS: usize = 256;
/// Attempts at drawing a user code that is not in use.
const USER_CODE_ATTEMPTS: usize = 8;

/// A device-grant failure: an OAuth error answer, or a storage fault (503).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

impl From<ClientAuthError> for FlowError {
    fn from(err: ClientAuthError) -> Self {
        match err {
            ClientAuthError::OAuth(e) => FlowError::OAuth(e),
            ClientAuthError::Unavailable(e) => FlowError::Unavailable(e),
        }
    }
}

fn oauth(code: OAuthErrorCode, description: &'static str) -> FlowError {
    FlowError::OAuth(OAuthError::new(code, description))
}

/// A device authorization request (RFC 8628 §3.1) plus what the edge saw.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub scope: Option<String>,
    pub device_label: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A started flow (RFC 8628 §3.2); the device code's plaintext exists only here.
#[derive(Debug, Clone)]
pub struct StartedFlow {
    pub device_code: DeviceCode,
    pub user_code: UserCode,
    pub expires_in: u32,
    pub interval: u32,
}

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

/// A token request (RFC 8628 §3.4) plus what the edge saw.
#[derive(Debug, Clone, Default)]
pub struct PollRequest {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub device_code: Option<String>,
    pub ip: Option<String>,
}

/// What a successful redemption hands back.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub token: BearerToken,
    pub token_id: Uuid,
    pub expires_in: u32,
    pub expires_at: DateTime<Utc>,
    pub scopes: Vec<String>,
    pub subject: FlowSubject,
    pub account: Option<Account>,
    pub workspaces: Vec<WorkspaceMembership>,
    pub rotated: bool,
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
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// A person's decision on a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    Approve,
    Deny,
}

/// The device authorization grant use cases.
#[derive(Clone)]
pub struct DeviceFlowService {
    ports: Ports,
    settings: Arc<Settings>,
    clients: ClientService,
    limits: RateLimitService,
}

impl DeviceFlowService {
    pub(crate) fn new(ports: Ports, settings: Arc<Settings>, clients: ClientService, limits: RateLimitService) -> Self {
        Self { clients, ports, settings, limits }
    }

    /// The rate limits (the SSO branch shares them).
    pub(crate) fn limits(&self) -> &RateLimitService {
        &self.limits
    }

    /// RFC 8628 §3.1–3.2: validates the client and request, stores a new flow.
    pub async fn start(&self, request: StartRequest) -> Result<StartedFlow, FlowError> {
        let client = self
            .clients
            .authenticate_for_device_grant(request.client_id.as_deref(), request.client_secret.as_ref())
            .await?;
        let device_label = validate_device_label(request.device_label.as_deref())?;
        let scopes = match request.scope.as_deref() {
            None => client.allowed_scopes.clone(),
            Some(param) => {
                let requested = scope::parse(param);
                if requested.is_empty() {
                    return Err(oauth(OAuthErrorCode::InvalidScope, "scope is empty"));
                }
                if requested.iter().any(|s| !client.allowed_scopes.contains(s)) {
                    return Err(oauth(
                        OAuthErrorCode::InvalidScope,
                        "a requested scope is not allowed for this client",
                    ));
                }
                requested
            }
        };

        let now = self.ports.clock.now();
        let expires_at = now + Duration::seconds(i64::from(self.settings.flow_expires_in));
        // The tombstone covers the whole configured period after expiry, its
        // last instant included; the second more keeps Redis's own expiry
        // (counted from when the insert arrives) from ending it early.
        let retain_until = expires_at + Duration::seconds(i64::from(self.settings.tombstone) + 1);
        let user_agent =
            request.user_agent.as_deref().map(|ua| ua.chars().take(USER_AGENT_MAX_CHARS).collect::<String>());
        // The limits are spent with the insert, in one step: a request the
        // checks above refuse stores nothing and is not counted.
        let mut limits = self.limits.checks(&[
            (Limiter::DeviceAuthorizationPerIp, request.ip.as_deref()),
            (Limiter::DeviceAuthorizationPerClient, Some(&client.client_id)),
        ]);
        let device_code = DeviceCode::generate(self.ports.random.as_ref());
        for _ in 0..USER_CODE_ATTEMPTS {
            let user_code = UserCode::generate(self.ports.random.as_ref());
            let flow = DeviceFlow {
                device_code_hash: device_code.hash(),
                user_code: user_code.clone(),
                client_id: client.client_id.clone(),
                client_name: client.name.clone(),
                scopes: scopes.clone(),
                device_label: device_label.clone(),
                requester_ip: request.ip.clone(),
                requester_user_agent: user_agent.clone(),
                created_at: now,
                expires_at,
                interval_secs: self.settings.poll_interval,
                last_polled_at: None,
                status: FlowStatus::Pending,
            };
            match self.ports.flows.insert_within(&flow, retain_until, &limits).await? {
                Inserted::Stored => {
                    crate::telemetry::flow("started");
                    return Ok(StartedFlow {
                        device_code,
                        user_code,
                        expires_in: self.settings.flow_expires_in,
                        interval: self.settings.poll_interval,
                    });
                }
                Inserted::Limited(limited) => return Err(RateLimitService::refused(limited).into()),
                // The units are spent; another code is the same request.
                Inserted::UserCodeTaken => limits.clear(),
            }
        }
        // 20^8 codes make this practically unreachable; fail closed if it happens.
        Err(FlowError::Unavailable(StoreError("no free user code after retries".into())))
    }

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
        let replaces = self.token_replaced_by_approving(&flow, &account.email, LOCAL_ISSUER).await?;
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

    /// The active token that approving `flow` as (`email`, `issuer`) would
    /// replace, for the approval page's rotation notice.
    pub async fn token_replaced_by_approving(
        &self,
        flow: &DeviceFlow,
        email: &str,
        issuer: &str,
    ) -> Result<Option<AccessTokenRecord>, StoreError> {
        self.ports
            .tokens
            .find_active_for_device(email, issuer, &flow.client_id, flow.device_label.as_deref().unwrap_or_default())
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
        let failure_keys = RateLimitService::code_failure_keys(visitor);
        let attempt = async {
            if kind == DecisionKind::Approve
                && let Err(limited) = self.limits.take_approval(&account.email, LOCAL_ISSUER).await
            {
                // Over the approvals limit is not a wrong code.
                return Ok((Err(limited.into()), true));
            }
            let decided = match UserCode::normalize(raw_user_code) {
                None => Err(DecideError::ExpiredOrUnknown),
                Some(code) => {
                    let subject = FlowSubject {
                        account_id: Some(account.id),
                        email: account.email.clone(),
                        issuer: LOCAL_ISSUER.to_owned(),
                    };
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
        self.limits.failures_of(&failure_keys, attempt).await?
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
        crate::telemetry::flow(match kind {
            DecisionKind::Approve => "approved",
            DecisionKind::Deny => "denied",
        });
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

    /// RFC 8628 §3.4–3.5: one poll. Only the poll that claims an approval
    /// mints a token, so racing polls can never deliver two.
    pub async fn poll(&self, request: PollRequest) -> Result<TokenGrant, FlowError> {
        let answer = self.answer_poll(request).await;
        crate::telemetry::poll_answer(match &answer {
            Ok(_) => "issued",
            Err(FlowError::OAuth(err)) => err.code.as_str(),
            Err(FlowError::RateLimited(_)) => "rate_limited",
            Err(FlowError::Unavailable(_)) => "unavailable",
        });
        answer
    }

    async fn answer_poll(&self, request: PollRequest) -> Result<TokenGrant, FlowError> {
        let client = self
            .clients
            .authenticate_for_device_grant(request.client_id.as_deref(), request.client_secret.as_ref())
            .await?;
        let device_code = request
            .device_code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| oauth(OAuthErrorCode::InvalidRequest, "device_code is required"))?;
        let key = FlowKey::DeviceCodeHash(DeviceCode::from_client(device_code).hash());
        let now = self.ports.clock.now();
        let change = FlowChange::Poll { client_id: client.client_id.clone() };
        let Some((flow, transition)) = self.ports.flows.apply(&key, &change, now).await? else {
            // Device codes cannot be guessed; this limit only keeps a client
            // stuck on a dead code (or a scanner) from costing lookups forever.
            self.limits.take(&[(Limiter::UnknownDeviceCodePerIp, request.ip.as_deref())]).await?;
            return Err(oauth(OAuthErrorCode::InvalidGrant, "unknown device_code"));
        };
        match transition.verdict {
            Verdict::Claimed(subject) => self.redeem(key, flow, subject, request.ip, now).await,
            Verdict::AuthorizationPending => {
                Err(oauth(OAuthErrorCode::AuthorizationPending, "the user has not yet approved this request"))
            }
            Verdict::SlowDown { interval } => Err(FlowError::OAuth(OAuthError {
                code: OAuthErrorCode::SlowDown,
                description: format!("polling too fast; wait {interval} seconds between requests").into(),
                interval: Some(interval),
            })),
            Verdict::AccessDenied => Err(oauth(OAuthErrorCode::AccessDenied, "the user denied this request")),
            Verdict::Expired => Err(oauth(OAuthErrorCode::ExpiredToken, "the device code has expired")),
            Verdict::InvalidGrant => Err(oauth(
                OAuthErrorCode::InvalidGrant,
                "the device code was already used or belongs to another client",
            )),
            Verdict::Decided | Verdict::AlreadyResolved | Verdict::NotClaimed | Verdict::Done => {
                Err(oauth(OAuthErrorCode::InvalidGrant, "the device code cannot be redeemed"))
            }
        }
    }

    /// Mints the token for a claimed approval, then marks the flow redeemed.
    /// If minting fails on storage the claim is released so a later poll can
    /// retry; an approver who lost access keeps the claim, so the flow can
    /// never mint for them.
    async fn redeem(
        &self,
        key: FlowKey,
        flow: DeviceFlow,
        subject: FlowSubject,
        ip: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<TokenGrant, FlowError> {
        let grant = match self.mint(&flow, subject, now).await {
            Ok(grant) => grant,
            Err(MintFailure::AccountInactive) => {
                return Err(oauth(OAuthErrorCode::AccessDenied, "the approving account is no longer active"));
            }
            Err(MintFailure::NoGrantableScope) => {
                return Err(oauth(OAuthErrorCode::AccessDenied, "none of the requested scopes can be granted"));
            }
            Err(MintFailure::Storage(err)) => {
                if let Err(release_err) = self.ports.flows.apply(&key, &FlowChange::ReleaseClaim, now).await {
                    tracing::error!(error = %release_err, "could not release a redemption claim; it goes stale in a minute");
                }
                return Err(err.into());
            }
        };
        crate::telemetry::flow("redeemed");
        crate::telemetry::tokens("issued", 1);
        if grant.rotated {
            crate::telemetry::tokens("rotated", 1);
        }
        let approved_from = flow.status.decision().and_then(|d| d.from_ip.clone());
        if approved_from.is_some() && ip.is_some() && approved_from != ip {
            self.ports
                .audit(AuditEvent {
                    kind: AuditKind::PollFromDifferentIp,
                    actor: Some(Actor::Client { client_id: flow.client_id.clone() }),
                    subject: Some(grant.subject.email.clone()),
                    client_id: Some(flow.client_id.clone()),
                    ip: ip.clone(),
                    details: serde_json::json!({ "approved_from_ip": approved_from, "token_id": grant.token_id }),
                    at: now,
                })
                .await;
        }
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::DeviceRedeemed,
                actor: Some(Actor::Client { client_id: flow.client_id.clone() }),
                subject: Some(grant.subject.email.clone()),
                client_id: Some(flow.client_id.clone()),
                ip,
                details: serde_json::json!({
                    "token_id": grant.token_id,
                    "rotated": grant.rotated,
                    "device_label": flow.device_label,
                }),
                at: now,
            })
            .await;
        // Marking the flow redeemed is the last step before the answer: a
        // process killed before it leaves a claim that goes stale and a later
        // poll re-mints (rotating this same row), so only a kill in the few
        // instructions after it can lose the answer. (The audit writes above
        // used to sit in that window.) The token exists now; failing to mark
        // the flow redeemed must not withhold it.
        let finish = FlowChange::FinishRedemption { token_id: grant.token_id };
        if let Err(err) = self.ports.flows.apply(&key, &finish, now).await {
            tracing::error!(error = %err, token_id = %grant.token_id, "token minted but flow not marked redeemed");
        }
        Ok(grant)
    }

    /// Writes (or rotates) the token row for `subject` and drops a rotated
    /// secret from the cache.
    async fn mint(
        &self,
        flow: &DeviceFlow,
        subject: FlowSubject,
        now: DateTime<Utc>,
    ) -> Result<TokenGrant, MintFailure> {
        let (kind, account, workspaces) = match subject.account_id {
            Some(account_id) => {
                let (account, workspaces) =
                    self.ports.active_account_with_workspaces(account_id).await?.ok_or(MintFailure::AccountInactive)?;
                (TokenKind::Account, Some(account), workspaces)
            }
            None => (TokenKind::External, None, Vec::new()),
        };

        // The token carries what the person approved, narrowed to what its
        // kind may carry; never more. If nothing is left, nothing is minted.
        let scopes = kind.narrow(&flow.scopes);
        if scopes.is_empty() {
            return Err(MintFailure::NoGrantableScope);
        }
        let token = BearerToken::generate(kind, self.ports.random.as_ref());
        let expires_at = now + Duration::seconds(i64::from(self.settings.token_ttl));
        let new_token = NewAccessToken {
            id: Uuid::new_v4(),
            subject: subject.clone(),
            client_id: flow.client_id.clone(),
            device_label: flow.device_label.clone().unwrap_or_default(),
            prefix: kind.prefix().to_owned(),
            token_hash: token.hash(),
            scopes: scopes.clone(),
            created_at: now,
            expires_at,
        };
        let issued = self.ports.tokens.issue(&new_token).await?;
        // A rotated row's old secret must stop working on every instance now.
        if issued.rotated {
            self.ports.token_cache.invalidate(issued.id).await?;
        }
        Ok(TokenGrant {
            token,
            token_id: issued.id,
            expires_in: self.settings.token_ttl,
            expires_at,
            scopes,
            subject,
            account,
            workspaces,
            rotated: issued.rotated,
        })
    }
}

/// What recording a decision did.
pub(crate) enum Recorded {
    Decided(Box<DeviceFlow>),
    /// The flow was there but the decision did not take effect.
    Refused(Verdict),
    /// No flow is retained under the key.
    NoFlow,
}

/// Why a claimed approval produced no token.
enum MintFailure {
    /// The approving account was disabled (or deleted) since approving.
    AccountInactive,
    /// The kind of token this subject gets can carry none of the flow's scopes.
    NoGrantableScope,
    Storage(StoreError),
}

impl From<StoreError> for MintFailure {
    fn from(err: StoreError) -> Self {
        MintFailure::Storage(err)
    }
}

/// `device_label` rules: at most 64 characters, no control or bidi-override
/// characters (they could make the approval page lie about the device).
pub fn validate_device_label(label: Option<&str>) -> Result<Option<String>, FlowError> {
    let Some(label) = label.map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if label.chars().count() > DEVICE_LABEL_MAX_CHARS {
        return Err(oauth(OAuthErrorCode::InvalidRequest, "device_label is longer than 64 characters"));
    }
    if label.chars().any(|c| c.is_control() || is_bidi_control(c) || is_zero_width(c)) {
        return Err(oauth(
            OAuthErrorCode::InvalidRequest,
            "device_label contains control, bidi or zero-width characters",
        ));
    }
    Ok(Some(label.to_owned()))
}

/// Invisible characters that could make two labels look the same.
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_label_rules() {
        assert_eq!(validate_device_label(None).ok(), Some(None));
        assert_eq!(validate_device_label(Some("  ")).ok(), Some(None));
        assert_eq!(validate_device_label(Some("ada's laptop")).ok(), Some(Some("ada's laptop".into())));
        assert!(validate_device_label(Some(&"x".repeat(64))).is_ok());
        assert!(validate_device_label(Some(&"é".repeat(65))).is_err());
        assert!(validate_device_label(Some("evil\u{202E}pot")).is_err());
        assert!(validate_device_label(Some("tab\there")).is_err());
        for invisible in ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}'] {
            assert!(validate_device_label(Some(&format!("lap{invisible}top"))).is_err(), "{invisible:?}");
        }
    }
}
