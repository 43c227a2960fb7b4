//! `gatehouse login`, `status` and `logout`: the client side of the device
//! flow. `login` prints where to go, the code and a QR code of the link that
//! fills it in, polls honouring `interval` and `slow_down`, and stores the
//! token in the user's config directory (mode 0600). `status` says whom the
//! saved token speaks for; `logout` revokes it on the server and forgets it.

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
            return finish(&server, &token);
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

fn saved_token(server: &str) -> anyhow::Result<(PathBuf, serde_json::Map<String, serde_json::Value>, String)> {
    let (path, all) = read_credentials()?;
    let token = all
        .get(server)
        .and_then(|entry| entry["access_token"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("no saved token for {server}; run `gatehouse login --server {server}`"))?;
    Ok((path, all, token))
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
    let (path, _, token) = saved_token(&server)?;
    let response = http_client(args.ca_file.as_deref())?
        .get(format!("{server}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .with_context(|| format!("cannot reach {server}"))?;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        bail!("the token saved in {} is no longer valid (revoked or expired); run `gatehouse login`", path.display());
    }
    if !response.status().is_success() {
        bail!("the server answered {}", response.status());
    }
    let me: MeResponse = response.json().await.context("unexpected answer from the server")?;
    println!("Signed in to {server} as {}.", me.subject.describe());
    println!("Scopes: {}", me.scopes.join(" "));
    println!("The token expires {}.", me.expires_at);
    Ok(())
}

/// `gatehouse logout`: revokes the saved token on the server, then forgets it.
pub async fn logout(args: SavedTokenArgs) -> anyhow::Result<()> {
    let server = args.server.trim_end_matches('/').to_owned();
    let (path, mut all, token) = saved_token(&server)?;
    let response = http_client(args.ca_file.as_deref())?
        .delete(format!("{server}/v1/oauth/authorizations/self"))
        .bearer_auth(&token)
        .send()
        .await
        .with_context(|| format!("cannot reach {server}; the token was kept"))?;
    let status = response.status();
    // 401: already revoked or expired, so there is nothing left to revoke.
    if !(status.is_success() || status == reqwest::StatusCode::UNAUTHORIZED) {
        bail!("the server answered {status}; the token was kept, so try again");
    }
    all.remove(&server);
    let contents = serde_json::to_vec_pretty(&serde_json::Value::Object(all))?;
    crate::files::write_private(&path, &contents).with_context(|| format!("cannot write {}", path.display()))?;
    println!("Signed out of {server}: the token is revoked and removed from {}.", path.display());
    Ok(())
}

fn finish(server: &str, token: &TokenResponse) -> anyhow::Result<()> {
    let who = token.subject.describe();
    let (path, mut all) = read_credentials()?;
    all.insert(
        server.to_owned(),
        serde_json::json!({
            "access_token": token.access_token,
            "token_id": token.token_id,
            "expires_at": token.expires_at,
            "subject": who,
        }),
    );
    let contents = serde_json::to_vec_pretty(&serde_json::Value::Object(all))?;
    crate::files::write_private(&path, &contents).with_context(|| format!("cannot write {}", path.display()))?;
    println!("Signed in as {who}.");
    println!("Token saved to {} (expires {}).", path.display(), token.expires_at);
    Ok(())
}
