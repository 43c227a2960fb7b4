//! What differs between the two SQL backends, and only that.
//!
//! Every repository method is written once (`repository/`) as a
//! [`Statement`]: SQL text with PostgreSQL's numbered placeholders `$1, $2,
//! …`, which sqlx's SQLite driver binds by number as well (sqlx-sqlite 0.8.6,
//! `SqliteArguments::bind`), and [`Param`]s that say what a value *is*
//! rather than how it is stored. A [`Dialect`] stores and reads them:
//! PostgreSQL keeps ids as `UUID` and instants as `TIMESTAMPTZ`, SQLite keeps
//! ids as text and instants as Unix seconds. The few operations whose SQL
//! really differs (the last-admin lock, retention's advisory lock) are
//! dialect methods too.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use sqlx::Database;
use std::borrow::Cow;
use std::fmt::Write as _;
use uuid::Uuid;

/// A value bound to a placeholder, by meaning.
#[derive(Debug, Clone)]
pub(crate) enum Param<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Flag(bool),
    Id(Option<Uuid>),
    Instant(Option<DateTime<Utc>>),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(value: &'a str) -> Self {
        Param::Text(Some(Cow::Borrowed(value)))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(value: &'a String) -> Self {
        Param::Text(Some(Cow::Borrowed(value)))
    }
}

impl From<String> for Param<'_> {
    fn from(value: String) -> Self {
        Param::Text(Some(Cow::Owned(value)))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(value: Option<&'a str>) -> Self {
        Param::Text(value.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(value: &'a Option<String>) -> Self {
        Param::Text(value.as_deref().map(Cow::Borrowed))
    }
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Param::Int(Some(value))
    }
}

impl From<Option<String>> for Param<'_> {
    fn from(value: Option<String>) -> Self {
        Param::Text(value.map(Cow::Owned))
    }
}

impl From<Option<u32>> for Param<'_> {
    fn from(value: Option<u32>) -> Self {
        Param::Int(value.map(i64::from))
    }
}

impl From<bool> for Param<'_> {
    fn from(value: bool) -> Self {
        Param::Flag(value)
    }
}

impl From<Uuid> for Param<'_> {
    fn from(value: Uuid) -> Self {
        Param::Id(Some(value))
    }
}

impl From<Option<Uuid>> for Param<'_> {
    fn from(value: Option<Uuid>) -> Self {
        Param::Id(value)
    }
}

impl From<DateTime<Utc>> for Param<'_> {
    fn from(value: DateTime<Utc>) -> Self {
        Param::Instant(Some(value))
    }
}

/// One SQL statement and its parameters, in the text both backends read.
#[derive(Debug)]
pub(crate) struct Statement<'a> {
    pub(crate) sql: String,
    pub(crate) params: Vec<Param<'a>>,
}

impl<'a> Statement<'a> {
    /// A statement whose text numbers its own placeholders (`$1`, `$2`, …).
    pub(crate) fn new(sql: impl Into<String>) -> Self {
        Self { sql: sql.into(), params: Vec::new() }
    }

    /// Binds the next numbered placeholder of the text.
    pub(crate) fn bind(mut self, value: impl Into<Param<'a>>) -> Self {
        self.params.push(value.into());
        self
    }

    /// Appends SQL text (for statements built from filters).
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends the next placeholder and binds it.
    pub(crate) fn push_bind(&mut self, value: impl Into<Param<'a>>) -> &mut Self {
        self.params.push(value.into());
        // Writing to a String cannot fail.
        let _ = write!(self.sql, "${}", self.params.len());
        self
    }
}

