//! RFC 8628 §3.4–3.5: the device polls, and the poll that claims an
//! approval redeems it for a token.
//!
//! The redemption creates a grant (one per device): an access token and, for
//! clients allowed one, a refresh token (`refresh.rs` rotates them later).
//! Both are derived from the device code with the server secret, so a
//! redemption can be repeated without a second token: a claim taken over
//! after a crash finds the token its first attempt minted, and a retry whose
//! answer was lost gets the same token again within
//! [`REDELIVERY_WINDOW`](crate::flow::REDELIVERY_WINDOW), if it is still
//! unused. Only hashes of the code and the token are stored.

use super::{DeviceFlowService, FlowError, confirmation, oauth};
use crate::actor::Actor;
use crate::error::{OAuthError, OAuthErrorCode, StoreError};
use crate::flow::{DeviceFlow, FlowChange, FlowKey, Verdict};
use crate::formats::device_code::DeviceCode;
use crate::formats::token::{BearerToken, RefreshToken, TokenKind};
use crate::model::{
    AccessTokenRecord, Account, FlowSubject, NewAccessToken, OAuthClient, ProviderSession, WorkspaceMembership,
};
use crate::ports::{AuditEvent, AuditKind, Derivation};
use crate::rate_limit::Limiter;
use crate::secret::SecretString;
use crate::services::dpop::PresentedProof;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// A token request (RFC 8628 §3.4) plus what the edge saw.
#[derive(Debug, Clone, Default)]
pub struct PollRequest {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub device_code: Option<String>,
    pub ip: Option<String>,
    /// The request's DPoP proof (RFC 9449 §5), if any.
    pub dpop: Option<PresentedProof>,
    /// The code the approving browser showed, typed on the device, for a
    /// client that requires the device to confirm (docs/api.md).
    pub confirmation_code: Option<String>,
}

/// What a successful redemption (or refresh) hands back.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub token: BearerToken,
    /// For clients allowed refresh tokens.
    pub refresh_token: Option<RefreshToken>,
    /// The grant's id (`token_id` on the wire).
    pub token_id: Uuid,
    /// The access token's remaining lifetime, seconds.
    pub expires_in: u32,
    /// When the access token ends.
    pub expires_at: DateTime<Utc>,
    /// When the grant ends unless refreshed.
    pub grant_expires_at: DateTime<Utc>,
    pub scopes: Vec<String>,
    pub subject: FlowSubject,
    pub account: Option<Account>,
    pub workspaces: Vec<WorkspaceMembership>,
    /// The token replaced an earlier one for the same device.
    pub rotated: bool,
    /// The same token again, for a retry whose first answer was lost.
    pub redelivered: bool,
    /// Its tokens are bound to the DPoP key the request proved (`token_type` `DPoP`).
    pub dpop_bound: bool,
}

