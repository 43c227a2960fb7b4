//! TLS to the dependencies, against the real servers: a PostgreSQL of the
//! test's own started with `ssl=on`, and a `redis-server` with `--tls-port`,
//! both holding a certificate from a CA the test generates and names in
//! `GATEHOUSE_CA_FILE`. A wrong CA, or `verify-full` against a name the
//! certificate does not carry, stops start-up with one line naming the
//! setting.

use crate::helpers::{Backend, postgres_redis_available, restartable_port, spawn_app_with};
use gatehouse::startup::Application;
use gatehouse_store::tls::ExtraRoots;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use sqlx::Connection;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A certificate authority of the test's own, and a server certificate it
/// issued for `localhost` (and no address).
pub struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "Gatehouse test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
        let server_key = KeyPair::generate().expect("key");
        let server = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .signed_by(&server_key, &ca)
            .expect("server certificate");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write");
        std::fs::write(dir.path().join("server.crt"), server.pem()).expect("write");
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).expect("write");
        std::fs::set_permissions(dir.path().join("server.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn roots(&self) -> ExtraRoots {
        ExtraRoots::load(&self.path("ca.pem")).expect("the CA bundle")
    }

    /// Terminates TLS with the `localhost` certificate on a new port and
    /// forwards each connection to `plain_port` on 127.0.0.1, as a TLS
    /// reverse proxy would. Returns the TLS port.
    pub async fn terminate_tls(&self, plain_port: u16) -> u16 {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(self.path("server.crt"))
            .expect("read")
            .collect::<Result<Vec<_>, _>>()
            .expect("certificates");
        let key = PrivateKeyDer::from_pem_file(self.path("server.key")).expect("key");
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends here.
                    let Ok(mut tls) = acceptor.accept(stream).await else { return };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", plain_port)).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        port
    }
}