/// Running statements and reading the columns every backend decodes alike:
/// the same code for each once its types are known, so
/// [`impl_execute!`] writes it once for both.
#[async_trait]
pub(crate) trait Execute: Database {
    /// Runs a statement and returns every row.
    async fn fetch_all(conn: &mut Self::Connection, statement: Statement<'_>) -> Result<Vec<Self::Row>, StoreError>;
    /// Runs a statement and returns its first row, if any.
    async fn fetch_optional(
        conn: &mut Self::Connection,
        statement: Statement<'_>,
    ) -> Result<Option<Self::Row>, StoreError>;
    /// Runs a statement and returns how many rows it changed.
    async fn execute(conn: &mut Self::Connection, statement: Statement<'_>) -> Result<u64, StoreError>;

    fn text(row: &Self::Row, column: &str) -> Result<Option<String>, StoreError>;
    fn int(row: &Self::Row, column: &str) -> Result<Option<i64>, StoreError>;
    fn flag(row: &Self::Row, column: &str) -> Result<Option<bool>, StoreError>;
}

/// How one backend stores and reads what the repositories write once, and
/// the operations whose SQL really differs.
#[async_trait]
pub(crate) trait Dialect: Execute {
    /// The case-insensitive `LIKE` (SQLite's `LIKE` already ignores ASCII case).
    const ILIKE: &'static str;
    /// How long one statement may take before it is a fault (`None`: no
    /// limit beyond the backend's own, as for SQLite's lock wait).
    const STATEMENT_DEADLINE: Option<std::time::Duration>;
    /// Appended to a JSON parameter (`$8::jsonb`) so it is stored as JSON.
    const AS_JSON: &'static str;
    /// Appended to a JSON column so it reads back as text.
    const JSON_AS_TEXT: &'static str;

    /// The statement's parameters, each stored the way this backend keeps it.
    fn arguments(params: Vec<Param<'_>>) -> Result<Self::Arguments<'_>, StoreError>;

    fn id(row: &Self::Row, column: &str) -> Result<Option<Uuid>, StoreError>;
    fn instant(row: &Self::Row, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// The session table's expiry column as a parameter
    /// (tower-sessions-sqlx-store stores it in each backend's own form).
    fn session_expiry(at: DateTime<Utc>) -> Result<Param<'static>, StoreError>;

    /// Takes retention's lock for the rest of the transaction; false when
    /// another instance holds it.
    async fn try_lock_retention(conn: &mut Self::Connection) -> Result<bool, StoreError>;

    /// Locks the active admins for the rest of the transaction, so that two
    /// changes that each leave one admin run one after the other.
    async fn lock_active_admins(conn: &mut Self::Connection) -> Result<(), StoreError>;
}

/// A database error as the core sees it, counted as a dependency error.
pub(crate) fn store_err(err: sqlx::Error) -> StoreError {
    super::failover::note(&err);
    gatehouse_core::metrics::dependency_error("database");
    StoreError::from_err(err)
}

/// The value of a column that must not be NULL.
fn required<T>(column: &str, value: Option<T>) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::new(format!("unexpected NULL in {column}")))
}

/// Typed access to one row's columns.
pub(crate) struct Columns<'r, D: Dialect>(pub(crate) &'r D::Row);

impl<D: Dialect> Columns<'_, D> {
    pub(crate) fn text(&self, column: &str) -> Result<String, StoreError> {
        required(column, D::text(self.0, column)?)
    }

    pub(crate) fn optional_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        D::text(self.0, column)
    }

    pub(crate) fn optional_seconds(&self, column: &str) -> Result<Option<u32>, StoreError> {
        D::int(self.0, column)?
            .map(|secs| u32::try_from(secs).map_err(|_| StoreError::new(format!("{column} out of range"))))
            .transpose()
    }

    pub(crate) fn int(&self, column: &str) -> Result<i64, StoreError> {
        required(column, D::int(self.0, column)?)
    }

    pub(crate) fn flag(&self, column: &str) -> Result<bool, StoreError> {
        required(column, D::flag(self.0, column)?)
    }

    pub(crate) fn id(&self, column: &str) -> Result<Uuid, StoreError> {
        required(column, D::id(self.0, column)?)
    }

    pub(crate) fn optional_id(&self, column: &str) -> Result<Option<Uuid>, StoreError> {
        D::id(self.0, column)
    }

    pub(crate) fn instant(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        required(column, D::instant(self.0, column)?)
    }

    pub(crate) fn optional_instant(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        D::instant(self.0, column)
    }
}

