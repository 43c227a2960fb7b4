//! The console header and `/settings/authorized-apps`: a signed-in person
//! sees the apps and devices holding a token for them, and signs them out.

use super::views::ScopeView;
use crate::error::{AppError, AppErrorCode};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::navigation::MY_APPS_PATH;

/// What the header shows about the visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderData {
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    /// A Gatehouse account, with a password it can change here (not a
    /// person of the SSO provider).
    pub has_password: bool,
    /// For the sign-out form.
    pub csrf_token: String,
}

/// One authorized app or device, as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizedApp {
    pub token_id: String,
    pub client_name: String,
    pub client_id: String,
    /// As reported by the device; never verified.
    pub device_label: Option<String>,
    pub scopes: Vec<ScopeView>,
    pub created: String,
    pub last_used: Option<String>,
    pub last_used_ip: Option<String>,
    /// Whether the grant holds a refresh token (its end moves with use).
    pub refreshable: bool,
    pub last_refreshed: Option<String>,
    /// Whether its tokens only work with the device's key (DPoP).
    pub key_bound: bool,
    pub expires: String,
    /// `active`, `revoked` or `expired`.
    pub status: String,
    /// The subject's email (the admin listing shows it).
    pub subject_email: String,
    /// The single sign-on issuer that vouched for the subject; `None` for a
    /// Gatehouse account.
    pub subject_issuer: Option<String>,
    /// What its approval was judged on, in plain words (none for grants
    /// from before it was kept).
    #[serde(default)]
    pub approval: Option<String>,
}

/// What happened after a revoke, for the confirmation message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeOutcome {
    pub revoked: usize,
}

/// The data of `/settings/authorized-apps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyAppsPage {
    pub csrf_token: String,
    pub apps: Vec<AuthorizedApp>,
    /// The visitor asked to revoke everything and must confirm.
    pub confirm_revoke_all: bool,
    pub notice: Option<AppErrorCode>,
    /// How many tokens the last revoke (JavaScript off) signed out.
    pub revoked: Option<usize>,
}

/// The header's view of the visitor; `None` when nobody is signed in. Never
/// creates a session for an anonymous visitor.
#[server(prefix = "/console/api", endpoint = "header")]
pub async fn load_header() -> Result<Option<HeaderData>, AppError> {
    use super::context::*;
    let ctx = app_context()?;
    let session = session()?;
    let Some(principal) = signed_in(&ctx, &session).await? else {
        return Ok(None);
    };
    Ok(Some(HeaderData {
        name: principal.display_name().to_owned(),
        email: principal.email().to_owned(),
        is_admin: principal.as_admin().is_some(),
        has_password: matches!(principal, gatehouse_core::Principal::Account(_)),
        csrf_token: session_csrf_token(&ctx, &session).await?,
    }))
}

/// Loads `/settings/authorized-apps`.
#[server(prefix = "/console/api", endpoint = "settings/authorized-apps/page")]
pub async fn load_my_apps(
    confirm: Option<String>,
    error: Option<String>,
    revoked: Option<String>,
) -> Result<MyAppsPage, AppError> {
    use super::context::*;
    let guarded = guard(Need::SignedIn, MY_APPS_PATH).await?;
    let apps = guarded.ctx.services.authorizations.list_own(&guarded.principal).await?;
    Ok(MyAppsPage {
        csrf_token: session_csrf_token(&guarded.ctx, &guarded.session).await?,
        apps: {
            let registry = guarded.ctx.services.scopes.catalog().await?;
            apps.iter().map(|app| authorized_app(app, &registry)).collect()
        },
        confirm_revoke_all: confirm.as_deref() == Some("revoke-all"),
        notice: error.as_deref().and_then(AppErrorCode::parse),
        revoked: revoked.and_then(|n| n.parse().ok()),
    })
}

/// Signs one of the visitor's own apps out.
#[server(prefix = "/console/api", endpoint = "settings/authorized-apps/revoke")]
pub async fn revoke_my_app(token_id: String, csrf_token: String) -> Result<RevokeOutcome, AppError> {
    use super::context::*;
    let guarded = guard_action(Need::SignedIn, &csrf_token, MY_APPS_PATH).await?;
    let id = parse_token_id(&token_id, MY_APPS_PATH)?;
    let outcome = guarded
        .ctx
        .services
        .authorizations
        .revoke_own(&guarded.principal, id, client_ip().as_deref())
        .await
        .map_err(|e| fail(AppError::from(e), MY_APPS_PATH))?;
    use gatehouse_core::services::authorizations::OwnRevocation;
    match outcome {
        OwnRevocation::Revoked => Ok(finish_revoke(1, MY_APPS_PATH)),
        OwnRevocation::AlreadyEnded => Ok(finish_revoke(0, MY_APPS_PATH)),
        // Another person's token answers as one that does not exist.
        OwnRevocation::NotFound => Err(fail(AppError::new(AppErrorCode::NotFound), MY_APPS_PATH)),
    }
}

