//! The OpenID Connect relying party, through `openidconnect`: discovery from
//! the issuer (RFC 8414 / OpenID Discovery), authorization code + PKCE S256,
//! and ID-token verification against the provider's key set (signature,
//! `iss`, `aud`/`azp`, `exp` against the injected clock, nonce).
//!
//! The provider's metadata and key set are cached for `METADATA_TTL` and
//! fetched again when an ID token names a key the set does not hold (key
//! rotation), at most once per `KEY_REFRESH_GAP`. Nothing is fetched at
//! startup: an unreachable provider only makes sign-ins fail until it is back.
//!
//! When the provider advertises `offline_access` (and the operator has not
//! turned it off), sign-ins ask for it, with `prompt=consent` as OpenID
//! Connect Core §11 requires, so the provider issues a refresh token that
//! Gatehouse later uses to ask whether the sign-in still stands (`recheck`).
//! Rechecks with one refresh token share one call to the provider, and its
//! answer is kept for `RECHECK_ANSWER_KEPT`: a provider that rotates refresh
//! tokens and treats a second use as theft would otherwise revoke the
//! person's sign-in when two refreshes of one grant race.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::Clock;
use gatehouse_core::ports::{IdentityProvider, ProviderError, ProviderIdentity, ProviderRecheck, ProviderSignIn};
use gatehouse_core::secret::SecretString;
use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, JsonWebKeySet, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse, reqwest,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long discovered metadata and keys are trusted before fetching again.
pub const METADATA_TTL: Duration = Duration::from_secs(3600);
/// The shortest gap between two key-set fetches caused by unknown keys, so
/// tokens naming made-up keys cannot make Gatehouse hammer the provider.
const KEY_REFRESH_GAP: Duration = Duration::from_secs(10);
/// How long one request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a recheck's answer is shared with rechecks of the same token.
const RECHECK_ANSWER_KEPT: Duration = Duration::from_secs(60);

/// One recheck at the provider, shared by everyone asking with its token.
type SharedRecheck = Arc<tokio::sync::OnceCell<Result<ProviderRecheck, String>>>;

/// How long ago `then` was at `now` (never negative).
fn elapsed(then: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or(Duration::ZERO)
}

/// How Gatehouse is registered at the provider.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    /// `None`: a public client using PKCE alone; else `client_secret_basic`.
    pub client_secret: Option<SecretString>,
    /// Public URL + `/v1/device/sso-complete`.
    pub redirect_uri: String,
    /// Trusted beside the system's roots (a provider behind a private CA).
    pub roots: crate::tls::ExtraRoots,
    /// Whether to ask for `offline_access` when the provider offers it.
    pub offline_access: bool,
    /// The ID-token claim listing the person's groups.
    pub groups_claim: String,
}

/// The scope that makes an OpenID provider issue a refresh token.
const OFFLINE_ACCESS: &str = "offline_access";

struct Discovered {
    metadata: CoreProviderMetadata,
    fetched_at: DateTime<Utc>,
    /// The last fetch of the key set caused by an unknown key.
    last_key_refresh: Option<DateTime<Utc>>,
}

/// The external provider, discovered lazily and cached.
pub struct OidcProvider {
    settings: OidcSettings,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    cache: Mutex<Option<Discovered>>,
    /// When the cache was filled is the injected clock's time.
    clock: Arc<dyn Clock>,
    /// Rechecks under way or recently answered, by SHA-256 of the token.
    rechecks: std::sync::Mutex<HashMap<String, (DateTime<Utc>, SharedRecheck)>>,
}

impl OidcProvider {
    /// A provider for `settings`; an invalid URL names its setting.
    pub fn new(settings: OidcSettings, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let issuer = IssuerUrl::new(settings.issuer.clone()).map_err(|e| format!("GATEHOUSE_SSO_ISSUER: {e}"))?;
        let redirect =
            RedirectUrl::new(settings.redirect_uri.clone()).map_err(|e| format!("GATEHOUSE_PUBLIC_URL: {e}"))?;
        let mut http = reqwest::Client::builder();
        for certificate in settings.roots.for_reqwest() {
            http = http.add_root_certificate(certificate);
        }
        let http = http
            // Following redirects would open the relying party to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client for SSO: {e}"))?;
        Ok(Self { settings, issuer, redirect, http, cache: Mutex::new(None), clock, rechecks: Default::default() })
    }

