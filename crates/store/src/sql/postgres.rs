//! PostgreSQL: native `UUID` and `TIMESTAMPTZ` columns, row locks for the
//! last-admin rule, and an advisory lock so one instance prunes at a time.

use super::dialect::{Columns, Dialect, Execute, Param, Statement, impl_execute, plain};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::StoreError;
use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use sqlx::{Arguments, Postgres};
use uuid::Uuid;

/// The advisory lock key of retention ("gatehous" in ASCII).
const RETENTION_LOCK: i64 = 0x6761_7465_686f_7573;

impl_execute!(Postgres);

#[async_trait]
impl Dialect for Postgres {
    const STATEMENT_DEADLINE: Option<std::time::Duration> = Some(super::failover::STATEMENT_DEADLINE);
    const ILIKE: &'static str = "ILIKE";
    const AS_JSON: &'static str = "::jsonb";
    const JSON_AS_TEXT: &'static str = "::text";

    fn arguments(params: Vec<Param<'_>>) -> Result<PgArguments, StoreError> {
        let mut arguments = PgArguments::default();
        for param in params {
            match param {
                Param::Text(value) => arguments.add(value.map(|text| text.into_owned())),
                Param::Int(value) => arguments.add(value),
                Param::Flag(value) => arguments.add(value),
                Param::Id(value) => arguments.add(value),
                Param::Instant(value) => arguments.add(value),
            }
            .map_err(|err| StoreError::new(format!("cannot bind a parameter: {err}")))?;
        }
        Ok(arguments)
    }

    fn id(row: &PgRow, column: &str) -> Result<Option<Uuid>, StoreError> {
        plain::<Postgres, Uuid>(row, column)
    }

    fn instant(row: &PgRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        plain::<Postgres, DateTime<Utc>>(row, column)
    }

    fn session_expiry(at: DateTime<Utc>) -> Result<Param<'static>, StoreError> {
        Ok(Param::Instant(Some(at)))
    }

    async fn try_lock_retention(conn: &mut PgConnection) -> Result<bool, StoreError> {
        let statement = Statement::new("SELECT pg_try_advisory_xact_lock($1) AS locked").bind(RETENTION_LOCK);
        let row = Self::fetch_optional(conn, statement).await?.ok_or_else(|| StoreError::new("no lock answer"))?;
        Columns::<Self>(&row).flag("locked")
    }

    async fn lock_active_admins(conn: &mut PgConnection) -> Result<(), StoreError> {
        // Row locks, always in the same order: two admins demoting each other
        // at once then run one after the other, and the second statement's
        // snapshot sees what the first left.
        Self::fetch_all(
            conn,
            Statement::new("SELECT id FROM accounts WHERE is_admin AND disabled_at IS NULL ORDER BY id FOR UPDATE"),
        )
        .await?;
        Ok(())
    }
}
