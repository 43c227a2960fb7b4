//! Builds the application: backends from the configuration, the use cases
//! over them, the router (`http::router`) and the bound listener (port 0
//! works, so tests can run many servers side by side), and runs it until a
//! graceful stop.

use crate::config::{Config, ConfigError, SsoConfig};
use axum::Router;
use gatehouse_core::ports::{IdentityProvider, NoMailer};
use gatehouse_core::ports::{PasswordHasher, TokenCache, TokenRepository};
use gatehouse_core::services::sso::SsoSettings;
use gatehouse_core::services::{Ports, Services, Settings};
use gatehouse_core::{Clock, StoreError, SystemClock};
use gatehouse_store::crypto::{Argon2Hasher, DpopProofs, JwsEnvelopes, OidcProvider, OidcSettings, OsRandom};
use gatehouse_store::state::MemoryFlowStore;
use gatehouse_store::{ConnectError, Database, SqlSessionStore};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The embedded default's flows between a graceful shutdown and the next start.
const FLOW_SNAPSHOT: &str = "flows.snapshot";

/// Sign-ins that may wait for each password-hashing slot.
const SIGN_IN_QUEUE_PER_SLOT: usize = 8;

/// Why the server could not start; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("GATEHOUSE_DATABASE_URL: {0}")]
    Database(ConnectError),
    #[error("GATEHOUSE_REDIS_URL: {0}")]
    Redis(ConnectError),
    #[error("GATEHOUSE_BIND: cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("GATEHOUSE_METRICS_BIND: cannot listen on {0}: {1}")]
    MetricsBind(SocketAddr, std::io::Error),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error(
        "GATEHOUSE_AUTO_MIGRATE: the database lacks {} migration(s) ({}); run `gatehouse migrate` first",
        .0.len(),
        .0.join(", ")
    )]
    PendingMigrations(Vec<String>),
    #[error(
        "GATEHOUSE_SECRET_KEY: differs from the secret the other instances use (fingerprint {recorded} in the \
         database, {ours} here); give every instance the same secret, and while rotating list the old one in \
         GATEHOUSE_PREVIOUS_SECRET_KEYS"
    )]
    SecretDiffers { recorded: String, ours: String },
}

/// Connects the configured database (creating the data directory first for
/// the embedded default), without migrating it.
pub async fn open_database(config: &Config) -> Result<Database, StartupError> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| ConfigError {
            variable: "GATEHOUSE_DATA_DIR".into(),
            problem: format!("cannot create directory: {e}"),
        })?;
    }
    Database::connect(&config.database_url, &config.ca).await.map_err(StartupError::Database)
}

/// Every instance sharing a PostgreSQL database must sign with the same
/// secret, or an SSO sign-in fails whenever its callback reaches another
/// instance. The database keeps the secret's fingerprint (never the secret);
/// a server whose secret is neither it nor its successor refuses to start.
async fn check_secret(
    database: &Database,
    secret: &gatehouse_core::SecretString,
    previous: &[gatehouse_core::SecretString],
) -> Result<(), StartupError> {
    use gatehouse_store::crypto::fingerprint;
    use gatehouse_store::sql::SecretCheck;
    let ours = fingerprint(secret);
    let previous: Vec<String> = previous.iter().map(fingerprint).collect();
    match database.check_secret(&ours, &previous).await.map_err(StartupError::Database)? {
        SecretCheck::Recorded => tracing::info!(fingerprint = %ours, "recorded this installation's secret fingerprint"),
        SecretCheck::Same => {}
        SecretCheck::Rotated => {
            tracing::info!(fingerprint = %ours, "the secret was rotated; recorded the new fingerprint")
        }
        SecretCheck::Differs { recorded } => return Err(StartupError::SecretDiffers { recorded, ours }),
    }
    Ok(())
}

/// Wraps a port, e.g. to inject faults in tests.
pub type Wrap<T> = Arc<dyn Fn(Arc<T>) -> Arc<T> + Send + Sync>;

