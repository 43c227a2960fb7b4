//! `/v1/admin/authorizations`: every subject's grants, filtered and
//! keyset-paginated as on `/admin/authorized-apps`, and revoking one, all of
//! a subject, all under an email, or all of a client.

use super::approval_policy::ApprovalSettings;
use super::{AdminCall, Answer, Body, Query, Refused, instant, no_content, ok};
use crate::http::AppState;
use axum::extract::{Path, State};
use gatehouse_core::TokenKind;
use gatehouse_core::approval_policy::Proximity;
use gatehouse_core::listing::{ActivityCursor, TokenSelector, TokenStatus};
use gatehouse_core::model::SubjectId;
use gatehouse_core::services::authorizations::{Authorization as Stored, AuthorizationFilter};
use gatehouse_core::services::authorizations::{everyone_going_by, issued_to};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A grant's state.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Active,
    Revoked,
    Expired,
}

/// Who a grant belongs to (OpenID Connect Core §2: issuer and subject id).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Subject {
    /// `local` for a Gatehouse account, `client` for a client's own token,
    /// else the SSO provider's issuer.
    pub issuer: String,
    /// The account id, the client id, or the provider's `sub`.
    pub id: String,
}

/// One grant (a device's or a client's token).
#[derive(Debug, Serialize, ToSchema)]
pub struct Authorization {
    pub token_id: Uuid,
    /// Absent for an SSO grant from before subjects were keyed by `sub`.
    pub subject: Option<Subject>,
    /// The subject's email as last seen (a client's own token: its id).
    pub email: String,
    /// `account`, `external_sso` or `client`.
    pub subject_type: String,
    pub client_id: String,
    pub client_name: String,
    /// As the device reported it.
    pub device_label: Option<String>,
    pub scopes: Vec<String>,
    pub status: Status,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub refreshable: bool,
    pub dpop_bound: bool,
    /// What its approval was judged on; absent for grants from before it
    /// was kept and for `client_credentials`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// The evidence an approval was judged on (docs/security.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct Approval {
    /// The device's network (an IPv4 address or an IPv6 prefix); absent when
    /// its address could not be established.
    pub device_network: Option<String>,
    pub approver_network: Option<String>,
    pub proximity: ApprovalProximity,
    /// The client's approval policy the flow was judged by.
    pub policy: ApprovalSettings,
    /// The device sent the code the approving browser showed.
    pub confirmed_on_device: bool,
}

/// How the approver's network compared with the device's.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalProximity {
    Same,
    Different,
    /// One of the two addresses could not be established.
    Unknown,
}

/// A page of grants, most recently used first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationPage {
    pub authorizations: Vec<Authorization>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The listing's filters and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizationQuery {
    /// Only grants recorded under this email (exact, case-insensitive).
    pub email: Option<String>,
    pub client_id: Option<String>,
    /// `active` (default), `revoked` or `expired`.
    pub status: Option<Status>,
    /// `true`: only grants approved from another network than their device's.
    pub crossed_networks: Option<bool>,
    /// A `next_cursor` from the page before.
    pub after: Option<String>,
    /// Rows per page, 1 to 100 (default 50).
    pub limit: Option<u32>,
}

/// Which grants to revoke: exactly one of `subject`, `email` or
/// `client_id` (`issuer` only goes with `email`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeAll {
    /// Every grant of one subject.
    pub subject: Option<Subject>,
    /// Every grant recorded under this email at `issuer`: everyone going by
    /// that address there.
    pub email: Option<String>,
    /// With `email`: the issuer the address belongs to (default `local`).
    pub issuer: Option<String>,
    /// Every grant issued to this client.
    pub client_id: Option<String>,
}

impl RevokeAll {
    fn selector(self) -> Option<TokenSelector> {
        let nonempty = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        match (self.subject, nonempty(self.email), nonempty(self.issuer), nonempty(self.client_id)) {
            (Some(Subject { issuer, id }), None, None, None) if !issuer.is_empty() && !id.is_empty() => {
                Some(TokenSelector::Subject(SubjectId { issuer, id }))
            }
            (None, Some(email), issuer, None) => everyone_going_by(&email, issuer.as_deref()),
            (None, None, None, Some(client_id)) => issued_to(&client_id),
            _ => None,
        }
    }
}

/// How many grants a revocation ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: usize,
}

