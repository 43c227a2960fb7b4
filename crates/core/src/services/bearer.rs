//! Bearer authentication of resource requests (RFC 6750) and token revocation.

use super::dpop::{DpopError, DpopService, ProofTarget};
use super::recent::Recent;
use super::revocation::RevokedBy;
use super::{Ports, Settings};
use crate::actor::{Actor, Admin, Principal};
use crate::error::StoreError;
use crate::formats::token::{BearerToken, MalformedToken, RefreshToken, TokenKind};
use crate::model::{AccessTokenRecord, Account, OAuthClient, RefreshLookup, WorkspaceMembership};
use crate::ports::{AuditEvent, AuditKind, CachedLookup};
use crate::rate_limit::RateLimitService;
use crate::rate_limit::{Limiter, RateCheck, RateLimited};
use chrono::{DateTime, Duration, Utc};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Whether a lookup already spent the bearer limit.
enum Spent {
    Yes,
    /// The cache found the token, and the limit refused it.
    Refused(RateLimited),
    /// Not found in the cache: the limit is still to be taken.
    NotYet,
}

/// `last_used_at` is written at most this often per token.
const TOUCH_EVERY: Duration = Duration::seconds(60);
/// How long a found token is cached (capped at its remaining life).
const POSITIVE_TTL: Duration = Duration::seconds(60);
/// How long an unknown token hash is cached.
const NEGATIVE_TTL: Duration = Duration::seconds(10);
/// Past this many tracked tokens the in-process touch throttle starts over.
const TOUCH_TRACKING_LIMIT: usize = 100_000;
/// How long this process reuses an account and its workspaces for `/v1/me`.
/// Revocation still takes effect at once: the token itself is checked first.
const SUBJECT_TTL: Duration = Duration::seconds(10);
/// Past this many cached subjects the cache sheds.
const SUBJECT_CACHE_LIMIT: usize = 10_000;

