//! `/admin/clients`: register, edit, disable and enable OAuth clients, and
//! rotate a confidential client's secret (shown exactly once).

// A server function takes one argument per form field, and the client
// editor has ten; the `#[server]` macro copies them into code generated for
// the browser build, where an attribute on the function does not reach.
#![allow(clippy::too_many_arguments)]

use crate::error::{AppError, AppErrorCode};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::navigation::ADMIN_CLIENTS_PATH;

/// One client as the admin page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    /// `public` or `confidential`.
    pub client_type: String,
    pub scopes: String,
    pub device_grant: bool,
    pub disabled: bool,
    pub created: String,
    pub refresh: bool,
    /// The client's own lifetimes and polling interval, seconds as typed
    /// (empty: the server's default).
    pub access_token_ttl: String,
    pub grant_ttl: String,
    pub grant_idle_ttl: String,
    pub poll_interval: String,
    /// `off`, `allowed` or `required` (RFC 9449 DPoP).
    pub dpop: String,
    pub approval: ApprovalRow,
}

/// A client's approval policy, as its editor's fields hold it and in plain
/// words (docs/security.md, "Approval policies").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRow {
    /// Comma-separated ranges; empty: anywhere.
    pub device_networks: String,
    /// `any`, `same_network` or `listed`.
    pub approver_network: String,
    pub approver_networks: String,
    /// Seconds, or empty.
    pub max_code_age: String,
    pub code_lifetime: String,
    pub one_person_per_code: bool,
    /// `off` or `required`.
    pub device_confirmation: String,
    /// `everyone`, `admins` or `group:NAME[,group:NAME]`.
    pub approvers: String,
    /// `any` or `phishing_resistant`.
    pub approver_auth: String,
    /// The policy, one plain sentence per control.
    pub words: Vec<String>,
}

/// A secret to show once, right after it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretOnce {
    pub client_id: String,
    pub secret: String,
}

/// What the admin is asked to confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientConfirm {
    Disable(ClientRow),
    RotateSecret(ClientRow),
}

/// The data of `/admin/clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminClientsPage {
    pub csrf_token: String,
    pub clients: Vec<ClientRow>,
    /// The client being edited.
    pub editing: Option<ClientRow>,
    pub confirm: Option<ClientConfirm>,
    pub secret_once: Option<SecretOnce>,
    /// Every known scope and what it means.
    pub known_scopes: Vec<(String, String)>,
    pub notice: Option<AppErrorCode>,
    pub done: Option<String>,
}

/// What a person reads after a client action.
pub fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "registered" => "Client registered.",
        "updated" => "Client updated.",
        "disabled" => "Client disabled. It can no longer start sign-ins, poll, revoke or introspect.",
        "enabled" => "Client enabled.",
        "rotated" => "New secret issued. The old one no longer works.",
        "policy_updated" => "Approval policy updated. It applies to sign-ins that start from now on.",
        _ => return None,
    })
}

#[cfg(feature = "ssr")]
use crate::session_keys::CLIENT_SECRET_ONCE as SECRET_ONCE_KEY;

/// Loads `/admin/clients`.
#[server(prefix = "/console/api", endpoint = "admin/clients/page")]
pub async fn load_admin_clients(
    edit: Option<String>,
    confirm: Option<String>,
    error: Option<String>,
    done: Option<String>,
) -> Result<AdminClientsPage, AppError> {
    use super::context::*;
    let guarded = guard(Need::Admin, ADMIN_CLIENTS_PATH).await?;
    let clients: Vec<ClientRow> = guarded.ctx.services.clients.list().await?.iter().map(client_row).collect();
    let find = |id: &str| clients.iter().find(|c| c.client_id == id).cloned();
    let confirm = match confirm.as_deref().and_then(|c| c.split_once(':')) {
        Some(("disable", id)) => find(id).map(ClientConfirm::Disable),
        Some(("rotate", id)) => find(id).filter(|c| c.client_type == "confidential").map(ClientConfirm::RotateSecret),
        _ => None,
    };
    // Read once: the secret leaves the session as it is shown.
    let secret_once = guarded.session.remove::<SecretOnce>(SECRET_ONCE_KEY).await?;
    Ok(AdminClientsPage {
        csrf_token: session_csrf_token(&guarded.ctx, &guarded.session).await?,
        editing: edit.as_deref().and_then(find),
        confirm,
        secret_once,
        known_scopes: guarded
            .ctx
            .services
            .scopes
            .catalog()
            .await?
            .all()
            .iter()
            .map(|s| (s.name.clone(), s.description.clone()))
            .collect(),
        clients,
        notice: error.as_deref().and_then(AppErrorCode::parse),
        done: done.filter(|d| done_message(d).is_some()),
    })
}

