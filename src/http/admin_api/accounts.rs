//! `/v1/admin/accounts`: local accounts, found by email or name, created,
//! made admin or not, disabled (which revokes every token of theirs and
//! ends their browser sessions) and enabled.

use super::{AdminCall, Answer, Body, Failure, Query, Refused, created, instant, ok};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gatehouse_core::model::Account as StoredAccount;
use gatehouse_core::ports::AccountChange;
use gatehouse_core::secret::SecretString;
use gatehouse_core::services::accounts::{AccountAdminError, AccountError, AccountRegistration};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A local account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub disabled: bool,
    /// The password is off: the account signs in with a passkey only.
    #[serde(default)]
    pub passwordless: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// A page of accounts in email order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountPage {
    pub accounts: Vec<Account>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The listing's filters and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountFilter {
    /// The one account with this email (exact, case-insensitive); not
    /// with `q` or `after`.
    pub email: Option<String>,
    /// Accounts whose email or name contains this (case-insensitive).
    pub q: Option<String>,
    /// A `next_cursor` from the page before.
    pub after: Option<String>,
    /// Rows per page, 1 to 100 (default 50).
    pub limit: Option<u32>,
}

/// What to create.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewAccount {
    pub email: String,
    pub name: String,
    /// 8 characters to 1,024 bytes.
    pub password: String,
    #[serde(default)]
    pub is_admin: bool,
    /// Its first workspace's name (default: "<name>'s workspace").
    #[serde(default)]
    pub workspace_name: Option<String>,
}

/// The changes to make; a field left out is left as it is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountChanges {
    pub is_admin: Option<bool>,
    /// Disabling revokes every token of the account and ends its sessions.
    pub disabled: Option<bool>,
}

fn account(a: &StoredAccount) -> Account {
    Account {
        id: a.id,
        email: a.email.clone(),
        name: a.name.clone(),
        is_admin: a.is_admin,
        disabled: a.disabled,
        passwordless: a.passwordless,
        created_at: instant(a.created_at),
    }
}

/// Accounts in email order, optionally filtered.
#[utoipa::path(get, path = "/v1/admin/accounts", tag = "accounts", security(("admin_token" = [])),
    params(AccountFilter),
    responses((status = 200, body = AccountPage), (status = "4XX", body = super::ErrorBody)))]
pub async fn list(State(state): State<AppState>, call: AdminCall, Query(filter): Query<AccountFilter>) -> Answer {
    if let Some(email) = &filter.email {
        if filter.q.is_some() || filter.after.is_some() {
            return Err(Refused::invalid("email finds one account: leave out q and after").into());
        }
        let found = state.services.accounts.find_by_email(&call.admin, email).await?;
        call.read(&state).await;
        return ok(AccountPage { accounts: found.iter().map(account).collect(), next_cursor: None });
    }
    let page = state
        .services
        .accounts
        .search(&call.admin, filter.q.as_deref(), filter.after, filter.limit.unwrap_or(50))
        .await?;
    call.read(&state).await;
    ok(AccountPage { accounts: page.items.iter().map(account).collect(), next_cursor: page.next })
}

/// One account.
#[utoipa::path(get, path = "/v1/admin/accounts/{account_id}", tag = "accounts", security(("admin_token" = [])),
    params(("account_id" = Uuid, Path)),
    responses((status = 200, body = Account), (status = "4XX", body = super::ErrorBody)))]
pub async fn get_one(State(state): State<AppState>, call: AdminCall, Path(id): Path<String>) -> Answer {
    let id = Uuid::parse_str(&id).map_err(|_| Refused::not_found("account"))?;
    let found = state.services.accounts.find_by_id(&call.admin, id).await?;
    call.read(&state).await;
    ok(account(&found.ok_or_else(|| Refused::not_found("account"))?))
}

/// Creates a local account.
#[utoipa::path(post, path = "/v1/admin/accounts", tag = "accounts", security(("admin_token" = [])),
    request_body = NewAccount,
    responses((status = 201, body = Account), (status = "4XX", body = super::ErrorBody)))]
pub async fn create(State(state): State<AppState>, call: AdminCall, Body(new): Body<NewAccount>) -> Answer {
    let registration = AccountRegistration {
        email: new.email,
        name: new.name,
        password: SecretString::new(new.password),
        is_admin: new.is_admin,
        workspace_name: new.workspace_name,
    };
    let made = state.services.accounts.create(&call.admin, registration).await.map_err(|err| match err {
        AccountError::Unavailable(e) => Failure::from(e),
        AccountError::EmailTaken => Refused::new(StatusCode::CONFLICT, "already_exists", err).into(),
        AccountError::InvalidEmail | AccountError::EmptyName | AccountError::Password(_) => {
            Refused::invalid(err).into()
        }
    })?;
    created(account(&made))
}

/// Makes an account an admin or not, and disables or enables it. Refused
/// (`last_admin`) when it would leave no active admin account.
#[utoipa::path(patch, path = "/v1/admin/accounts/{account_id}", tag = "accounts", security(("admin_token" = [])),
    params(("account_id" = Uuid, Path)), request_body = AccountChanges,
    responses((status = 200, body = Account), (status = "4XX", body = super::ErrorBody)))]
pub async fn change(
    State(state): State<AppState>,
    call: AdminCall,
    Path(id): Path<String>,
    Body(changes): Body<AccountChanges>,
) -> Answer {
    let id = Uuid::parse_str(&id).map_err(|_| Refused::not_found("account"))?;
    let mut wanted = Vec::new();
    // Enabling before granting, and removing admin before disabling, so a
    // request that does both never stops half-way for the wrong reason.
    if changes.disabled == Some(false) {
        wanted.push(AccountChange::Enable);
    }
    match changes.is_admin {
        Some(true) => wanted.push(AccountChange::GrantAdmin),
        Some(false) => wanted.push(AccountChange::RemoveAdmin),
        None => {}
    }
    if changes.disabled == Some(true) {
        wanted.push(AccountChange::Disable);
    }
    let accounts = &state.services.accounts;
    let mut current = accounts.find_by_id(&call.admin, id).await?.ok_or_else(|| Refused::not_found("account"))?;
    for one in wanted {
        current = accounts.change(&call.admin, id, one, call.admin.ip()).await.map_err(|err| match err {
            AccountAdminError::Unavailable(e) => Failure::from(e),
            AccountAdminError::NotFound => Refused::not_found("account").into(),
            AccountAdminError::LastAdmin => Refused::new(StatusCode::CONFLICT, "last_admin", err).into(),
        })?;
    }
    ok(account(&current))
}