/// What tests and the CLI may replace.
#[derive(Default, Clone)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
    /// Wraps the token cache (tests inject cache faults with it).
    pub wrap_token_cache: Option<Wrap<dyn TokenCache>>,
    /// Wraps the token repository (tests inject database faults with it).
    pub wrap_tokens: Option<Wrap<dyn TokenRepository>>,
    /// Wraps the password hasher (tests hold a sign-in mid-check with it).
    pub wrap_passwords: Option<Wrap<dyn PasswordHasher>>,
}

/// Connected backends and the use cases over them.
pub struct Backends {
    pub services: Services,
    pub database: Database,
    pub sessions: SqlSessionStore,
    /// The embedded default's flow store (saved and restored across a
    /// graceful restart); `None` on Redis, where flows outlive the process.
    pub embedded_flows: Option<Arc<MemoryFlowStore>>,
    /// The audit webhook's deliverer, when one is configured.
    pub audit_webhook: Option<Arc<crate::jobs::audit_webhook::AuditWebhook>>,
}

/// Connects the database (migrating it) and the state store, and wires the
/// use cases. The SSO branch is wired when the server will serve at
/// `public_url` (its redirect URI) and an issuer is configured; command-line
/// tools pass `None`.
pub async fn connect(
    config: &Config,
    overrides: &Overrides,
    public_url: Option<&str>,
) -> Result<Backends, StartupError> {
    let (secret, _) = config.load_or_create_secret()?;
    let database = open_database(config).await?;
    if config.auto_migrate {
        database.migrate().await.map_err(StartupError::Database)?;
    } else {
        let pending = database.pending_migrations().await.map_err(StartupError::Database)?;
        if !pending.is_empty() {
            return Err(StartupError::PendingMigrations(pending));
        }
    }
    if public_url.is_some() && matches!(database, Database::Postgres(_)) {
        check_secret(&database, &secret, &config.previous_secret_keys).await?;
    }
    let state =
        gatehouse_store::connect_state(config.redis_url.as_deref(), &config.redis_key_prefix, &config.ca, &database)
            .await
            .map_err(StartupError::Redis)?;
    let embedded_flows = state.embedded_flows.clone();
    if public_url.is_some() {
        tracing::info!(state_store = config.state_store_name(), "device flows and limits are kept here");
    }
    let repositories = database.repositories_with(config.audit_webhook.is_some());
    // The password bulkhead: hashing gets half the cores (at least one), so
    // a flood of sign-ins leaves the rest for every other request.
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
    let hashing_slots = (cores / 2).max(1);
    let ports = Ports {
        flows: state.flows,
        token_cache: match &overrides.wrap_token_cache {
            Some(wrap) => wrap(state.token_cache),
            None => state.token_cache,
        },
        single_use: state.single_use,
        rate_limiter: state.rate_limiter,
        signer: Arc::new(JwsEnvelopes::new(&secret, &config.previous_secret_keys)),
        proofs: Arc::new(DpopProofs),
        accounts: repositories.accounts,
        clients: repositories.clients,
        scopes: repositories.scopes,
        tokens: match &overrides.wrap_tokens {
            Some(wrap) => wrap(repositories.tokens),
            None => repositories.tokens,
        },
        audit: repositories.audit,
        passwords: {
            let hasher: Arc<dyn PasswordHasher> =
                Arc::new(Argon2Hasher::new(hashing_slots, SIGN_IN_QUEUE_PER_SLOT * hashing_slots)?);
            match &overrides.wrap_passwords {
                Some(wrap) => wrap(hasher),
                None => hasher,
            }
        },
        passkeys: repositories.passkeys,
        passkey_verifier: Arc::new(gatehouse_store::crypto::WebAuthnPasskeys::new(public_url)),
        database: repositories.health,
        retention: repositories.retention,
        clock: overrides.clock.clone().unwrap_or_else(|| Arc::new(SystemClock)),
        random: Arc::new(OsRandom),
        mailer: match (&config.smtp, public_url) {
            (Some(smtp), Some(_)) => Arc::new(
                crate::mail::SmtpMailer::start(smtp, &config.ca)
                    .map_err(|problem| ConfigError { variable: "GATEHOUSE_SMTP_URL".into(), problem })?,
            ),
            _ => Arc::new(NoMailer),
        },
    };
    let sessions = database.session_store().map_err(StartupError::Database)?;
    let sso = match (&config.sso, public_url) {
        (Some(sso), Some(public_url)) => Some(sso_branch(sso, public_url, &config.ca, ports.clock.clone())?),
        _ => None,
    };
    let audit_webhook = match &config.audit_webhook {
        Some(webhook) => Some(Arc::new(
            crate::jobs::audit_webhook::AuditWebhook::new(
                webhook,
                &config.ca,
                repositories.audit_outbox.clone(),
                ports.clock.clone(),
            )
            .map_err(|problem| ConfigError { variable: "GATEHOUSE_AUDIT_WEBHOOK_SECRET".into(), problem })?,
        )),
        None => None,
    };
    Ok(Backends {
        services: Services::new(
            ports,
            Settings { public_url: public_url.map(str::to_owned), ..config.settings.clone() },
            sso,
        ),
        database,
        sessions,
        embedded_flows,
        audit_webhook,
    })
}

