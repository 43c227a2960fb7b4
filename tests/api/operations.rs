//! What an operator does around the server: migrations as a separate step,
//! online backups of the embedded database and their restore, one secret
//! across instances (and its rotation), and flows at rest in a version a
//! rolling upgrade can rely on.

use crate::helpers::{Backend, TestApp, gatehouse_command, postgres_redis_available, spawn_app, spawn_app_with};
use crate::on_every_backend;
use gatehouse::config::Config;
use gatehouse::startup::Application;
use gatehouse_core::SecretString;
use gatehouse_store::testing::TestDatabase;
use serde_json::Value;
use sqlx::Connection;

on_every_backend!(migrations_can_be_a_separate_step);

/// A server configuration on `database_url`, as the helpers would make it.
fn config_on(database_url: &str, data_dir: &std::path::Path, secret: Option<&str>) -> Config {
    let mut config = Config::defaults().expect("configuration");
    config.bind = "127.0.0.1:0".parse().expect("address");
    config.data_dir = data_dir.to_path_buf();
    config.database_url = database_url.to_owned();
    config.secret_key = secret.map(SecretString::new);
    config.site_root = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("public"));
    config
}

/// `gatehouse migrate [--check]` on `database_url`: exit code and stdout.
fn migrate(database_url: &str, check: bool) -> (i32, String) {
    let mut command = gatehouse_command();
    command.arg("migrate").env("GATEHOUSE_DATABASE_URL", database_url);
    if check {
        command.arg("--check");
    }
    let out = command.output().expect("run gatehouse migrate");
    (out.status.code().expect("exit code"), String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn migrations_can_be_a_separate_step(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (_database, url) = match backend {
        Backend::Embedded => (None, format!("sqlite://{}/gatehouse.db", dir.path().display())),
        Backend::PostgresRedis | Backend::Postgres => {
            let base = std::env::var("GATEHOUSE_TEST_DATABASE_URL").expect("GATEHOUSE_TEST_DATABASE_URL");
            let empty = TestDatabase::create_empty(&base).await;
            let url = empty.url().to_owned();
            (Some(empty), url)
        }
    };
    let secret = "a-secret-for-the-migration-test-0123456789";
    // A new database: everything is pending, and a server that may not
    // migrate refuses to start, naming the setting and the command.
    let (code, out) = migrate(&url, true);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("migration(s) pending") && out.contains("initial"), "{out}");
    let mut config = config_on(&url, dir.path(), Some(secret));
    config.auto_migrate = false;
    let err = Application::build(config, Default::default()).await.err().map(|e| e.to_string()).expect("refused");
    assert!(err.starts_with("GATEHOUSE_AUTO_MIGRATE: the database lacks"), "{err}");
    assert!(err.contains("gatehouse migrate") && !err.contains('\n'), "{err}");
    // The check changed nothing: still pending.
    assert_eq!(migrate(&url, true).0, 1);

    let (code, out) = migrate(&url, false);
    assert_eq!((code, out.trim()), (0, "migrations applied"));
    let (code, out) = migrate(&url, true);
    assert_eq!((code, out.trim()), (0, "no migrations pending"));
    let mut config = config_on(&url, dir.path(), Some(secret));
    config.auto_migrate = false;
    let app = Application::build(config, Default::default()).await.expect("starts on a migrated database");
    drop(app);
}

/// Issues tokens and creates accounts until told to stop: the writes a
/// backup runs beside. Returns the tokens it was answered.
async fn keep_writing(app: &TestApp, stop: &std::sync::atomic::AtomicBool) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 3 {
        tokens.push(app.token_for(&format!("device-{n}")).await);
        app.create_account(&format!("person-{n}@example.com")).await;
        n += 1;
    }
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_restores_accounts_clients_and_tokens() {
    let app = spawn_app(Backend::Embedded).await;
    let before = app.token_for("laptop").await;
    app.register_client("build-bot", gatehouse_core::model::ClientType::Public, &["full"], true).await;

    // The backup command runs with the server's data directory, whose
    // generated secret it copies beside the database.
    let data_dir = tempfile::tempdir().expect("dir");
    let secret = "the-generated-secret-of-this-installation-0123";
    std::fs::write(data_dir.path().join("secret_key"), secret).expect("secret");
    let backups = tempfile::tempdir().expect("dir");
    let file = backups.path().join("gatehouse-backup.db");

    let stop = std::sync::atomic::AtomicBool::new(false);
    let backup = async {
        // Let the writers get going first.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut command = gatehouse_command();
        command
            .args(["backup", file.to_str().expect("utf-8")])
            .env("GATEHOUSE_DATABASE_URL", &app.database_url)
            .env("GATEHOUSE_DATA_DIR", data_dir.path());
        let out = tokio::task::spawn_blocking(move || command.output()).await.expect("join").expect("backup");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        out
    };
    let (during, out) = tokio::join!(keep_writing(&app, &stop), backup);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("database copied to") && stdout.contains("secret copied to"), "{stdout}");
    let copied_secret = backups.path().join("gatehouse-backup.db.secret_key");
    assert_eq!(std::fs::read_to_string(&copied_secret).expect("secret copy"), secret);
    use std::os::unix::fs::PermissionsExt;
    for private in [&file, &copied_secret] {
        assert_eq!(std::fs::metadata(private).expect("file").permissions().mode() & 0o777, 0o600, "{private:?}");
    }
    // Never over an existing file.
    let mut again = gatehouse_command();
    again.args(["backup", file.to_str().expect("utf-8")]).env("GATEHOUSE_DATABASE_URL", &app.database_url);
    assert!(!again.output().expect("backup").status.success());

    // Restore: the copy and its secret into a fresh data directory.
    let restored = tempfile::tempdir().expect("dir");
    std::fs::copy(&file, restored.path().join("gatehouse.db")).expect("restore the database");
    std::fs::copy(&copied_secret, restored.path().join("secret_key")).expect("restore the secret");
    let restored_path = restored.path().to_path_buf();
    let copy = spawn_app_with(Backend::Embedded, |c| {
        c.data_dir = restored_path.clone();
        c.database_url = format!("sqlite://{}/gatehouse.db", restored_path.display());
        c.secret_key = None;
    })
    .await;
    let me: Value = copy.me(&before).await.json().await.expect("json");
    assert!(me.to_string().contains("ada@example.com"), "{me}");
    let clients = copy.services.ports().clients.list().await.expect("clients");
    assert!(clients.iter().any(|c| c.client_id == "build-bot"));
    // The copy is one committed state: the tokens issued one after another
    // during the backup are kept up to some point and none after it (a torn
    // copy could keep a later one and lose an earlier one).
    let mut answers = Vec::new();
    for token in &during {
        let status = copy.me(token).await.status().as_u16();
        assert!(status == 200 || status == 401, "a restored token answered {status}");
        answers.push(status == 200);
    }
    let kept = answers.iter().take_while(|kept| **kept).count();
    assert!(answers[kept..].iter().all(|kept| !kept), "kept tokens are not a prefix: {answers:?}");
    assert!(copy.services.ports().accounts.count().await.expect("count") >= 1);
    let mut sqlite =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.expect("open the copy");
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut sqlite).await.expect("check");
    assert_eq!(integrity, "ok");
}

