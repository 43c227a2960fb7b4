//! The `gatehouse` command line.

mod admin;
mod admin_api;
mod credentials;
pub mod dpop;
mod login;
mod users;

use crate::config::Config;
use crate::startup::{Application, Overrides};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Gatehouse: an OAuth 2.0 Device Authorization Grant server.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit (`--check`: apply nothing, list
    /// what is pending, exit 1 if anything is).
    Migrate {
        #[arg(long)]
        check: bool,
    },
    /// Write a consistent copy of the embedded SQLite database to FILE while
    /// the server runs (and the generated secret beside it, FILE.secret_key).
    Backup { file: std::path::PathBuf },
    /// Manage accounts.
    User {
        #[command(flatten)]
        target: admin_api::Target,
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// Manage OAuth clients.
    Client {
        #[command(flatten)]
        target: admin_api::Target,
        #[command(subcommand)]
        command: admin::ClientCommand,
    },
    /// Manage the scope registry: the scopes clients may be allowed, in the
    /// words the approval page shows.
    Scope {
        #[command(flatten)]
        target: admin_api::Target,
        #[command(subcommand)]
        command: admin::ScopeCommand,
    },
    /// Sign in to a Gatehouse server from this terminal (a device-flow client).
    Login(login::LoginArgs),
    /// Show whom the saved token speaks for, and when it expires.
    Status(login::SavedTokenArgs),
    /// Revoke the saved token on the server and remove it from this machine.
    Logout(login::SavedTokenArgs),
    /// Delete tokens revoked or expired past their retention, expired browser
    /// sessions and old audit events, now (the server also does it hourly).
    Prune,
}

/// Runs the chosen command; the exit status it asks for.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let done = match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate { check } => return migrate(check).await,
        Command::Backup { file } => backup(&file).await,
        Command::Serve => serve().await,
        Command::User { target, command } => users::user(&target, command).await,
        Command::Client { target, command } => admin::client(&target, command).await,
        Command::Scope { target, command } => admin::scope(&target, command).await,
        Command::Login(args) => login::run(args).await,
        Command::Status(args) => login::status(args).await,
        Command::Logout(args) => login::logout(args).await,
        Command::Prune => {
            let config = Config::load()?;
            crate::logging::init(config.log_format);
            let backends = crate::startup::connect(&config, &Overrides::default(), None).await?;
            let report = backends.services.retention.prune().await?;
            println!(
                "deleted {} tokens, {} browser sessions and {} audit events{}",
                report.tokens,
                report.sessions,
                report.audit_events,
                if report.skipped { " (another instance is pruning; it will finish the rest)" } else { "" }
            );
            Ok(())
        }
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// `gatehouse migrate [--check]`: the database alone, never the state store.
async fn migrate(check: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load()?;
    crate::logging::init(config.log_format);
    let database = crate::startup::open_database(&config).await?;
    if !check {
        database.migrate().await.context("GATEHOUSE_DATABASE_URL")?;
        println!("migrations applied");
        return Ok(ExitCode::SUCCESS);
    }
    let pending = database.pending_migrations().await.context("GATEHOUSE_DATABASE_URL")?;
    if pending.is_empty() {
        println!("no migrations pending");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} migration(s) pending:", pending.len());
    for migration in &pending {
        println!("  {migration}");
    }
    Ok(ExitCode::FAILURE)
}

/// `gatehouse backup FILE`: an online copy of the embedded database, and the
/// secret kept in the data directory beside it (without the secret, sign-ins
/// in flight at restore time fail, and a PostgreSQL peer would not start).
async fn backup(file: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load()?;
    crate::logging::init(config.log_format);
    let database = crate::startup::open_database(&config).await?;
    database.backup_to(file).await?;
    println!("database copied to {}", file.display());
    let secret_file = config.data_dir.join("secret_key");
    if config.secret_key.is_none() && secret_file.is_file() {
        let mut beside = file.as_os_str().to_owned();
        beside.push(".secret_key");
        let beside = std::path::PathBuf::from(beside);
        let secret = std::fs::read(&secret_file).with_context(|| format!("cannot read {}", secret_file.display()))?;
        crate::files::write_private(&beside, &secret).with_context(|| format!("cannot write {}", beside.display()))?;
        println!("secret copied to {}", beside.display());
    } else if config.secret_key.is_some() {
        println!("the secret comes from GATEHOUSE_SECRET_KEY: keep it with the backup");
    }
    Ok(())
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::load()?;
    let traces = match &config.otlp_endpoint {
        None => None,
        Some(endpoint) => Some(
            crate::telemetry::Traces::new(endpoint, &config.ca)
                .map_err(|problem| anyhow::anyhow!("GATEHOUSE_OTLP_ENDPOINT: {problem}"))?,
        ),
    };
    crate::logging::init_with_traces(config.log_format, traces.as_ref());
    let app = Application::build(config, Overrides::default()).await?;
    tracing::info!(url = app.public_url(), port = app.port(), "Gatehouse is listening");
    if let Some(why) = app.services().passkeys.off_because() {
        tracing::warn!(reason = %why, "passkeys are off: people sign in with a password or SSO only");
    }
    let served = app.run_until(shutdown_signal()).await.context("server error");
    tracing::info!("stopped");
    if let Some(traces) = traces {
        // Flushing blocks until the collector answers; not on a runtime thread.
        let _ = tokio::task::spawn_blocking(move || traces.flush()).await;
    }
    served
}

/// Resolves on Ctrl-C or SIGTERM, starting a graceful shutdown.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
