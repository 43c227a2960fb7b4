//! `/v1/admin/scopes`: the scope registry (what scopes exist, their plain
//! words on the approval page, and who may hold them).

use super::{AdminCall, Answer, Body, Failure, Refused, created, instant, no_content, ok};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gatehouse_core::model::{ScopeDefinition, ScopeHolders};
use gatehouse_core::services::scopes::ScopeError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which kinds of subject may hold a scope.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Holders {
    /// Local Gatehouse accounts only.
    Accounts,
    /// People signed in through the SSO provider only.
    External,
    Everyone,
}

impl Holders {
    /// As the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Holders::Accounts => "accounts",
            Holders::External => "external",
            Holders::Everyone => "everyone",
        }
    }
}

/// A scope of the registry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Scope {
    pub name: String,
    /// What the approval page says it allows.
    pub description: String,
    pub holders: Holders,
    /// Shipped with Gatehouse: it cannot be deleted, nor its holders changed.
    pub built_in: bool,
    pub created_at: String,
}

/// The registry, built-in scopes first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScopeList {
    pub scopes: Vec<Scope>,
}

/// A scope to add.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewScope {
    /// 1 to 64 letters, digits, `:`, `.`, `_`, `/` or `-`.
    pub name: String,
    /// 1 to 200 characters of plain words.
    pub description: String,
    pub holders: Holders,
}

/// A scope's words and holders.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScopeSettings {
    pub description: String,
    pub holders: Holders,
}

fn scope(s: &ScopeDefinition) -> Scope {
    Scope {
        name: s.name.clone(),
        description: s.description.clone(),
        holders: match s.holders {
            ScopeHolders::Accounts => Holders::Accounts,
            ScopeHolders::External => Holders::External,
            ScopeHolders::Everyone => Holders::Everyone,
        },
        built_in: s.built_in,
        created_at: instant(s.created_at),
    }
}

fn holders(h: Holders) -> ScopeHolders {
    match h {
        Holders::Accounts => ScopeHolders::Accounts,
        Holders::External => ScopeHolders::External,
        Holders::Everyone => ScopeHolders::Everyone,
    }
}

fn refused(err: ScopeError) -> Failure {
    match err {
        ScopeError::Unavailable(e) => e.into(),
        ScopeError::InvalidName | ScopeError::InvalidDescription => Refused::invalid(err).into(),
        ScopeError::Exists => Refused::new(StatusCode::CONFLICT, "already_exists", err).into(),
        ScopeError::NotFound => Refused::not_found("scope").into(),
        ScopeError::BuiltIn => Refused::new(StatusCode::CONFLICT, "built_in", err).into(),
        ScopeError::InUse(_) => Refused::new(StatusCode::CONFLICT, "in_use", err).into(),
    }
}

/// Every scope.
#[utoipa::path(get, path = "/v1/admin/scopes", tag = "scopes", security(("admin_token" = [])),
    responses((status = 200, body = ScopeList), (status = "4XX", body = super::ErrorBody)))]
pub async fn list(State(state): State<AppState>, call: AdminCall) -> Answer {
    let catalog = state.services.scopes.catalog().await?;
    call.read(&state).await;
    ok(ScopeList { scopes: catalog.all().iter().map(scope).collect() })
}

/// Adds a scope.
#[utoipa::path(post, path = "/v1/admin/scopes", tag = "scopes", security(("admin_token" = [])),
    request_body = NewScope,
    responses((status = 201, body = Scope), (status = "4XX", body = super::ErrorBody)))]
pub async fn create(State(state): State<AppState>, call: AdminCall, Body(new): Body<NewScope>) -> Answer {
    let made = state
        .services
        .scopes
        .create(&call.admin, &new.name, &new.description, holders(new.holders))
        .await
        .map_err(refused)?;
    created(scope(&made))
}

/// Changes a scope's words, and who may hold it (not for a built-in scope).
#[utoipa::path(put, path = "/v1/admin/scopes/{name}", tag = "scopes", security(("admin_token" = [])),
    params(("name" = String, Path)), request_body = ScopeSettings,
    responses((status = 200, body = Scope), (status = "4XX", body = super::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    call: AdminCall,
    Path(name): Path<String>,
    Body(settings): Body<ScopeSettings>,
) -> Answer {
    let changed = state
        .services
        .scopes
        .update(&call.admin, &name, &settings.description, holders(settings.holders))
        .await
        .map_err(refused)?;
    ok(scope(&changed))
}

/// Deletes a scope no client allows.
#[utoipa::path(delete, path = "/v1/admin/scopes/{name}", tag = "scopes", security(("admin_token" = [])),
    params(("name" = String, Path)),
    responses((status = 204), (status = "4XX", body = super::ErrorBody)))]
pub async fn delete(State(state): State<AppState>, call: AdminCall, Path(name): Path<String>) -> Answer {
    state.services.scopes.delete(&call.admin, &name).await.map_err(refused)?;
    no_content()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI mirror of `ScopeHolders` (the core stays free of utoipa)
    /// names every holder as the core does, both ways.
    #[test]
    fn the_mirrored_holders_round_trip_by_name() {
        for h in [Holders::Accounts, Holders::External, Holders::Everyone] {
            assert_eq!(holders(h).as_str(), h.as_str());
            let back = scope(&ScopeDefinition {
                name: "s".into(),
                description: "d".into(),
                holders: holders(h),
                built_in: false,
                created_at: chrono::DateTime::UNIX_EPOCH,
            });
            assert_eq!(back.holders.as_str(), h.as_str());
        }
    }
}
