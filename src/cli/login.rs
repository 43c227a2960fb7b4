//! `gatehouse login`, `status` and `logout`: the client side of the device
//! flow. `login` prints where to go, the code and a QR code of the link that
//! fills it in, polls honouring `interval` and `slow_down`, and stores the
//! tokens in the user's config directory (mode 0600). `status` says whom the
//! saved token speaks for; `logout` ends the grant on the server and forgets it.
//!
//! A saved grant with a refresh token is refreshed transparently when its
//! access token is about to end (or the server says it has). Refreshing
//! rotates the refresh token and the server treats a rotated one presented
//! again as theft, so every refresh holds an exclusive lock on a file beside
//! the credentials: two commands never refresh with the same token.

use crate::http::wire::{DeviceAuthorizationResponse, ErrorBody, MeResponse, TokenResponse};
use anyhow::{Context as _, bail};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Where `login` stores credentials unless `GATEHOUSE_CREDENTIALS_FILE` says otherwise.
fn credentials_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("GATEHOUSE_CREDENTIALS_FILE") {
        return Ok(PathBuf::from(path));
    }
    let dir = dirs::config_dir().context("no config directory for this user (set GATEHOUSE_CREDENTIALS_FILE)")?;
    Ok(dir.join("gatehouse").join("credentials.json"))
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The Gatehouse server's base URL.
    #[arg(long, env = "GATEHOUSE_SERVER", default_value = "http://127.0.0.1:3000")]
    server: String,
    /// The OAuth client to sign in as.
    #[arg(long, default_value = gatehouse_core::services::clients::DEFAULT_CLI_CLIENT_ID)]
    client_id: String,
    /// How this device is named on the approval page (defaults to the host name).
    #[arg(long)]
    device_label: Option<String>,
    /// Space-separated scopes to request (default: the client's).
    #[arg(long)]
    scope: Option<String>,
    /// Do not print the QR code of the sign-in link.
    #[arg(long)]
    no_qr: bool,
    /// A PEM bundle of certificate authorities to trust beside the system's
    /// (a server behind a company CA).
    #[arg(long, env = "GATEHOUSE_CA_FILE")]
    ca_file: Option<PathBuf>,
}

/// Which server's saved token `status` and `logout` use.
#[derive(Debug, Args)]
pub struct SavedTokenArgs {
    /// The Gatehouse server's base URL.
    #[arg(long, env = "GATEHOUSE_SERVER", default_value = "http://127.0.0.1:3000")]
    server: String,
    /// A PEM bundle of certificate authorities to trust beside the system's
    /// (a server behind a company CA).
    #[arg(long, env = "GATEHOUSE_CA_FILE")]
    ca_file: Option<PathBuf>,
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Runs the device flow against `args.server`.
pub async fn run(args: LoginArgs) -> anyhow::Result<()> {
    let server = args.server.trim_end_matches('/').to_owned();
    let http = http_client(args.ca_file.as_deref())?;

    let mut form = vec![("client_id", args.client_id.clone())];
    if let Some(label) = args.device_label.or_else(host_name) {
        form.push(("device_label", label));
    }
    if let Some(scope) = args.scope {
        form.push(("scope", scope));
    }
    let response = http
        .post(format!("{server}/v1/oauth/device/code"))
        .form(&form)
        .send()
        .await
        .with_context(|| format!("cannot reach {server}"))?;
    if !response.status().is_success() {
        let body: ErrorBody = response.json().await.context("unexpected answer from the server")?;
        bail!("the server refused: {} ({})", body.error, body.error_description.unwrap_or_default());
    }
    let authorization: DeviceAuthorizationResponse =
        response.json().await.context("unexpected answer from the server")?;

    println!("To sign in, open {} and enter the code:", authorization.verification_uri);
    println!();
    println!("    {}", authorization.user_code);
    println!();
    if let Some(complete) = &authorization.verification_uri_complete {
        println!("Or open this link, which fills in the code for you: {complete}");
        if !args.no_qr
            && let Some(qr) = terminal_qr(complete)
        {
            println!("Or scan it with a phone:");
            println!("{qr}");
        }
    }
    println!("Waiting for approval (the code expires in {} minutes)…", authorization.expires_in.div_ceil(60));

    let mut interval = authorization.interval.unwrap_or(5).max(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(authorization.expires_in);
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if tokio::time::Instant::now() > deadline {
            bail!("the code expired before it was approved; run `gatehouse login` again");
        }
        let response = http
            .post(format!("{server}/v1/oauth/device/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", authorization.device_code.as_str()),
                ("client_id", args.client_id.as_str()),
            ])
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            // A network blip is not a verdict: keep polling until the deadline.
            Err(err) => {
                eprintln!("(retrying: {err})");
                continue;
            }
        };
        let status = response.status();
        if status.is_success() {
            let token: TokenResponse = response.json().await.context("unexpected answer from the server")?;
            return finish(&server, &args.client_id, &token);
        }
        if status.is_server_error() {
            eprintln!("(server answered {status}; retrying)");
            continue;
        }
        let body: ErrorBody = response.json().await.context("unexpected answer from the server")?;
        match body.error.as_str() {
            "authorization_pending" => {}
            "slow_down" => interval = body.interval.unwrap_or(interval + 5),
            "access_denied" => bail!("the request was denied in the browser"),
            "expired_token" => bail!("the code expired before it was approved; run `gatehouse login` again"),
            other => bail!("sign-in failed: {other} ({})", body.error_description.unwrap_or_default()),
        }
    }
}

