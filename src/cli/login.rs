//! `gatehouse login`, `status` and `logout`: the client side of the device
//! flow. `login` prints where to go, the code and a QR code of the link that
//! fills it in, polls honouring `interval` and `slow_down`, and stores the
//! tokens in the user's config directory (mode 0600). `status` says whom the
//! saved token speaks for; `logout` ends the grant on the server and forgets it.
//!
//! By default the tokens are bound to a key (DPoP, RFC 9449): `login` makes
//! an Ed25519 key, proves it holds it at every token request, and saves it
//! beside the tokens, so a copied token is useless without it. A server (or
//! client) that does not bind answers plain bearer tokens, and the key is
//! dropped.
//!
//! A saved grant with a refresh token is refreshed transparently when its
//! access token is about to end (or the server says it has). Refreshing
//! rotates the refresh token and the server treats a rotated one presented
//! again as theft, so every refresh holds an exclusive lock on a file beside
//! the credentials: two commands never refresh with the same token.

use super::credentials::{
    Prover, Saved, credentials_path, lock_credentials, read_credentials, saved_entry, write_credentials,
};
use super::dpop::{DpopKey, ProofAlgorithm};
use crate::http::router::paths;
use crate::http::wire::{DeviceAuthorizationResponse, ErrorBody, MeResponse, TokenResponse};
use anyhow::{Context as _, bail};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Ask for plain bearer tokens, not bound to a key of this machine (DPoP).
    #[arg(long)]
    no_dpop: bool,
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
        .post(format!("{server}{}", paths::DEVICE_AUTHORIZATION))
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
    let confirming = authorization.confirmation_required == Some(true);
    if confirming {
        println!(
            "This app asks you to confirm: after you approve in the browser, it shows a six-digit code. \
             Type that code here and press Enter."
        );
    }
    println!("Waiting for approval (the code expires in {} minutes)…", authorization.expires_in.div_ceil(60));
    // What the person types, line by line (only read when asked to confirm).
    let mut typed = confirming.then(typed_lines);
    let mut confirmation_code: Option<String> = None;

    let mut prover = if args.no_dpop { None } else { Some(Prover::new(DpopKey::generate(ProofAlgorithm::EdDsa)?)) };
    let token_url = format!("{server}{}", paths::TOKEN);
    let mut interval = authorization.interval.unwrap_or(5).max(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(authorization.expires_in);
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if tokio::time::Instant::now() > deadline {
            bail!("the code expired before it was approved; run `gatehouse login` again");
        }
        if let Some(lines) = &mut typed {
            while let Ok(line) = lines.try_recv() {
                let digits: String = line.chars().filter(char::is_ascii_digit).collect();
                if !digits.is_empty() {
                    confirmation_code = Some(digits);
                }
            }
        }
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", authorization.device_code.as_str()),
            ("client_id", args.client_id.as_str()),
        ];
        if let Some(code) = &confirmation_code {
            form.push(("confirmation_code", code.as_str()));
        }
        let mut request = http.post(&token_url).form(&form);
        if let Some(prover) = &prover {
            request = request.header("DPoP", prover.proof("POST", &token_url, None));
        }
        let response = match request.send().await {
            Ok(response) => response,
            // A network blip is not a verdict: keep polling until the deadline.
            Err(err) => {
                eprintln!("(retrying: {err})");
                continue;
            }
        };
        if let Some(prover) = &mut prover {
            prover.remember_nonce(&response);
        }
        let status = response.status();
        if status.is_success() {
            let token: TokenResponse = response.json().await.context("unexpected answer from the server")?;
            return finish(&server, &args.client_id, &token, prover.as_ref());
        }
        if status.is_server_error() {
            eprintln!("(server answered {status}; retrying)");
            continue;
        }
        let body: ErrorBody = response.json().await.context("unexpected answer from the server")?;
        match body.error.as_str() {
            // The proof needs the server's nonce, which this answer carried.
            "authorization_pending" | "use_dpop_nonce" => {}
            "slow_down" => interval = body.interval.unwrap_or(interval + 5),
            // Each typed code is sent once: a wrong one waits for another.
            "confirmation_failed" => {
                confirmation_code = None;
                println!("{}. Type the code the browser shows again:", body.error_description.unwrap_or_default());
            }
            "access_denied" if confirming => {
                bail!("the request was denied ({})", body.error_description.unwrap_or_default())
            }
            "access_denied" => bail!("the request was denied in the browser"),
            "expired_token" => bail!("the code expired before it was approved; run `gatehouse login` again"),
            other => bail!("sign-in failed: {other} ({})", body.error_description.unwrap_or_default()),
        }
    }
}

/// The lines typed on standard input, read on a thread of their own so
/// polling goes on while the person types.
fn typed_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// `link` as a QR code drawn with Unicode half blocks (two rows per line),
/// dark on light with a quiet zone, so phones read it in dark terminals too.
fn terminal_qr(link: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(link.as_bytes()).ok()?;
    Some(code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build())
}

