//! `gatehouse client …` and `gatehouse scope …` (and in `users.rs`,
//! `gatehouse user …`): operator
//! commands, each a request to the admin API: in this process against the
//! database by default (no server needs to be running; a running server
//! sees a change within seconds), or at a server with `--server`
//! (`admin_api.rs`).

use super::admin_api::{AdminApi, Target};
use crate::http::admin_api::approval_policy::{
    ApprovalChanges, ApprovalSettings, ApproverAuthSetting, ApproverNetworkSetting, DeviceConfirmationSetting,
};
use crate::http::admin_api::clients::{
    Client, ClientKind, ClientList, ClientSettings, ClientWithSecret, Dpop, NewClient, TokenSettings,
};
use crate::http::admin_api::scopes::{Holders, NewScope, Scope, ScopeList, ScopeSettings};
use anyhow::{Context as _, bail};
use clap::Subcommand;
use reqwest::Method;

#[derive(Debug, Subcommand)]
pub enum ScopeCommand {
    /// Add a scope clients may then be allowed.
    Create {
        /// As clients request it, e.g. `reports:read`.
        name: String,
        /// Plain words the person approving reads, e.g. "Read your reports".
        #[arg(long)]
        description: String,
        /// Who may hold it: accounts, external (SSO people) or everyone.
        #[arg(long, default_value = "everyone")]
        holders: String,
    },
    /// List the scopes.
    List,
    /// Change a scope's words, or who may hold it (not of a built-in scope).
    Update {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        holders: Option<String>,
    },
    /// Delete a scope no client allows (built-in scopes stay).
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register an OAuth client. A confidential client's secret is printed once.
    Create {
        #[arg(long = "id")]
        client_id: String,
        #[arg(long)]
        name: String,
        /// Issue a client secret (for clients that can keep one).
        #[arg(long)]
        confidential: bool,
        /// Space-separated scopes the client may request.
        #[arg(long, default_value = "full")]
        scopes: String,
        /// Register without the device authorization grant (for example a
        /// resource server that only introspects).
        #[arg(long)]
        no_device_grant: bool,
        /// Give its grants refresh tokens (RFC 6749 §6).
        #[arg(long)]
        refresh: bool,
    },
    /// List registered clients.
    List,
    /// Disable a client: it can no longer start flows, poll, revoke or introspect.
    Disable {
        #[arg(long = "id")]
        client_id: String,
    },
    /// Enable a disabled client.
    Enable {
        #[arg(long = "id")]
        client_id: String,
    },
    /// Change a client's name, allowed scopes, device-grant switch or token
    /// settings. A lifetime or interval of `default` takes the server's.
    Update {
        #[arg(long = "id")]
        client_id: String,
        #[arg(long)]
        name: Option<String>,
        /// Space-separated scopes the client may request.
        #[arg(long)]
        scopes: Option<String>,
        /// `true` or `false`.
        #[arg(long)]
        device_grant: Option<bool>,
        /// Whether its grants get refresh tokens: `true` or `false`.
        #[arg(long)]
        refresh: Option<bool>,
        /// Access-token lifetime: seconds, or `default`.
        #[arg(long)]
        access_token_ttl: Option<String>,
        /// Absolute grant lifetime with refresh tokens: seconds, or `default`.
        #[arg(long)]
        grant_ttl: Option<String>,
        /// How long a grant lives unrefreshed: seconds, or `default`.
        #[arg(long)]
        grant_idle_ttl: Option<String>,
        /// The device flow's polling interval: seconds, or `default`.
        #[arg(long)]
        poll_interval: Option<String>,
        /// DPoP-bound tokens (RFC 9449): `off`, `allowed` or `required`.
        #[arg(long, value_parser = parse_dpop_mode)]
        dpop: Option<Dpop>,
        #[command(flatten)]
        approval: Box<ApprovalArgs>,
    },
    /// Give a confidential client a new secret (printed once); the old one stops working at once.
    RotateSecret {
        #[arg(long = "id")]
        client_id: String,
    },
}

