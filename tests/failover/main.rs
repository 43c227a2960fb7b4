//! The failover drill (docs/operations.md, "PostgreSQL alone"), run by
//! `scripts/failover-test.sh`, which starts a PostgreSQL primary and a
//! synchronous streaming replica on this machine and names them here
//! (`GATEHOUSE_FAILOVER_*`).
//!
//! Two Gatehouse instances on PostgreSQL alone reach the database through a
//! small TCP forwarder, the one address a managed endpoint or a virtual IP
//! would be. Workers keep them busy (flows started on one instance and
//! approved and redeemed on the other, tokens used and revoked) while the
//! primary is stopped and the replica promoted mid-run. What must always
//! hold is asserted: every answer is right or a 503; every confirmed
//! approval yields exactly one token; a revoked token is refused at once by
//! the instance that revoked it, and by the other once the notification
//! reaches it (waited for, never a fixed time). The times are measured,
//! never asserted, and written to `target/failover-report.md`.

// A failed expectation is how a test reports; the drill measures real time.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::disallowed_methods)]

mod forwarder;
mod load;

use gatehouse::config::Config;
use gatehouse::startup::{Application, Overrides};
use gatehouse_core::SecretString;
use gatehouse_core::rate_limit::{Limiter, Quota};
use gatehouse_core::services::Services;
use gatehouse_core::services::accounts::AccountRegistration;
use std::time::Instant;

/// One Gatehouse instance of the drill.
pub struct Instance {
    pub address: String,
    pub services: Services,
    _data_dir: tempfile::TempDir,
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

async fn start_instance(database_url: &str) -> Instance {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::defaults().expect("configuration");
    config.bind = "127.0.0.1:0".parse().expect("address");
    config.public_url = None;
    config.data_dir = data_dir.path().to_path_buf();
    config.secret_key = Some(SecretString::new("the-failover-drill-secret-0123456789abcdef"));
    config.site_root = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("public"));
    config.database_url = database_url.to_owned();
    config.redis_url = None;
    // A second between polls, so the drill polls often in real time.
    config.settings.poll_interval = 1;
    // Every worker comes from one address and one client: the limits are
    // counted (in the database) but never reached.
    for limiter in [
        Limiter::DeviceAuthorizationPerIp,
        Limiter::DeviceAuthorizationPerClient,
        Limiter::ApprovalsPerAccount,
        Limiter::BearerPerToken,
    ] {
        config.settings.rate_limits.set(limiter, Quota::parse("1000000/1h").expect("quota"));
    }
    gatehouse::logging::init(config.log_format);
    let app = Application::build(config, Overrides::default()).await.expect("build an instance");
    let address = format!("http://127.0.0.1:{}", app.port());
    let services = app.services().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    Instance { address, services, _data_dir: data_dir }
}

/// The drill's settings, from `scripts/failover-test.sh`.
struct Drill {
    primary_port: u16,
    replica_port: u16,
    /// Stops the primary and promotes the replica.
    fail_over: String,
}

fn drill() -> Option<Drill> {
    let var = |name: &str| std::env::var(name).ok();
    let (Some(primary), Some(replica), Some(fail_over)) = (
        var("GATEHOUSE_FAILOVER_PRIMARY_PORT"),
        var("GATEHOUSE_FAILOVER_REPLICA_PORT"),
        var("GATEHOUSE_FAILOVER_COMMAND"),
    ) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the failover drill runs from scripts/failover-test.sh, which sets GATEHOUSE_FAILOVER_*"
        );
        gatehouse_store::testing::report_skipped("failover::a_primary_failover", "run scripts/failover-test.sh");
        return None;
    };
    Some(Drill {
        primary_port: primary.parse().expect("port"),
        replica_port: replica.parse().expect("port"),
        fail_over,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_failover() {
    let Some(drill) = drill() else { return };
    let forwarder = forwarder::Forwarder::start(drill.primary_port).await;
    let database_url = format!("postgres://postgres@127.0.0.1:{}/gatehouse", forwarder.port());
    let first = start_instance(&database_url).await;
    let second = start_instance(&database_url).await;
    let account = first
        .services
        .accounts
        .create(
            &gatehouse_core::Admin::command_line(),
            AccountRegistration {
                email: "ada@example.com".to_owned(),
                name: "Ada Lovelace".to_owned(),
                password: SecretString::new("a-long-enough-password"),
                is_admin: false,
                workspace_name: Some("Research".to_owned()),
            },
        )
        .await
        .expect("account");
    let instances = std::sync::Arc::new([first, second]);
    let load = load::Load::start(instances.clone(), account);

    // Some load before the failover, then the failover, then load after it.
    load.wait_for_rounds(20).await;
    let failed_at = Instant::now();
    let output = std::process::Command::new("bash").arg("-c").arg(&drill.fail_over).output().expect("fail over");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    forwarder.switch_to(drill.replica_port);
    let promoted_after = failed_at.elapsed();
    let rounds_before = load.rounds();
    load.wait_for_rounds(rounds_before + 40).await;
    let report = load.stop().await;

    report.check();
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_access_tokens")
        .fetch_one(&sqlx::PgPool::connect(&database_url).await.expect("connect"))
        .await
        .expect("count tokens");
    assert_eq!(tokens, report.confirmed as i64, "one token per confirmed approval, and no other");
    report.write(failed_at, promoted_after);
}