/// Why a bearer request was refused.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    /// The operator switched bearer authentication off.
    #[error("bearer authentication is disabled")]
    Disabled,
    /// RFC 6750 `invalid_token`, with why.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// RFC 9449 §7.1 `invalid_dpop_proof`: a DPoP-bound token whose proof
    /// is missing, malformed, replayed or made with another key.
    #[error("{0}")]
    InvalidDpopProof(Cow<'static, str>),
    /// RFC 9449 §9 `use_dpop_nonce`: the proof's nonce is stale; `nonce`
    /// is the one to use (`DPoP-Nonce`).
    #[error("this proof must carry the server's current nonce (DPoP-Nonce)")]
    UseDpopNonce { nonce: String },
    /// RFC 6750 `insufficient_scope`: a valid token without the scope the
    /// route requires.
    #[error("this request requires the {0} scope")]
    InsufficientScope(&'static str),
    /// A token holding `admin` whose subject is no longer an admin (or whose
    /// client was disabled or no longer allowed it): `insufficient_scope`
    /// too, since the privileges behind the token fall short.
    #[error("the token's holder is no longer a Gatehouse administrator")]
    NoLongerAdmin,
    /// Too many requests with this token.
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

crate::rate_limit::from_limit_error!(BearerError);

/// How a resource request presented its access token.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    /// `Authorization: Bearer` (RFC 6750 §2.1).
    Bearer(&'a str),
    /// `Authorization: DPoP` with the request's `DPoP` header, if any
    /// (RFC 9449 §7.1), and what the proof must name.
    Dpop { token: &'a str, proof: Option<&'a str>, method: &'a str, uri: &'a str },
}

impl<'a> Presented<'a> {
    fn token(self) -> &'a str {
        match self {
            Presented::Bearer(token) | Presented::Dpop { token, .. } => token,
        }
    }
}

/// Why an RFC 7009 revocation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// The token belongs to another client.
    #[error("the token was not issued to this client")]
    NotIssuedToClient,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// A token that authenticated a request (or that introspection found).
#[derive(Debug, Clone)]
pub struct AuthenticatedToken {
    /// Its grant.
    pub record: AccessTokenRecord,
    pub kind: TokenKind,
    /// The kind's scopes, narrowed by the row.
    pub scopes: Vec<String>,
    /// A refresh token (introspection only): then `scopes` are the grant's
    /// and it ends with the grant.
    pub is_refresh_token: bool,
}

impl AuthenticatedToken {
    /// When the token stops working.
    pub fn expires_at(&self) -> DateTime<Utc> {
        if self.is_refresh_token { self.record.expires_at } else { self.record.access_ends_at() }
    }

    /// Refuses the request unless the token's scopes cover `required`.
    pub fn require(&self, required: &'static str) -> Result<(), BearerError> {
        if crate::scope::covers(&self.scopes, required) {
            Ok(())
        } else {
            Err(BearerError::InsufficientScope(required))
        }
    }
}

/// The subject of a token, as `/v1/me` reports it.
#[derive(Debug, Clone)]
pub struct TokenSubject {
    pub token: AuthenticatedToken,
    pub account: Option<Account>,
    pub workspaces: Vec<WorkspaceMembership>,
}

/// Bearer authentication use cases.
#[derive(Clone)]
pub struct BearerService {
    ports: Ports,
    settings: Arc<Settings>,
    /// When this instance last wrote `last_used_at` for each token; keeps
    /// cached bearer requests from costing a SQL write each.
    last_touch: Arc<Mutex<HashMap<Uuid, DateTime<Utc>>>>,
    /// Active accounts and their workspaces, recently read.
    subjects: Arc<Recent<Uuid, (Account, Vec<WorkspaceMembership>)>>,
    limits: RateLimitService,
    dpop: DpopService,
}

impl BearerService {
    pub(crate) fn new(ports: Ports, settings: Arc<Settings>, limits: RateLimitService, dpop: DpopService) -> Self {
        let subjects = Arc::new(Recent::new(SUBJECT_TTL, SUBJECT_CACHE_LIMIT));
        Self { ports, settings, last_touch: Arc::default(), subjects, limits, dpop }
    }

    /// Whether bearer authentication is on.
    pub fn enabled(&self) -> bool {
        self.settings.enable_oauth_bearer
    }

    /// Authenticates a presented token: format and checksum first (no
    /// storage touched for garbage), then the hash lookup, revocation and
    /// expiry. An expired token is hard-expired by compare-and-set. A token
    /// bound to a DPoP key needs the DPoP scheme and a proof of that key
    /// (RFC 9449 §7), checked last, so a proof's replay record is spent only
    /// for a live token within its rate limit.
    pub async fn authenticate(
        &self,
        presented: Presented<'_>,
        ip: Option<&str>,
    ) -> Result<AuthenticatedToken, BearerError> {
        if !self.settings.enable_oauth_bearer {
            return Err(BearerError::Disabled);
        }
        let token = BearerToken::parse(presented.token()).map_err(|err| match err {
            MalformedToken::UnknownPrefix => BearerError::InvalidToken("unknown token prefix"),
            MalformedToken::BadChecksum => BearerError::InvalidToken("malformed token"),
        })?;
        let token_hash = token.hash();
        // Counted per token (by its hash) and only for real ones, so garbage
        // creates no limiter keys; a cached token spends it with the lookup.
        let limit = [(Limiter::BearerPerToken, Some(token_hash.as_str()))];
        let (record, spent) = self.lookup(&token_hash, &self.limits.checks(&limit)).await?;
        let record = record
            .filter(|r| r.prefix == token.kind().prefix())
            .ok_or(BearerError::InvalidToken("unknown or revoked token"))?;
        let now = self.ports.clock.now();
        if record.access_ends_at() <= now && record.expires_at > now {
            // The access token ended; its grant lives on, to be refreshed.
            return Err(BearerError::InvalidToken("token expired"));
        }
        if record.expires_at <= now {
            // Recorded before the cache is told, so a cache fault cannot lose
            // the event; the compare-and-set lets one caller record it.
            if self.ports.tokens.hard_expire(record.id, now).await? {
                crate::metrics::tokens("hard_expired", 1);
                self.ports
                    .audit(AuditEvent {
                        kind: AuditKind::TokenExpired,
                        actor: Some(Actor::System),
                        subject: Some(record.subject_email.clone()),
                        client_id: Some(record.client_id.clone()),
                        ip: ip.map(str::to_owned),
                        details: serde_json::json!({ "token_id": record.id }),
                        at: now,
                    })
                    .await;
            }
            self.ports.token_cache.invalidate(record.id, now).await?;
            return Err(BearerError::InvalidToken("token expired"));
        }
        match spent {
            Spent::Yes => {}
            Spent::Refused(limited) => return Err(RateLimitService::refused(limited).into()),
            Spent::NotYet => self.limits.take(&limit).await?,
        }
        self.check_binding(&record, presented).await?;
        if self.due_for_touch(&record, now) {
            self.ports.tokens.touch(record.id, now, ip).await?;
        }
        let kind = token.kind();
        let scopes = kind.narrow(record.access_scopes());
        Ok(AuthenticatedToken { record, kind, scopes, is_refresh_token: false })
    }

    /// RFC 9449 §7.1–7.2: a bound token only with the DPoP scheme and a
    /// proof of its key over this request and this token; a bearer token
    /// only with the Bearer scheme.
    async fn check_binding(&self, record: &AccessTokenRecord, presented: Presented<'_>) -> Result<(), BearerError> {
        match (record.dpop_jkt.as_deref(), presented) {
            (None, Presented::Bearer(_)) => Ok(()),
            (None, Presented::Dpop { .. }) => Err(BearerError::InvalidToken("this token is not DPoP-bound")),
            (Some(_), Presented::Bearer(_)) => {
                Err(BearerError::InvalidToken("this token is DPoP-bound: present it with the DPoP scheme and a proof"))
            }
            (Some(_), Presented::Dpop { proof: None, .. }) => {
                Err(BearerError::InvalidDpopProof(Cow::Borrowed("a DPoP-bound token needs a DPoP proof")))
            }
            (Some(bound), Presented::Dpop { token, proof: Some(proof), method, uri }) => {
                let target = ProofTarget { method, uri, access_token: Some(token) };
                let key = self.dpop.check_resource_request(proof, &target).await.map_err(|err| match err {
                    DpopError::InvalidProof(why) => BearerError::InvalidDpopProof(why),
                    DpopError::UseNonce => BearerError::UseDpopNonce { nonce: self.dpop.nonce() },
                    DpopError::Unavailable(err) => BearerError::Unavailable(err),
                })?;
                if key == bound {
                    Ok(())
                } else {
                    Err(BearerError::InvalidDpopProof(Cow::Borrowed(
                        "the proof's key is not the one this token is bound to",
                    )))
                }
            }
        }
    }

    /// The unrevoked row for a token hash, through the shared cache; a row
    /// found there has `limits` spent with it.
    async fn lookup(
        &self,
        token_hash: &str,
        limits: &[RateCheck],
    ) -> Result<(Option<AccessTokenRecord>, Spent), StoreError> {
        let now = self.ports.clock.now();
        match self.ports.token_cache.get_within(token_hash, limits, now).await? {
            (Some(CachedLookup::Found(record)), refused) => {
                return Ok((Some(*record), refused.map_or(Spent::Yes, Spent::Refused)));
            }
            (Some(CachedLookup::Missing), _) => return Ok((None, Spent::NotYet)),
            (None, _) => {}
        }
        let found = self.ports.tokens.find_by_hash(token_hash).await?.filter(|r| r.revoked_at.is_none());
        match &found {
            Some(record) if record.access_ends_at() > now => {
                let ttl = POSITIVE_TTL.min(record.access_ends_at() - now);
                self.ports
                    .token_cache
                    .put(token_hash, &CachedLookup::Found(Box::new(record.clone())), ttl, now)
                    .await?;
            }
            // Expired tokens are refused (and ended grants hard-expired) by
            // the caller, not cached.
            Some(_) => {}
            None => self.ports.token_cache.put(token_hash, &CachedLookup::Missing, NEGATIVE_TTL, now).await?,
        }
        Ok((found, Spent::NotYet))
    }

    /// Whether this instance should record use of the token now.
    fn due_for_touch(&self, record: &AccessTokenRecord, now: DateTime<Utc>) -> bool {
        let mut last_touch = self.last_touch.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let last = last_touch.get(&record.id).copied().or(record.last_used_at);
        if last.is_some_and(|last| now - last < TOUCH_EVERY) {
            return false;
        }
        if last_touch.len() >= TOUCH_TRACKING_LIMIT {
            last_touch.clear();
        }
        last_touch.insert(record.id, now);
        true
    }

    /// The token's subject with its account and workspaces.
    pub async fn subject(&self, token: AuthenticatedToken) -> Result<TokenSubject, BearerError> {
        let Some(account_id) = token.record.account_id else {
            return Ok(TokenSubject { token, account: None, workspaces: Vec::new() });
        };
        let (account, workspaces) = self
            .active_account(account_id)
            .await?
            .ok_or(BearerError::InvalidToken("the token's account is disabled"))?;
        Ok(TokenSubject { token, account: Some(account), workspaces })
    }

    /// The active account a token speaks for, through this process's
    /// short-lived cache (shared by `/v1/me` and introspection, so both give
    /// the same answer); `None` when it is disabled or gone.
    async fn active_account(
        &self,
        account_id: Uuid,
    ) -> Result<Option<(Account, Vec<WorkspaceMembership>)>, StoreError> {
        let now = self.ports.clock.now();
        if let Some(subject) = self.subjects.get(&account_id, now) {
            return Ok(Some(subject));
        }
        let found = self.ports.active_account_with_workspaces(account_id).await?;
        if let Some(subject) = &found {
            self.subjects.insert(account_id, subject.clone(), now);
        }
        Ok(found)
    }

    /// The admin an `admin`-scoped token acts as, checked at every call: its
    /// account while it is an active admin, its SSO person while the
    /// provider's groups made them one at their last sign-in, or its client
    /// while it is enabled and still allowed `admin`. Read from the
    /// database each time, so taking admin rights away takes effect at once.
    pub async fn admin(&self, token: &AuthenticatedToken, ip: Option<&str>) -> Result<Admin, BearerError> {
        token.require(crate::scope::ADMIN)?;
        let record = &token.record;
        let admin = match token.kind {
            TokenKind::Account => match record.account_id {
                Some(id) => self.ports.accounts.find_by_id(id).await?.and_then(|a| Principal::Account(a).as_admin()),
                None => None,
            },
            TokenKind::External => match record.subject() {
                Some(subject) => {
                    self.ports.accounts.find_sso_person(&subject).await?.and_then(|p| Principal::Sso(p).as_admin())
                }
                None => None,
            },
            TokenKind::Client => self
                .ports
                .clients
                .find(&record.client_id)
                .await?
                .filter(|c| !c.disabled && c.allowed_scopes.iter().any(|s| s == crate::scope::ADMIN))
                .map(|c| Admin::client(c.client_id)),
        };
        admin.map(|admin| admin.acting_from(ip.map(str::to_owned))).ok_or(BearerError::NoLongerAdmin)
    }

    /// Every active token of the presenting token's subject, newest first
    /// (`GET /v1/oauth/authorizations`). The caller checks the scope.
    pub async fn authorizations(&self, token: &AuthenticatedToken) -> Result<Vec<AccessTokenRecord>, StoreError> {
        let record = &token.record;
        let now = self.ports.clock.now();
        match record.subject() {
            Some(subject) => self.ports.tokens.list_active_for_subject(&subject, now).await,
            // A grant no subject has claimed yet stands alone.
            None => Ok(vec![record.clone()]),
        }
    }

    /// Revokes the presenting token (`DELETE /v1/oauth/authorizations/self`).
    pub async fn revoke_self(&self, token: &AuthenticatedToken, ip: Option<&str>) -> Result<(), StoreError> {
        let actor = Actor::Account { email: token.record.subject_email.clone() };
        self.ports.revoke_tokens(&[token.record.id], &actor, RevokedBy::Owner, ip).await?;
        Ok(())
    }

    /// The active grant of a presented access or refresh token, touching
    /// nothing: no hard-expire, no `last_used_at` (introspection and
    /// revocation are not uses).
    async fn find_active(&self, presented: &str) -> Result<Option<AuthenticatedToken>, StoreError> {
        let now = self.ports.clock.now();
        if let Ok(refresh) = RefreshToken::parse(presented) {
            let RefreshLookup::Current(record) = self.ports.tokens.find_by_refresh_hash(&refresh.hash()).await? else {
                return Ok(None);
            };
            if record.revoked_at.is_some() || record.expires_at <= now {
                return Ok(None);
            }
            let kind = TokenKind::of_subject(record.account_id.is_some());
            return Ok(Some(AuthenticatedToken {
                scopes: kind.narrow(&record.scopes),
                record,
                kind,
                is_refresh_token: true,
            }));
        }
        let Ok(token) = BearerToken::parse(presented) else {
            return Ok(None);
        };
        // No limits: introspection and revocation are not bearer requests.
        let kind = token.kind();
        Ok(self
            .lookup(&token.hash(), &[])
            .await?
            .0
            .filter(|r| r.access_ends_at() > now && r.prefix == kind.prefix())
            .map(|record| AuthenticatedToken {
                scopes: kind.narrow(record.access_scopes()),
                record,
                kind,
                is_refresh_token: false,
            }))
    }

    /// RFC 7009: revokes the grant of `presented` (an access or a refresh
    /// token; §2.1 lets revoking either end both) if it is active and was
    /// issued to `client`. Unknown, malformed and inactive tokens change
    /// nothing and are not an error (§2.2). A token issued to another client
    /// is refused (§2.1), and left alone.
    pub async fn revoke_for_client(
        &self,
        client: &OAuthClient,
        presented: &str,
        ip: Option<&str>,
    ) -> Result<(), RevokeError> {
        let Some(AuthenticatedToken { record, .. }) = self.find_active(presented).await? else {
            return Ok(());
        };
        if record.client_id != client.client_id {
            tracing::warn!(client_id = %client.client_id, token_id = %record.id, "refused to revoke another client's token");
            return Err(RevokeError::NotIssuedToClient);
        }
        let actor = Actor::Client { client_id: client.client_id.clone() };
        self.ports.revoke_tokens(&[record.id], &actor, RevokedBy::Client, ip).await?;
        Ok(())
    }

    /// RFC 7662: what a resource server may know about `presented`; `None`
    /// when it is not an active token, or its account is disabled (as
    /// `/v1/me` would refuse it).
    pub async fn introspect(&self, presented: &str) -> Result<Option<AuthenticatedToken>, StoreError> {
        if !self.settings.enable_oauth_bearer {
            return Ok(None);
        }
        let Some(found) = self.find_active(presented).await? else {
            return Ok(None);
        };
        if let Some(account_id) = found.record.account_id
            && self.active_account(account_id).await?.is_none()
        {
            return Ok(None);
        }
        Ok(Some(found))
    }
}
