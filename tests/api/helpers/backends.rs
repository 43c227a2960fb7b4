//! The backend pairs a test runs on, and the macros that declare one case
//! per pair.

/// Which backend pair a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file + in-process state store.
    Embedded,
    /// PostgreSQL + Redis from `GATEHOUSE_TEST_DATABASE_URL` / `GATEHOUSE_TEST_REDIS_URL`.
    PostgresRedis,
    /// PostgreSQL alone (its own tables as the state store) from
    /// `GATEHOUSE_TEST_DATABASE_URL`.
    Postgres,
}

impl Backend {
    /// Whether several instances share the state (a second instance over the
    /// same database sees the first's flows, limits and revocations).
    pub fn is_shared(self) -> bool {
        self != Backend::Embedded
    }
}

/// Declares `name::embedded`, `name::postgres_redis` and `name::postgres`
/// for an async test fn taking a `Backend`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn embedded() {
                super::$name($crate::helpers::Backend::Embedded).await;
            }
            $crate::shared_backend_cases!($name);
        }
    )*};
}

/// Declares `name::postgres_redis` and `name::postgres` only: for what
/// takes two instances sharing state (the embedded default is one process).
#[macro_export]
macro_rules! on_shared_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            $crate::shared_backend_cases!($name);
        }
    )*};
}

/// The two shared pairs' cases of the test fn `name` (inside its module).
#[macro_export]
macro_rules! shared_backend_cases {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn postgres_redis() {
            if $crate::helpers::postgres_redis_available(concat!(module_path!(), "::postgres_redis")) {
                super::$name($crate::helpers::Backend::PostgresRedis).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn postgres() {
            if $crate::helpers::postgres_available(concat!(module_path!(), "::postgres")) {
                super::$name($crate::helpers::Backend::Postgres).await;
            }
        }
    };
}

/// Whether the PostgreSQL URL is set, as `postgres_redis_available` says.
pub fn postgres_available(test: &str) -> bool {
    let present = std::env::var("GATEHOUSE_TEST_DATABASE_URL").is_ok();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: GATEHOUSE_TEST_DATABASE_URL must be set under CI=true"
        );
        gatehouse_store::testing::report_skipped(test, "GATEHOUSE_TEST_DATABASE_URL not set");
    }
    present
}

/// Whether the PostgreSQL/Redis URLs are set. Without them the test is
/// reported as skipped by name, except under `CI=true`, where that is a failure.
pub fn postgres_redis_available(test: &str) -> bool {
    let present =
        std::env::var("GATEHOUSE_TEST_DATABASE_URL").is_ok() && std::env::var("GATEHOUSE_TEST_REDIS_URL").is_ok();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL must be set under CI=true"
        );
        gatehouse_store::testing::report_skipped(
            test,
            "GATEHOUSE_TEST_DATABASE_URL / GATEHOUSE_TEST_REDIS_URL not set",
        );
    }
    present
}
