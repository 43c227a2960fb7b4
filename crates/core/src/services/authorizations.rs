//! Authorized apps: the tokens people hold, as the console lists and revokes
//! them. A person manages their own; an admin manages everyone's.

use super::Ports;
use super::clients::ClientService;
use super::revocation::RevokedBy;
use crate::actor::{Admin, Principal};
use crate::error::StoreError;
use crate::formats::token::TokenKind;
use crate::listing::{ActivityCursor, Page, TokenQuery, TokenSelector, TokenStatus};
use crate::model::AccessTokenRecord;
use std::collections::HashMap;
use uuid::Uuid;

/// Largest page the admin listing serves.
pub const MAX_PAGE: u32 = 100;

/// What an admin's "revoke everything of this person" selects, decided
/// here for every edge: everyone going by `email` (normalised as accounts
/// store it) at `issuer`, a local account's when none is named; `None` for
/// a blank address.
pub fn everyone_going_by(email: &str, issuer: Option<&str>) -> Option<TokenSelector> {
    let email = super::accounts::normalize_email(email);
    let issuer = issuer.map(str::trim).filter(|issuer| !issuer.is_empty()).unwrap_or(crate::model::LOCAL_ISSUER);
    (!email.is_empty()).then(|| TokenSelector::Email { email, issuer: issuer.to_owned() })
}

/// Every token issued to `client_id` (as typed, surrounding blanks
/// dropped); `None` for a blank one.
pub fn issued_to(client_id: &str) -> Option<TokenSelector> {
    let client_id = client_id.trim();
    (!client_id.is_empty()).then(|| TokenSelector::Client(client_id.to_owned()))
}

/// A token as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub record: AccessTokenRecord,
    /// The client's display name (its id if the client is gone).
    pub client_name: String,
    /// What the token may do: its kind's scopes narrowed by the row.
    pub scopes: Vec<String>,
    pub status: TokenStatus,
}

/// What revoking one of one's own tokens did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnRevocation {
    Revoked,
    /// The token is theirs but was already revoked.
    AlreadyEnded,
    /// No token of theirs has this id.
    NotFound,
}

/// What the admin listing is filtered by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationFilter {
    /// A subject email (matched case-insensitively, exactly).
    pub subject_email: Option<String>,
    pub client_id: Option<String>,
    pub status: TokenStatus,
    /// Only grants approved from another network than their device's.
    pub crossed_networks: bool,
}

/// Listing and revoking authorized apps.
#[derive(Clone)]
pub struct AuthorizationService {
    ports: Ports,
    clients: ClientService,
}

impl AuthorizationService {
    pub(crate) fn new(ports: Ports, clients: ClientService) -> Self {
        Self { ports, clients }
    }

    /// The principal's active tokens, most recently used first.
    pub async fn list_own(&self, principal: &Principal) -> Result<Vec<Authorization>, StoreError> {
        let now = self.ports.clock.now();
        let rows = self.ports.tokens.list_active_for_subject(&principal.subject(), now).await?;
        self.describe(rows).await
    }

    /// Revokes one of the principal's own tokens. Another person's token
    /// is `NotFound`, exactly like an id that names nothing, so ids reveal
    /// nothing about other people; nothing changes then.
    pub async fn revoke_own(
        &self,
        principal: &Principal,
        token_id: Uuid,
        ip: Option<&str>,
    ) -> Result<OwnRevocation, StoreError> {
        let Some(row) = self.ports.tokens.find_by_id(token_id).await? else {
            return Ok(OwnRevocation::NotFound);
        };
        if !row.belongs_to(&principal.subject()) {
            return Ok(OwnRevocation::NotFound);
        }
        let revoked = self.ports.revoke_tokens(&[row.id], &principal.actor(), RevokedBy::Owner, ip).await?;
        Ok(if revoked.is_empty() { OwnRevocation::AlreadyEnded } else { OwnRevocation::Revoked })
    }

    /// Revokes every token of the principal; returns how many were revoked.
    pub async fn revoke_all_own(&self, principal: &Principal, ip: Option<&str>) -> Result<usize, StoreError> {
        let selector = TokenSelector::Subject(principal.subject());
        self.ports.revoke_selected(&selector, &principal.actor(), RevokedBy::Owner, ip).await
    }