/// The saved sign-in for `server`, refreshed first when it has a refresh
/// token and its access token is ending, or is `refused`, the one the server
/// just refused. Another command may have refreshed meanwhile: then the
/// saved token is no longer the refused one, and is used as it is, so
/// commands started together never refresh one after another.
async fn usable_token(http: &reqwest::Client, server: &str, refused: Option<&str>) -> anyhow::Result<(PathBuf, Saved)> {
    let path = credentials_path()?;
    let _lock = lock_credentials(&path)?;
    // Read under the lock: another command may have just refreshed.
    let (path, mut all, saved) = saved_entry(server)?;
    let due = match refused {
        Some(refused) => saved.access_token == refused,
        None => saved.ending_soon(),
    };
    let Some(refresh_token) = saved.refresh_token.clone().filter(|_| due) else {
        return Ok((path, saved));
    };
    let client_id =
        saved.client_id.clone().unwrap_or_else(|| gatehouse_core::services::clients::DEFAULT_CLI_CLIENT_ID.to_owned());
    let mut prover = saved.prover()?;
    let token_url = format!("{server}{}", paths::TOKEN);
    // A bound grant's refresh carries a proof, which the server may first
    // answer `use_dpop_nonce` (nothing rotates then): once more with its nonce.
    let mut attempts = 0;
    let (status, body) = loop {
        attempts += 1;
        let mut request = http.post(&token_url).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", client_id.as_str()),
        ]);
        if let Some(prover) = &prover {
            request = request.header("DPoP", prover.proof("POST", &token_url, None));
        }
        let response = request.send().await.with_context(|| format!("cannot reach {server} to refresh the sign-in"))?;
        if let Some(prover) = &mut prover {
            prover.remember_nonce(&response);
        }
        let status = response.status();
        let body = response.bytes().await.with_context(|| format!("cannot reach {server} to refresh the sign-in"))?;
        let error = serde_json::from_slice::<ErrorBody>(&body).ok();
        if attempts == 1 && prover.is_some() && error.is_some_and(|e| e.error == "use_dpop_nonce") {
            continue;
        }
        break (status, body);
    };
    if status.is_success() {
        let token: TokenResponse = serde_json::from_slice(&body).context("unexpected answer from the server")?;
        let refreshed = Saved::from_response(&token, &client_id, prover.as_ref());
        all.insert(server.to_owned(), serde_json::to_value(&refreshed)?);
        write_credentials(&path, all)?;
        return Ok((path, refreshed));
    }
    if status.is_client_error() {
        // The grant ended (revoked, expired, or its account disabled): the
        // saved tokens are useless, so they are forgotten.
        let body: ErrorBody = serde_json::from_slice(&body).unwrap_or(ErrorBody {
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
pub(super) fn http_client(ca_file: Option<&std::path::Path>) -> anyhow::Result<reqwest::Client> {
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

/// Sends `method url` (with a JSON `body`) as the saved sign-in to
/// `server`: refreshed first when due, and sent once more after a 401 when a
/// refresh (or another command's, meanwhile) can replace the refused token.
/// Where the sign-in is saved, the sign-in used, and the answer.
pub(super) async fn send_signed_in(
    http: &reqwest::Client,
    server: &str,
    method: reqwest::Method,
    url: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<(PathBuf, Saved, reqwest::Response)> {
    let mut refused: Option<String> = None;
    loop {
        let (path, saved) = usable_token(http, server, refused.as_deref()).await?;
        let response = saved
            .send_with_token(http, method.clone(), url, body)
            .await
            .with_context(|| format!("cannot reach {server}"))?;
        // Ended early by the server's clock, or replaced by another command's
        // refresh: refresh (or take the new one) and ask again, once per token.
        if response.status() == reqwest::StatusCode::UNAUTHORIZED
            && saved.refresh_token.is_some()
            && refused.as_deref() != Some(saved.access_token.as_str())
        {
            refused = Some(saved.access_token.clone());
            continue;
        }
        return Ok((path, saved, response));
    }
}

/// `gatehouse status`: whom the saved token speaks for, and until when.
pub async fn status(args: SavedTokenArgs) -> anyhow::Result<()> {
    let server = args.server.trim_end_matches('/').to_owned();
    let http = http_client(args.ca_file.as_deref())?;
    let (path, saved, response) =
        send_signed_in(&http, &server, reqwest::Method::GET, &format!("{server}{}", paths::ME), None).await?;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        bail!("the token saved in {} is no longer valid (revoked or expired); run `gatehouse login`", path.display());
    }
    if !response.status().is_success() {
        bail!("the server answered {}", response.status());
    }
    let me = response.json::<MeResponse>().await.context("unexpected answer from the server")?;
    println!("Signed in to {server} as {}.", me.subject.describe());
    println!("Scopes: {}", me.scopes.join(" "));
    println!("The access token expires {}.", me.expires_at);
    if saved.dpop_key.is_some() {
        println!("It is bound to a key kept beside it (DPoP): a copy of the token alone is useless.");
    }
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
        (Some(refresh_token), Some(client_id)) => http
            .post(format!("{server}{}", paths::REVOKE))
            .form(&[
                ("token", refresh_token.as_str()),
                ("token_type_hint", "refresh_token"),
                ("client_id", client_id.as_str()),
            ])
            .send()
            .await
            .map_err(anyhow::Error::from),
        _ => {
            saved
                .send_with_token(
                    &http,
                    reqwest::Method::DELETE,
                    &format!("{server}{}", paths::AUTHORIZATIONS_SELF),
                    None,
                )
                .await
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

fn finish(server: &str, client_id: &str, token: &TokenResponse, prover: Option<&Prover>) -> anyhow::Result<()> {
    let saved = Saved::from_response(token, client_id, prover);
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
    if saved.dpop_key.is_some() {
        println!("It is bound to a key saved with it (DPoP): a copy of the token alone is useless.");
    }
    Ok(())
}
