//! Facts every instance of one installation must agree on: today, which
//! server secret signs (by its fingerprint, never the secret itself).

use super::SqlRepository;
use crate::sql::dialect::{Columns, Dialect, Statement, store_err};
use gatehouse_core::StoreError;

/// What the database said about this instance's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretCheck {
    /// No instance had recorded one: this one's is now the installation's.
    Recorded,
    /// The same secret as the instances before.
    Same,
    /// The recorded secret is one of this instance's previous secrets: the
    /// secret was rotated, and this instance's is now recorded.
    Rotated,
    /// Another secret altogether (its fingerprint).
    Differs { recorded: String },
}

const NAME: &str = "secret_fingerprint";

impl<D: Dialect> SqlRepository<D> {
    /// Records or compares the fingerprint of this instance's `current`
    /// secret, accepting a recorded one among `previous` (a rotation).
    pub async fn check_secret(&self, current: &str, previous: &[String]) -> Result<SecretCheck, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        let inserted = D::execute(
            &mut tx,
            Statement::new("INSERT INTO installation (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(NAME)
                .bind(current),
        )
        .await?;
        let check = if inserted == 1 {
            SecretCheck::Recorded
        } else {
            let row =
                D::fetch_optional(&mut tx, Statement::new("SELECT value FROM installation WHERE name = $1").bind(NAME))
                    .await?
                    .ok_or_else(|| StoreError::new("the recorded secret fingerprint vanished"))?;
            let recorded = Columns::<D>(&row).text("value")?;
            if recorded == current {
                SecretCheck::Same
            } else if previous.contains(&recorded) {
                D::execute(
                    &mut tx,
                    Statement::new("UPDATE installation SET value = $1 WHERE name = $2 AND value = $3")
                        .bind(current)
                        .bind(NAME)
                        .bind(&recorded),
                )
                .await?;
                SecretCheck::Rotated
            } else {
                SecretCheck::Differs { recorded }
            }
        };
        tx.commit().await.map_err(store_err)?;
        Ok(check)
    }
}
