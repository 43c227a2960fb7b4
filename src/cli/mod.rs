//! The `gatehouse` command line.

mod admin;
mod login;

use crate::config::Config;
use crate::startup::{Application, Overrides};
use anyhow::Context as _;
use clap::{Parser, Subcommand};

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
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(admin::ClientCommand),
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

/// Runs the chosen command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate => {
            let config = Config::load()?;
            crate::logging::init(config.log_format);
            crate::startup::connect(&config, &Overrides::default(), None).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::User(command) => admin::user(command).await,
        Command::Client(command) => admin::client(command).await,
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
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::load()?;
    crate::logging::init(config.log_format);
    let app = Application::build(config, Overrides::default()).await?;
    tracing::info!(url = app.public_url(), port = app.port(), "Gatehouse is listening");
    app.run_until(shutdown_signal()).await.context("server error")?;
    tracing::info!("stopped");
    Ok(())
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