/// `link` as a QR code drawn with Unicode half blocks (two rows per line),
/// dark on light with a quiet zone, so phones read it in dark terminals too.
fn terminal_qr(link: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(link.as_bytes()).ok()?;
    Some(code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build())
}

fn read_credentials() -> anyhow::Result<(PathBuf, serde_json::Map<String, serde_json::Value>)> {
    let path = credentials_path()?;
    let all = std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default();
    Ok((path, all))
}

/// One server's saved sign-in.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Saved {
    access_token: String,
    token_id: uuid::Uuid,
    /// When the access token ends (RFC 3339).
    expires_at: String,
    subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// The client the grant belongs to (refreshes authenticate as it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// When the grant ends unless refreshed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant_expires_at: Option<String>,
}

impl Saved {
    fn from_response(token: &TokenResponse, client_id: &str) -> Self {
        Self {
            access_token: token.access_token.clone(),
            token_id: token.token_id,
            expires_at: token.expires_at.clone(),
            subject: token.subject.describe(),
            refresh_token: token.refresh_token.clone(),
            client_id: Some(client_id.to_owned()),
            grant_expires_at: token.grant_expires_at.clone(),
        }
    }

    /// Whether the access token ends within a minute (by this machine's clock).
    fn ending_soon(&self) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.expires_at).is_ok_and(|at| {
            at.with_timezone(&chrono::Utc)
                <= gatehouse_core::Clock::now(&gatehouse_core::SystemClock) + chrono::Duration::seconds(60)
        })
    }
}

fn saved_entry(server: &str) -> anyhow::Result<(PathBuf, serde_json::Map<String, serde_json::Value>, Saved)> {
    let (path, all) = read_credentials()?;
    let saved = all
        .get(server)
        .and_then(|entry| serde_json::from_value::<Saved>(entry.clone()).ok())
        .with_context(|| format!("no saved token for {server}; run `gatehouse login --server {server}`"))?;
    Ok((path, all, saved))
}

fn write_credentials(path: &std::path::Path, all: serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
    let contents = serde_json::to_vec_pretty(&serde_json::Value::Object(all))?;
    crate::files::write_private(path, &contents).with_context(|| format!("cannot write {}", path.display()))
}

