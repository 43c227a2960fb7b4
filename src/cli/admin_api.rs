//! How the operator commands (`gatehouse user|client|scope …`) reach the
//! admin API (`/v1/admin/…`): by default in this process, against the
//! database the configuration names (no server needs to run); with
//! `--server URL`, over HTTP as the admin signed in with `gatehouse login
//! --server URL --scope admin` (or with the token in `GATEHOUSE_ADMIN_TOKEN`,
//! for automation holding a `client_credentials` token). Either way the
//! commands send the same requests to the same handlers, so the command
//! line, the REST API and its OpenAPI document cannot drift apart.

use super::login;
use crate::config::Config;
use crate::http::admin_api::ErrorBody;
use crate::startup::{Overrides, connect};
use anyhow::{Context as _, bail};
use clap::Args;
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use tower::ServiceExt as _;

/// Where an operator command goes.
#[derive(Debug, Args)]
pub struct Target {
    /// Go through this Gatehouse server's admin API instead of the database,
    /// as the admin signed in with `gatehouse login --server URL --scope
    /// admin` (or with the bearer token in GATEHOUSE_ADMIN_TOKEN).
    #[arg(long, global = true)]
    server: Option<String>,
    /// With --server: a PEM bundle of certificate authorities to trust beside
    /// the system's.
    #[arg(long, global = true, env = "GATEHOUSE_CA_FILE")]
    ca_file: Option<PathBuf>,
}

/// The admin API, here or at a server.
pub enum AdminApi {
    InProcess(axum::Router),
    Server { http: reqwest::Client, server: String, token: Option<String> },
}

/// An answer's body is at most this big (the largest is a page of 100 rows).
const ANSWER_LIMIT: usize = 4 * 1024 * 1024;

impl AdminApi {
    pub async fn open(target: &Target) -> anyhow::Result<Self> {
        if let Some(server) = &target.server {
            return Ok(AdminApi::Server {
                http: login::http_client(target.ca_file.as_deref())?,
                server: server.trim_end_matches('/').to_owned(),
                token: std::env::var("GATEHOUSE_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()),
            });
        }
        let config = Config::load()?;
        crate::logging::init(config.log_format);
        let services = connect(&config, &Overrides::default(), None).await?.services;
        Ok(AdminApi::InProcess(crate::http::admin_api::in_process(std::sync::Arc::new(services))))
    }

    /// `method path` with a JSON `body`; the answer read as `T` (`()` for
    /// `204`), or the API's refusal in its own words.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<T> {
        let (status, bytes) = self.send(method, path, body).await?;
        if status.is_success() {
            let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(bytes).with_context(|| format!("unexpected answer to {path}"));
        }
        let refusal = serde_json::from_slice::<ErrorBody>(&bytes)
            .map_or_else(|_| format!("the server answered {status}"), |e| e.error_description);
        if let AdminApi::Server { server, .. } = self
            && status == reqwest::StatusCode::FORBIDDEN
        {
            bail!("{refusal} (sign in as an admin with `gatehouse login --server {server} --scope admin`)");
        }
        bail!("{refusal}")
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<(reqwest::StatusCode, axum::body::Bytes)> {
        match self {
            AdminApi::InProcess(router) => {
                let mut request = axum::http::Request::builder().method(method).uri(path);
                let body = match body {
                    Some(body) => {
                        request = request.header(axum::http::header::CONTENT_TYPE, "application/json");
                        axum::body::Body::from(serde_json::to_vec(&body)?)
                    }
                    None => axum::body::Body::empty(),
                };
                let response = router.clone().oneshot(request.body(body)?).await?;
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), ANSWER_LIMIT).await?;
                Ok((status, bytes))
            }
            AdminApi::Server { http, server, token } => {
                let url = format!("{server}{path}");
                let response = match token {
                    Some(token) => {
                        let request = http.request(method, &url).bearer_auth(token);
                        let request = match &body {
                            Some(body) => request.json(body),
                            None => request,
                        };
                        request.send().await.with_context(|| format!("cannot reach {server}"))?
                    }
                    None => login::send_signed_in(http, server, method, &url, body.as_ref()).await?.2,
                };
                let status = response.status();
                let bytes = response.bytes().await.with_context(|| format!("cannot reach {server}"))?;
                Ok((status, bytes))
            }
        }
    }
}