/// An admin registers a client. A confidential client's secret is shown on
/// the next page load, once. `scopes` are the ticked boxes of the registry
/// (`scopes[]` in the form).
#[server(prefix = "/console/api", endpoint = "admin/clients/register")]
pub async fn admin_register_client(
    client_id: String,
    name: String,
    client_type: String,
    scopes: Option<Vec<String>>,
    device_grant: Option<String>,
    refresh: Option<String>,
    csrf_token: String,
) -> Result<Option<String>, AppError> {
    use super::context::*;
    use gatehouse_core::model::ClientType;
    use gatehouse_core::services::clients::ClientRegistration;
    let back = ADMIN_CLIENTS_PATH;
    let guarded = guard_action(Need::Admin, &csrf_token, back).await?;
    let client_type =
        ClientType::parse(&client_type).ok_or_else(|| fail(AppError::new(AppErrorCode::InvalidRequest), back))?;
    let registration = ClientRegistration {
        client_id: client_id.trim().to_owned(),
        name,
        client_type,
        allowed_scopes: scopes.unwrap_or_default(),
        device_grant: device_grant.is_some(),
        policy: gatehouse_core::model::TokenPolicy { refresh_allowed: refresh.is_some(), ..Default::default() },
        approval: Default::default(),
    };
    let (client, secret) = guarded
        .ctx
        .services
        .clients
        .register(guarded.admin()?, registration)
        .await
        .map_err(|e| client_error(e, back))?;
    let secret = secret.map(|s| s.expose().to_owned());
    remember_secret(&guarded.session, &client.client_id, secret.as_deref()).await?;
    succeed_to(&format!("{ADMIN_CLIENTS_PATH}?done=registered"));
    Ok(secret)
}

/// An admin changes a client's name, scopes, device-grant switch and token
/// settings (a lifetime left empty takes the server's default).
#[server(prefix = "/console/api", endpoint = "admin/clients/update")]
pub async fn admin_update_client(
    client_id: String,
    name: String,
    scopes: Option<Vec<String>>,
    device_grant: Option<String>,
    refresh: Option<String>,
    access_token_ttl: Option<String>,
    grant_ttl: Option<String>,
    grant_idle_ttl: Option<String>,
    poll_interval: Option<String>,
    dpop: Option<String>,
    csrf_token: String,
) -> Result<(), AppError> {
    use super::context::*;
    use gatehouse_core::model::{DpopMode, TokenPolicy};
    use gatehouse_core::ports::ClientEdit;
    let back = format!("{ADMIN_CLIENTS_PATH}?edit={}", crate::navigation::encode_query_value(&client_id));
    let guarded = guard_action(Need::Admin, &csrf_token, &back).await?;
    let seconds = |typed: Option<String>| -> Result<Option<u32>, AppError> {
        match typed.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(None),
            Some(t) => t.parse().map(Some).map_err(|_| fail(AppError::new(AppErrorCode::InvalidRequest), &back)),
        }
    };
    let clients = &guarded.ctx.services.clients;
    let not_found = || fail(AppError::new(AppErrorCode::NotFound), ADMIN_CLIENTS_PATH);
    let current = clients.get(guarded.admin()?, &client_id).await?.ok_or_else(not_found)?;
    let edit = ClientEdit {
        name,
        allowed_scopes: scopes.unwrap_or_default(),
        device_grant_enabled: device_grant.is_some(),
        approval: current.approval,
        policy: TokenPolicy {
            refresh_allowed: refresh.is_some(),
            access_token_ttl: seconds(access_token_ttl)?,
            grant_ttl: seconds(grant_ttl)?,
            grant_idle_ttl: seconds(grant_idle_ttl)?,
            poll_interval: seconds(poll_interval)?,
            dpop: match dpop.as_deref() {
                None => DpopMode::default(),
                Some(mode) => {
                    DpopMode::parse(mode).ok_or_else(|| fail(AppError::new(AppErrorCode::InvalidRequest), &back))?
                }
            },
        },
    };
    clients.update(guarded.admin()?, &client_id, edit).await.map_err(|e| client_error(e, &back))?;
    succeed_to(&format!("{ADMIN_CLIENTS_PATH}?done=updated"));
    Ok(())
}

