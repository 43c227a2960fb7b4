//! `/admin/accounts`: list and search accounts, create one, disable and
//! enable, grant and remove admin rights.

use crate::error::{AppError, AppErrorCode};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::navigation::ADMIN_ACCOUNTS_PATH;
/// Rows per page.
pub const ACCOUNTS_PAGE_SIZE: u32 = 50;

/// One account as the admin page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created: String,
    /// How many passkeys it has (0 where not counted: a change's answer).
    pub passkeys: usize,
    /// Its password is off.
    pub passwordless: bool,
}

/// The data of `/admin/accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAccountsPage {
    pub csrf_token: String,
    /// The search text.
    pub q: String,
    pub accounts: Vec<AccountRow>,
    pub next_page: Option<String>,
    pub is_later_page: bool,
    /// The account the admin is asked to confirm disabling.
    pub confirm_disable: Option<AccountRow>,
    pub notice: Option<AppErrorCode>,
    /// What the last action did (`created`, `disabled`, …).
    pub done: Option<String>,
}

/// The listing URL for a search, with extra query pairs.
pub fn accounts_url(q: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("q", q)];
    pairs.extend_from_slice(extra);
    crate::navigation::with_query(ADMIN_ACCOUNTS_PATH, &pairs)
}

/// Loads `/admin/accounts`.
#[server(prefix = "/console/api", endpoint = "admin/accounts/page")]
pub async fn load_admin_accounts(
    q: Option<String>,
    after: Option<String>,
    confirm: Option<String>,
    error: Option<String>,
    done: Option<String>,
) -> Result<AdminAccountsPage, AppError> {
    use super::context::*;
    let q = q.unwrap_or_default().trim().to_owned();
    let guarded = guard(Need::Admin, &accounts_url(&q, &[])).await?;
    let admin = guarded.admin()?;
    let accounts = &guarded.ctx.services.accounts;
    let page = accounts.search(admin, Some(&q), after.clone().filter(|a| !a.is_empty()), ACCOUNTS_PAGE_SIZE).await?;
    let confirm_disable = match confirm.as_deref().and_then(|c| c.strip_prefix("disable:")) {
        Some(email) => accounts.find_by_email(admin, email).await?.as_ref().map(account_row),
        None => None,
    };
    Ok(AdminAccountsPage {
        csrf_token: session_csrf_token(&guarded.ctx, &guarded.session).await?,
        next_page: page.next.map(|email| accounts_url(&q, &[("after", &email)])),
        is_later_page: after.is_some_and(|a| !a.is_empty()),
        accounts: {
            let ids: Vec<_> = page.items.iter().map(|a| a.id).collect();
            let counts = guarded.ctx.services.passkeys.counts_for(admin, &ids).await?;
            let count_of = |id| counts.iter().find(|(of, _)| *of == id).map_or(0, |(_, n)| *n as usize);
            page.items.iter().map(|a| AccountRow { passkeys: count_of(a.id), ..account_row(a) }).collect()
        },
        q,
        confirm_disable,
        notice: error.as_deref().and_then(AppErrorCode::parse),
        done: done.filter(|d| done_message(d).is_some()),
    })
}

/// What a person reads after an account action.
pub fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => "Account created. Tell its owner their initial password through a channel you trust.",
        "disabled" => "Account disabled. Its devices and apps were signed out, and its browser sessions ended.",
        "enabled" => "Account enabled. Its owner can sign in again.",
        "admin_granted" => "Administrator rights granted.",
        "admin_removed" => "Administrator rights removed.",
        "passkeys_removed" => {
            "Every passkey of the account was removed and its password turned back on: its owner can reset it from the sign-in page."
        }
        _ => return None,
    })
}