#[tokio::test]
async fn a_backup_of_postgresql_points_to_pg_dump() {
    if !postgres_redis_available("operations::a_backup_of_postgresql_points_to_pg_dump") {
        return;
    }
    let app = spawn_app(Backend::PostgresRedis).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut command = gatehouse_command();
    command
        .args(["backup", dir.path().join("x.db").to_str().expect("utf-8")])
        .env("GATEHOUSE_DATABASE_URL", &app.database_url);
    let out = command.output().expect("backup");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    assert!(!dir.path().join("x.db").exists());
}

#[tokio::test]
async fn instances_sharing_postgresql_must_share_the_secret_and_may_rotate_it() {
    if !postgres_redis_available("operations::instances_sharing_postgresql_must_share_the_secret_and_may_rotate_it") {
        return;
    }
    let first = spawn_app(Backend::PostgresRedis).await; // records the helpers' secret
    let old = "test-secret-that-is-long-enough-0123456789";
    let new = "the-rotated-secret-that-is-long-enough-9876";
    let dir = tempfile::tempdir().expect("dir");
    let build = async |current: &str, previous: &[&str]| {
        let mut config = config_on(&first.database_url, dir.path(), Some(current));
        config.redis_url = std::env::var("GATEHOUSE_TEST_REDIS_URL").ok();
        config.previous_secret_keys = previous.iter().map(|s| SecretString::new(*s)).collect();
        Application::build(config, Default::default()).await.err().map(|e| e.to_string())
    };
    // Another secret: refused, in one line, naming the setting.
    let err = build(new, &[]).await.expect("refused");
    assert!(err.starts_with("GATEHOUSE_SECRET_KEY: differs from the secret the other instances use"), "{err}");
    assert!(!err.contains(old) && !err.contains(new) && !err.contains('\n'), "{err}");
    // The same secret starts.
    assert_eq!(build(old, &[]).await, None);
    // A rotation: the new secret with the old one listed starts, and is now
    // the installation's.
    assert_eq!(build(new, &[old]).await, None);
    assert_eq!(build(new, &[]).await, None);
    let err = build(old, &[]).await.expect("the old secret alone is refused after the rotation");
    assert!(err.starts_with("GATEHOUSE_SECRET_KEY: differs"), "{err}");
}