/// An admin changes a client's approval policy (its own form in the
/// editor). Lists are comma-separated; an empty number takes the default.
#[server(prefix = "/console/api", endpoint = "admin/clients/approval-policy")]
pub async fn admin_update_approval_policy(
    client_id: String,
    device_networks: String,
    approver_network: String,
    approver_networks: String,
    max_code_age: String,
    code_lifetime: String,
    one_person_per_code: Option<String>,
    device_confirmation: String,
    approvers: String,
    #[server(default)] approver_auth: Option<String>,
    csrf_token: String,
) -> Result<(), AppError> {
    use super::context::*;
    use gatehouse_core::approval_policy::{
        ApprovalPolicy, ApproverAuth, ApproverNetwork, Approvers, DeviceConfirmation,
    };
    use gatehouse_core::formats::network::Network;
    use gatehouse_core::ports::ClientEdit;
    let back = format!("{ADMIN_CLIENTS_PATH}?edit={}", crate::navigation::encode_query_value(&client_id));
    let guarded = guard_action(Need::Admin, &csrf_token, &back).await?;
    let invalid = || fail(AppError::new(AppErrorCode::InvalidApprovalPolicy), &back);
    let seconds = |typed: &str| match typed.trim() {
        "" => Ok(None),
        typed => typed.parse().map(Some).map_err(|_| invalid()),
    };
    let approval = ApprovalPolicy {
        device_networks: Network::parse_list(&device_networks).map_err(|_| invalid())?,
        approver_network: ApproverNetwork::parse(&approver_network).ok_or_else(invalid)?,
        approver_networks: Network::parse_list(&approver_networks).map_err(|_| invalid())?,
        max_code_age_secs: seconds(&max_code_age)?,
        code_lifetime_secs: seconds(&code_lifetime)?,
        one_person_per_code: one_person_per_code.is_some(),
        device_confirmation: DeviceConfirmation::parse(&device_confirmation).ok_or_else(invalid)?,
        approvers: Approvers::parse(&approvers).map_err(|_| invalid())?,
        approver_auth: match approver_auth.as_deref() {
            None => ApproverAuth::default(),
            Some(auth) => ApproverAuth::parse(auth).ok_or_else(invalid)?,
        },
    };
    let clients = &guarded.ctx.services.clients;
    let not_found = || fail(AppError::new(AppErrorCode::NotFound), ADMIN_CLIENTS_PATH);
    let current = clients.get(guarded.admin()?, &client_id).await?.ok_or_else(not_found)?;
    let edit = ClientEdit {
        name: current.name,
        allowed_scopes: current.allowed_scopes,
        device_grant_enabled: current.device_grant_enabled,
        policy: current.policy,
        approval,
    };
    clients.update(guarded.admin()?, &client_id, edit).await.map_err(|e| client_error(e, &back))?;
    succeed_to(&format!("{ADMIN_CLIENTS_PATH}?done=policy_updated"));
    Ok(())
}

/// An admin disables or enables a client, or rotates its secret
/// (`action` is `disable`, `enable` or `rotate_secret`).
#[server(prefix = "/console/api", endpoint = "admin/clients/action")]
pub async fn admin_client_action(
    client_id: String,
    action: String,
    csrf_token: String,
) -> Result<Option<String>, AppError> {
    use super::context::*;
    let back = ADMIN_CLIENTS_PATH;
    let guarded = guard_action(Need::Admin, &csrf_token, back).await?;
    let (admin, clients) = (guarded.admin()?, &guarded.ctx.services.clients);
    let not_found = || fail(AppError::new(AppErrorCode::NotFound), back);
    let (done, secret) = match action.as_str() {
        "disable" => {
            if !clients.disable(admin, &client_id).await.map_err(|e| fail(AppError::from(e), back))? {
                return Err(not_found());
            }
            ("disabled", None)
        }
        "enable" => {
            if !clients.enable(admin, &client_id).await.map_err(|e| fail(AppError::from(e), back))? {
                return Err(not_found());
            }
            ("enabled", None)
        }
        "rotate_secret" => {
            let secret = clients.rotate_secret(admin, &client_id).await.map_err(|e| client_error(e, back))?;
            ("rotated", Some(secret.expose().to_owned()))
        }
        _ => return Err(fail(AppError::new(AppErrorCode::InvalidRequest), back)),
    };
    remember_secret(&guarded.session, &client_id, secret.as_deref()).await?;
    succeed_to(&format!("{ADMIN_CLIENTS_PATH}?done={done}"));
    Ok(secret)
}

/// Keeps a new secret in the session for the one page load that shows it
/// (a plain form post cannot carry it in the redirect's URL).
#[cfg(feature = "ssr")]
async fn remember_secret(
    session: &tower_sessions::Session,
    client_id: &str,
    secret: Option<&str>,
) -> Result<(), AppError> {
    if let Some(secret) = secret {
        let once = SecretOnce { client_id: client_id.to_owned(), secret: secret.to_owned() };
        session.insert(SECRET_ONCE_KEY, once).await?;
    }
    Ok(())
}

