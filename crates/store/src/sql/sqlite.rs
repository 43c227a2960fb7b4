//! SQLite: ids as UUID text, instants as Unix seconds, and one writer at a
//! time, which the last-admin rule relies on.

use super::dialect::{Dialect, Param, impl_execute, plain};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::{Arguments, Sqlite};
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::cookie::time::format_description::well_known::Rfc3339;
use uuid::Uuid;

impl_execute!(Sqlite);

#[async_trait]
impl Dialect for Sqlite {
    const STATEMENT_DEADLINE: Option<std::time::Duration> = None;
    const ILIKE: &'static str = "LIKE";
    const AS_JSON: &'static str = "";
    const JSON_AS_TEXT: &'static str = "";

    fn arguments(params: Vec<Param<'_>>) -> Result<SqliteArguments<'_>, StoreError> {
        let mut arguments = SqliteArguments::default();
        for param in params {
            match param {
                Param::Text(value) => arguments.add(value),
                Param::Int(value) => arguments.add(value),
                Param::Flag(value) => arguments.add(value),
                Param::Id(value) => arguments.add(value.map(|id| id.to_string())),
                Param::Instant(value) => arguments.add(value.map(|at| at.timestamp())),
            }
            .map_err(|err| StoreError::new(format!("cannot bind a parameter: {err}")))?;
        }
        Ok(arguments)
    }

    fn id(row: &SqliteRow, column: &str) -> Result<Option<Uuid>, StoreError> {
        plain::<Sqlite, String>(row, column)?
            .map(|text| Uuid::parse_str(&text).map_err(StoreError::from_err))
            .transpose()
    }

    fn instant(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        plain::<Sqlite, i64>(row, column)?
            .map(|secs| {
                DateTime::from_timestamp(secs, 0).ok_or_else(|| StoreError::new(format!("bad instant in {column}")))
            })
            .transpose()
    }

    fn session_expiry(at: DateTime<Utc>) -> Result<Param<'static>, StoreError> {
        // tower-sessions-sqlx-store writes `expiry_date` as sqlx's SQLite
        // text form of a `time` instant (RFC 3339), so compare in that form.
        let at = OffsetDateTime::from_unix_timestamp(at.timestamp()).map_err(StoreError::from_err)?;
        Ok(Param::from(at.format(&Rfc3339).map_err(StoreError::from_err)?))
    }

    async fn try_lock_retention(_conn: &mut SqliteConnection) -> Result<bool, StoreError> {
        // The embedded default is one instance: nobody else prunes.
        Ok(true)
    }

    async fn lock_active_admins(_conn: &mut SqliteConnection) -> Result<(), StoreError> {
        // SQLite runs one write at a time, and the change checks for another
        // admin inside its own UPDATE: nothing can change in between.
        Ok(())
    }
}
