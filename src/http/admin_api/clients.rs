//! `/v1/admin/clients`: register, read, change, disable and enable OAuth
//! clients, and rotate a confidential client's secret.

use super::approval_policy::{ApprovalChanges, ApprovalSettings};
use super::{AdminCall, Answer, Body, Failure, Refused, created, instant, ok};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gatehouse_core::approval_policy::ApprovalPolicy;
use gatehouse_core::model::{ClientType, DpopMode, OAuthClient, TokenPolicy};
use gatehouse_core::ports::ClientEdit;
use gatehouse_core::services::clients::{ClientError, ClientRegistration};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether a client can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    Public,
    Confidential,
}

impl ClientKind {
    /// As the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::Confidential => "confidential",
        }
    }
}

/// Whether a client's tokens are bound to a DPoP key (RFC 9449).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dpop {
    /// Bearer tokens only; proofs are ignored.
    Off,
    /// Bound when the client presents a proof.
    #[default]
    Allowed,
    /// Every token request must carry a proof.
    Required,
}

impl Dpop {
    /// As the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Dpop::Off => "off",
            Dpop::Allowed => "allowed",
            Dpop::Required => "required",
        }
    }
}

/// A registered client.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub client_type: ClientKind,
    /// Scopes it may ask for. With `admin`, a confidential client may also
    /// take a token in its own name (`client_credentials`).
    pub allowed_scopes: Vec<String>,
    /// Whether it may use the device authorization grant.
    pub device_grant: bool,
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
    #[serde(flatten)]
    pub settings: TokenSettings,
    #[serde(flatten)]
    pub approval: ApprovalSettings,
}

/// A client's token settings; a lifetime left out takes the server's default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TokenSettings {
    /// Whether its grants carry a refresh token.
    #[serde(default)]
    pub refresh: bool,
    /// Access-token lifetime, 60 seconds to 366 days.
    #[serde(default)]
    pub access_token_ttl: Option<u32>,
    /// Absolute lifetime of a refreshable grant, seconds.
    #[serde(default)]
    pub grant_ttl: Option<u32>,
    /// How long a refreshable grant lives unrefreshed, seconds.
    #[serde(default)]
    pub grant_idle_ttl: Option<u32>,
    /// The device flow's polling interval, 1 to 60 seconds.
    #[serde(default)]
    pub poll_interval: Option<u32>,
    #[serde(default)]
    pub dpop: Dpop,
}

/// What to register.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewClient {
    /// 1 to 64 letters, digits, `.`, `_` or `-`.
    pub client_id: String,
    pub client_type: ClientKind,
    #[serde(flatten)]
    pub settings: ClientSettings,
}

/// Everything about a client an admin may change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientSettings {
    /// 1 to 100 characters.
    pub name: String,
    /// At least one scope of the registry.
    pub allowed_scopes: Vec<String>,
    #[serde(default = "yes")]
    pub device_grant: bool,
    #[serde(flatten)]
    pub tokens: TokenSettings,
    #[serde(flatten)]
    pub approval: ApprovalChanges,
}

fn yes() -> bool {
    true
}

/// A client and, for a confidential one just registered or rotated, its
/// secret: shown in this answer only.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientWithSecret {
    pub client: Client,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// Every registered client.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<Client>,
}

fn client(c: &OAuthClient) -> Client {
    Client {
        client_id: c.client_id.clone(),
        name: c.name.clone(),
        client_type: match c.client_type {
            ClientType::Public => ClientKind::Public,
            ClientType::Confidential => ClientKind::Confidential,
        },
        allowed_scopes: c.allowed_scopes.clone(),
        device_grant: c.device_grant_enabled,
        disabled: c.disabled,
        created_at: instant(c.created_at),
        settings: TokenSettings {
            refresh: c.policy.refresh_allowed,
            access_token_ttl: c.policy.access_token_ttl,
            grant_ttl: c.policy.grant_ttl,
            grant_idle_ttl: c.policy.grant_idle_ttl,
            poll_interval: c.policy.poll_interval,
            dpop: match c.policy.dpop {
                DpopMode::Off => Dpop::Off,
                DpopMode::Allowed => Dpop::Allowed,
                DpopMode::Required => Dpop::Required,
            },
        },
        approval: ApprovalSettings::of(&c.approval),
    }
}

fn policy(tokens: TokenSettings) -> TokenPolicy {
    TokenPolicy {
        refresh_allowed: tokens.refresh,
        access_token_ttl: tokens.access_token_ttl,
        grant_ttl: tokens.grant_ttl,
        grant_idle_ttl: tokens.grant_idle_ttl,
        poll_interval: tokens.poll_interval,
        dpop: match tokens.dpop {
            Dpop::Off => DpopMode::Off,
            Dpop::Allowed => DpopMode::Allowed,
            Dpop::Required => DpopMode::Required,
        },
    }
}

fn refused(err: ClientError) -> Failure {
    match err {
        ClientError::Unavailable(e) => e.into(),
        ClientError::IdTaken => Refused::new(StatusCode::CONFLICT, "already_exists", err).into(),
        ClientError::NotFound => Refused::not_found("client").into(),
        ClientError::UnknownScope(_) | ClientError::NoScopes => {
            Refused::new(StatusCode::BAD_REQUEST, "invalid_scope", err).into()
        }
        ClientError::InvalidId
        | ClientError::InvalidName
        | ClientError::NotConfidential
        | ClientError::InvalidPolicy(_) => Refused::invalid(err).into(),
    }
}

/// Every registered client, oldest first.
#[utoipa::path(get, path = "/v1/admin/clients", tag = "clients", security(("admin_token" = [])),
    responses((status = 200, body = ClientList), (status = "4XX", body = super::ErrorBody)))]
