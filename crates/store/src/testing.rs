//! Test support shared by the store's conformance tests and the server's API
//! tests (feature `testing`): a PostgreSQL database of a test's own.
//!
//! Migrating a database takes most of a test's set-up, so, as crates.io's
//! test suite does, the migrations run once into a template database, and
//! every test clones it (`CREATE DATABASE … TEMPLATE …`, a file copy) and
//! drops its clone when done. The template's name carries a digest of the
//! migrations, so a changed migration gets a template of its own; test
//! processes (nextest runs one per test) agree on who builds it through an
//! advisory lock.

#![allow(clippy::expect_used)]

use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

/// Reports a test skipped for want of a backend: on stderr, and as a line
/// in the file `GATEHOUSE_SKIPPED_LOG` names, if any (`scripts/test.sh`
/// counts them there, since nextest shows no output of a passing test).
pub fn report_skipped(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
    if let Some(path) = std::env::var_os("GATEHOUSE_SKIPPED_LOG") {
        use std::io::Write as _;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "{test}");
        }
    }
}

/// The advisory lock key under which one process builds the template.
const TEMPLATE_LOCK: i64 = 0x6761_7465_7465_6d70;

/// A database of one test's own, dropped (with any connection still open
/// to it) when this value is.
pub struct TestDatabase {
    base: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// A fresh, migrated database beside `base` (a PostgreSQL URL whose user
    /// may create databases).
    pub async fn create(base: &str) -> Self {
        let template = template(base).await;
        let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(base).await.expect("connect to the test PostgreSQL");
        conn.execute(format!("CREATE DATABASE {name} TEMPLATE {template}").as_str()).await.expect("clone the template");
        Self { base: base.to_owned(), url: url_of(base, &name), name }
    }

    /// A fresh database with no tables at all (what an installation's
    /// first start, or `gatehouse migrate`, finds).
    pub async fn create_empty(base: &str) -> Self {
        let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(base).await.expect("connect to the test PostgreSQL");
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create a database");
        Self { base: base.to_owned(), url: url_of(base, &name), name }
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside any async context the test may still be in, so
        // the statement gets a thread and a small runtime of its own.
        let (base, name) = (self.base.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&base).await.ok()?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// The migrated template's name, building it first if no process has.
async fn template(base: &str) -> String {
    static READY: OnceCell<String> = OnceCell::const_new();
    READY.get_or_init(|| build_template(base)).await.clone()
}

async fn build_template(base: &str) -> String {
    let migrator = sqlx::migrate!("../../migrations/postgres");
    let digest = {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for migration in migrator.iter() {
            hash.update(migration.version.to_be_bytes());
            hash.update(&migration.checksum);
        }
        hex::encode(hash.finalize())
    };
    let name = format!("gatehouse_template_{}", &digest[..16]);
    let mut conn = PgConnection::connect(base).await.expect("connect to the test PostgreSQL");
    sqlx::query("SELECT pg_advisory_lock($1)").bind(TEMPLATE_LOCK).execute(&mut conn).await.expect("lock");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .expect("look for the template");
    if !exists {
        // Built under another name and renamed when complete, so a template
        // left half-built by a killed process is never cloned.
        let building = format!("{name}_building");
        conn.execute(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)").as_str()).await.expect("drop");
        conn.execute(format!("CREATE DATABASE {building}").as_str()).await.expect("create the template");
        let mut template = PgConnection::connect(&url_of(base, &building)).await.expect("connect to the template");
        migrator.run(&mut template).await.expect("migrate the template");
        template.close().await.expect("close the template");
        conn.execute(format!("ALTER DATABASE {building} RENAME TO {name}").as_str()).await.expect("rename");
    }
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(TEMPLATE_LOCK).execute(&mut conn).await.expect("unlock");
    name
}

/// `base` with its database replaced by `name`.
fn url_of(base: &str, name: &str) -> String {
    let mut url = url::Url::parse(base).expect("a PostgreSQL URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}
