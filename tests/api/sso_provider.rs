//! A small OpenID Connect provider inside the test process: real HTTP
//! (discovery, key set, token endpoint with PKCE), real RS256 signatures,
//! and ID tokens whose claims each test may spoil on purpose. Asked for
//! `offline_access` with `prompt=consent`, it issues refresh tokens that it
//! rotates on every use, as providers that detect refresh-token theft do;
//! a test may revoke them (the person left) or make refreshing fail (an
//! outage). A refresh answers a new ID token for the same person, with the
//! claims a test changed since (their groups), or, told to leave the ID
//! token out, offers the same claims at its userinfo endpoint.

use super::sso_keys::{KEY_A_DER_B64, KEY_A_E, KEY_A_N, KEY_B_DER_B64, KEY_B_E, KEY_B_N};
use axum::extract::{Form, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The client id Gatehouse is registered under at the test provider.
pub const CLIENT_ID: &str = "gatehouse-test";
/// The `sub` of the provider account a sign-in is for unless told otherwise.
pub const SAM_SUB: &str = "sam-1234";

/// How the provider's ID token should differ from a good one.
#[derive(Debug, Clone, Default)]
pub struct Spoil {
    pub email: Option<Option<String>>,
    /// `Some(None)`: no `email_verified` claim at all.
    pub email_verified: Option<Option<bool>>,
    pub aud: Option<String>,
    pub iss: Option<String>,
    /// Seconds past the token's expiry at issue time.
    pub expired_by: Option<i64>,
    pub nonce: Option<String>,
    /// Sign with key `b` (which the key set holds only after `rotate_keys`).
    pub unknown_key: bool,
    /// Sign with another key but claim kid `a` (a forged signature).
    pub wrong_signature: bool,
    /// Sign in another provider account than Sam's (`sub`).
    pub sub: Option<String>,
    /// Claims the ID token carries besides the standard ones (`groups`…).
    pub extra_claims: Vec<(&'static str, Value)>,
}

struct Issued {
    nonce: String,
    challenge: String,
    spoil: Spoil,
    now: DateTime<Utc>,
    /// Asked for `offline_access` with a consent prompt.
    offline: bool,
}

/// Who a refresh token (or an access token) was issued for.
#[derive(Debug, Clone)]
struct Person {
    sub: String,
    email: Option<String>,
    extra_claims: Vec<(&'static str, Value)>,
    /// The sign-in's time, the `iat` of every ID token for it.
    at: DateTime<Utc>,
}

#[derive(Default)]
struct ProviderState {
    issuer: String,
    codes: Mutex<HashMap<String, Issued>>,
    rotated: AtomicBool,
    /// The refresh tokens that still work, and whose they are.
    refresh_tokens: Mutex<HashMap<String, Person>>,
    /// The access tokens issued, for userinfo.
    access_tokens: Mutex<HashMap<String, Person>>,
    /// Claims changed since sign-in (a person's groups), by `sub`.
    changed_claims: Mutex<HashMap<String, Vec<(&'static str, Value)>>>,
    /// Refreshes answer no ID token (userinfo then has the claims).
    refresh_without_id_token: AtomicBool,
    /// Refreshes answer an ID token signed with a key the set does not hold.
    refresh_id_token_forged: AtomicBool,
    /// Refreshes answered (successfully or not).
    refreshes: AtomicUsize,
    /// Refreshing answers a server error (an outage).
    refresh_outage: AtomicBool,
}

/// A running test provider.
pub struct TestProvider {
    pub issuer: String,
    state: Arc<ProviderState>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key(der_b64: &str) -> EncodingKey {
    EncodingKey::from_rsa_der(&base64::engine::general_purpose::STANDARD.decode(der_b64).expect("test key"))
}

impl TestProvider {
    /// Starts the provider on a free port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        Self::serve(listener, issuer)
    }

    /// Starts the provider behind TLS with `ca`'s certificate for
    /// `localhost`: its issuer is `https://localhost:<port>`.
    pub async fn start_behind_tls(ca: &crate::tls::TestCa) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let plain = listener.local_addr().expect("addr").port();
        let tls_port = ca.terminate_tls(plain).await;
        Self::serve(listener, format!("https://localhost:{tls_port}"))
    }

    fn serve(listener: tokio::net::TcpListener, issuer: String) -> Self {
        let state = Arc::new(ProviderState { issuer: issuer.clone(), ..Default::default() });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { issuer, state }
    }

    /// Gatehouse's settings for signing in here, allowing `domains` (any
    /// when empty), with the defaults for everything else.
    pub fn config(&self, domains: &[&str]) -> gatehouse::config::SsoConfig {
        gatehouse::config::SsoConfig {
            issuer: self.issuer.clone(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: None,
            display_name: "Test SSO".to_owned(),
            allowed_email_domains: domains.iter().map(|d| (*d).to_owned()).collect(),
            recheck_every: gatehouse_core::services::sso::DEFAULT_RECHECK_EVERY,
            offline_access: true,
            trust_emails: false,
            admin_groups: Vec::new(),
            groups_claim: "groups".to_owned(),
        }
    }

    /// Publishes key `b` beside `a`, as a provider rotating its keys does.
    pub fn rotate_keys(&self) {
        self.state.rotated.store(true, Ordering::SeqCst);
    }

    /// The person left: every refresh token the provider issued stops working.
    pub fn revoke_sign_ins(&self) {
        self.state.refresh_tokens.lock().expect("lock").clear();
    }

    /// Whether refreshing at the provider fails with a server error.
    pub fn set_refresh_outage(&self, failing: bool) {
        self.state.refresh_outage.store(failing, Ordering::SeqCst);
    }

    /// From now on the provider describes `sub` with `claims` (say, other
    /// groups) in refreshed ID tokens and at userinfo.
    pub fn change_claims(&self, sub: &str, claims: Vec<(&'static str, Value)>) {
        self.state.changed_claims.lock().expect("lock").insert(sub.to_owned(), claims);
    }

    /// Whether refreshes leave the ID token out (userinfo then tells).
    pub fn refresh_without_id_token(&self, without: bool) {
        self.state.refresh_without_id_token.store(without, Ordering::SeqCst);
    }

    /// Whether refreshes answer an ID token with a forged signature.
    pub fn forge_refreshed_id_tokens(&self, forged: bool) {
        self.state.refresh_id_token_forged.store(forged, Ordering::SeqCst);
    }

    /// How many refreshes the provider has answered.
    pub fn refreshes(&self) -> usize {
        self.state.refreshes.load(Ordering::SeqCst)
    }

    /// How many of its refresh tokens still work.
    pub fn live_refresh_tokens(&self) -> usize {
        self.state.refresh_tokens.lock().expect("lock").len()
    }

    /// What the provider would hand out for an authorization request it
    /// received (`authorize_url`), as a code for the callback.
    pub fn sign_in(&self, authorize_url: &str, spoil: Spoil, now: DateTime<Utc>) -> String {
        let url = url::Url::parse(authorize_url).expect("authorize url");
        let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let code = uuid::Uuid::new_v4().simple().to_string();
        let offline = param("scope").is_some_and(|scope| scope.split(' ').any(|s| s == "offline_access"))
            && param("prompt").is_some_and(|prompt| prompt.split(' ').any(|p| p == "consent"));
        let issued = Issued {
            nonce: param("nonce").expect("nonce"),
            challenge: param("code_challenge").expect("code_challenge"),
            spoil,
            now,
            offline,
        };
        self.state.codes.lock().expect("lock").insert(code.clone(), issued);
        code
    }
}

async fn discovery(State(state): State<Arc<ProviderState>>) -> Json<Value> {
    let issuer = &state.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile", "offline_access"],
    }))
}

async fn jwks(State(state): State<Arc<ProviderState>>) -> Json<Value> {
    let mut keys = vec![json!({ "kty": "RSA", "kid": "a", "use": "sig", "alg": "RS256", "n": KEY_A_N, "e": KEY_A_E })];
    if state.rotated.load(Ordering::SeqCst) {
        keys.push(json!({ "kty": "RSA", "kid": "b", "use": "sig", "alg": "RS256", "n": KEY_B_N, "e": KEY_B_E }));
    }
    Json(json!({ "keys": keys }))
}

async fn token(
    State(state): State<Arc<ProviderState>>,
    Form(form): Form<HashMap<String, String>>,
) -> (axum::http::StatusCode, Json<Value>) {
    let refuse = |error: &str| (axum::http::StatusCode::BAD_REQUEST, Json(json!({ "error": error })));
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        return refresh(&state, &form);
    }
    let Some(issued) = form.get("code").and_then(|code| state.codes.lock().expect("lock").remove(code)) else {
        return refuse("invalid_grant");
    };
    // PKCE S256 (RFC 7636 §4.6) and the public client's id.
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = b64(&<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    if challenge != issued.challenge || form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return refuse("invalid_grant");
    }
    let spoil = issued.spoil;
    let iat = issued.now.timestamp();
    let exp = match spoil.expired_by {
        Some(secs) => iat - secs,
        None => iat + 300,
    };
    let email = spoil.email.clone().unwrap_or_else(|| Some("sam@sso.example".to_owned()));
    let mut claims = json!({
        "iss": spoil.iss.clone().unwrap_or_else(|| state.issuer.clone()),
        "sub": spoil.sub.clone().unwrap_or_else(|| SAM_SUB.to_owned()),
        "aud": spoil.aud.clone().unwrap_or_else(|| CLIENT_ID.to_owned()),
        "iat": iat,
        "exp": exp,
        "nonce": spoil.nonce.clone().unwrap_or(issued.nonce),
        "email_verified": spoil.email_verified.unwrap_or(Some(true)),
        "name": "Sam External",
    });
    if let Some(email) = email {
        claims["email"] = json!(email);
    }
    for (name, value) in &spoil.extra_claims {
        claims[*name] = value.clone();
    }
    if claims["email_verified"].is_null() {
        claims.as_object_mut().expect("claims").remove("email_verified");
    }
    let id_token = sign(&claims, spoil.unknown_key, spoil.wrong_signature);
    let person = Person {
        sub: claims["sub"].as_str().unwrap_or_default().to_owned(),
        email: claims["email"].as_str().map(str::to_owned),
        extra_claims: spoil.extra_claims.clone(),
        at: issued.now,
    };
    let mut answer = json!({
        "access_token": new_access_token(&state, &person),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    });
    if issued.offline {
        answer["refresh_token"] = json!(new_refresh_token(&state, person));
    }
    (axum::http::StatusCode::OK, Json(answer))
}

/// An RS256 ID token: signed with key `a` under kid `a`, or as spoiled.
fn sign(claims: &Value, unknown_key: bool, wrong_signature: bool) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(if unknown_key { "b" } else { "a" }.to_owned());
    let key = rsa_key(if unknown_key || wrong_signature { KEY_B_DER_B64 } else { KEY_A_DER_B64 });
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// What the provider says of `person` now: the sign-in's claims with the
/// changes a test made since.
fn claims_now(state: &ProviderState, person: &Person) -> Value {
    let mut claims = json!({ "sub": person.sub, "email_verified": true, "name": "Sam External" });
    if let Some(email) = &person.email {
        claims["email"] = json!(email);
    }
    let changed = state.changed_claims.lock().expect("lock").get(&person.sub).cloned();
    for (name, value) in changed.unwrap_or_else(|| person.extra_claims.clone()) {
        claims[name] = value;
    }
    claims
}

fn new_refresh_token(state: &ProviderState, person: Person) -> String {
    let token = format!("provider-rt-{}", uuid::Uuid::new_v4().simple());
    state.refresh_tokens.lock().expect("lock").insert(token.clone(), person);
    token
}

fn new_access_token(state: &ProviderState, person: &Person) -> String {
    let token = format!("provider-at-{}", uuid::Uuid::new_v4().simple());
    state.access_tokens.lock().expect("lock").insert(token.clone(), person.clone());
    token
}

/// OpenID Connect Core §5.3: the person an access token was issued for.
async fn userinfo(
    State(state): State<Arc<ProviderState>>,
    headers: axum::http::HeaderMap,
) -> (axum::http::StatusCode, Json<Value>) {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let person = state.access_tokens.lock().expect("lock").get(token).cloned();
    match person {
        Some(person) => (axum::http::StatusCode::OK, Json(claims_now(&state, &person))),
        None => (axum::http::StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid_token" }))),
    }
}

/// `grant_type=refresh_token`: a working token is rotated; a used or
/// revoked one is `invalid_grant`.
fn refresh(state: &ProviderState, form: &HashMap<String, String>) -> (axum::http::StatusCode, Json<Value>) {
    state.refreshes.fetch_add(1, Ordering::SeqCst);
    if state.refresh_outage.load(Ordering::SeqCst) {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "temporarily_unavailable" })));
    }
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    let person = state.refresh_tokens.lock().expect("lock").remove(&presented);
    let Some(person) = person.filter(|_| form.get("client_id").map(String::as_str) == Some(CLIENT_ID)) else {
        let refusal = json!({ "error": "invalid_grant", "error_description": "refresh token revoked" });
        return (axum::http::StatusCode::BAD_REQUEST, Json(refusal));
    };
    let mut answer = json!({
        "access_token": new_access_token(state, &person),
        "token_type": "Bearer",
        "expires_in": 300,
    });
    if !state.refresh_without_id_token.load(Ordering::SeqCst) {
        // OpenID Connect Core §12.2: the same iss, sub and aud, no nonce.
        // This provider keeps no clock of its own: the token is dated from
        // the sign-in and lasts a year, past any test's clock.
        let mut claims = claims_now(state, &person);
        claims["iss"] = json!(state.issuer);
        claims["aud"] = json!(CLIENT_ID);
        claims["iat"] = json!(person.at.timestamp());
        claims["exp"] = json!(person.at.timestamp() + 365 * 24 * 3600);
        answer["id_token"] = json!(sign(&claims, false, state.refresh_id_token_forged.load(Ordering::SeqCst)));
    }
    answer["refresh_token"] = json!(new_refresh_token(state, person));
    (axum::http::StatusCode::OK, Json(answer))
}