/// An exclusive lock on `<credentials>.lock`, held while the saved tokens
/// are read, refreshed and written back; released when dropped.
fn lock_credentials(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
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

/// The saved sign-in for `server`, refreshed first when its access token is
/// ending (or `force`, after the server refused it) and it has a refresh token.
async fn usable_token(http: &reqwest::Client, server: &str, force: bool) -> anyhow::Result<(PathBuf, Saved)> {
    let path = credentials_path()?;
    let _lock = lock_credentials(&path)?;
    // Read under the lock: another command may have just refreshed.
    let (path, mut all, saved) = saved_entry(server)?;
    let Some(refresh_token) = saved.refresh_token.clone().filter(|_| force || saved.ending_soon()) else {
        return Ok((path, saved));
    };
    let client_id =
        saved.client_id.clone().unwrap_or_else(|| gatehouse_core::services::clients::DEFAULT_CLI_CLIENT_ID.to_owned());
    let response = http
        .post(format!("{server}/v1/oauth/device/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .with_context(|| format!("cannot reach {server} to refresh the sign-in"))?;
    let status = response.status();
    if status.is_success() {
        let token: TokenResponse = response.json().await.context("unexpected answer from the server")?;
        let refreshed = Saved::from_response(&token, &client_id);
        all.insert(server.to_owned(), serde_json::to_value(&refreshed)?);
        write_credentials(&path, all)?;
        return Ok((path, refreshed));
    }
    if status.is_client_error() {
        // The grant ended (revoked, expired, or its account disabled): the
        // saved tokens are useless, so they are forgotten.
        let body: ErrorBody = response.json().await.unwrap_or(ErrorBody {
            error: status.to_string(),
            error_description: None,
            interval: None,
        });
        all.remove(server);
        write_credentials(&path, all)?;
        bail!(
            "the sign-in to {server} has ended ({}); run `gatehouse login --server {server}`",
            body.error_description.unwrap_or(body.error)
        );
    }
    bail!("the server answered {status} to a refresh; the saved sign-in was kept, so try again")
}

/// The client's HTTP client: the system's roots, and `ca_file`'s.
fn http_client(ca_file: Option<&std::path::Path>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca_file {
        let roots = gatehouse_store::tls::ExtraRoots::load(path).map_err(|e| anyhow::anyhow!("--ca-file: {e}"))?;
        for certificate in roots.for_reqwest() {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder
        .user_agent(concat!("gatehouse-login/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// `gatehouse status`: whom the saved token speaks for, and until when.
pub async fn status(args: SavedTokenArgs) -> anyhow::Result<()> {
    let server = args.server.trim_end_matches('/').to_owned();
    let http = http_client(args.ca_file.as_deref())?;
    let mut force = false;
    let (me, saved) = loop {
        let (path, saved) = usable_token(&http, &server, force).await?;
        let response = http
            .get(format!("{server}/v1/me"))
            .bearer_auth(&saved.access_token)
            .send()
            .await
            .with_context(|| format!("cannot reach {server}"))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            // Ended early by the server's clock: refresh once and ask again.
            if saved.refresh_token.is_some() && !force {
                force = true;
                continue;
            }
            bail!(
                "the token saved in {} is no longer valid (revoked or expired); run `gatehouse login`",
                path.display()
            );
        }
        if !response.status().is_success() {
            bail!("the server answered {}", response.status());
        }
        break (response.json::<MeResponse>().await.context("unexpected answer from the server")?, saved);
    };
    println!("Signed in to {server} as {}.", me.subject.describe());
    println!("Scopes: {}", me.scopes.join(" "));
    println!("The access token expires {}.", me.expires_at);
    match &saved.grant_expires_at {
        Some(grant) => {
            println!("It is refreshed automatically; the sign-in lasts until {grant} unless used before then.")
        }
        None => println!("The sign-in ends with it."),
    }
    Ok(())
}

/// `gatehouse logout`: ends the saved grant on the server, then forgets it.
pub async fn logout(args: SavedTokenArgs) -> anyhow::Result<()> {
    let server = args.server.trim_end_matches('/').to_owned();
    let path = credentials_path()?;
    let _lock = lock_credentials(&path)?;
    let (path, mut all, saved) = saved_entry(&server)?;
    let http = http_client(args.ca_file.as_deref())?;
    let response = match (&saved.refresh_token, &saved.client_id) {
        // RFC 7009 with the refresh token: works after the access token
        // ended, and ends the whole grant.
        (Some(refresh_token), Some(client_id)) => {
            http.post(format!("{server}/v1/oauth/revoke"))
                .form(&[
                    ("token", refresh_token.as_str()),
                    ("token_type_hint", "refresh_token"),
                    ("client_id", client_id.as_str()),
                ])
                .send()
                .await
        }
        _ => {
            http.delete(format!("{server}/v1/oauth/authorizations/self")).bearer_auth(&saved.access_token).send().await
        }
    }
    .with_context(|| format!("cannot reach {server}; the token was kept"))?;
    let status = response.status();
    // 401: already revoked or expired, so there is nothing left to revoke.
    if !(status.is_success() || status == reqwest::StatusCode::UNAUTHORIZED) {
        bail!("the server answered {status}; the token was kept, so try again");
    }
    all.remove(&server);
    write_credentials(&path, all)?;
    println!("Signed out of {server}: the token is revoked and removed from {}.", path.display());
    Ok(())
}

fn finish(server: &str, client_id: &str, token: &TokenResponse) -> anyhow::Result<()> {
    let saved = Saved::from_response(token, client_id);
    let path = credentials_path()?;
    let _lock = lock_credentials(&path)?;
    let (path, mut all) = read_credentials()?;
    all.insert(server.to_owned(), serde_json::to_value(&saved)?);
    write_credentials(&path, all)?;
    println!("Signed in as {}.", saved.subject);
    match &saved.grant_expires_at {
        Some(grant) => println!(
            "Token saved to {}; it is refreshed automatically until {grant} unless used before then.",
            path.display()
        ),
        None => println!("Token saved to {} (expires {}).", path.display(), token.expires_at),
    }
    Ok(())
}