impl DeviceFlowService {
    /// RFC 8628 §3.4–3.5: one poll. Only the poll that claims an approval
    /// mints a token, so racing polls can never deliver two.
    pub async fn poll(&self, request: PollRequest) -> Result<TokenGrant, FlowError> {
        let answer = self.answer_poll(request).await;
        crate::metrics::poll_answer(match &answer {
            Ok(grant) if grant.redelivered => "redelivered",
            Ok(_) => "issued",
            Err(err) => err.metric_label(),
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
            .map(DeviceCode::from_client)
            .ok_or_else(|| oauth(OAuthErrorCode::InvalidRequest, "device_code is required"))?;
        // The proof is checked only by a poll that gets tokens: a pending
        // poll spends no replay record.
        let proof = self.proof_for(&client, request.dpop)?;
        let key = FlowKey::DeviceCodeHash(device_code.hash());
        let now = self.ports.clock.now();
        let confirmation = self.check_confirmation(&device_code.hash(), request.confirmation_code.as_deref());
        let change = FlowChange::Poll { client_id: client.client_id.clone(), confirmation };
        let Some((flow, transition)) = self.ports.flows.apply(&key, &change, now).await? else {
            // Device codes cannot be guessed; this limit only keeps a client
            // stuck on a dead code (or a scanner) from costing lookups forever.
            self.limits.take(&[(Limiter::UnknownDeviceCodePerIp, request.ip.as_deref())]).await?;
            return Err(oauth(OAuthErrorCode::InvalidGrant, "unknown device_code"));
        };
        match transition.verdict {
            Verdict::Claimed(subject) => {
                let dpop_jkt = match self.proven_key(proof.as_ref(), flow.dpop_jkt.as_deref()).await {
                    Ok(jkt) => jkt,
                    Err(err) => {
                        // The approval stays for a poll with a good proof.
                        self.release_claim(&key, now).await;
                        return Err(err);
                    }
                };
                let claimed = Claimed { key, flow, subject, dpop_jkt, ip: request.ip };
                self.redeem(claimed, &device_code, &client, now).await
            }
            Verdict::Redeemed { token_id, subject, too_soon } => {
                let dpop_jkt = self.proven_key(proof.as_ref(), flow.dpop_jkt.as_deref()).await?;
                // Audited once per interval at most: a client hammering its
                // redeemed code must not write an audit row per request.
                let audit = (!too_soon).then_some(request.ip);
                self.redeliver(&device_code, &flow, token_id, subject, dpop_jkt, audit, now).await
            }
            Verdict::AuthorizationPending => {
                Err(oauth(OAuthErrorCode::AuthorizationPending, "the user has not yet approved this request"))
            }
            Verdict::AwaitingConfirmation => Err(confirmation::awaited()),
            Verdict::WrongConfirmation { tries_left } => Err(confirmation::wrong(tries_left)),
            Verdict::ConfirmationFailed => Err(self.confirmation_failed(&flow, request.ip, now).await),
            Verdict::SlowDown { interval } => Err(FlowError::OAuth(OAuthError {
                code: OAuthErrorCode::SlowDown,
                description: format!("polling too fast; wait {interval} seconds between requests").into(),
                interval: Some(interval),
            })),
            Verdict::AccessDenied => Err(oauth(OAuthErrorCode::AccessDenied, "the user denied this request")),
            Verdict::Expired => Err(oauth(OAuthErrorCode::ExpiredToken, "the device code has expired")),
            Verdict::InvalidGrant => Err(spent()),
            Verdict::Decided
            | Verdict::AlreadyResolved
            | Verdict::NotClaimed
            | Verdict::Done
            | Verdict::CodeShared { .. } => {
                Err(oauth(OAuthErrorCode::InvalidGrant, "the device code cannot be redeemed"))
            }
        }
    }

    /// The token a flow's redemption yields for a subject of `kind`: always
    /// the same for the same device code and server secret.
    fn redemption_token(&self, kind: TokenKind, device_code: &DeviceCode) -> BearerToken {
        BearerToken::derive(
            kind,
            self.ports.signer.derive(Derivation::RedemptionToken, device_code.expose().as_bytes()),
        )
    }

    /// The refresh token a flow's redemption yields, fixed like its access token.
    fn redemption_refresh_token(&self, device_code: &DeviceCode) -> RefreshToken {
        RefreshToken::derive(
            self.ports.signer.derive(Derivation::RedemptionRefreshToken, device_code.expose().as_bytes()),
        )
    }

    /// Mints the token for a claimed approval, then marks the flow redeemed.
    /// If minting fails on storage the claim is released so a later poll can
    /// retry; an approver who lost access keeps the claim, so the flow can
    /// never mint for them.
    async fn redeem(
        &self,
        claimed: Claimed,
        device_code: &DeviceCode,
        client: &OAuthClient,
        now: DateTime<Utc>,
    ) -> Result<TokenGrant, FlowError> {
        let Claimed { key, flow, subject, dpop_jkt, ip } = claimed;
        let grant = match self.mint(&flow, device_code, client, subject, dpop_jkt, now).await {
            Ok(grant) => grant,
            Err(MintFailure::AccountInactive) => {
                return Err(oauth(OAuthErrorCode::AccessDenied, "the approving account is no longer active"));
            }
            Err(MintFailure::NoGrantableScope) => {
                return Err(oauth(OAuthErrorCode::AccessDenied, "none of the requested scopes can be granted"));
            }
            Err(MintFailure::AlreadyEnded) => {
                return Err(oauth(OAuthErrorCode::AccessDenied, "the token of this approval was revoked"));
            }
            Err(MintFailure::OtherKey) => {
                return Err(oauth(
                    OAuthErrorCode::InvalidDpopProof,
                    "this approval's token is bound to another DPoP key",
                ));
            }
            Err(MintFailure::Storage(err)) => {
                self.release_claim(&key, now).await;
                return Err(err.into());
            }
        };
        crate::metrics::flow("redeemed");
        crate::metrics::tokens("issued", 1);
        if grant.rotated {
            crate::metrics::tokens("rotated", 1);
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
        // Marking the flow redeemed is the last step before the answer. A
        // process killed before it leaves a claim that goes stale, and the
        // poll that takes it over finds the token minted here; an answer
        // lost after it is handed over again by `redeliver`. The token
        // exists now: failing to mark the flow redeemed must not withhold it.
        let finish = FlowChange::FinishRedemption { token_id: grant.token_id };
        match self.ports.flows.apply(&key, &finish, now).await {
            // A second person took the code up while the token was minted:
            // the token goes at once, like one redeemed before.
            Ok(Some((_, transition))) if transition.verdict == Verdict::AccessDenied => {
                let by = crate::services::revocation::RevokedBy::CodeShared;
                self.ports.revoke_tokens(&[grant.token_id], &Actor::System, by, None).await?;
                return Err(oauth(OAuthErrorCode::AccessDenied, "this code was taken up by a second person"));
            }
            Ok(_) => {}
            Err(err) => {
                tracing::error!(error = %err.report(), token_id = %grant.token_id, "token minted but flow not marked redeemed");
            }
        }
        Ok(grant)
    }

    /// Hands a claimed approval back, so a later poll can redeem it.
    async fn release_claim(&self, key: &FlowKey, now: DateTime<Utc>) {
        if let Err(err) = self.ports.flows.apply(key, &FlowChange::ReleaseClaim, now).await {
            tracing::error!(error = %err.report(), "could not release a redemption claim; it goes stale in a minute");
        }
    }

    /// Writes (or rotates) the token row for `subject` and drops a rotated
    /// secret from the cache. A claim taken over from a redemption that
    /// crashed after minting finds that token and mints nothing.
    async fn mint(
        &self,
        flow: &DeviceFlow,
        device_code: &DeviceCode,
        client: &OAuthClient,
        subject: FlowSubject,
        dpop_jkt: Option<String>,
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
        let scopes = self.scopes.catalog().await?.narrow(kind, &flow.scopes);
        if scopes.is_empty() {
            return Err(MintFailure::NoGrantableScope);
        }
        let token = self.redemption_token(kind, device_code);
        if let Some(minted) = self.ports.tokens.find_by_hash(&token.hash()).await? {
            if minted.revoked_at.is_some() || minted.expires_at <= now {
                return Err(MintFailure::AlreadyEnded);
            }
            if minted.dpop_jkt != dpop_jkt {
                return Err(MintFailure::OtherKey);
            }
            let refresh_token = minted.refreshable.then(|| self.redemption_refresh_token(device_code));
            return Ok(grant_of(token, refresh_token, &minted, subject, account, workspaces, now));
        }
        // A grant with a refresh token lives until its idle or absolute end;
        // without one, it ends with its access token.
        let lifetimes = self.settings.lifetimes(&client.policy);
        let access_expires_at = now + Duration::seconds(i64::from(lifetimes.access));
        // An SSO person's admin rights are rechecked only when the provider
        // is asked again, which needs its refresh token: without one, an
        // `admin` grant ends with its access token.
        let unrecheckable_admin = kind == TokenKind::External
            && subject.provider_token.is_none()
            && scopes.iter().any(|scope| scope == crate::scope::ADMIN);
        let refresh_token =
            (client.policy.refresh_allowed && !unrecheckable_admin).then(|| self.redemption_refresh_token(device_code));
        let (expires_at, max_expires_at) = if refresh_token.is_some() {
            let max = now + Duration::seconds(i64::from(lifetimes.grant));
            (max.min(now + Duration::seconds(i64::from(lifetimes.idle))), max)
        } else {
            (access_expires_at, access_expires_at)
        };
        let access_expires_at = access_expires_at.min(expires_at);
        let new_token = NewAccessToken {
            id: Uuid::new_v4(),
            subject: subject.clone(),
            client_id: flow.client_id.clone(),
            device_label: flow.device_label.clone().unwrap_or_default(),
            prefix: kind.prefix().to_owned(),
            token_hash: token.hash(),
            refresh_token_hash: refresh_token.as_ref().map(RefreshToken::hash),
            scopes: scopes.clone(),
            created_at: now,
            expires_at,
            access_expires_at,
            max_expires_at,
            dpop_jkt: dpop_jkt.clone(),
            // Only a grant that outlives its access token needs the provider
            // asked again; the provider vouched for the person just now.
            provider_session: subject
                .provider_token
                .clone()
                .filter(|_| refresh_token.is_some())
                .map(|sealed| ProviderSession { sealed_refresh_token: sealed, checked_at: now }),
            approval: Some(self.evidence(flow)),
        };
        let issued = self.ports.tokens.issue(&new_token).await?;
        // A rotated row's old secret must stop working on every instance now.
        if issued.rotated {
            self.ports.token_cache.invalidate(issued.id, now).await?;
        }
        Ok(TokenGrant {
            token,
            refresh_token,
            token_id: issued.id,
            expires_in: u32::try_from((access_expires_at - now).num_seconds()).unwrap_or(u32::MAX),
            expires_at: access_expires_at,
            grant_expires_at: expires_at,
            scopes,
            subject,
            account,
            workspaces,
            rotated: issued.rotated,
            redelivered: false,
            dpop_bound: dpop_jkt.is_some(),
        })
    }

    /// A poll of a flow redeemed moments ago by its own client: the answer
    /// that carried the token may have been lost, so the same token is
    /// handed over again, and only while it is still active and has never
    /// been used (a used token shows its answer arrived, so this poll is
    /// not a retry). Anything else is a spent code. Audited from the poll's
    /// address when `audit_from` is given.
    #[allow(clippy::too_many_arguments)]
    async fn redeliver(
        &self,
        device_code: &DeviceCode,
        flow: &DeviceFlow,
        token_id: Uuid,
        subject: FlowSubject,
        dpop_jkt: Option<String>,
        audit_from: Option<Option<String>>,
        now: DateTime<Utc>,
    ) -> Result<TokenGrant, FlowError> {
        let kind = TokenKind::of_subject(subject.account_id.is_some());
        let token = self.redemption_token(kind, device_code);
        let Some(minted) = self.ports.tokens.find_by_hash(&token.hash()).await?.filter(|minted| {
            minted.id == token_id
                && minted.revoked_at.is_none()
                && minted.access_ends_at() > now
                && minted.last_used_at.is_none()
                && minted.refreshed_at.is_none()
                && minted.dpop_jkt == dpop_jkt
        }) else {
            return Err(spent());
        };
        let (account, workspaces) = match subject.account_id {
            None => (None, Vec::new()),
            Some(account_id) => match self.ports.active_account_with_workspaces(account_id).await? {
                Some((account, workspaces)) => (Some(account), workspaces),
                None => return Err(spent()),
            },
        };
        if let Some(ip) = audit_from {
            self.ports
                .audit(AuditEvent {
                    kind: AuditKind::DeviceRedelivered,
                    actor: Some(Actor::Client { client_id: flow.client_id.clone() }),
                    subject: Some(subject.email.clone()),
                    client_id: Some(flow.client_id.clone()),
                    ip,
                    details: serde_json::json!({ "token_id": minted.id, "device_label": flow.device_label }),
                    at: now,
                })
                .await;
        }
        let refresh_token = minted.refreshable.then(|| self.redemption_refresh_token(device_code));
        let mut grant = grant_of(token, refresh_token, &minted, subject, account, workspaces, now);
        grant.redelivered = true;
        Ok(grant)
    }
}

/// The answer for a code that can no longer be redeemed.
fn spent() -> FlowError {
    oauth(OAuthErrorCode::InvalidGrant, "the device code was already used or belongs to another client")
}

/// The answer for a grant's current tokens (minted earlier, or just
/// refreshed), with the lifetime its access token has left.
pub(super) fn grant_of(
    token: BearerToken,
    refresh_token: Option<RefreshToken>,
    minted: &AccessTokenRecord,
    subject: FlowSubject,
    account: Option<Account>,
    workspaces: Vec<WorkspaceMembership>,
    now: DateTime<Utc>,
) -> TokenGrant {
    let expires_at = minted.access_ends_at();
    let left = (expires_at - now).num_seconds().max(0);
    TokenGrant {
        scopes: token.kind().narrow(minted.access_scopes()),
        token,
        refresh_token,
        token_id: minted.id,
        expires_in: u32::try_from(left).unwrap_or(u32::MAX),
        expires_at,
        grant_expires_at: minted.expires_at,
        subject,
        account,
        workspaces,
        rotated: false,
        redelivered: false,
        dpop_bound: minted.dpop_jkt.is_some(),
    }
}

/// A poll that claimed an approval, and what it proved.
struct Claimed {
    key: FlowKey,
    flow: DeviceFlow,
    subject: FlowSubject,
    /// The DPoP key the request proved it holds.
    dpop_jkt: Option<String>,
    ip: Option<String>,
}

/// Why a claimed approval produced no token.
enum MintFailure {
    /// The approving account was disabled (or deleted) since approving.
    AccountInactive,
    /// The kind of token this subject gets can carry none of the flow's scopes.
    NoGrantableScope,
    /// A crashed redemption had minted the token, and it was revoked (or
    /// has expired) since.
    AlreadyEnded,
    /// A crashed redemption had minted the token bound to another DPoP key.
    OtherKey,
    Storage(StoreError),
}

impl From<StoreError> for MintFailure {
    fn from(err: StoreError) -> Self {
        MintFailure::Storage(err)
    }
}