/// The SSO branch's settings and its OpenID Connect relying party.
fn sso_branch(
    sso: &SsoConfig,
    public_url: &str,
    roots: &gatehouse_store::tls::ExtraRoots,
    clock: Arc<dyn Clock>,
) -> Result<(SsoSettings, Arc<dyn IdentityProvider>), StartupError> {
    let provider = OidcProvider::new(
        OidcSettings {
            issuer: sso.issuer.clone(),
            client_id: sso.client_id.clone(),
            client_secret: sso.client_secret.clone(),
            redirect_uri: format!("{public_url}{}", crate::http::sso::CALLBACK_PATH),
            roots: roots.clone(),
            offline_access: sso.offline_access,
            groups_claim: sso.groups_claim.clone(),
        },
        clock,
    )
    .map_err(|problem| ConfigError { variable: "GATEHOUSE_SSO_ISSUER".into(), problem })?;
    let settings = SsoSettings {
        issuer: sso.issuer.clone(),
        display_name: sso.display_name.clone(),
        allowed_email_domains: sso.allowed_email_domains.clone(),
        recheck_every: sso.recheck_every,
        trust_unverified_emails: sso.trust_emails,
        admin_groups: sso.admin_groups.clone(),
    };
    Ok((settings, Arc::new(provider)))
}

/// A built server, bound and ready to run.
pub struct Application {
    listener: TcpListener,
    /// How long shutdown waits for requests in flight.
    shutdown_grace: std::time::Duration,
    /// Where the embedded default keeps its flows across a restart.
    flow_snapshot: std::path::PathBuf,
    router: Router,
    /// `/metrics`, when `GATEHOUSE_METRICS_BIND` is set.
    metrics: Option<(TcpListener, Router)>,
    public_url: String,
    backends: Backends,
}

