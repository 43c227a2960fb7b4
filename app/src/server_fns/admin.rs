//! `/admin/authorized-apps`: every subject's tokens, filtered and
//! keyset-paginated, with revoke one / all of a user / all of a client.

use super::console::{AuthorizedApp, RevokeOutcome};
use crate::error::{AppError, AppErrorCode};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::navigation::ADMIN_APPS_PATH;
/// Rows per page of the admin listing.
pub const ADMIN_PAGE_SIZE: u32 = 50;

/// The listing's filters, as they travel in the URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAppsFilter {
    pub email: String,
    pub client: String,
    /// `active` (default), `revoked` or `expired`.
    pub status: String,
    /// `yes`: only grants approved from another network than their device's.
    #[serde(default)]
    pub crossed: String,
}

impl AdminAppsFilter {
    /// The listing URL with these filters, optionally from a cursor and with
    /// extra query pairs.
    pub fn url(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs = vec![("email", self.email.as_str()), ("client", &self.client), ("status", &self.status)];
        if self.crossed == "yes" {
            pairs.push(("crossed", "yes"));
        }
        pairs.extend_from_slice(extra);
        crate::navigation::with_query(ADMIN_APPS_PATH, &pairs)
    }
}

/// What an admin is asked to confirm before a revoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminConfirm {
    /// One token.
    Token { token_id: String, summary: String },
    /// Every token of a subject: a Gatehouse account (`issuer` none) or a
    /// person signed in through single sign-on.
    User { email: String, issuer: Option<String> },
    /// Every token issued to a client.
    Client { client_id: String, client_name: String },
}

/// A client to filter by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientChoice {
    pub client_id: String,
    pub name: String,
}

/// The data of `/admin/authorized-apps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAppsPage {
    pub csrf_token: String,
    pub filter: AdminAppsFilter,
    pub clients: Vec<ClientChoice>,
    pub apps: Vec<AuthorizedApp>,
    /// The URL of the next page, when there is one.
    pub next_page: Option<String>,
    /// Whether this is a later page (a link back to the first is shown).
    pub is_later_page: bool,
    pub confirm: Option<AdminConfirm>,
    pub notice: Option<AppErrorCode>,
    pub revoked: Option<usize>,
}

/// Loads `/admin/authorized-apps`.
#[server(prefix = "/console/api", endpoint = "admin/authorized-apps/page")]
pub async fn load_admin_apps(
    filter: AdminAppsFilter,
    after: Option<String>,
    confirm: Option<String>,
    issuer: Option<String>,
    error: Option<String>,
    revoked: Option<String>,
) -> Result<AdminAppsPage, AppError> {
    use super::console::authorized_app;
    use super::context::*;
    use gatehouse_core::listing::{ActivityCursor, TokenStatus};
    use gatehouse_core::services::authorizations::AuthorizationFilter;

    let guarded = guard(Need::Admin, &filter.url(&[])).await?;
    let admin = guarded.admin()?;
    let services = &guarded.ctx.services;
    let status = TokenStatus::parse(&filter.status).unwrap_or_default();
    let wanted = AuthorizationFilter {
        subject_email: Some(filter.email.trim()).filter(|e| !e.is_empty()).map(str::to_owned),
        client_id: Some(filter.client.trim()).filter(|c| !c.is_empty()).map(str::to_owned),
        status,
        crossed_networks: filter.crossed == "yes",
    };
    // A cursor that does not parse starts from the first page.
    let cursor = after.as_deref().and_then(ActivityCursor::decode);
    let page = services.authorizations.search(admin, &wanted, cursor, ADMIN_PAGE_SIZE).await?;
    let clients = services.clients.list().await?;
    let client_name = |id: &str| clients.iter().find(|c| c.client_id == id).map(|c| c.name.clone());

    let confirm = match confirm.as_deref().and_then(|c| c.split_once(':')) {
        // Looked up by id, not on this page: the row may be on a later one.
        Some(("token", id)) => match uuid::Uuid::parse_str(id) {
            Ok(token_id) => services.authorizations.find(admin, token_id).await?.map(|a| AdminConfirm::Token {
                token_id: id.to_owned(),
                summary: format!(
                    "{} on {} for {}",
                    a.client_name,
                    if a.record.device_label.is_empty() { "an unnamed device" } else { &a.record.device_label },
                    a.record.subject_email
                ),
            }),
            Err(_) => None,
        },
        Some(("user", email)) if !email.is_empty() => {
            Some(AdminConfirm::User { email: email.to_owned(), issuer: issuer.filter(|i| !i.is_empty()) })
        }
        Some(("client", id)) => {
            client_name(id).map(|client_name| AdminConfirm::Client { client_id: id.to_owned(), client_name })
        }
        _ => None,
    };
    let filter = AdminAppsFilter { status: status.as_str().to_owned(), ..filter };
    Ok(AdminAppsPage {
        csrf_token: session_csrf_token(&guarded.ctx, &guarded.session).await?,
        next_page: page.next.map(|next| filter.url(&[("after", &next.encode())])),
        is_later_page: cursor.is_some(),
        clients: clients
            .iter()
            .map(|c| ClientChoice { client_id: c.client_id.clone(), name: c.name.clone() })
            .collect(),
        apps: {
            let registry = guarded.ctx.services.scopes.catalog().await?;
            page.items.iter().map(|app| authorized_app(app, &registry)).collect()
        },
        filter,
        confirm,
        notice: error.as_deref().and_then(AppErrorCode::parse),
        revoked: revoked.and_then(|n| n.parse().ok()),
    })
}

