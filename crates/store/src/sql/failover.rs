//! How the PostgreSQL pools follow a failover behind one address (a managed
//! endpoint, a proxy, a virtual IP): a connection that broke fails its next
//! check and is replaced. Once any statement is refused as read-only
//! (SQLSTATE `25006`: the connection reached a server that is now a
//! standby), or gets no answer within its deadline (a server that vanished
//! without closing its connections), every connection opened before that
//! is closed when next taken from its pool, so the pools reconnect to the
//! new primary without a restart. Requests in the gap answer 503 with
//! `Retry-After`.

use sqlx::pool::PoolConnectionMetadata;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a statement was last refused as read-only or went unanswered, in
/// this process: connections opened before then are not trusted.
static DISTRUSTED_BEFORE: Mutex<Option<Instant>> = Mutex::new(None);

/// How long a statement of the database's repositories may take before it
/// is a fault. Longer than the state store's (`FAULT_DEADLINE`): some
/// listings and retention batches are legitimately slower than a flow's
/// update.
pub(crate) const STATEMENT_DEADLINE: Duration = Duration::from_secs(5);

/// SQLSTATE `read_only_sql_transaction`.
const READ_ONLY: &str = "25006";

/// Notes a statement's error: a read-only refusal marks every connection
/// opened before now as pointing at a standby, and a connection that broke
/// under a statement marks the others opened before it as likely broken too
/// (a failover ends them all), so they are replaced, not tried one by one.
pub(crate) fn note(err: &sqlx::Error) {
    match err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(READ_ONLY) => {
            distrust_open_connections();
            tracing::warn!("PostgreSQL refused a write as read-only (a failover?): reconnecting the pools");
        }
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => distrust_open_connections(),
        _ => {}
    }
}

#[allow(clippy::disallowed_methods)] // real time: compared with connections' ages
fn distrust_open_connections() {
    *DISTRUSTED_BEFORE.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now());
}

/// Runs one statement, or fails it with an I/O error when `deadline` passes
/// without an answer; `note`, through which every statement's error goes,
/// then distrusts the connection it ran on and those opened before it.
pub(crate) async fn within<T>(
    deadline: Duration,
    statement: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    match tokio::time::timeout(deadline, statement).await {
        Ok(answer) => answer,
        Err(_) => {
            tracing::warn!(?deadline, "PostgreSQL did not answer in time (a failover?): reconnecting the pools");
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer from PostgreSQL within {deadline:?}"),
            )))
        }
    }
}

/// Whether a connection of `age` was opened after the last read-only
/// refusal, unanswered statement or broken connection.
#[allow(clippy::disallowed_methods)] // real time: a connection's age, not domain time
fn opened_after_distrust(age: Duration) -> bool {
    let seen = *DISTRUSTED_BEFORE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    seen.is_none_or(|at| age < at.elapsed())
}

/// A PostgreSQL pool of at most `max` connections that follows a failover:
/// a connection that cannot be had within the fault deadline is a fault
/// (503 at once rather than a queue), and connections that may point at a
/// demoted primary are dropped when next taken.
pub(crate) fn pool(max: u32, options: PgConnectOptions) -> impl Future<Output = Result<PgPool, sqlx::Error>> {
    pool_options(max).connect_with(options)
}

/// As `pool`, connecting when first used (a second pool beside one that has
/// already shown the server answers).
pub(crate) fn lazy_pool(max: u32, options: PgConnectOptions) -> PgPool {
    pool_options(max).connect_lazy_with(options)
}

/// As `lazy_pool`, for the state store's frequent small writes (polls, rate
/// checks): a connection is not pinged each time it is taken (sqlx pings it
/// anyway when it is given back), which saves a round trip per statement. A
/// connection that broke while idle then fails one statement (a 503) and
/// is replaced, with every connection opened before it (`note`).
pub(crate) fn lazy_unpinged_pool(max: u32, options: PgConnectOptions) -> PgPool {
    pool_options(max).test_before_acquire(false).connect_lazy_with(options)
}

fn pool_options(max: u32) -> PgPoolOptions {
    sqlx::pool::PoolOptions::<Postgres>::new()
        .max_connections(max)
        .acquire_timeout(crate::FAULT_DEADLINE)
        .before_acquire(|_connection, meta: PoolConnectionMetadata| {
            Box::pin(async move { Ok(opened_after_distrust(meta.age)) })
        })
}