/// Signs every app of the visitor out (after the confirmation step).
#[server(prefix = "/console/api", endpoint = "settings/authorized-apps/revoke-all")]
pub async fn revoke_all_my_apps(csrf_token: String) -> Result<RevokeOutcome, AppError> {
    use super::context::*;
    let guarded = guard_action(Need::SignedIn, &csrf_token, MY_APPS_PATH).await?;
    let revoked = guarded
        .ctx
        .services
        .authorizations
        .revoke_all_own(&guarded.principal, client_ip().as_deref())
        .await
        .map_err(|e| fail(AppError::from(e), MY_APPS_PATH))?;
    Ok(finish_revoke(revoked, MY_APPS_PATH))
}

/// A token id from a form; a malformed one is a 400.
#[cfg(feature = "ssr")]
pub(crate) fn parse_token_id(token_id: &str, back: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(token_id.trim())
        .map_err(|_| super::context::fail(AppError::new(AppErrorCode::InvalidRequest), back))
}

/// Sends a plain form post back to `back` saying how many were revoked.
#[cfg(feature = "ssr")]
pub(crate) fn finish_revoke(revoked: usize, back: &str) -> RevokeOutcome {
    super::context::succeed_to(&crate::navigation::append_query(back, "revoked", &revoked.to_string()));
    RevokeOutcome { revoked }
}

/// The console's view of one token.
#[cfg(feature = "ssr")]
pub(crate) fn authorized_app(
    app: &gatehouse_core::services::authorizations::Authorization,
    registry: &gatehouse_core::services::scopes::ScopeCatalog,
) -> AuthorizedApp {
    let record = &app.record;
    AuthorizedApp {
        token_id: record.id.to_string(),
        client_name: app.client_name.clone(),
        client_id: record.client_id.clone(),
        device_label: (!record.device_label.is_empty()).then(|| record.device_label.clone()),
        scopes: app.scopes.iter().map(|s| ScopeView::of(s, registry)).collect(),
        created: super::views::moment(record.created_at),
        last_used: record.last_used_at.map(super::views::moment),
        last_used_ip: record.last_used_ip.clone(),
        refreshable: record.refreshable,
        last_refreshed: record.refreshed_at.map(super::views::moment),
        key_bound: record.dpop_jkt.is_some(),
        expires: super::views::moment(record.expires_at),
        status: app.status.as_str().to_owned(),
        subject_email: record.subject_email.clone(),
        subject_issuer: (record.subject_issuer != gatehouse_core::model::LOCAL_ISSUER)
            .then(|| record.subject_issuer.clone()),
        approval: record.approval.as_ref().map(evidence_words),
    }
}

/// An approval's evidence in one sentence: the two networks, whether they
/// matched, the rule the client had, and whether the device confirmed.
#[cfg(feature = "ssr")]
fn evidence_words(evidence: &gatehouse_core::approval_policy::ApprovalEvidence) -> String {
    use gatehouse_core::approval_policy::{ApproverNetwork, Proximity};
    let network =
        |n: &Option<String>| n.clone().unwrap_or_else(|| "an address that could not be determined".to_owned());
    let compared = match evidence.proximity {
        Proximity::Same => "the same network as the device",
        Proximity::Different => "a different network than the device",
        Proximity::Unknown => "a network that could not be compared with the device's",
    };
    let rule = match evidence.policy.approver_network {
        ApproverNetwork::Any => "approvals from any network",
        ApproverNetwork::SameNetwork => "approvals from the device's network only",
        ApproverNetwork::Listed => "approvals from listed networks only",
    };
    format!(
        "Approved from {} ({compared}; the device asked from {}). The app allowed {rule}{}.",
        network(&evidence.approver_network),
        network(&evidence.device_network),
        if evidence.confirmed_on_device { ", and the device confirmed the approval" } else { "" },
    )
}
