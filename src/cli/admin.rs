//! `gatehouse user …`, `gatehouse client …` and `gatehouse scope …`: operator
//! commands that talk to the database directly (no server needs to be
//! running; a running server sees a change within seconds).

use crate::config::Config;
use crate::startup::{Overrides, connect};
use anyhow::{Context as _, bail};
use clap::Subcommand;
use gatehouse_core::model::{ClientType, DpopMode, ScopeHolders, TokenPolicy};
use gatehouse_core::ports::{AccountChange, ClientEdit};
use gatehouse_core::services::accounts::AccountRegistration;
use gatehouse_core::services::clients::ClientRegistration;
use gatehouse_core::{Admin, SecretString};
use std::io::{BufRead, IsTerminal};

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
pub enum UserCommand {
    /// Create an account. The password is read from standard input, or
    /// prompted for (twice) when standard input is a terminal.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
        /// Name of the account's first workspace.
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Disable an account: every token of it is revoked and its browser
    /// sessions end, at once. The last active admin cannot be disabled.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account (it signs in afresh; old sessions stay void).
    Enable {
        #[arg(long)]
        email: String,
    },
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
        dpop: Option<DpopMode>,
    },
    /// Give a confidential client a new secret (printed once); the old one stops working at once.
    RotateSecret {
        #[arg(long = "id")]
        client_id: String,
    },
}

/// `--dpop off|allowed|required`.
fn parse_dpop_mode(typed: &str) -> Result<DpopMode, String> {
    DpopMode::parse(typed).ok_or_else(|| "one of off, allowed, required".to_owned())
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

async fn services() -> anyhow::Result<gatehouse_core::services::Services> {
    let config = Config::load()?;
    crate::logging::init(config.log_format);
    Ok(connect(&config, &Overrides::default(), None).await?.services)
}

fn read_password() -> anyhow::Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let second = rpassword::prompt_password("Repeat password: ").context("cannot read the password")?;
        if first != second {
            bail!("the passwords do not match");
        }
        return Ok(SecretString::new(first));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    Ok(SecretString::new(line.trim_end_matches(['\r', '\n'])))
}

/// Runs a `user` command.
pub async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create { email, name, admin, workspace } => {
            let password = read_password()?;
            let services = services().await?;
            let registration =
                AccountRegistration { email, name, password, is_admin: admin, workspace_name: workspace };
            let account = services.accounts.create(&Admin::command_line(), registration).await?;
            let role = if account.is_admin { " (admin)" } else { "" };
            println!("created account {} <{}>{role}", account.name, account.email);
            Ok(())
        }
        UserCommand::Disable { email } => change_account(&email, AccountChange::Disable).await,
        UserCommand::Enable { email } => change_account(&email, AccountChange::Enable).await,
    }
}

async fn change_account(email: &str, change: AccountChange) -> anyhow::Result<()> {
    let services = services().await?;
    let admin = Admin::command_line();
    let Some(account) = services.accounts.find_by_email(&admin, email).await? else {
        bail!("no account with the email {email}");
    };
    let account = services.accounts.change(&admin, account.id, change, None).await?;
    let state = if account.disabled { "disabled; its tokens are revoked" } else { "enabled" };
    println!("account {} <{}> is {state}", account.name, account.email);
    Ok(())
}

/// Who may hold a scope, as typed.
fn holders(typed: &str) -> anyhow::Result<ScopeHolders> {
    ScopeHolders::parse(typed.trim())
        .with_context(|| format!("--holders: expected accounts, external or everyone, not {typed:?}"))
}

/// Runs a `scope` command.
pub async fn scope(command: ScopeCommand) -> anyhow::Result<()> {
    let services = services().await?;
    let (scopes, admin) = (&services.scopes, Admin::command_line());
    match command {
        ScopeCommand::Create { name, description, holders: typed } => {
            let scope = scopes.create(&admin, &name, &description, holders(&typed)?).await?;
            println!("created scope {} (held by {})", scope.name, scope.holders.as_str());
        }
        ScopeCommand::List => {
            println!("{:<32} {:<9} {:<8} DESCRIPTION", "SCOPE", "HOLDERS", "BUILT-IN");
            for scope in scopes.catalog().await?.all() {
                let built_in = if scope.built_in { "yes" } else { "no" };
                println!("{:<32} {:<9} {:<8} {}", scope.name, scope.holders.as_str(), built_in, scope.description);
            }
        }
        ScopeCommand::Update { name, description, holders: typed } => {
            let Some(current) = scopes.catalog().await?.find(&name).cloned() else {
                bail!("no scope named {name:?}");
            };
            let holders = match typed {
                Some(typed) => holders(&typed)?,
                None => current.holders,
            };
            let description = description.unwrap_or(current.description);
            let scope = scopes.update(&admin, &name, &description, holders).await?;
            println!("updated scope {} (held by {})", scope.name, scope.holders.as_str());
        }
        ScopeCommand::Delete { name } => {
            scopes.delete(&admin, &name).await?;
            println!("deleted scope {name}");
        }
    }
    Ok(())
}