    /// The cached metadata, discovered again when missing or stale.
    async fn metadata(&self) -> Result<CoreProviderMetadata, ProviderError> {
        let mut cache = self.cache.lock().await;
        let now = self.clock.now();
        if let Some(found) = cache.as_ref().filter(|d| elapsed(d.fetched_at, now) < METADATA_TTL) {
            return Ok(found.metadata.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| ProviderError::Unreachable(format!("discovery: {e}")))?;
        *cache = Some(Discovered { metadata: metadata.clone(), fetched_at: now, last_key_refresh: None });
        Ok(metadata)
    }

    /// Fetches the key set again (a token named a key it lacks); `None` when
    /// a fetch happened too recently to try another.
    async fn refresh_keys(&self) -> Result<Option<CoreProviderMetadata>, ProviderError> {
        let mut cache = self.cache.lock().await;
        let Some(found) = cache.as_mut() else {
            return Ok(None);
        };
        let now = self.clock.now();
        if found.last_key_refresh.is_some_and(|at| elapsed(at, now) < KEY_REFRESH_GAP) {
            return Ok(None);
        }
        let keys = JsonWebKeySet::fetch_async(found.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| ProviderError::Unreachable(format!("key set: {e}")))?;
        found.metadata = found.metadata.clone().set_jwks(keys);
        found.last_key_refresh = Some(now);
        Ok(Some(found.metadata.clone()))
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.as_ref().map(|s| ClientSecret::new(s.expose().to_owned())),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Verifies the ID token of a token response with `metadata`'s keys,
    /// fetching the key set once more when it names an unknown key (the
    /// provider may have rotated its keys). `nonce` is the sign-in's; a
    /// refreshed ID token has none to match (OpenID Connect Core §12.2).
    async fn verify(
        &self,
        metadata: CoreProviderMetadata,
        id_token: &openidconnect::core::CoreIdToken,
        nonce: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ProviderIdentity, ProviderError> {
        match self.verify_with(metadata, id_token, nonce, now) {
            Ok(identity) => Ok(identity),
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                let Some(fresh) = self.refresh_keys().await? else {
                    return Err(ProviderError::Refused("the ID token names an unknown key".into()));
                };
                self.verify_with(fresh, id_token, nonce, now)
                    .map_err(|e| ProviderError::Refused(format!("ID token: {e}")))
            }
            Err(e) => Err(ProviderError::Refused(format!("ID token: {e}"))),
        }
    }

    fn verify_with(
        &self,
        metadata: CoreProviderMetadata,
        id_token: &openidconnect::core::CoreIdToken,
        nonce: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ProviderIdentity, ClaimsVerificationError> {
        let client = self.client(metadata);
        let verifier = client.id_token_verifier().set_time_fn(move || now);
        let claims = match nonce {
            Some(nonce) => id_token.claims(&verifier, &Nonce::new(nonce.to_owned()))?,
            None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(()))?,
        };
        Ok(ProviderIdentity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified(),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned()),
            groups: payload(id_token).map(|claims| groups(&claims, &self.settings.groups_claim)).unwrap_or_default(),
            refresh_token: None,
        })
    }

    /// Who the provider says the person is at a recheck: the refreshed ID
    /// token, verified, else its userinfo endpoint (OpenID Connect Core
    /// §5.3) asked with the new access token; `None` when it offers neither.
    async fn rechecked_identity(
        &self,
        metadata: CoreProviderMetadata,
        response: &openidconnect::core::CoreTokenResponse,
    ) -> Result<Option<ProviderIdentity>, ProviderError> {
        let now = self.clock.now();
        if let Some(id_token) = response.id_token() {
            return self.verify(metadata, id_token, None, now).await.map(Some);
        }
        let Some(userinfo) = metadata.userinfo_endpoint() else {
            return Ok(None);
        };
        let unreachable = |e: String| ProviderError::Unreachable(format!("userinfo endpoint: {e}"));
        let answer = self
            .http
            .get(userinfo.url().as_str())
            .bearer_auth(response.access_token().secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        if !answer.status().is_success() {
            return Err(unreachable(format!("answered {}", answer.status())));
        }
        let claims: serde_json::Value = answer.json().await.map_err(|e| unreachable(e.without_url().to_string()))?;
        let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
        let subject = text("sub").ok_or_else(|| unreachable("its answer names no sub".into()))?;
        Ok(Some(ProviderIdentity {
            issuer: self.settings.issuer.clone(),
            subject,
            email: text("email"),
            email_verified: claims.get("email_verified").and_then(serde_json::Value::as_bool),
            name: text("name"),
            groups: groups(&claims, &self.settings.groups_claim),
            refresh_token: None,
        }))
    }
}

impl OidcProvider {
    /// One refresh at the provider: whether it still honours `refresh_token`.
    async fn recheck_at_provider(&self, refresh_token: &SecretString) -> Result<ProviderRecheck, ProviderError> {
        let metadata = self.metadata().await?;
        let client = self.client(metadata.clone());
        let token = RefreshToken::new(refresh_token.expose().to_owned());
        let answer = client
            .exchange_refresh_token(&token)
            .map_err(|e| ProviderError::Unreachable(format!("provider has no token endpoint: {e}")))?
            .request_async(&self.http)
            .await;
        match answer {
            // The provider's acceptance of the refresh token is the answer;
            // who it says the person is now sets their admin rights. An
            // identity that cannot be had or verified is none (the rights
            // lapse), never an error: the provider has rotated the refresh
            // token by now, and failing here would lose the new one.
            Ok(response) => {
                let identity = match self.rechecked_identity(metadata, &response).await {
                    Ok(identity) => identity,
                    Err(err) => {
                        tracing::warn!(error = %err, "the identity provider's word on a rechecked person could not be read");
                        None
                    }
                };
                Ok(ProviderRecheck::Honoured {
                    refresh_token: response.refresh_token().map(|t| SecretString::new(t.secret().clone())),
                    identity,
                })
            }
            Err(RequestTokenError::ServerResponse(refusal))
                if *refusal.error() == CoreErrorResponseType::InvalidGrant =>
            {
                Ok(ProviderRecheck::Revoked(
                    refusal.error_description().cloned().unwrap_or_else(|| "invalid_grant".into()),
                ))
            }
            // Anything else (our client refused, a server error, no answer)
            // says nothing about the person: try again later.
            Err(RequestTokenError::ServerResponse(refusal)) => {
                Err(ProviderError::Unreachable(format!("token endpoint refused the refresh: {}", refusal.error())))
            }
            Err(e) => Err(ProviderError::Unreachable(format!("token endpoint: {e}"))),
        }
    }
}

#[async_trait]
impl IdentityProvider for OidcProvider {
    async fn authorization_url(&self, sign_in: &ProviderSignIn) -> Result<String, ProviderError> {
        let metadata = self.metadata().await?;
        let offline = self.settings.offline_access
            && metadata.scopes_supported().is_some_and(|scopes| scopes.iter().any(|s| s.as_str() == OFFLINE_ACCESS));
        let client = self.client(metadata);
        let verifier = PkceCodeVerifier::new(sign_in.pkce_verifier.expose().to_owned());
        let state = sign_in.state.clone();
        let nonce = sign_in.nonce.clone();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
        if offline {
            // OpenID Connect Core §11: offline_access is honoured only with
            // a consent prompt.
            request = request.add_scope(Scope::new(OFFLINE_ACCESS.into())).add_prompt(CoreAuthPrompt::Consent);
        }
        let (url, _, _) = request.url();
        Ok(url.to_string())
    }