    /// A page of every subject's tokens, most recently used first.
    pub async fn search(
        &self,
        _admin: &Admin,
        filter: &AuthorizationFilter,
        after: Option<ActivityCursor>,
        limit: u32,
    ) -> Result<Page<Authorization, ActivityCursor>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let query = TokenQuery {
            subject_email: filter.subject_email.as_deref().map(super::accounts::normalize_email),
            client_id: filter.client_id.clone(),
            crossed_networks: filter.crossed_networks,
            status: filter.status,
            after,
            // One row more than shown tells whether another page follows.
            limit: limit + 1,
            now: self.ports.clock.now(),
        };
        let rows = self.ports.tokens.search(&query).await?;
        let page = Page::cut(rows, limit, |last| ActivityCursor {
            last_activity: last.last_used_at.unwrap_or(last.created_at),
            id: last.id,
        });
        Ok(Page { items: self.describe(page.items).await?, next: page.next })
    }

    /// One token of any subject, as the admin listing describes it.
    pub async fn find(&self, _admin: &Admin, token_id: Uuid) -> Result<Option<Authorization>, StoreError> {
        let Some(row) = self.ports.tokens.find_by_id(token_id).await? else {
            return Ok(None);
        };
        Ok(self.describe(vec![row]).await?.pop())
    }

    /// An admin revokes one token; false when it was not unrevoked.
    pub async fn admin_revoke(&self, admin: &Admin, token_id: Uuid, ip: Option<&str>) -> Result<bool, StoreError> {
        Ok(!self.ports.revoke_tokens(&[token_id], admin.actor(), RevokedBy::Admin, ip).await?.is_empty())
    }

    /// An admin revokes every token of a subject or a client; returns how many.
    pub async fn admin_revoke_all(
        &self,
        admin: &Admin,
        selector: &TokenSelector,
        ip: Option<&str>,
    ) -> Result<usize, StoreError> {
        self.ports.revoke_selected(selector, admin.actor(), RevokedBy::Admin, ip).await
    }

    async fn describe(&self, rows: Vec<AccessTokenRecord>) -> Result<Vec<Authorization>, StoreError> {
        // Client names through the client service's short-lived cache: a
        // page names a few clients, so this rarely reaches the database.
        let mut names: HashMap<String, String> = HashMap::new();
        for row in &rows {
            if !names.contains_key(&row.client_id) {
                let name = self.clients.find(&row.client_id).await?.map(|c| c.name);
                names.insert(row.client_id.clone(), name.unwrap_or_else(|| row.client_id.clone()));
            }
        }
        let now = self.ports.clock.now();
        Ok(rows
            .into_iter()
            .map(|record| Authorization {
                client_name: names.get(&record.client_id).cloned().unwrap_or_default(),
                scopes: TokenKind::from_token(&record.prefix).map(|k| k.narrow(&record.scopes)).unwrap_or_default(),
                status: status_of(&record, now),
                record,
            })
            .collect())
    }
}

/// The console's reading of a row's state (see `TokenStatus`).
pub fn status_of(record: &AccessTokenRecord, now: chrono::DateTime<chrono::Utc>) -> TokenStatus {
    match record.revoked_at {
        Some(revoked) if revoked < record.expires_at => TokenStatus::Revoked,
        None if record.expires_at > now => TokenStatus::Active,
        _ => TokenStatus::Expired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoke_all_selects_the_same_people_from_every_edge() {
        let local = everyone_going_by("  Ada@Example.com ", None);
        assert_eq!(local, Some(TokenSelector::Email { email: "ada@example.com".into(), issuer: "local".into() }));
        assert_eq!(everyone_going_by("ada@example.com", Some(" ")), local, "a blank issuer names none");
        let sso = everyone_going_by("ada@example.com", Some("https://idp.example"));
        assert!(matches!(sso, Some(TokenSelector::Email { issuer, .. }) if issuer == "https://idp.example"));
        assert_eq!(everyone_going_by("  ", None), None);
        assert_eq!(issued_to(" ci "), Some(TokenSelector::Client("ci".into())));
        assert_eq!(issued_to(""), None);
    }
}