/// The approval policy's settings (docs/security.md, "Approval policies"):
/// a setting not given keeps its value; an empty list clears it.
#[derive(Debug, clap::Args)]
pub struct ApprovalArgs {
    /// CIDR ranges a device may start a sign-in from, comma-separated; "" for anywhere.
    #[arg(long, value_name = "CIDR[,CIDR]")]
    device_networks: Option<String>,
    /// Where the approving browser must be: `any`, `same_network` or `listed`.
    #[arg(long, value_parser = ["any", "same_network", "listed"])]
    approver_network: Option<String>,
    /// The approver's ranges for `--approver-network listed`, comma-separated.
    #[arg(long, value_name = "CIDR[,CIDR]")]
    approver_networks: Option<String>,
    /// How long after the device asked its code may still be used: seconds, or `default` (no maximum).
    #[arg(long, value_name = "SECS|default")]
    max_code_age: Option<String>,
    /// The client's own code lifetime (`expires_in`): seconds, or `default`.
    #[arg(long, value_name = "SECS|default")]
    code_lifetime: Option<String>,
    /// End the flow when a second person takes its code up: `true` or `false`.
    #[arg(long)]
    one_person_per_code: Option<bool>,
    /// The device confirms the approval with a code the browser shows: `off` or `required`.
    #[arg(long, value_parser = ["off", "required"])]
    device_confirmation: Option<String>,
    /// Who may approve: `everyone`, `admins`, or `group:NAME[,group:NAME]`.
    #[arg(long, value_name = "WHO")]
    approvers: Option<String>,
    /// How approvers must have signed in: `any`, or `phishing_resistant` (a passkey or SSO).
    #[arg(long, value_parser = ["any", "phishing_resistant"])]
    approver_auth: Option<String>,
}

impl ApprovalArgs {
    /// The changes these arguments ask for, as the admin API takes them.
    fn changes(self) -> anyhow::Result<ApprovalChanges> {
        let list = |typed: Option<String>| {
            typed.map(|typed| typed.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect())
        };
        let setting = |typed: Option<String>| -> anyhow::Result<Option<Option<u32>>> {
            typed.map(|typed| seconds_setting(Some(typed), None)).transpose()
        };
        Ok(ApprovalChanges {
            device_networks: list(self.device_networks),
            approver_network: named(self.approver_network)?,
            approver_networks: list(self.approver_networks),
            max_code_age_secs: setting(self.max_code_age)?,
            code_lifetime_secs: setting(self.code_lifetime)?,
            one_person_per_code: self.one_person_per_code,
            device_confirmation: named(self.device_confirmation)?,
            approvers: self.approvers,
            approver_auth: named(self.approver_auth)?,
        })
    }
}

/// A setting typed by name, as the admin API spells it.
fn named<T: serde::de::DeserializeOwned>(typed: Option<String>) -> anyhow::Result<Option<T>> {
    Ok(typed.map(serde_json::Value::String).map(serde_json::from_value).transpose()?)
}

/// A client's approval policy in one line of plain words.
fn approval_words(policy: &ApprovalSettings) -> String {
    let ranges = |list: &[String]| if list.is_empty() { "anywhere".to_owned() } else { list.join(", ") };
    let approver = match policy.approver_network {
        ApproverNetworkSetting::Any => "any network (warn only)".to_owned(),
        ApproverNetworkSetting::SameNetwork => "the device's network".to_owned(),
        ApproverNetworkSetting::Listed => ranges(&policy.approver_networks),
    };
    let secs = |secs: Option<u32>, none: &str| secs.map_or_else(|| none.to_owned(), |s| format!("{s}s"));
    format!(
        "devices start from {}; approvers from {approver}; approvers: {}; codes usable for {} within a \
         lifetime of {}; one person per code {}; device confirmation {}; approvers signed in {}",
        ranges(&policy.device_networks),
        policy.approvers,
        secs(policy.max_code_age_secs, "their whole lifetime"),
        secs(policy.code_lifetime_secs, "the server's default"),
        if policy.one_person_per_code { "on" } else { "off" },
        match policy.device_confirmation {
            DeviceConfirmationSetting::Off => "off",
            DeviceConfirmationSetting::Required => "required",
        },
        match policy.approver_auth {
            ApproverAuthSetting::Any => "any way",
            ApproverAuthSetting::PhishingResistant => "with a passkey or SSO",
        },
    )
}

