//! `gatehouse user …`: accounts and their passkeys, each a request to the
//! admin API (in this process, or at a server with `--server`), as the
//! other operator commands in `admin.rs`.

use super::admin_api::{AdminApi, Target};
use crate::http::admin_api::accounts::{Account, AccountChanges, AccountPage, NewAccount};
use crate::http::admin_api::passkeys::{PasskeyList, PasskeysRemoved};
use anyhow::{Context as _, bail};
use clap::Subcommand;
use gatehouse_core::SecretString;
use reqwest::Method;
use std::io::{BufRead, IsTerminal};

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
    /// An account's passkeys.
    Passkeys {
        #[command(subcommand)]
        command: PasskeyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PasskeyCommand {
    /// List an account's passkeys: name, when added, when last used.
    List {
        #[arg(long)]
        email: String,
    },
    /// Remove every passkey of an account (a lost device) and turn its
    /// password back on, so the person can reset it.
    Remove {
        #[arg(long)]
        email: String,
    },
}

/// Runs a `user` command.
pub async fn user(target: &Target, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create { email, name, admin, workspace } => {
            let password = read_password()?;
            let api = AdminApi::open(target).await?;
            let new = NewAccount {
                email,
                name,
                password: password.expose().to_owned(),
                is_admin: admin,
                workspace_name: workspace,
            };
            let account: Account =
                api.call(Method::POST, "/v1/admin/accounts", Some(serde_json::to_value(new)?)).await?;
            let role = if account.is_admin { " (admin)" } else { "" };
            println!("created account {} <{}>{role}", account.name, account.email);
            Ok(())
        }
        UserCommand::Disable { email } => change_account(target, &email, true).await,
        UserCommand::Enable { email } => change_account(target, &email, false).await,
        UserCommand::Passkeys { command } => passkeys(target, command).await,
    }
}

async fn passkeys(target: &Target, command: PasskeyCommand) -> anyhow::Result<()> {
    let api = AdminApi::open(target).await?;
    let email = match &command {
        PasskeyCommand::List { email } | PasskeyCommand::Remove { email } => email,
    };
    let account = find(&api, email).await?;
    let path = format!("/v1/admin/accounts/{}/passkeys", account.id);
    match command {
        PasskeyCommand::List { .. } => {
            let list: PasskeyList = api.call(Method::GET, &path, None).await?;
            let password = if list.passwordless { "off (passkeys only)" } else { "on" };
            println!("{} <{}>: {} passkey(s); password {password}", account.name, account.email, list.passkeys.len());
            for passkey in list.passkeys {
                let used = passkey.last_used_at.map_or_else(|| "never used".to_owned(), |at| format!("last used {at}"));
                println!("  {}  added {}, {used}", passkey.name, passkey.created_at);
            }
        }
        PasskeyCommand::Remove { .. } => {
            let removed: PasskeysRemoved = api.call(Method::DELETE, &path, None).await?;
            println!(
                "removed {} passkey(s) of {} <{}>; its password is on (a reset link can set a new one)",
                removed.removed, account.name, account.email
            );
        }
    }
    Ok(())
}

/// The account with this email.
async fn find(api: &AdminApi, email: &str) -> anyhow::Result<Account> {
    let query = serde_urlencoded::to_string([("email", email)])?;
    let found: AccountPage = api.call(Method::GET, &format!("/v1/admin/accounts?{query}"), None).await?;
    found.accounts.into_iter().next().with_context(|| format!("no account with the email {email}"))
}

async fn change_account(target: &Target, email: &str, disabled: bool) -> anyhow::Result<()> {
    let api = AdminApi::open(target).await?;
    let account = find(&api, email).await?;
    let change = AccountChanges { is_admin: None, disabled: Some(disabled) };
    let path = format!("/v1/admin/accounts/{}", account.id);
    let account: Account = api.call(Method::PATCH, &path, Some(serde_json::to_value(change)?)).await?;
    let state = if account.disabled { "disabled; its tokens are revoked" } else { "enabled" };
    println!("account {} <{}> is {state}", account.name, account.email);
    Ok(())
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