/// An admin creates an account.
#[server(prefix = "/console/api", endpoint = "admin/accounts/create")]
pub async fn admin_create_account(
    email: String,
    name: String,
    password: String,
    is_admin: Option<String>,
    csrf_token: String,
) -> Result<String, AppError> {
    use super::context::*;
    use gatehouse_core::services::accounts::{AccountError, AccountRegistration};
    let back = ADMIN_ACCOUNTS_PATH;
    let guarded = guard_action(Need::Admin, &csrf_token, back).await?;
    let registration = AccountRegistration {
        email,
        name,
        password: gatehouse_core::SecretString::new(password),
        // A checkbox sends a value only when ticked.
        is_admin: is_admin.is_some(),
        workspace_name: None,
    };
    let created = guarded.ctx.services.accounts.create(guarded.admin()?, registration).await;
    let account = created.map_err(|err| {
        let code = match err {
            AccountError::InvalidEmail => AppErrorCode::InvalidEmail,
            AccountError::EmptyName => AppErrorCode::InvalidRequest,
            AccountError::Password(rule) => return fail(AppError::from(rule), back),
            AccountError::EmailTaken => AppErrorCode::EmailTaken,
            AccountError::Unavailable(e) => return fail(AppError::from(e), back),
        };
        fail(AppError::new(code), back)
    })?;
    succeed_to(&accounts_url(&account.email, &[("done", "created")]));
    Ok(account.id.to_string())
}

/// An admin disables or enables an account, grants or removes admin
/// rights, or removes its passkeys (a lost device). `change` is `disable`,
/// `enable`, `grant_admin`, `remove_admin` or `remove_passkeys`.
#[server(prefix = "/console/api", endpoint = "admin/accounts/change")]
pub async fn admin_change_account(
    account_id: String,
    change: String,
    csrf_token: String,
    q: Option<String>,
) -> Result<AccountRow, AppError> {
    use super::context::*;
    use gatehouse_core::ports::AccountChange;
    use gatehouse_core::services::accounts::AccountAdminError;
    let back = accounts_url(q.as_deref().unwrap_or_default().trim(), &[]);
    let guarded = guard_action(Need::Admin, &csrf_token, &back).await?;
    let invalid = || fail(AppError::new(AppErrorCode::InvalidRequest), &back);
    let id = uuid::Uuid::parse_str(account_id.trim()).map_err(|_| invalid())?;
    let services = &guarded.ctx.services;
    if change == "remove_passkeys" {
        let admin = guarded.admin()?;
        services.passkeys.remove_all(admin, id).await.map_err(|e| fail(AppError::from(e), &back))?;
        let account = services.accounts.find_by_id(admin, id).await?;
        let account = account.ok_or_else(|| fail(AppError::new(AppErrorCode::NotFound), &back))?;
        succeed_to(&crate::navigation::append_query(&back, "done", "passkeys_removed"));
        return Ok(account_row(&account));
    }
    let (change, done) = match change.as_str() {
        "disable" => (AccountChange::Disable, "disabled"),
        "enable" => (AccountChange::Enable, "enabled"),
        "grant_admin" => (AccountChange::GrantAdmin, "admin_granted"),
        "remove_admin" => (AccountChange::RemoveAdmin, "admin_removed"),
        _ => return Err(invalid()),
    };
    let account = services.accounts.change(guarded.admin()?, id, change, client_ip().as_deref()).await.map_err(
        |err| match err {
            AccountAdminError::NotFound => fail(AppError::new(AppErrorCode::NotFound), &back),
            AccountAdminError::LastAdmin => fail(AppError::new(AppErrorCode::LastAdmin), &back),
            AccountAdminError::Unavailable(e) => fail(AppError::from(e), &back),
        },
    )?;
    succeed_to(&crate::navigation::append_query(&back, "done", done));
    Ok(account_row(&account))
}

#[cfg(feature = "ssr")]
fn account_row(account: &gatehouse_core::model::Account) -> AccountRow {
    AccountRow {
        id: account.id.to_string(),
        email: account.email.clone(),
        name: account.name.clone(),
        is_admin: account.is_admin,
        disabled: account.disabled,
        created: super::views::moment(account.created_at),
        passkeys: 0,
        passwordless: account.passwordless,
    }
}