pub async fn list(State(state): State<AppState>, call: AdminCall) -> Answer {
    let clients = state.services.clients.list().await?;
    call.read(&state).await;
    ok(ClientList { clients: clients.iter().map(client).collect() })
}

/// One client.
#[utoipa::path(get, path = "/v1/admin/clients/{client_id}", tag = "clients", security(("admin_token" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = Client), (status = "4XX", body = super::ErrorBody)))]
pub async fn get_one(State(state): State<AppState>, call: AdminCall, Path(client_id): Path<String>) -> Answer {
    let found = state.services.clients.get(&call.admin, &client_id).await?;
    call.read(&state).await;
    ok(client(&found.ok_or_else(|| Refused::not_found("client"))?))
}

/// Registers a client; a confidential client's secret is in this answer
/// and nowhere else.
#[utoipa::path(post, path = "/v1/admin/clients", tag = "clients", security(("admin_token" = [])),
    request_body = NewClient,
    responses((status = 201, body = ClientWithSecret), (status = "4XX", body = super::ErrorBody)))]
pub async fn register(State(state): State<AppState>, call: AdminCall, Body(new): Body<NewClient>) -> Answer {
    let registration = ClientRegistration {
        client_id: new.client_id,
        name: new.settings.name,
        client_type: match new.client_type {
            ClientKind::Public => ClientType::Public,
            ClientKind::Confidential => ClientType::Confidential,
        },
        allowed_scopes: new.settings.allowed_scopes,
        device_grant: new.settings.device_grant,
        policy: policy(new.settings.tokens),
        approval: new.settings.approval.applied_to(ApprovalPolicy::default()).map_err(Refused::invalid)?,
    };
    let (registered, secret) = state.services.clients.register(&call.admin, registration).await.map_err(refused)?;
    created(ClientWithSecret { client: client(&registered), client_secret: secret.map(|s| s.expose().to_owned()) })
}

/// Replaces what an admin may change about a client; an approval-policy
/// field left out keeps its value.
#[utoipa::path(put, path = "/v1/admin/clients/{client_id}", tag = "clients", security(("admin_token" = [])),
    params(("client_id" = String, Path)), request_body = ClientSettings,
    responses((status = 200, body = Client), (status = "4XX", body = super::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    call: AdminCall,
    Path(client_id): Path<String>,
    Body(settings): Body<ClientSettings>,
) -> Answer {
    let clients = &state.services.clients;
    let current = clients.get(&call.admin, &client_id).await?.ok_or_else(|| Refused::not_found("client"))?;
    let edit = ClientEdit {
        name: settings.name,
        allowed_scopes: settings.allowed_scopes,
        device_grant_enabled: settings.device_grant,
        policy: policy(settings.tokens),
        approval: settings.approval.applied_to(current.approval).map_err(Refused::invalid)?,
    };
    let updated = clients.update(&call.admin, &client_id, edit).await.map_err(refused)?;
    ok(client(&updated))
}

/// Issues a confidential client a new secret; the old one stops working.
#[utoipa::path(post, path = "/v1/admin/clients/{client_id}/secret", tag = "clients", security(("admin_token" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = ClientWithSecret), (status = "4XX", body = super::ErrorBody)))]
pub async fn rotate_secret(State(state): State<AppState>, call: AdminCall, Path(client_id): Path<String>) -> Answer {
    let clients = &state.services.clients;
    let secret = clients.rotate_secret(&call.admin, &client_id).await.map_err(refused)?;
    let rotated = clients.get(&call.admin, &client_id).await?.ok_or_else(|| Refused::not_found("client"))?;
    ok(ClientWithSecret { client: client(&rotated), client_secret: Some(secret.expose().to_owned()) })
}

/// Disables a client: it can no longer start sign-ins, poll, revoke,
/// introspect or take tokens, and its own tokens lose `admin` at once.
#[utoipa::path(post, path = "/v1/admin/clients/{client_id}/disable", tag = "clients", security(("admin_token" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = Client), (status = "4XX", body = super::ErrorBody)))]
pub async fn disable(State(state): State<AppState>, call: AdminCall, Path(client_id): Path<String>) -> Answer {
    let clients = &state.services.clients;
    clients.disable(&call.admin, &client_id).await?;
    ok(client(&clients.get(&call.admin, &client_id).await?.ok_or_else(|| Refused::not_found("client"))?))
}

/// Enables a disabled client.
#[utoipa::path(post, path = "/v1/admin/clients/{client_id}/enable", tag = "clients", security(("admin_token" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = Client), (status = "4XX", body = super::ErrorBody)))]
pub async fn enable(State(state): State<AppState>, call: AdminCall, Path(client_id): Path<String>) -> Answer {
    let clients = &state.services.clients;
    clients.enable(&call.admin, &client_id).await?;
    ok(client(&clients.get(&call.admin, &client_id).await?.ok_or_else(|| Refused::not_found("client"))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI mirror of `DpopMode` (the core stays free of utoipa)
    /// names every mode as the core does, both ways.
    #[test]
    fn the_mirrored_dpop_modes_round_trip_by_name() {
        for mode in DpopMode::ALL {
            let wire = client(&OAuthClient {
                client_id: "c".into(),
                name: "C".into(),
                client_type: gatehouse_core::model::ClientType::Public,
                secret_hash: None,
                allowed_scopes: Vec::new(),
                device_grant_enabled: true,
                disabled: false,
                created_at: chrono::DateTime::UNIX_EPOCH,
                policy: TokenPolicy { dpop: mode, ..TokenPolicy::default() },
                approval: ApprovalPolicy::default(),
            });
            assert_eq!(wire.settings.dpop.as_str(), mode.as_str());
            assert_eq!(policy(wire.settings).dpop, mode);
        }
    }
}
