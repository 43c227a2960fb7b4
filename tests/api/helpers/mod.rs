//! `spawn_app(backend)` and the HTTP helpers the tests share.

use chrono::Utc;
use gatehouse::config::Config;
use gatehouse::startup::{Application, Overrides};
use gatehouse_core::ManualClock;
use gatehouse_core::SecretString;
use gatehouse_core::model::{Account, ClientType};
use gatehouse_core::rate_limit::Visitor;
use gatehouse_core::services::Services;
use gatehouse_core::services::accounts::AccountRegistration;
use gatehouse_core::services::clients::ClientRegistration;
use gatehouse_store::testing::TestDatabase;
use serde_json::Value;
use std::sync::Arc;

mod backends;
pub use backends::{Backend, postgres_available, postgres_redis_available};

/// Real time passing on a test's injected clock; stops when dropped.
pub struct TimePassing(tokio::task::JoinHandle<()>);

impl Drop for TimePassing {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running server and handles into it.
pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:<port>` of `/metrics`, when the test turned it on.
    pub metrics_address: Option<String>,
    pub services: Services,
    pub clock: Arc<ManualClock>,
    /// The test's own database (a temp SQLite file or a fresh PostgreSQL database).
    pub database_url: String,
    /// The Redis key prefix (PostgreSQL + Redis), so a second server can
    /// share this one's state as another instance would.
    pub redis_key_prefix: String,
    /// An HTTP client with a cookie jar (one browser).
    pub browser: reqwest::Client,
    /// An HTTP client without cookies (a device or a CLI).
    pub device: reqwest::Client,
    _data_dir: tempfile::TempDir,
    /// The audit webhook's deliverer, when the test configured one.
    pub audit_webhook: Option<Arc<gatehouse::jobs::audit_webhook::AuditWebhook>>,
    /// The PostgreSQL database, dropped with the app.
    _database: Option<TestDatabase>,
}

/// The `gatehouse` binary with none of the developer's `GATEHOUSE_*`
/// variables: only what the test sets counts.
pub fn gatehouse_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GATEHOUSE_") {
            command.env_remove(name);
        }
    }
    command
}

/// Starts the real server on port 0 with a fresh database.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like `spawn_app`, with a chance to adjust the configuration.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_overriding(backend, adjust, Overrides::default()).await
}

/// Like `spawn_app_with`, also replacing or wrapping ports (the clock is
/// always the test's manual clock).
pub async fn spawn_app_overriding(backend: Backend, adjust: impl FnOnce(&mut Config), overrides: Overrides) -> TestApp {
    spawn_app_until(backend, adjust, overrides, std::future::pending()).await.0
}

/// A server that stops (gracefully, as at a restart) when `shutdown`
/// resolves; the handle ends once it has.
pub async fn spawn_app_until(
    backend: Backend,
    adjust: impl FnOnce(&mut Config),
    overrides: Overrides,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (TestApp, tokio::task::JoinHandle<std::io::Result<()>>) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    // The defaults, never the developer's environment: only what the test
    // sets counts.
    let mut config = Config::defaults().expect("configuration");
    config.bind = "127.0.0.1:0".parse().expect("address");
    config.public_url = None;
    config.data_dir = data_dir.path().to_path_buf();
    config.secret_key = Some(SecretString::new("test-secret-that-is-long-enough-0123456789"));
    // Static files come from the source tree, so these tests need no
    // `cargo leptos build` output (the browser tests cover the built site).
    config.site_root = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("public"));
    let mut database = None;
    match backend {
        Backend::Embedded => {
            config.database_url = format!("sqlite://{}/gatehouse.db", data_dir.path().display());
            config.redis_url = None;
        }
        Backend::PostgresRedis | Backend::Postgres => {
            let base = std::env::var("GATEHOUSE_TEST_DATABASE_URL").expect("GATEHOUSE_TEST_DATABASE_URL");
            let own = TestDatabase::create(&base).await;
            config.database_url = own.url().to_owned();
            database = Some(own);
            config.redis_url = match backend {
                Backend::PostgresRedis => {
                    Some(std::env::var("GATEHOUSE_TEST_REDIS_URL").expect("GATEHOUSE_TEST_REDIS_URL"))
                }
                _ => None,
            };
            config.redis_key_prefix = format!("gatehouse-test:{}:", uuid::Uuid::new_v4().simple());
        }
    }
    adjust(&mut config);
    gatehouse::logging::init(config.log_format);
    let database_url = config.database_url.clone();
    let redis_key_prefix = config.redis_key_prefix.clone();

    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app =
        Application::build(config, Overrides { clock: Some(clock.clone()), ..overrides }).await.expect("build the app");
    // The bound address, which is the public URL unless a test set one
    // (a passkey test names a host name there, as passkeys need).
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
    let services = app.services().clone();
    let audit_webhook = app.audit_webhook();
    let running = tokio::spawn(app.run_until(shutdown));

    let app = TestApp {
        address,
        metrics_address,
        services,
        clock,
        database_url,
        redis_key_prefix,
        browser: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        device: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        audit_webhook,
        _data_dir: data_dir,
        _database: database,
    };
    (app, running)
}

/// Sets one limiter's quota (`N/period` or `off`).
pub fn set_limit(config: &mut Config, limiter: gatehouse_core::rate_limit::Limiter, quota: &str) {
    config.settings.rate_limits.set(limiter, gatehouse_core::rate_limit::Quota::parse(quota).expect("quota"));
}

/// Trusts `ranges` as proxies (addresses or CIDR ranges), so a test on
/// loopback can speak for many clients through `X-Forwarded-For`.
pub fn behind_proxy(config: &mut Config, ranges: &[&str]) {
    config.trusted_proxies.ranges = ranges
        .iter()
        .map(|range| range.parse::<ipnet::IpNet>().or_else(|_| range.parse::<std::net::IpAddr>().map(Into::into)))
        .collect::<Result<_, _>>()
        .expect("addresses or ranges");
}

/// The public CLI client every installation has.
pub const CLI: &str = "gatehouse-cli";
/// The password test accounts get.
pub const PASSWORD: &str = "correct horse battery staple";

mod answers;
pub mod authenticator;
pub use answers::{expect_oauth_error, hidden_input};

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Creates an account directly through the use case.
    pub async fn create_account(&self, email: &str) -> Account {
        self.services
            .accounts
            .create(
                &gatehouse_core::Admin::command_line(),
                AccountRegistration {
                    email: email.to_owned(),
                    name: "Ada Lovelace".to_owned(),
                    password: SecretString::new(PASSWORD),
                    is_admin: false,
                    workspace_name: Some("Research".to_owned()),
                },
            )
            .await
            .expect("create account")
    }

    /// `POST /v1/oauth/device/code` as the CLI client.
    pub async fn start_flow(&self, extra: &[(&str, &str)]) -> Value {
        self.start_flow_as(CLI, extra).await
    }

    /// `POST /v1/oauth/device/code` as a public client.
    pub async fn start_flow_as(&self, client_id: &str, extra: &[(&str, &str)]) -> Value {
        let mut form = vec![("client_id", client_id)];
        form.extend_from_slice(extra);
        let response = self.device.post(self.url("/v1/oauth/device/code")).form(&form).send().await.expect("request");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    /// `POST /v1/oauth/device/code` as the CLI client with `X-Forwarded-For`
    /// (which counts only when the test trusts 127.0.0.1 as a proxy).
    pub async fn start_flow_forwarded(&self, forwarded_for: &str) -> reqwest::Response {
        self.device
            .post(self.url("/v1/oauth/device/code"))
            .header("x-forwarded-for", forwarded_for)
            .form(&[("client_id", CLI)])
            .send()
            .await
            .expect("request")
    }

    /// The RFC 8414 metadata document.
    pub async fn metadata(&self) -> Value {
        let url = self.url("/.well-known/oauth-authorization-server");
        self.device.get(url).send().await.expect("request").json().await.expect("json")
    }

    /// One token-endpoint poll; returns (status, body).
    pub async fn poll(&self, device_code: &str) -> (u16, Value) {
        self.poll_as(device_code, CLI).await
    }

    pub async fn poll_as(&self, device_code: &str, client_id: &str) -> (u16, Value) {
        let response = self
            .device
            .post(self.url("/v1/oauth/device/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code),
                ("client_id", client_id),
            ])
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    /// Approves through the use case, as `account`.
    pub async fn approve(&self, user_code: &str, account: &Account) {
        use gatehouse_core::services::device_flow::DecisionKind;
        self.services
            .device_flows
            .decide_as_account(user_code, account, DecisionKind::Approve, &Visitor::from_ip(Some("127.0.0.1".into())))
            .await
            .expect("approve");
    }

    /// The injected clock's time.
    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        gatehouse_core::Clock::now(self.clock.as_ref())
    }

    /// Moves the injected clock forward.
    pub fn advance(&self, secs: i64) {
        self.clock.advance(chrono::Duration::seconds(secs));
    }

    /// Moves the injected clock forward as real time passes, until the
    /// guard is dropped: for a real client (`gatehouse login`) that sleeps
    /// its polling interval and must be seen to have waited it.
    pub fn let_time_pass(&self) -> TimePassing {
        let clock = self.clock.clone();
        TimePassing(tokio::spawn(async move {
            let mut last = std::time::Instant::now();
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let now = std::time::Instant::now();
                clock.advance(chrono::Duration::from_std(now - last).unwrap_or_default());
                last = now;
            }
        }))
    }

    /// Signs the browser in through `/signin` and the sign-in server function.
    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        let page = self.browser.get(self.url("/signin")).send().await.expect("signin page");
        assert_eq!(page.status(), 200);
        let csrf = hidden_input(&page.text().await.expect("html"), "csrf_token").expect("csrf field");
        self.browser
            .post(self.url("/console/api/signin"))
            .form(&[("email", email), ("password", password), ("csrf_token", &csrf), ("next", "/device")])
            .send()
            .await
            .expect("sign in")
    }

    /// A second browser (its own cookie jar), signed in as `email`.
    pub async fn another_browser_signed_in(&self, email: &str, password: &str) -> reqwest::Client {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let page = browser.get(self.url("/signin")).send().await.expect("page").text().await.expect("html");
        let csrf = hidden_input(&page, "csrf_token").expect("csrf");
        let signed = browser
            .post(self.url("/console/api/signin"))
            .form(&[("email", email), ("password", password), ("csrf_token", &csrf)])
            .send()
            .await
            .expect("sign in");
        assert_eq!(signed.status(), 200, "signed in as {email}");
        browser
    }

    /// Creates an admin account directly through the use case.
    pub async fn create_admin(&self, email: &str) -> Account {
        self.services
            .accounts
            .create(
                &gatehouse_core::Admin::command_line(),
                AccountRegistration {
                    email: email.to_owned(),
                    name: "Root Admin".to_owned(),
                    password: SecretString::new(PASSWORD),
                    is_admin: true,
                    workspace_name: None,
                },
            )
            .await
            .expect("create admin")
    }

    /// Signs the browser in as a new admin, `root@example.com`, and returns
    /// the CSRF token of the admin page at `path`.
    pub async fn as_admin(&self, path: &str) -> String {
        self.create_admin("root@example.com").await;
        assert_eq!(self.sign_in("root@example.com", PASSWORD).await.status(), 200);
        self.csrf_of(path).await
    }

    /// Runs an operator command (`gatehouse user …`, `client …`, `scope …`)
    /// against this app's database.
    pub fn run_command(&self, args: &[&str]) -> std::process::Output {
        gatehouse_command()
            .args(args)
            .env("GATEHOUSE_DATABASE_URL", &self.database_url)
            .env("GATEHOUSE_DATA_DIR", std::env::temp_dir())
            .output()
            .expect("run gatehouse")
    }

    /// The `csrf_token` hidden field of a page the browser loads.
    pub async fn csrf_of(&self, path: &str) -> String {
        let page = self.browser.get(self.url(path)).send().await.expect("page");
        assert_eq!(page.status(), 200, "{path}");
        hidden_input(&page.text().await.expect("html"), "csrf_token").expect("csrf field")
    }

    /// POSTs a form to a server function as the browser (same-origin, as a
    /// script would: JSON answer).
    pub async fn browser_post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.browser
            .post(self.url(path))
            .header("sec-fetch-site", "same-origin")
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// A page the browser loads (must be 200), with Leptos's `<!>` seams
    /// between static and dynamic text removed.
    pub async fn page_html(&self, path: &str) -> String {
        let page = self.browser.get(self.url(path)).send().await.expect("page");
        assert_eq!(page.status(), 200, "{path}");
        page.text().await.expect("html").replace("<!>", "")
    }

    /// Posts a form as a browser with JavaScript off would (expecting the
    /// redirect such a post gets); returns where it redirects to.
    pub async fn plain_form_post(&self, path: &str, form: &[(&str, &str)]) -> String {
        let response = self
            .browser
            .post(self.url(path))
            .header("accept", "text/html")
            .header("sec-fetch-site", "same-origin")
            .form(form)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 302, "{path}");
        response.headers()["location"].to_str().expect("location").to_owned()
    }

    /// Sets a client's approval policy as an admin would.
    pub async fn set_approval_policy(
        &self,
        client_id: &str,
        approval: gatehouse_core::approval_policy::ApprovalPolicy,
    ) {
        let admin = gatehouse_core::Admin::command_line();
        let clients = &self.services.clients;
        let client = clients.get(&admin, client_id).await.expect("get").expect("the client");
        let edit = gatehouse_core::ports::ClientEdit {
            name: client.name,
            allowed_scopes: client.allowed_scopes,
            device_grant_enabled: client.device_grant_enabled,
            policy: client.policy,
            approval,
        };
        clients.update(&admin, client_id, edit).await.expect("update");
    }

    /// `GET /v1/me` with a bearer token.
    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.device.get(self.url("/v1/me")).bearer_auth(token).send().await.expect("request")
    }

    /// RFC 7662 introspection of `token`, as the confidential client `rs`
    /// with `secret`; the answer's body.
    pub async fn introspect(&self, secret: &str, token: &str) -> Value {
        let request = self.device.post(self.url("/v1/oauth/introspect")).basic_auth("rs", Some(secret));
        request.form(&[("token", token)]).send().await.expect("introspect").json().await.expect("json")
    }

    /// Registers a client; returns the secret of a confidential one.
    pub async fn register_client(
        &self,
        client_id: &str,
        client_type: ClientType,
        scopes: &[&str],
        device_grant: bool,
    ) -> Option<String> {
        let registration = ClientRegistration {
            client_id: client_id.to_owned(),
            name: format!("{client_id} app"),
            client_type,
            allowed_scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            device_grant,
            policy: gatehouse_core::model::TokenPolicy::default(),
            approval: Default::default(),
        };
        let (_, secret) = self
            .services
            .clients
            .register(&gatehouse_core::Admin::command_line(), registration)
            .await
            .expect("register");
        secret.map(|s| s.expose().to_owned())
    }

    /// Sets a client's token settings as an admin would.
    pub async fn set_client_policy(&self, client_id: &str, policy: gatehouse_core::model::TokenPolicy) {
        let admin = gatehouse_core::Admin::command_line();
        let client = self.services.clients.get(&admin, client_id).await.expect("get").expect("client");
        let edit = gatehouse_core::ports::ClientEdit {
            name: client.name,
            allowed_scopes: client.allowed_scopes,
            device_grant_enabled: client.device_grant_enabled,
            policy,
            approval: client.approval,
        };
        self.services.clients.update(&admin, client_id, edit).await.expect("update");
    }

    /// Signs up (once) the test account `ada@example.com`.
    pub async fn ada(&self) -> Account {
        match self.services.ports().accounts.find_by_email("ada@example.com").await.expect("find") {
            Some((account, _)) => account,
            None => self.create_account("ada@example.com").await,
        }
    }

    /// Runs a whole flow for the CLI client as Ada and returns the token response.
    pub async fn redeemed(&self, extra: &[(&str, &str)]) -> Value {
        let account = self.ada().await;
        let flow = self.start_flow(extra).await;
        self.approve(flow["user_code"].as_str().expect("code"), &account).await;
        let (status, token) = self.poll(flow["device_code"].as_str().expect("code")).await;
        assert_eq!(status, 200, "{token}");
        token
    }

    /// A redeemed CLI token for `label`.
    pub async fn token_for(&self, label: &str) -> String {
        self.redeemed(&[("device_label", label)]).await["access_token"].as_str().expect("token").to_owned()
    }

    /// POSTs `body` as it is, with `content_type` if given.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self.device.post(self.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.expect("request")
    }

    /// POSTs a form.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.device.post(self.url(path)).form(form).send().await.expect("request")
    }

    /// Marks an account disabled straight in the database, as an admin would.
    pub async fn disable_account_in_database(&self, account: &Account) {
        use sqlx::Connection;
        if self.database_url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.database_url).await.expect("connect");
            sqlx::query("UPDATE accounts SET disabled_at = 1 WHERE id = ?1")
                .bind(account.id.to_string())
                .execute(&mut conn)
                .await
                .expect("disable");
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.database_url).await.expect("connect");
            sqlx::query("UPDATE accounts SET disabled_at = now() WHERE id = $1")
                .bind(account.id)
                .execute(&mut conn)
                .await
                .expect("disable");
        }
    }
}

/// A free port for a server a test stops and starts again on the same
/// port. Taken below the kernel's ephemeral range (32768 and up by
/// default), so that while the server is down neither another test's
/// `bind(0)` nor an outgoing connection can be handed it: a full parallel
/// run once gave a restarted server's port to another test's server, whose
/// `/healthz` answered in its place.
pub fn restartable_port() -> u16 {
    loop {
        let port = 20_000 + (uuid::Uuid::new_v4().as_u128() % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