#[cfg(feature = "ssr")]
fn client_error(err: gatehouse_core::services::clients::ClientError, back: &str) -> AppError {
    use super::context::fail;
    use gatehouse_core::services::clients::ClientError;
    let code = match err {
        ClientError::InvalidId => AppErrorCode::InvalidClientId,
        ClientError::InvalidName => AppErrorCode::InvalidRequest,
        ClientError::UnknownScope(_) | ClientError::NoScopes => AppErrorCode::InvalidScope,
        ClientError::IdTaken => AppErrorCode::ClientIdTaken,
        ClientError::NotFound => AppErrorCode::NotFound,
        ClientError::InvalidPolicy(why)
            if why.contains("approver") || why.contains("code") || why.contains("network") =>
        {
            AppErrorCode::InvalidApprovalPolicy
        }
        ClientError::NotConfidential | ClientError::InvalidPolicy(_) => AppErrorCode::InvalidRequest,
        ClientError::Unavailable(e) => return fail(AppError::from(e), back),
    };
    fail(AppError::new(code), back)
}

#[cfg(feature = "ssr")]
fn client_row(client: &gatehouse_core::model::OAuthClient) -> ClientRow {
    ClientRow {
        client_id: client.client_id.clone(),
        name: client.name.clone(),
        client_type: client.client_type.as_str().to_owned(),
        scopes: client.allowed_scopes.join(" "),
        device_grant: client.device_grant_enabled,
        disabled: client.disabled,
        created: super::views::moment(client.created_at),
        refresh: client.policy.refresh_allowed,
        access_token_ttl: typed(client.policy.access_token_ttl),
        grant_ttl: typed(client.policy.grant_ttl),
        grant_idle_ttl: typed(client.policy.grant_idle_ttl),
        poll_interval: typed(client.policy.poll_interval),
        dpop: client.policy.dpop.as_str().to_owned(),
        approval: approval_row(&client.approval),
    }
}

#[cfg(feature = "ssr")]
fn approval_row(policy: &gatehouse_core::approval_policy::ApprovalPolicy) -> ApprovalRow {
    use gatehouse_core::approval_policy::{ApproverAuth, ApproverNetwork, Approvers, DeviceConfirmation};
    use gatehouse_core::formats::network::Network;
    let anywhere = |ranges: &[Network]| if ranges.is_empty() { "anywhere".to_owned() } else { Network::join(ranges) };
    let span = super::refusals::seconds_in_words;
    let words = vec![
        format!("Devices may start sign-ins from {}.", anywhere(&policy.device_networks)),
        match policy.approver_network {
            ApproverNetwork::Any => {
                "Approvals are accepted from any network; one from a different network than the device is pointed out and audited.".to_owned()
            }
            ApproverNetwork::SameNetwork => "Approvals are accepted only from the device's own network.".to_owned(),
            ApproverNetwork::Listed => {
                format!("Approvals are accepted only from {}.", Network::join(&policy.approver_networks))
            }
        },
        match &policy.approvers {
            Approvers::Everyone => "Anyone who can sign in may approve.".to_owned(),
            Approvers::Admins => "Only Gatehouse administrators may approve.".to_owned(),
            Approvers::Groups(groups) => format!("Only members of {} may approve.", groups.join(", ")),
        },
        match policy.approver_auth {
            ApproverAuth::Any => "Approvers may have signed in with a password.".to_owned(),
            ApproverAuth::PhishingResistant => {
                "Approvers must have signed in with a passkey or through the SSO provider; a password alone is not enough.".to_owned()
            }
        },
        match (policy.code_lifetime_secs, policy.max_code_age_secs) {
            (lifetime, Some(age)) => format!(
                "A code must be entered within {} of being shown (it lives {}).",
                span(age),
                lifetime.map_or_else(|| "the server's default".to_owned(), span)
            ),
            (Some(lifetime), None) => format!("A code lives {}.", span(lifetime)),
            (None, None) => "A code lives the server's default lifetime.".to_owned(),
        },
        if policy.one_person_per_code {
            "A second person entering a code ends its sign-in and revokes what it gave.".to_owned()
        } else {
            "Several people may enter the same code.".to_owned()
        },
        match policy.device_confirmation {
            DeviceConfirmation::Off => "The device does not confirm approvals.".to_owned(),
            DeviceConfirmation::Required => {
                "The device must type a code the approving browser shows before it gets a token.".to_owned()
            }
        },
    ];
    ApprovalRow {
        device_networks: Network::join(&policy.device_networks),
        approver_network: policy.approver_network.as_str().to_owned(),
        approver_networks: Network::join(&policy.approver_networks),
        max_code_age: typed(policy.max_code_age_secs),
        code_lifetime: typed(policy.code_lifetime_secs),
        one_person_per_code: policy.one_person_per_code,
        device_confirmation: policy.device_confirmation.as_str().to_owned(),
        approvers: policy.approvers.setting(),
        approver_auth: policy.approver_auth.as_str().to_owned(),
        words,
    }
}

/// A setting as its form field shows it: empty for the server's default.
#[cfg(feature = "ssr")]
fn typed(seconds: Option<u32>) -> String {
    seconds.map(|s| s.to_string()).unwrap_or_default()
}
