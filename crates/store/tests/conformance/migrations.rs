//! Both backends must have the same migration versions, so a deployment can
//! move between them and neither falls behind.

use std::collections::BTreeSet;
use std::path::Path;

fn versions(backend: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(backend);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .map(|name| name.split('_').next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_versions() {
    let sqlite = versions("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, versions("postgres"));
}

/// The migrations of `backend` before `version`, copied to a directory of
/// their own (what a deployment upgrading to `version` had applied).
fn migrations_before(backend: &str, version: &str) -> tempfile::TempDir {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(backend);
    let older = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(&dir).expect("migrations").filter_map(|entry| entry.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".sql") && name.as_str() < version {
            std::fs::copy(entry.path(), older.path().join(&name)).expect("copy");
        }
    }
    older
}

/// Grants as an earlier version stored them, keyed by email: a local
/// account's, and an SSO person's (no `sub` was kept). `at` is an instant
/// in the dialect's own form.
fn grants_before_subject_ids(at: &str) -> Vec<String> {
    vec![
        format!(
            "INSERT INTO accounts (id, email, name, password_hash, created_at) \
             VALUES ('6f1c2a34-0000-4000-8000-000000000001', 'ada@example.com', 'Ada', 'x', {at})"
        ),
        format!(
            "INSERT INTO oauth_clients (client_id, name, client_type, allowed_scopes, created_at) \
             VALUES ('cli', 'CLI', 'public', 'full', {at})"
        ),
        format!(
            "INSERT INTO oauth_access_tokens (id, subject_email, subject_issuer, account_id, client_id, prefix, \
             scopes, created_at, expires_at) VALUES ('6f1c2a34-0000-4000-8000-0000000000a1', 'ada@example.com', \
             'local', '6f1c2a34-0000-4000-8000-000000000001', 'cli', 'gtha_', 'full', {at}, {at})"
        ),
        format!(
            "INSERT INTO oauth_access_tokens (id, subject_email, subject_issuer, client_id, prefix, scopes, \
             created_at, expires_at) VALUES ('6f1c2a34-0000-4000-8000-0000000000b1', 'kim@example.com', \
             'https://idp.example', 'cli', 'gthe_', 'apps:run', {at}, {at})"
        ),
    ]
}

const SUBJECT_IDS: &str = "20261208000001";
const SUBJECT_IDS_AFTER: &str = "SELECT subject_email, subject_id FROM oauth_access_tokens ORDER BY subject_email";

/// The two grants above after the migration: the account's keyed by its
/// id, the SSO person's left for their next sign-in to claim.
fn carried_over() -> Vec<(String, Option<String>)> {
    vec![
        ("ada@example.com".to_owned(), Some("6f1c2a34-0000-4000-8000-000000000001".to_owned())),
        ("kim@example.com".to_owned(), None),
    ]
}

#[tokio::test]
async fn subject_ids_carry_existing_sqlite_grants_over() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options =
        sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("upgrade.db")).create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.expect("sqlite");
    let older = migrations_before("sqlite", SUBJECT_IDS);
    sqlx::migrate::Migrator::new(older.path()).await.expect("older").run(&pool).await.expect("migrate older");
    for statement in grants_before_subject_ids("1800000000") {
        sqlx::query(&statement).execute(&pool).await.expect(&statement);
    }
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/sqlite");
    sqlx::migrate::Migrator::new(all).await.expect("all").run(&pool).await.expect("migrate");
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(SUBJECT_IDS_AFTER).fetch_all(&pool).await.expect("rows");
    assert_eq!(rows, carried_over());
}

#[tokio::test]
async fn subject_ids_carry_existing_postgres_grants_over() {
    let test = "subject_ids_carry_existing_postgres_grants_over";
    let Some(base) = crate::common::service::backend_url("GATEHOUSE_TEST_DATABASE_URL", "postgres", test) else {
        return;
    };
    let database = gatehouse_store::testing::TestDatabase::create_empty(&base).await;
    let pool = sqlx::PgPool::connect(database.url()).await.expect("postgres");
    let older = migrations_before("postgres", SUBJECT_IDS);
    sqlx::migrate::Migrator::new(older.path()).await.expect("older").run(&pool).await.expect("migrate older");
    for statement in grants_before_subject_ids("to_timestamp(1800000000)") {
        sqlx::query(&statement).execute(&pool).await.expect(&statement);
    }
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/postgres");
    sqlx::migrate::Migrator::new(all).await.expect("all").run(&pool).await.expect("migrate");
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(SUBJECT_IDS_AFTER).fetch_all(&pool).await.expect("rows");
    assert_eq!(rows, carried_over());
    pool.close().await;
}