/// `--dpop off|allowed|required`.
fn parse_dpop_mode(typed: &str) -> Result<Dpop, String> {
    serde_json::from_value(serde_json::Value::String(typed.to_owned()))
        .map_err(|_| "one of off, allowed, required".to_owned())
}

/// A typed lifetime or interval: seconds, `default` (the server's), or, when
/// not given, what it was.
fn seconds_setting(typed: Option<String>, current: Option<u32>) -> anyhow::Result<Option<u32>> {
    match typed.as_deref() {
        None => Ok(current),
        Some("default") => Ok(None),
        Some(secs) => {
            secs.parse().map(Some).with_context(|| format!("{secs:?} is not a number of seconds or `default`"))
        }
    }
}

/// A path segment as typed (a scope name may hold `/` or `:`).
fn segment(typed: &str) -> String {
    percent_encoding::utf8_percent_encode(typed, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Who may hold a scope, as typed.
fn holders(typed: &str) -> anyhow::Result<Holders> {
    serde_json::from_value(serde_json::Value::String(typed.trim().to_owned()))
        .ok()
        .with_context(|| format!("--holders: expected accounts, external or everyone, not {typed:?}"))
}

/// Runs a `scope` command.
pub async fn scope(target: &Target, command: ScopeCommand) -> anyhow::Result<()> {
    // Typing mistakes are reported before anything is opened.
    let typed_holders = match &command {
        ScopeCommand::Create { holders: typed, .. } => Some(holders(typed)?),
        ScopeCommand::Update { holders: Some(typed), .. } => Some(holders(typed)?),
        _ => None,
    };
    let api = AdminApi::open(target).await?;
    match command {
        ScopeCommand::Create { name, description, .. } => {
            let new = NewScope { name, description, holders: typed_holders.unwrap_or(Holders::Everyone) };
            let scope: Scope = api.call(Method::POST, "/v1/admin/scopes", Some(serde_json::to_value(new)?)).await?;
            println!("created scope {} (held by {})", scope.name, scope.holders.as_str());
        }
        ScopeCommand::List => {
            let list: ScopeList = api.call(Method::GET, "/v1/admin/scopes", None).await?;
            println!("{:<32} {:<9} {:<8} DESCRIPTION", "SCOPE", "HOLDERS", "BUILT-IN");
            for scope in list.scopes {
                let built_in = if scope.built_in { "yes" } else { "no" };
                println!("{:<32} {:<9} {:<8} {}", scope.name, scope.holders.as_str(), built_in, scope.description);
            }
        }
        ScopeCommand::Update { name, description, .. } => {
            let list: ScopeList = api.call(Method::GET, "/v1/admin/scopes", None).await?;
            let Some(current) = list.scopes.into_iter().find(|s| s.name == name) else {
                bail!("no scope named {name:?}");
            };
            let settings = ScopeSettings {
                description: description.unwrap_or(current.description),
                holders: typed_holders.unwrap_or(current.holders),
            };
            let path = format!("/v1/admin/scopes/{}", segment(&name));
            let scope: Scope = api.call(Method::PUT, &path, Some(serde_json::to_value(settings)?)).await?;
            println!("updated scope {} (held by {})", scope.name, scope.holders.as_str());
        }
        ScopeCommand::Delete { name } => {
            api.call::<()>(Method::DELETE, &format!("/v1/admin/scopes/{}", segment(&name)), None).await?;
            println!("deleted scope {name}");
        }
    }
    Ok(())
}

/// Runs a `client` command.
pub async fn client(target: &Target, command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Create { client_id, name, confidential, scopes, no_device_grant, refresh } => {
            let new = NewClient {
                client_id,
                client_type: if confidential { ClientKind::Confidential } else { ClientKind::Public },
                settings: ClientSettings {
                    name,
                    allowed_scopes: gatehouse_core::scope::parse(&scopes),
                    device_grant: !no_device_grant,
                    tokens: TokenSettings { refresh, ..TokenSettings::default() },
                    approval: ApprovalChanges::default(),
                },
            };
            let api = AdminApi::open(target).await?;
            let made: ClientWithSecret =
                api.call(Method::POST, "/v1/admin/clients", Some(serde_json::to_value(new)?)).await?;
            println!("created {} client {}", made.client.client_type.as_str(), made.client.client_id);
            if let Some(secret) = made.client_secret {
                println!("client secret (shown once, store it now): {secret}");
            }
        }
        ClientCommand::List => {
            let api = AdminApi::open(target).await?;
            let list: ClientList = api.call(Method::GET, "/v1/admin/clients", None).await?;
            println!("{:<24} {:<13} {:<9} {:<8} NAME", "CLIENT ID", "TYPE", "STATUS", "DEVICE");
            for client in list.clients {
                println!(
                    "{:<24} {:<13} {:<9} {:<8} {}",
                    client.client_id,
                    client.client_type.as_str(),
                    if client.disabled { "disabled" } else { "enabled" },
                    if client.device_grant { "yes" } else { "no" },
                    client.name
                );
            }
        }
        ClientCommand::Disable { client_id } => switch_client(target, &client_id, true).await?,
        ClientCommand::Enable { client_id } => switch_client(target, &client_id, false).await?,
        ClientCommand::Update {
            client_id,
            name,
            scopes,
            device_grant,
            refresh,
            access_token_ttl,
            grant_ttl,
            grant_idle_ttl,
            poll_interval,
            dpop,
            approval,
        } => {
            let api = AdminApi::open(target).await?;
            let path = format!("/v1/admin/clients/{}", segment(&client_id));
            let current: Client = api.call(Method::GET, &path, None).await?;
            let tokens = current.settings;
            let settings = ClientSettings {
                name: name.unwrap_or(current.name),
                allowed_scopes: scopes.map_or(current.allowed_scopes, |s| gatehouse_core::scope::parse(&s)),
                device_grant: device_grant.unwrap_or(current.device_grant),
                tokens: TokenSettings {
                    refresh: refresh.unwrap_or(tokens.refresh),
                    access_token_ttl: seconds_setting(access_token_ttl, tokens.access_token_ttl)?,
                    grant_ttl: seconds_setting(grant_ttl, tokens.grant_ttl)?,
                    grant_idle_ttl: seconds_setting(grant_idle_ttl, tokens.grant_idle_ttl)?,
                    poll_interval: seconds_setting(poll_interval, tokens.poll_interval)?,
                    dpop: dpop.unwrap_or(tokens.dpop),
                },
                approval: approval.changes()?,
            };
            let client: Client = api.call(Method::PUT, &path, Some(serde_json::to_value(settings)?)).await?;
            let tokens = &client.settings;
            let shown = |secs: Option<u32>| secs.map_or_else(|| "default".to_owned(), |s| format!("{s}s"));
            println!(
                "updated client {}: name {:?}, scopes \"{}\", device grant {}, refresh tokens {}, \
                 access token {}, grant {}, idle {}, polling interval {}, DPoP {}",
                client.client_id,
                client.name,
                client.allowed_scopes.join(" "),
                if client.device_grant { "on" } else { "off" },
                if tokens.refresh { "on" } else { "off" },
                shown(tokens.access_token_ttl),
                shown(tokens.grant_ttl),
                shown(tokens.grant_idle_ttl),
                shown(tokens.poll_interval),
                tokens.dpop.as_str(),
            );
            println!("approval policy: {}", approval_words(&client.approval));
        }
        ClientCommand::RotateSecret { client_id } => {
            let api = AdminApi::open(target).await?;
            let path = format!("/v1/admin/clients/{}/secret", segment(&client_id));
            let rotated: ClientWithSecret = api.call(Method::POST, &path, None).await?;
            println!(
                "new client secret for {client_id} (shown once; the old one no longer works): {}",
                rotated.client_secret.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// Disables or enables a client; refused when it already is.
async fn switch_client(target: &Target, client_id: &str, disable: bool) -> anyhow::Result<()> {
    let api = AdminApi::open(target).await?;
    let path = format!("/v1/admin/clients/{}", segment(client_id));
    let (state, action) = if disable { ("enabled", "disable") } else { ("disabled", "enable") };
    let current: Option<Client> = api.call(Method::GET, &path, None).await.ok();
    if current.is_none_or(|c| c.disabled == disable) {
        bail!("no {state} client with id {client_id:?}");
    }
    api.call::<Client>(Method::POST, &format!("{path}/{action}"), None).await?;
    println!("{action}d client {client_id}");
    Ok(())
}