/// A PostgreSQL + Redis app with a key prefix of its own, one flow it
/// started, and a connection to its Redis to look at the flow's key.
struct RedisFlow {
    app: TestApp,
    flow: Value,
    prefix: String,
    hash: String,
    key: String,
    redis: redis::aio::MultiplexedConnection,
}

async fn redis_flow() -> RedisFlow {
    let prefix = format!("gatehouse-test:{}:", uuid::Uuid::new_v4().simple());
    let key_prefix = prefix.clone();
    let app = spawn_app_with(Backend::PostgresRedis, |c| c.redis_key_prefix = key_prefix).await;
    let flow = app.start_flow(&[]).await;
    let hash = gatehouse_core::secret::sha256_hex(flow["device_code"].as_str().expect("device code"));
    let key = format!("{prefix}flow:{hash}");
    let client = redis::Client::open(std::env::var("GATEHOUSE_TEST_REDIS_URL").expect("redis")).expect("client");
    let redis = client.get_multiplexed_async_connection().await.expect("connect");
    RedisFlow { app, flow, prefix, hash, key, redis }
}

#[tokio::test]
async fn a_flow_stored_by_a_newer_release_is_left_alone_and_answered_503() {
    if !postgres_redis_available("operations::a_flow_stored_by_a_newer_release_is_left_alone_and_answered_503") {
        return;
    }
    let RedisFlow { app, flow, prefix: _, hash: _, key, mut redis } = redis_flow().await;
    let device_code = flow["device_code"].as_str().expect("device code");
    let stored: Vec<u8> = redis::cmd("HGET").arg(&key).arg("v").query_async(&mut redis).await.expect("get");
    assert_eq!(stored.first(), Some(&2), "this release writes version 2");
    // As a newer release would write it.
    let mut newer = stored.clone();
    newer[0] = 3;
    let _: () = redis::cmd("HSET").arg(&key).arg("v").arg(&newer).query_async(&mut redis).await.expect("set");
    let (status, body) = app.poll(device_code).await;
    assert_eq!(status, 503, "{body}");
    let after: Vec<u8> = redis::cmd("HGET").arg(&key).arg("v").query_async(&mut redis).await.expect("get");
    assert_eq!(after, newer, "left as the newer release wrote it");
    // Once an instance that knows it answers (here: the value as this
    // release wrote it), the flow goes on.
    let _: () = redis::cmd("HSET").arg(&key).arg("v").arg(&stored).query_async(&mut redis).await.expect("set");
    // (The refused poll still counted as a poll: the client waits its
    // interval before the next, as after any answer.)
    app.advance(5);
    let (status, body) = app.poll(device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");
}

/// Rewrites a flow as releases before the one-hash layout stored it: the
/// value as a plain string, the poll clock and the `slow_down` count in keys
/// of their own, all with the flow's TTL.
async fn store_in_legacy_layout(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    hash: &str,
    clock: &str,
    slow_downs: Option<u32>,
) -> i64 {
    let key = format!("{prefix}flow:{hash}");
    let value: Vec<u8> = redis::cmd("HGET").arg(&key).arg("v").query_async(redis).await.expect("value");
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(redis).await.expect("ttl");
    let mut legacy = redis::pipe();
    legacy.atomic().del(&key).cmd("SET").arg(&key).arg(&value).arg("PX").arg(ttl);
    legacy.cmd("SET").arg(format!("{prefix}polled:{hash}:{}", crate::helpers::CLI)).arg(clock).arg("PX").arg(ttl);
    if let Some(count) = slow_downs {
        legacy.cmd("SET").arg(format!("{prefix}slow:{hash}")).arg(count).arg("PX").arg(ttl);
    }
    let _: () = legacy.query_async(redis).await.expect("rewrite");
    ttl
}

#[tokio::test]
async fn a_flow_stored_in_the_previous_layout_is_converted_and_keeps_its_clock_and_slow_downs() {
    if !postgres_redis_available(
        "operations::a_flow_stored_in_the_previous_layout_is_converted_and_keeps_its_clock_and_slow_downs",
    ) {
        return;
    }
    let RedisFlow { app, flow, prefix, hash, key, mut redis } = redis_flow().await;
    let device_code = flow["device_code"].as_str().expect("device code");
    let interval = flow["interval"].as_u64().expect("interval");
    let (status, body) = app.poll(device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");
    let clock_field = format!("p:{}", crate::helpers::CLI);
    let clock: String = redis::cmd("HGET").arg(&key).arg(&clock_field).query_async(&mut redis).await.expect("clock");
    assert!(!clock.is_empty(), "the poll moved the clock");

    // Polled just now, with one slow_down answered before: a poll at once is
    // too fast, and its slow_down adds to the one carried over.
    let ttl = store_in_legacy_layout(&mut redis, &prefix, &hash, &clock, Some(1)).await;
    let (status, body) = app.poll(device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")), "{body}");
    assert_eq!(body["interval"].as_u64(), Some(interval + 10), "{body}");
    let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut redis).await.expect("type");
    assert_eq!(kind, "hash", "converted in place");
    let leftovers: i64 = redis::cmd("EXISTS")
        .arg(format!("{prefix}polled:{hash}:{}", crate::helpers::CLI))
        .arg(format!("{prefix}slow:{hash}"))
        .query_async(&mut redis)
        .await
        .expect("exists");
    assert_eq!(leftovers, 0, "the earlier layout's keys are gone");
    let kept: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut redis).await.expect("ttl");
    assert!(kept > 0 && kept <= ttl, "the flow keeps its TTL: {kept} of {ttl}");

    // Met first by an approval through its user code (never polled yet in
    // the earlier layout): converted, approved, and redeemed by the next poll.
    store_in_legacy_layout(&mut redis, &prefix, &hash, "", None).await;
    let account = app.create_account("legacy@example.com").await;
    app.approve(flow["user_code"].as_str().expect("user code"), &account).await;
    app.advance(60);
    let (status, body) = app.poll(device_code).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string(), "{body}");
}
