//! The credentials file of `gatehouse login` (one entry per server, mode
//! 0600), the lock that keeps two commands from refreshing one grant at once,
//! and the DPoP prover of a saved key.

use super::dpop::{DpopKey, ProofAlgorithm};
use crate::http::wire::TokenResponse;
use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::path::PathBuf;

/// Where `login` stores credentials unless `GATEHOUSE_CREDENTIALS_FILE` says otherwise.
pub(super) fn credentials_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("GATEHOUSE_CREDENTIALS_FILE") {
        return Ok(PathBuf::from(path));
    }
    let dir = dirs::config_dir().context("no config directory for this user (set GATEHOUSE_CREDENTIALS_FILE)")?;
    Ok(dir.join("gatehouse").join("credentials.json"))
}

pub(super) fn read_credentials() -> anyhow::Result<(PathBuf, serde_json::Map<String, serde_json::Value>)> {
    let path = credentials_path()?;
    let all = std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default();
    Ok((path, all))
}

/// One server's saved sign-in.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Saved {
    pub(super) access_token: String,
    pub(super) token_id: uuid::Uuid,
    /// When the access token ends (RFC 3339).
    pub(super) expires_at: String,
    pub(super) subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) refresh_token: Option<String>,
    /// The client the grant belongs to (refreshes authenticate as it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) client_id: Option<String>,
    /// When the grant ends unless refreshed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) grant_expires_at: Option<String>,
    /// The Ed25519 key (PKCS#8, base64url) the tokens are bound to (DPoP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) dpop_key: Option<String>,
}

impl Saved {
    /// What to save of a token answer; the key only when the server bound
    /// the tokens to it.
    pub(super) fn from_response(token: &TokenResponse, client_id: &str, prover: Option<&Prover>) -> Self {
        let bound = token.token_type.eq_ignore_ascii_case("DPoP");
        Self {
            dpop_key: prover.filter(|_| bound).map(|prover| URL_SAFE_NO_PAD.encode(prover.key.pkcs8())),
            access_token: token.access_token.clone(),
            token_id: token.token_id,
            expires_at: token.expires_at.clone(),
            subject: token.subject.describe(),
            refresh_token: token.refresh_token.clone(),
            client_id: Some(client_id.to_owned()),
            grant_expires_at: token.grant_expires_at.clone(),
        }
    }

    /// The prover of the saved key, when the tokens are bound to one.
    pub(super) fn prover(&self) -> anyhow::Result<Option<Prover>> {
        let Some(encoded) = &self.dpop_key else {
            return Ok(None);
        };
        let pkcs8 = URL_SAFE_NO_PAD.decode(encoded).context("the saved DPoP key is not base64url")?;
        Ok(Some(Prover::new(DpopKey::from_pkcs8(ProofAlgorithm::EdDsa, &pkcs8)?)))
    }

    /// Sends `method url` (with a JSON `body`) with the saved access token:
    /// `Authorization: DPoP` and a proof when it is bound (once more with the
    /// server's nonce when it asks for one, RFC 9449 §9), `Bearer` otherwise.
    pub(super) async fn send_with_token(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let request = |authorization: String| {
            let request = http.request(method.clone(), url).header(reqwest::header::AUTHORIZATION, authorization);
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        };
        let Some(mut prover) = self.prover()? else {
            return Ok(request(format!("Bearer {}", self.access_token)).send().await?);
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let response = request(format!("DPoP {}", self.access_token))
                .header("DPoP", prover.proof(method.as_str(), url, Some(&self.access_token)))
                .send()
                .await?;
            let asks_for_nonce = response.status() == reqwest::StatusCode::UNAUTHORIZED
                && response
                    .headers()
                    .get_all(reqwest::header::WWW_AUTHENTICATE)
                    .iter()
                    .any(|challenge| challenge.to_str().is_ok_and(|c| c.contains(r#"error="use_dpop_nonce""#)));
            prover.remember_nonce(&response);
            if attempts > 1 || !asks_for_nonce {
                return Ok(response);
            }
        }
    }

    /// Whether the access token ends within a minute (by this machine's clock).
    pub(super) fn ending_soon(&self) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.expires_at).is_ok_and(|at| {
            at.with_timezone(&chrono::Utc)
                <= gatehouse_core::Clock::now(&gatehouse_core::SystemClock) + chrono::Duration::seconds(60)
        })
    }
}

pub(super) fn saved_entry(
    server: &str,
) -> anyhow::Result<(PathBuf, serde_json::Map<String, serde_json::Value>, Saved)> {
    let (path, all) = read_credentials()?;
    let saved = all
        .get(server)
        .and_then(|entry| serde_json::from_value::<Saved>(entry.clone()).ok())
        .with_context(|| format!("no saved token for {server}; run `gatehouse login --server {server}`"))?;
    Ok((path, all, saved))
}

pub(super) fn write_credentials(
    path: &std::path::Path,
    all: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let contents = serde_json::to_vec_pretty(&serde_json::Value::Object(all))?;
    crate::files::write_private(path, &contents).with_context(|| format!("cannot write {}", path.display()))
}

/// An exclusive lock on `<credentials>.lock`, held while the saved tokens
/// are read, refreshed and written back; released when dropped.
pub(super) fn lock_credentials(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let lock_path = path.with_extension("lock");
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    file.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
    Ok(file)
}

/// DPoP proofs for one server: the key, and the nonce it last handed out.
pub(super) struct Prover {
    pub(super) key: DpopKey,
    pub(super) nonce: Option<String>,
}

impl Prover {
    pub(super) fn new(key: DpopKey) -> Self {
        Self { key, nonce: None }
    }

    pub(super) fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        self.key.proof(method, url, access_token, self.nonce.as_deref())
    }

    /// Keeps the answer's `DPoP-Nonce`, if any, for the next proof.
    pub(super) fn remember_nonce(&mut self, response: &reqwest::Response) {
        if let Some(nonce) = response.headers().get("dpop-nonce").and_then(|v| v.to_str().ok()) {
            self.nonce = Some(nonce.to_owned());
        }
    }
}
