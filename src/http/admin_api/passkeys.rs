//! `/v1/admin/accounts/{account_id}/passkeys`: an account's passkeys, and
//! removing them all (for a lost device), which turns the account's
//! password back on so the person can reset it.

use super::{AdminCall, Answer, Refused, instant, ok};
use crate::http::AppState;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One passkey of an account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Passkey {
    pub id: Uuid,
    /// The person's name for it.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; absent when never used to sign in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// The authenticator said the credential is backed up (synced).
    pub backed_up: bool,
}

/// An account's passkeys, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasskeyList {
    pub passkeys: Vec<Passkey>,
    /// The account's password is off (it signs in with a passkey only).
    pub passwordless: bool,
}

/// What removing them did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasskeysRemoved {
    pub removed: u64,
}

fn account_id(id: &str) -> Result<Uuid, Refused> {
    Uuid::parse_str(id).map_err(|_| Refused::not_found("account"))
}

/// An account's passkeys.
#[utoipa::path(get, path = "/v1/admin/accounts/{account_id}/passkeys", tag = "accounts",
    security(("admin_token" = [])), params(("account_id" = Uuid, Path)),
    responses((status = 200, body = PasskeyList), (status = "4XX", body = super::ErrorBody)))]
pub async fn list(State(state): State<AppState>, call: AdminCall, Path(id): Path<String>) -> Answer {
    let id = account_id(&id)?;
    let account =
        state.services.accounts.find_by_id(&call.admin, id).await?.ok_or_else(|| Refused::not_found("account"))?;
    let passkeys = state.services.passkeys.list_for(&call.admin, id).await?;
    call.read(&state).await;
    ok(PasskeyList {
        passkeys: passkeys
            .into_iter()
            .map(|p| Passkey {
                id: p.id,
                name: p.name,
                created_at: instant(p.created_at),
                last_used_at: p.last_used_at.map(instant),
                backed_up: p.backed_up,
            })
            .collect(),
        passwordless: account.passwordless,
    })
}

/// Removes every passkey of an account and turns its password back on
/// (audited as `passkey.all_removed`).
#[utoipa::path(delete, path = "/v1/admin/accounts/{account_id}/passkeys", tag = "accounts",
    security(("admin_token" = [])), params(("account_id" = Uuid, Path)),
    responses((status = 200, body = PasskeysRemoved), (status = "4XX", body = super::ErrorBody)))]
pub async fn remove_all(State(state): State<AppState>, call: AdminCall, Path(id): Path<String>) -> Answer {
    let id = account_id(&id)?;
    state.services.accounts.find_by_id(&call.admin, id).await?.ok_or_else(|| Refused::not_found("account"))?;
    let removed = state.services.passkeys.remove_all(&call.admin, id).await?;
    ok(PasskeysRemoved { removed })
}