/// Runs one statement as an observed `database` call (`crate::observed`),
/// failed when `deadline` passes without an answer.
pub(crate) async fn timed<T>(
    deadline: Option<std::time::Duration>,
    statement: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let span = tracing::info_span!("db.statement");
    match deadline {
        Some(deadline) => crate::observed("database", span, super::failover::within(deadline, statement)).await,
        None => crate::observed("database", span, statement).await,
    }
}

/// [`Execute`] for one backend: its statements run with
/// [`Dialect::arguments`], and its plain columns read through [`plain`].
macro_rules! impl_execute {
    ($database:ty) => {
        #[async_trait::async_trait]
        impl $crate::sql::dialect::Execute for $database {
            async fn fetch_all(
                conn: &mut Self::Connection,
                statement: $crate::sql::dialect::Statement<'_>,
            ) -> Result<Vec<Self::Row>, gatehouse_core::StoreError> {
                let arguments = <Self as $crate::sql::dialect::Dialect>::arguments(statement.params)?;
                $crate::sql::dialect::timed(
                    <Self as $crate::sql::dialect::Dialect>::STATEMENT_DEADLINE,
                    sqlx::Executor::fetch_all(conn, sqlx::query_with(&statement.sql, arguments)),
                )
                .await
                .map_err($crate::sql::dialect::store_err)
            }

            async fn fetch_optional(
                conn: &mut Self::Connection,
                statement: $crate::sql::dialect::Statement<'_>,
            ) -> Result<Option<Self::Row>, gatehouse_core::StoreError> {
                let arguments = <Self as $crate::sql::dialect::Dialect>::arguments(statement.params)?;
                $crate::sql::dialect::timed(
                    <Self as $crate::sql::dialect::Dialect>::STATEMENT_DEADLINE,
                    sqlx::Executor::fetch_optional(conn, sqlx::query_with(&statement.sql, arguments)),
                )
                .await
                .map_err($crate::sql::dialect::store_err)
            }

            async fn execute(
                conn: &mut Self::Connection,
                statement: $crate::sql::dialect::Statement<'_>,
            ) -> Result<u64, gatehouse_core::StoreError> {
                let arguments = <Self as $crate::sql::dialect::Dialect>::arguments(statement.params)?;
                let result = $crate::sql::dialect::timed(
                    <Self as $crate::sql::dialect::Dialect>::STATEMENT_DEADLINE,
                    sqlx::Executor::execute(conn, sqlx::query_with(&statement.sql, arguments)),
                )
                .await
                .map_err($crate::sql::dialect::store_err)?;
                Ok(result.rows_affected())
            }

            fn text(row: &Self::Row, column: &str) -> Result<Option<String>, gatehouse_core::StoreError> {
                $crate::sql::dialect::plain::<Self, String>(row, column)
            }

            fn int(row: &Self::Row, column: &str) -> Result<Option<i64>, gatehouse_core::StoreError> {
                $crate::sql::dialect::plain::<Self, i64>(row, column)
            }

            fn flag(row: &Self::Row, column: &str) -> Result<Option<bool>, gatehouse_core::StoreError> {
                $crate::sql::dialect::plain::<Self, bool>(row, column)
            }
        }
    };
}
pub(crate) use impl_execute;

/// Reads a column whose type the backend decodes directly.
pub(crate) fn plain<'r, D, T>(row: &'r D::Row, column: &str) -> Result<Option<T>, StoreError>
where
    D: Database,
    Option<T>: sqlx::Decode<'r, D> + sqlx::Type<D>,
    for<'c> &'c str: sqlx::ColumnIndex<D::Row>,
{
    sqlx::Row::try_get(row, column).map_err(store_err)
}