/// An admin revokes one token.
#[server(prefix = "/console/api", endpoint = "admin/authorized-apps/revoke")]
pub async fn admin_revoke_app(token_id: String, csrf_token: String, back: String) -> Result<RevokeOutcome, AppError> {
    use super::console::{finish_revoke, parse_token_id};
    use super::context::*;
    let back = admin_back(&back);
    let guarded = guard_action(Need::Admin, &csrf_token, &back).await?;
    let id = parse_token_id(&token_id, &back)?;
    let revoked = guarded
        .ctx
        .services
        .authorizations
        .admin_revoke(guarded.admin()?, id, client_ip().as_deref())
        .await
        .map_err(|e| fail(AppError::from(e), &back))?;
    Ok(finish_revoke(usize::from(revoked), &back))
}

/// An admin revokes every token recorded under one email: a Gatehouse
/// account's, or, with `issuer`, those of everyone signed in through that
/// single sign-on issuer with that address.
#[server(prefix = "/console/api", endpoint = "admin/authorized-apps/revoke-user")]
pub async fn admin_revoke_user(
    email: String,
    issuer: Option<String>,
    csrf_token: String,
    back: String,
) -> Result<RevokeOutcome, AppError> {
    let Some(selector) = gatehouse_core::services::authorizations::everyone_going_by(&email, issuer.as_deref()) else {
        return Err(super::context::fail(AppError::new(AppErrorCode::InvalidRequest), &admin_back(&back)));
    };
    admin_revoke_all(selector, csrf_token, back).await
}

/// An admin revokes every token issued to one client.
#[server(prefix = "/console/api", endpoint = "admin/authorized-apps/revoke-client")]
pub async fn admin_revoke_client(
    client_id: String,
    csrf_token: String,
    back: String,
) -> Result<RevokeOutcome, AppError> {
    let Some(selector) = gatehouse_core::services::authorizations::issued_to(&client_id) else {
        return Err(super::context::fail(AppError::new(AppErrorCode::InvalidRequest), &admin_back(&back)));
    };
    admin_revoke_all(selector, csrf_token, back).await
}

#[cfg(feature = "ssr")]
async fn admin_revoke_all(
    selector: gatehouse_core::listing::TokenSelector,
    csrf_token: String,
    back: String,
) -> Result<RevokeOutcome, AppError> {
    use super::console::finish_revoke;
    use super::context::*;
    let back = admin_back(&back);
    let guarded = guard_action(Need::Admin, &csrf_token, &back).await?;
    let revoked = guarded
        .ctx
        .services
        .authorizations
        .admin_revoke_all(guarded.admin()?, &selector, client_ip().as_deref())
        .await
        .map_err(|e| fail(AppError::from(e), &back))?;
    Ok(finish_revoke(revoked, &back))
}

/// Where an admin action returns to: the listing (with the filters the admin
/// had), never anywhere else.
#[cfg(feature = "ssr")]
fn admin_back(back: &str) -> String {
    let back = crate::navigation::safe_next(Some(back));
    let path = back.split('?').next().unwrap_or_default();
    if path == ADMIN_APPS_PATH {
        // Drop what the form's page had on top of its filters.
        strip_params(&back, &["confirm", "issuer", "error", "revoked", "after"])
    } else {
        ADMIN_APPS_PATH.to_owned()
    }
}

#[cfg(feature = "ssr")]
fn strip_params(url: &str, drop: &[&str]) -> String {
    let Some((path, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> =
        query.split('&').filter(|pair| !drop.contains(&pair.split('=').next().unwrap_or_default())).collect();
    if kept.is_empty() { path.to_owned() } else { format!("{path}?{}", kept.join("&")) }
}