fn authorization(a: &Stored) -> Authorization {
    let r = &a.record;
    Authorization {
        token_id: r.id,
        subject: r.subject().map(|s| Subject { issuer: s.issuer, id: s.id }),
        email: r.subject_email.clone(),
        subject_type: TokenKind::from_token(&r.prefix).map_or("unknown", TokenKind::subject_type).to_owned(),
        client_id: r.client_id.clone(),
        client_name: a.client_name.clone(),
        device_label: (!r.device_label.is_empty()).then(|| r.device_label.clone()),
        scopes: a.scopes.clone(),
        status: match a.status {
            TokenStatus::Active => Status::Active,
            TokenStatus::Revoked => Status::Revoked,
            TokenStatus::Expired => Status::Expired,
        },
        created_at: instant(r.created_at),
        last_used_at: r.last_used_at.map(instant),
        last_used_ip: r.last_used_ip.clone(),
        expires_at: instant(r.expires_at),
        revoked_at: r.revoked_at.map(instant),
        refreshable: r.refreshable,
        dpop_bound: r.dpop_jkt.is_some(),
        approval: r.approval.as_ref().map(|evidence| Approval {
            device_network: evidence.device_network.clone(),
            approver_network: evidence.approver_network.clone(),
            proximity: match evidence.proximity {
                Proximity::Same => ApprovalProximity::Same,
                Proximity::Different => ApprovalProximity::Different,
                Proximity::Unknown => ApprovalProximity::Unknown,
            },
            policy: ApprovalSettings::of(&evidence.policy),
            confirmed_on_device: evidence.confirmed_on_device,
        }),
    }
}

/// Every subject's grants, most recently used first.
#[utoipa::path(get, path = "/v1/admin/authorizations", tag = "authorizations", security(("admin_token" = [])),
    params(AuthorizationQuery),
    responses((status = 200, body = AuthorizationPage), (status = "4XX", body = super::ErrorBody)))]
pub async fn list(State(state): State<AppState>, call: AdminCall, Query(q): Query<AuthorizationQuery>) -> Answer {
    let after = match q.after.as_deref() {
        None => None,
        Some(cursor) => Some(ActivityCursor::decode(cursor).ok_or_else(|| Refused::invalid("after is not a cursor"))?),
    };
    let filter = AuthorizationFilter {
        subject_email: q.email.filter(|e| !e.trim().is_empty()),
        client_id: q.client_id.filter(|c| !c.trim().is_empty()),
        status: match q.status.unwrap_or_default() {
            Status::Active => TokenStatus::Active,
            Status::Revoked => TokenStatus::Revoked,
            Status::Expired => TokenStatus::Expired,
        },
        crossed_networks: q.crossed_networks.unwrap_or(false),
    };
    let page = state.services.authorizations.search(&call.admin, &filter, after, q.limit.unwrap_or(50)).await?;
    call.read(&state).await;
    ok(AuthorizationPage {
        authorizations: page.items.iter().map(authorization).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    })
}

/// One grant, whatever its state.
#[utoipa::path(get, path = "/v1/admin/authorizations/{token_id}", tag = "authorizations", security(("admin_token" = [])),
    params(("token_id" = Uuid, Path)),
    responses((status = 200, body = Authorization), (status = "4XX", body = super::ErrorBody)))]
pub async fn get_one(State(state): State<AppState>, call: AdminCall, Path(id): Path<String>) -> Answer {
    let id = Uuid::parse_str(&id).map_err(|_| Refused::not_found("authorization"))?;
    let found = state.services.authorizations.find(&call.admin, id).await?;
    call.read(&state).await;
    ok(authorization(&found.ok_or_else(|| Refused::not_found("authorization"))?))
}

/// Revokes one grant, at once on every instance. `404` when no unrevoked
/// grant has this id.
#[utoipa::path(delete, path = "/v1/admin/authorizations/{token_id}", tag = "authorizations", security(("admin_token" = [])),
    params(("token_id" = Uuid, Path)),
    responses((status = 204), (status = "4XX", body = super::ErrorBody)))]
pub async fn revoke(State(state): State<AppState>, call: AdminCall, Path(id): Path<String>) -> Answer {
    let id = Uuid::parse_str(&id).map_err(|_| Refused::not_found("authorization"))?;
    if !state.services.authorizations.admin_revoke(&call.admin, id, call.admin.ip()).await? {
        return Err(Refused::not_found("unrevoked authorization").into());
    }
    no_content()
}

/// Revokes every grant of a subject, under an email, or of a client.
#[utoipa::path(post, path = "/v1/admin/authorizations/revoke", tag = "authorizations", security(("admin_token" = [])),
    request_body = RevokeAll,
    responses((status = 200, body = Revoked), (status = "4XX", body = super::ErrorBody)))]
pub async fn revoke_all(State(state): State<AppState>, call: AdminCall, Body(which): Body<RevokeAll>) -> Answer {
    let selector =
        which.selector().ok_or_else(|| Refused::invalid("name exactly one of subject, email or client_id"))?;
    let revoked = state.services.authorizations.admin_revoke_all(&call.admin, &selector, call.admin.ip()).await?;
    ok(Revoked { revoked })
}