/// Runs `program` as the `postgres` user when this process is root
/// (PostgreSQL refuses to run as root), else as itself.
fn as_postgres(program: &Path) -> Command {
    // The owner of /proc/self is this process's user.
    let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// The PostgreSQL server binaries' directory, if PostgreSQL is installed.
fn postgres_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// A PostgreSQL server of the test's own with `ssl=on`, trusting everyone
/// on 127.0.0.1 (what matters here is the channel, not the password).
struct TlsPostgres {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TlsPostgres {
    async fn start(ca: &TestCa) -> Self {
        let bin = postgres_bin().expect("PostgreSQL's server binaries under /usr/lib/postgresql");
        let dir = tempfile::tempdir().expect("dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let data = dir.path().join("data");
        // The key must belong to the server's user and be private.
        let key = dir.path().join("server.key");
        std::fs::copy(ca.path("server.key"), &key).expect("copy key");
        let owner = Command::new("id").args(["-u", "postgres"]).output().expect("id");
        let postgres_uid: u32 = String::from_utf8_lossy(&owner.stdout).trim().parse().unwrap_or(0);
        let _ = std::os::unix::fs::chown(&key, Some(postgres_uid), None);
        let status = as_postgres(&bin.join("initdb"))
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb");
        assert!(status.success(), "initdb failed");
        let port = restartable_port();
        let child = as_postgres(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "ssl=on"])
            .arg("-c")
            .arg(format!("ssl_cert_file={}", ca.path("server.crt").display()))
            .arg("-c")
            .arg(format!("ssl_key_file={}", key.display()))
            .arg("-k")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres");
        let server = Self { child, port, _dir: dir };
        for _ in 0..600 {
            let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require");
            if sqlx::PgConnection::connect(&url).await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the TLS PostgreSQL did not start");
    }

    fn url(&self, host: &str, sslmode: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?sslmode={sslmode}", self.port)
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        // SIGTERM (a smart shutdown) through kill(1): the child runs as
        // another user under runuser, which passes the signal on.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// A `redis-server` of the test's own listening only on a TLS port.
struct TlsRedis {
    child: Child,
    port: u16,
}

impl TlsRedis {
    async fn start(ca: &TestCa) -> Self {
        let port = restartable_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--tls-cert-file")
            .arg(ca.path("server.crt"))
            .arg("--tls-key-file")
            .arg(ca.path("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(ca.path("ca.pem"))
            .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        // Owned (and so stopped on drop) before anything can fail.
        let server = Self { child, port };
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the TLS redis-server did not start");
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every server of these tests shares one database, and so one secret.
const SECRET: &str = "tls-test-secret-that-is-long-enough-012345";

/// Start-up on `database_url` and `redis_url` trusting `roots`: the error
/// line, or `None` when it started.
async fn start_up(database_url: &str, redis_url: Option<&str>, roots: ExtraRoots) -> Option<String> {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = gatehouse::config::Config::defaults().expect("configuration");
    config.bind = "127.0.0.1:0".parse().expect("address");
    config.data_dir = dir.path().to_path_buf();
    config.database_url = database_url.to_owned();
    config.redis_url = redis_url.map(str::to_owned);
    config.redis_key_prefix = format!("gatehouse-test:{}:", uuid::Uuid::new_v4().simple());
    config.secret_key = Some(gatehouse_core::SecretString::new(SECRET));
    config.ca = roots;
    Application::build(config, Default::default()).await.err().map(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_over_tls_is_verified_against_the_configured_ca() {
    if !postgres_redis_available("tls::postgresql_over_tls_is_verified_against_the_configured_ca") {
        return;
    }
    let ca = TestCa::new();
    let other = TestCa::new();
    let server = TlsPostgres::start(&ca).await;

    // verify-full against the name on the certificate, trusting the CA.
    let url = server.url("localhost", "verify-full");
    assert_eq!(start_up(&url, None, ca.roots()).await, None);
    // The channel really is TLS.
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
    let mut conn = sqlx::PgConnection::connect_with(&options.ssl_root_cert(ca.path("ca.pem"))).await.expect("connect");
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_ssl");
    assert!(ssl);
    // A whole app on it: a token issued and used.
    let app = spawn_app_with(Backend::Embedded, |c| {
        c.database_url = url.clone();
        c.ca = ca.roots();
        c.secret_key = Some(gatehouse_core::SecretString::new(SECRET));
    })
    .await;
    let token = app.token_for("laptop").await;
    assert_eq!(app.me(&token).await.status(), 200);

    // The system's roots alone do not know the test CA; another CA is no
    // better; and verify-full refuses a name the certificate does not carry.
    for (url, roots) in [
        (server.url("localhost", "verify-full"), ExtraRoots::none()),
        (server.url("localhost", "verify-ca"), other.roots()),
        (server.url("127.0.0.1", "verify-full"), ca.roots()),
    ] {
        let err = start_up(&url, None, roots).await.expect("start-up refused");
        assert!(err.starts_with("GATEHOUSE_DATABASE_URL: cannot connect to the database"), "{url}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
    // verify-ca checks the chain. (With sqlx 0.8.6 on rustls 0.23 it checks
    // the name as well, stricter than libpq; the README says so.)
    assert_eq!(start_up(&server.url("localhost", "verify-ca"), None, ca.roots()).await, None);
    // require encrypts without verifying, as libpq does.
    assert_eq!(start_up(&server.url("127.0.0.1", "require"), None, ExtraRoots::none()).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_is_verified_against_the_configured_ca() {
    if !postgres_redis_available("tls::redis_over_tls_is_verified_against_the_configured_ca") {
        return;
    }
    let ca = TestCa::new();
    let other = TestCa::new();
    let redis = TlsRedis::start(&ca).await;
    let rediss = format!("rediss://localhost:{}", redis.port);
    let app = spawn_app_with(Backend::PostgresRedis, |c| {
        c.redis_url = Some(rediss.clone());
        c.ca = ca.roots();
    })
    .await;
    let token = app.token_for("laptop").await;
    assert_eq!(app.me(&token).await.status(), 200);

    let sqlite = |dir: &tempfile::TempDir| format!("sqlite://{}/g.db", dir.path().display());
    let dir = tempfile::tempdir().expect("dir");
    for roots in [other.roots(), ExtraRoots::none()] {
        let err = start_up(&sqlite(&dir), Some(&rediss), roots).await.expect("start-up refused");
        assert!(err.starts_with("GATEHOUSE_REDIS_URL: cannot connect to Redis"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
    // A plain connection to the TLS port is no connection at all.
    let plain = format!("redis://localhost:{}", redis.port);
    assert!(start_up(&sqlite(&dir), Some(&plain), ca.roots()).await.is_some());
}

#[test]
fn a_ca_file_that_is_not_a_pem_bundle_stops_start_up() {
    let dir = tempfile::tempdir().expect("dir");
    let junk = dir.path().join("ca.pem");
    std::fs::write(&junk, "not a certificate").expect("write");
    let err = ExtraRoots::load(&junk).expect_err("refused");
    assert!(err.contains("holds no PEM certificate"), "{err}");
    assert!(ExtraRoots::load(&dir.path().join("missing.pem")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sso_provider_behind_a_private_ca_is_reached_through_the_ca_file() {
    use crate::sso_provider::{Spoil, TestProvider};
    let ca = TestCa::new();
    let provider = TestProvider::start_behind_tls(&ca).await;
    assert!(provider.issuer.starts_with("https://localhost:"));
    let app_trusting = async |roots: ExtraRoots| {
        let sso = provider.config(&[]);
        spawn_app_with(Backend::Embedded, move |c| {
            c.sso = Some(sso);
            c.ca = roots;
        })
        .await
    };
    let initiate = async |app: &crate::helpers::TestApp| {
        let flow = app.start_flow(&[]).await;
        let user_code = flow["user_code"].as_str().expect("code").to_owned();
        app.browser
            .get(app.url(&format!("/v1/oauth/device/sso-initiate?user_code={user_code}")))
            .send()
            .await
            .expect("initiate")
    };

    // Trusting the CA: discovery, then the code exchange and the key set at
    // the callback, all over TLS.
    let app = app_trusting(ca.roots()).await;
    let started = initiate(&app).await;
    assert_eq!(started.status(), 302);
    let authorize_url = started.headers()["location"].to_str().expect("location").to_owned();
    assert!(authorize_url.starts_with(&provider.issuer), "{authorize_url}");
    let state = url::Url::parse(&authorize_url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let code = provider.sign_in(&authorize_url, Spoil::default(), app.clock_now());
    let completed = app
        .browser
        .get(app.url("/v1/device/sso-complete"))
        .query(&[("state", state.as_str()), ("code", code.as_str())])
        .send()
        .await
        .expect("complete");
    assert_eq!(completed.status(), 302, "{:?}", completed.text().await);

    // The system's roots alone do not reach it.
    let app = app_trusting(ExtraRoots::none()).await;
    assert_eq!(initiate(&app).await.status(), 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatehouse_login_reaches_a_server_behind_a_private_ca_with_ca_file() {
    let ca = TestCa::new();
    let app = crate::helpers::spawn_app(Backend::Embedded).await;
    let ada = app.ada().await;
    let port = url::Url::parse(&app.address).expect("url").port().expect("port");
    let server = format!("https://localhost:{}", ca.terminate_tls(port).await);
    let dir = tempfile::tempdir().expect("dir");
    let credentials = dir.path().join("credentials.json");
    let gatehouse = |args: &[&str]| {
        let mut command = crate::helpers::gatehouse_command();
        command.args(args).args(["--server", &server]).env("GATEHOUSE_CREDENTIALS_FILE", &credentials);
        command
    };
    let ca_file = ca.path("ca.pem");
    let ca_file = ca_file.to_str().expect("utf-8");

    // Without the CA the server's certificate is refused, and nothing is saved.
    let out = gatehouse(&["login", "--no-qr"]).output().expect("login");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach") && stderr.contains("certificate"), "{stderr}");

    // Bearer tokens: the server's public URL is its own plain address, not
    // the forwarder's that the CLI sees, so a DPoP proof's htu could not
    // match (command_line.rs covers DPoP).
    let mut login = gatehouse(&["login", "--no-qr", "--no-dpop", "--device-label", "tls-laptop", "--ca-file", ca_file])
        .stdout(Stdio::piped())
        .spawn()
        .expect("login");
    let printed = crate::command_line::read_until_waiting(login.stdout.take().expect("stdout")).await;
    let code = printed.iter().map(|l| l.trim()).find(|l| l.len() == 9 && l.as_bytes()[4] == b'-').expect("code");
    app.approve(code, &ada).await;
    let status = tokio::task::spawn_blocking(move || login.wait()).await.expect("join").expect("wait");
    assert!(status.success());
    // The variable does what the flag does.
    let out = gatehouse(&["status"]).env("GATEHOUSE_CA_FILE", ca_file).output().expect("status");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ada@example.com"));
}