/// Runs a `client` command.
pub async fn client(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Create { client_id, name, confidential, scopes, no_device_grant, refresh } => {
            let allowed_scopes = gatehouse_core::scope::parse(&scopes);
            let client_type = if confidential { ClientType::Confidential } else { ClientType::Public };
            let services = services().await?;
            let registration = ClientRegistration {
                client_id: client_id.clone(),
                name,
                client_type,
                allowed_scopes,
                device_grant: !no_device_grant,
                policy: TokenPolicy { refresh_allowed: refresh, ..TokenPolicy::default() },
            };
            let (client, secret) = services.clients.register(&Admin::command_line(), registration).await?;
            println!("created {} client {}", client.client_type.as_str(), client.client_id);
            if let Some(secret) = secret {
                println!("client secret (shown once, store it now): {}", secret.expose());
            }
            Ok(())
        }
        ClientCommand::List => {
            let services = services().await?;
            println!("{:<24} {:<13} {:<9} {:<8} NAME", "CLIENT ID", "TYPE", "STATUS", "DEVICE");
            for client in services.clients.list().await? {
                println!(
                    "{:<24} {:<13} {:<9} {:<8} {}",
                    client.client_id,
                    client.client_type.as_str(),
                    if client.disabled { "disabled" } else { "enabled" },
                    if client.device_grant_enabled { "yes" } else { "no" },
                    client.name
                );
            }
            Ok(())
        }
        ClientCommand::Disable { client_id } => {
            let services = services().await?;
            if !services.clients.disable(&Admin::command_line(), &client_id).await? {
                bail!("no enabled client with id {client_id:?}");
            }
            println!("disabled client {client_id}");
            Ok(())
        }
        ClientCommand::Enable { client_id } => {
            let services = services().await?;
            if !services.clients.enable(&Admin::command_line(), &client_id).await? {
                bail!("no disabled client with id {client_id:?}");
            }
            println!("enabled client {client_id}");
            Ok(())
        }
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
        } => {
            let services = services().await?;
            let admin = Admin::command_line();
            let Some(current) = services.clients.get(&admin, &client_id).await? else {
                bail!("no client with id {client_id:?}");
            };
            let edit = ClientEdit {
                name: name.unwrap_or(current.name),
                allowed_scopes: scopes.map_or(current.allowed_scopes, |s| gatehouse_core::scope::parse(&s)),
                device_grant_enabled: device_grant.unwrap_or(current.device_grant_enabled),
                policy: TokenPolicy {
                    refresh_allowed: refresh.unwrap_or(current.policy.refresh_allowed),
                    access_token_ttl: seconds_setting(access_token_ttl, current.policy.access_token_ttl)?,
                    grant_ttl: seconds_setting(grant_ttl, current.policy.grant_ttl)?,
                    grant_idle_ttl: seconds_setting(grant_idle_ttl, current.policy.grant_idle_ttl)?,
                    poll_interval: seconds_setting(poll_interval, current.policy.poll_interval)?,
                    dpop: dpop.unwrap_or(current.policy.dpop),
                },
            };
            let client = services.clients.update(&admin, &client_id, edit).await?;
            let shown = |secs: Option<u32>| secs.map_or_else(|| "default".to_owned(), |s| format!("{s}s"));
            println!(
                "updated client {}: name {:?}, scopes \"{}\", device grant {}, refresh tokens {}, \
                 access token {}, grant {}, idle {}, polling interval {}, DPoP {}",
                client.client_id,
                client.name,
                client.allowed_scopes.join(" "),
                if client.device_grant_enabled { "on" } else { "off" },
                if client.policy.refresh_allowed { "on" } else { "off" },
                shown(client.policy.access_token_ttl),
                shown(client.policy.grant_ttl),
                shown(client.policy.grant_idle_ttl),
                shown(client.policy.poll_interval),
                client.policy.dpop.as_str(),
            );
            Ok(())
        }
        ClientCommand::RotateSecret { client_id } => {
            let services = services().await?;
            let secret = services.clients.rotate_secret(&Admin::command_line(), &client_id).await?;
            println!(
                "new client secret for {client_id} (shown once; the old one no longer works): {}",
                secret.expose()
            );
            Ok(())
        }
    }
}
