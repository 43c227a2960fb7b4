//! `/admin/scopes`: the operator's scope registry. Add a scope, change its
//! plain words or who may hold it, delete one no client allows.

use crate::error::{AppError, AppErrorCode};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::navigation::ADMIN_SCOPES_PATH;

/// One scope as the admin page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeRow {
    pub name: String,
    pub description: String,
    /// `accounts`, `external` or `everyone`.
    pub holders: String,
    pub built_in: bool,
    /// The clients allowed to request it.
    pub clients: Vec<String>,
}

/// The data of `/admin/scopes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminScopesPage {
    pub csrf_token: String,
    pub scopes: Vec<ScopeRow>,
    /// The scope being edited.
    pub editing: Option<ScopeRow>,
    /// The scope whose deletion is to be confirmed.
    pub confirm_delete: Option<ScopeRow>,
    pub notice: Option<AppErrorCode>,
    pub done: Option<String>,
}

/// Who may hold a scope, in words.
pub fn holders_label(holders: &str) -> &'static str {
    match holders {
        "accounts" => "Gatehouse accounts only",
        "external" => "people signed in with SSO only",
        _ => "everyone",
    }
}

/// What a person reads after a scope action.
pub fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => "Scope added. Allow it to clients on the Clients page.",
        "updated" => "Scope updated.",
        "deleted" => "Scope deleted.",
        _ => return None,
    })
}

/// Loads `/admin/scopes`.
#[server(prefix = "/console/api", endpoint = "admin/scopes/page")]
pub async fn load_admin_scopes(
    edit: Option<String>,
    confirm: Option<String>,
    error: Option<String>,
    done: Option<String>,
) -> Result<AdminScopesPage, AppError> {
    use super::context::*;
    let guarded = guard(Need::Admin, ADMIN_SCOPES_PATH).await?;
    let clients = guarded.ctx.services.clients.list().await?;
    let scopes: Vec<ScopeRow> = guarded
        .ctx
        .services
        .scopes
        .catalog()
        .await?
        .all()
        .iter()
        .map(|scope| ScopeRow {
            name: scope.name.clone(),
            description: scope.description.clone(),
            holders: scope.holders.as_str().to_owned(),
            built_in: scope.built_in,
            clients: clients
                .iter()
                .filter(|c| c.allowed_scopes.contains(&scope.name))
                .map(|c| c.client_id.clone())
                .collect(),
        })
        .collect();
    let find = |name: Option<&str>| name.and_then(|n| scopes.iter().find(|s| s.name == n)).cloned();
    Ok(AdminScopesPage {
        csrf_token: session_csrf_token(&guarded.ctx, &guarded.session).await?,
        editing: find(edit.as_deref()),
        confirm_delete: find(confirm.as_deref()).filter(|s| !s.built_in),
        scopes,
        notice: error.as_deref().and_then(AppErrorCode::parse),
        done: done.filter(|d| done_message(d).is_some()),
    })
}

/// An admin adds a scope.
#[server(prefix = "/console/api", endpoint = "admin/scopes/create")]
pub async fn admin_create_scope(
    name: String,
    description: String,
    holders: String,
    csrf_token: String,
) -> Result<(), AppError> {
    use super::context::*;
    let back = ADMIN_SCOPES_PATH;
    let guarded = guard_action(Need::Admin, &csrf_token, back).await?;
    let holders = parse_holders(&holders, back)?;
    let scopes = &guarded.ctx.services.scopes;
    scopes.create(guarded.admin()?, &name, &description, holders).await.map_err(|e| scope_error(e, back))?;
    succeed_to(&format!("{ADMIN_SCOPES_PATH}?done=created"));
    Ok(())
}

/// An admin changes a scope's words or who may hold it.
#[server(prefix = "/console/api", endpoint = "admin/scopes/update")]
pub async fn admin_update_scope(
    name: String,
    description: String,
    holders: String,
    csrf_token: String,
) -> Result<(), AppError> {
    use super::context::*;
    let back = format!("{ADMIN_SCOPES_PATH}?edit={}", crate::navigation::encode_query_value(&name));
    let guarded = guard_action(Need::Admin, &csrf_token, &back).await?;
    let holders = parse_holders(&holders, &back)?;
    let scopes = &guarded.ctx.services.scopes;
    scopes.update(guarded.admin()?, &name, &description, holders).await.map_err(|e| scope_error(e, &back))?;
    succeed_to(&format!("{ADMIN_SCOPES_PATH}?done=updated"));
    Ok(())
}

/// An admin deletes a scope no client allows.
#[server(prefix = "/console/api", endpoint = "admin/scopes/delete")]
pub async fn admin_delete_scope(name: String, csrf_token: String) -> Result<(), AppError> {
    use super::context::*;
    let back = ADMIN_SCOPES_PATH;
    let guarded = guard_action(Need::Admin, &csrf_token, back).await?;
    guarded.ctx.services.scopes.delete(guarded.admin()?, &name).await.map_err(|e| scope_error(e, back))?;
    succeed_to(&format!("{ADMIN_SCOPES_PATH}?done=deleted"));
    Ok(())
}

#[cfg(feature = "ssr")]
fn parse_holders(typed: &str, back: &str) -> Result<gatehouse_core::model::ScopeHolders, AppError> {
    gatehouse_core::model::ScopeHolders::parse(typed)
        .ok_or_else(|| super::context::fail(AppError::new(AppErrorCode::InvalidRequest), back))
}

#[cfg(feature = "ssr")]
fn scope_error(err: gatehouse_core::services::scopes::ScopeError, back: &str) -> AppError {
    use super::context::fail;
    use gatehouse_core::services::scopes::ScopeError;
    let code = match err {
        ScopeError::InvalidName => AppErrorCode::InvalidScopeName,
        ScopeError::InvalidDescription => AppErrorCode::InvalidScopeDescription,
        ScopeError::Exists => AppErrorCode::ScopeExists,
        ScopeError::NotFound => AppErrorCode::NotFound,
        ScopeError::BuiltIn => AppErrorCode::ScopeBuiltIn,
        ScopeError::InUse(_) => AppErrorCode::ScopeInUse,
        ScopeError::Unavailable(e) => return fail(AppError::from(e), back),
    };
    fail(AppError::new(code), back)
}
