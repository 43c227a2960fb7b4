//! Retention (SPEC §5): tokens revoked or expired past their
//! retention, expired browser sessions and old audit events are deleted;
//! on PostgreSQL one instance prunes at a time.

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app};
use crate::on_every_backend;
use gatehouse_core::Principal;

async fn count(app: &TestApp, table: &str) -> i64 {
    use sqlx::Connection;
    let sql = format!("SELECT COUNT(*) FROM {table}");
    if app.database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.expect("connect");
        sqlx::query_scalar(&sql).fetch_one(&mut conn).await.expect("count")
    } else {
        let mut conn = sqlx::PgConnection::connect(&app.database_url).await.expect("connect");
        sqlx::query_scalar(&sql).fetch_one(&mut conn).await.expect("count")
    }
}

async fn retention_deletes_only_what_is_past_its_retention(backend: Backend) {
    let app = spawn_app(backend).await;
    let kept = app.token_for("kept").await;
    let revoked = app.token_for("revoked").await;
    app.device.delete(app.url("/v1/oauth/authorizations/self")).bearer_auth(&revoked).send().await.expect("rq");
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
    assert_eq!(count(&app, "oauth_access_tokens").await, 2);
    assert!(count(&app, "sessions").await >= 1);
    let events = count(&app, "audit_events").await;

    // Nothing is old enough yet.
    assert_eq!(app.services.retention.prune().await.expect("prune").tokens, 0);

    // 31 days on: the revoked token is past 30 days of retention; the other
    // expired a day ago (30-day lifetime) and is kept for now. Sessions last
    // 12 hours without use.
    app.advance(31 * 86_400);
    let report = app.services.retention.prune().await.expect("prune");
    assert_eq!((report.tokens, report.audit_events, report.skipped), (1, 0, false));
    assert!(report.sessions >= 1);
    assert_eq!(count(&app, "sessions").await, 0);
    assert_eq!(count(&app, "oauth_access_tokens").await, 1);
    assert_eq!(count(&app, "audit_events").await, events);
    assert_eq!(app.me(&kept).await.status(), 401, "expired, and kept only for the record");

    // A year on: everything is past retention.
    app.advance(366 * 86_400);
    let report = app.services.retention.prune().await.expect("prune");
    assert_eq!(report.tokens, 1);
    assert!(report.audit_events >= u64::try_from(events).expect("count"));
    let ada = Principal::Account(app.ada().await);
    assert!(app.services.authorizations.list_own(&ada).await.expect("list").is_empty());
}

/// PostgreSQL only: while another instance holds the retention lock, this one
/// deletes nothing and says so.
async fn one_instance_prunes_at_a_time(backend: Backend) {
    if backend == Backend::Embedded {
        return; // One process: nothing to take turns with.
    }
    use sqlx::Connection;
    let app = spawn_app(backend).await;
    let revoked = app.token_for("revoked").await;
    app.device.delete(app.url("/v1/oauth/authorizations/self")).bearer_auth(&revoked).send().await.expect("rq");
    app.advance(31 * 86_400);
    let mut other = sqlx::PgConnection::connect(&app.database_url).await.expect("connect");
    let key: i64 = 0x6761_7465_686f_7573;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(key).execute(&mut other).await.expect("lock");
    let report = app.services.retention.prune().await.expect("prune");
    assert!(report.skipped && report.tokens == 0, "{report:?}");
    assert_eq!(count(&app, "oauth_access_tokens").await, 1);
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(&mut other).await.expect("unlock");
    let report = app.services.retention.prune().await.expect("prune");
    assert_eq!((report.tokens, report.skipped), (1, false));
}

on_every_backend!(retention_deletes_only_what_is_past_its_retention, one_instance_prunes_at_a_time);