    async fn redeem_code(
        &self,
        code: &str,
        pkce_verifier: &SecretString,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<ProviderIdentity, ProviderError> {
        let metadata = self.metadata().await?;
        let client = self.client(metadata.clone());
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| ProviderError::Unreachable(format!("provider has no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.expose().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(refusal) => {
                    ProviderError::Refused(format!("token endpoint refused the code: {}", refusal.error()))
                }
                RequestTokenError::Request(e) => ProviderError::Unreachable(format!("token endpoint: {e}")),
                other => ProviderError::Refused(format!("token endpoint: {other}")),
            })?;
        let id_token =
            response.id_token().ok_or_else(|| ProviderError::Refused("the token response holds no ID token".into()))?;
        let refresh_token = response.refresh_token().map(|t| SecretString::new(t.secret().clone()));
        let identity = self.verify(metadata, id_token, Some(nonce), now).await?;
        Ok(ProviderIdentity { refresh_token, ..identity })
    }

    async fn recheck(&self, refresh_token: &SecretString) -> Result<ProviderRecheck, ProviderError> {
        let key = gatehouse_core::secret::sha256_hex(refresh_token.expose());
        let rechecks = || self.rechecks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let shared = {
            let mut rechecks = rechecks();
            let now = self.clock.now();
            // Few tokens are rechecked per minute (each grant at most once per
            // period), so sweeping the old answers on each call stays small.
            rechecks.retain(|_, (started, _)| elapsed(*started, now) < RECHECK_ANSWER_KEPT);
            rechecks.entry(key.clone()).or_insert_with(|| (now, SharedRecheck::default())).1.clone()
        };
        let answer = shared
            .get_or_init(|| async { self.recheck_at_provider(refresh_token).await.map_err(|e| e.to_string()) })
            .await
            .clone();
        if answer.is_err() {
            // A failure is not an answer to keep: the next refresh asks again.
            let mut rechecks = rechecks();
            if rechecks.get(&key).is_some_and(|(_, kept)| Arc::ptr_eq(kept, &shared)) {
                rechecks.remove(&key);
            }
        }
        answer.map_err(ProviderError::Unreachable)
    }
}

/// A verified ID token's claims, all of them: `openidconnect` keeps only
/// the claims it knows, so the payload is read again here (the signature
/// was verified before this is called).
fn payload(id_token: &openidconnect::core::CoreIdToken) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let serialized = id_token.to_string();
    let payload = serialized.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The groups `claims` (an ID token's or userinfo's) list under `claim`:
/// an array of strings (Keycloak, Okta, Entra ID) or one string.
fn groups(claims: &serde_json::Value, claim: &str) -> Vec<String> {
    match claims.get(claim) {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|g| g.as_str().map(str::to_owned)).collect(),
        Some(serde_json::Value::String(group)) => vec![group.clone()],
        _ => Vec::new(),
    }
}