impl Application {
    /// Connects everything, runs first-start chores, builds the router and binds.
    pub async fn build(config: Config, overrides: Overrides) -> Result<Self, StartupError> {
        let (_secret, created) = config.load_or_create_secret()?;
        if created {
            tracing::info!(path = %config.data_dir.join("secret_key").display(), "generated a new server secret (mode 0600)");
        }
        // Bound first: without a configured public URL, the bound address is
        // the public URL, and the SSO redirect URI is made from it.
        let listener = TcpListener::bind(config.bind).await.map_err(|e| StartupError::Bind(config.bind, e))?;
        let bound = listener.local_addr().map_err(|e| StartupError::Bind(config.bind, e))?;
        let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{bound}"));
        let metrics = match config.metrics_bind {
            None => None,
            Some(address) => {
                let listener = TcpListener::bind(address).await.map_err(|e| StartupError::MetricsBind(address, e))?;
                crate::metrics::recorder().map(|handle| (listener, crate::metrics::router(handle)))
            }
        };
        let backends = connect(&config, &overrides, Some(&public_url)).await?;
        first_start(&backends.services).await?;
        let flow_snapshot = config.data_dir.join(FLOW_SNAPSHOT);
        if let Some(flows) = &backends.embedded_flows {
            let restored =
                flows.restore_snapshot(&flow_snapshot, backends.services.now()).map_err(|e| ConfigError {
                    variable: "GATEHOUSE_DATA_DIR".into(),
                    problem: format!("cannot restore {}: {e}", flow_snapshot.display()),
                })?;
            if restored > 0 {
                tracing::info!(flows = restored, "restored the device flows saved at the last shutdown");
            }
        }
        if let Some(sso) = &backends.services.sso {
            tracing::info!(issuer = %sso.settings().issuer, "external SSO branch on");
        }
        let router = crate::http::router::router(
            config.site_root.as_deref(),
            &config.trusted_proxies,
            &backends.services,
            backends.sessions.clone(),
            &public_url,
            bound,
        );
        Ok(Self {
            listener,
            router,
            metrics,
            public_url,
            backends,
            shutdown_grace: config.shutdown_grace,
            flow_snapshot,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// The metrics listener's port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().and_then(|(listener, _)| listener.local_addr().ok()).map(|a| a.port())
    }

    /// The public base URL.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The use cases (tests reach into them to arrange state).
    pub fn services(&self) -> &Services {
        &self.backends.services
    }

    /// The audit webhook's deliverer, when one is configured (tests drive
    /// a delivery pass themselves).
    pub fn audit_webhook(&self) -> Option<Arc<crate::jobs::audit_webhook::AuditWebhook>> {
        self.backends.audit_webhook.clone()
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets requests
    /// in flight finish for up to the grace period, and (embedded default)
    /// saves the flows for the next start.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let retention = tokio::spawn(crate::jobs::retention::run(self.backends.services.retention.clone()));
        let sso = self.backends.services.sso.clone();
        let sso_refusals = sso.clone().map(|sso| tokio::spawn(crate::jobs::sso_refusals::run(sso)));
        let audit_webhook = self.backends.audit_webhook.clone().map(|webhook| tokio::spawn(webhook.run()));
        let metrics =
            self.metrics.map(|(listener, router)| tokio::spawn(async move { axum::serve(listener, router).await }));
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let (draining_tx, draining) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(self.listener, service).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = draining_tx.send(());
        });
        let grace = self.shutdown_grace;
        let deadline = async move {
            if draining.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            result = server.into_future() => result,
            () = deadline => {
                tracing::warn!(grace_secs = grace.as_secs(), "requests still in flight after the grace period; closing them");
                Ok(())
            }
        };
        retention.abort();
        for job in [sso_refusals, audit_webhook].into_iter().flatten() {
            job.abort();
        }
        if let Some(sso) = &sso {
            sso.flush_refusals(true).await;
        }
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        if let Some(flows) = &self.backends.embedded_flows {
            match flows.save_snapshot(&self.flow_snapshot, self.backends.services.now()) {
                Ok(saved) => {
                    tracing::info!(flows = saved, path = %self.flow_snapshot.display(), "saved the device flows for the next start")
                }
                Err(err) => tracing::error!(error = %err, "could not save the device flows; pending requests are lost"),
            }
        }
        self.backends.database.close().await;
        result
    }
}

async fn first_start(services: &Services) -> Result<(), StoreError> {
    if services.clients.ensure_default_cli_client().await? {
        tracing::info!(
            client_id = gatehouse_core::services::clients::DEFAULT_CLI_CLIENT_ID,
            "created the default public client"
        );
    }
    let sso_admins = services.sso.as_ref().is_some_and(|sso| !sso.settings().admin_groups.is_empty());
    if services.accounts.is_empty().await? && !sso_admins {
        tracing::warn!(
            "no accounts yet; create the first admin with: \
             gatehouse user create --email you@example.com --name \"Your Name\" --admin"
        );
    }
    Ok(())
}
