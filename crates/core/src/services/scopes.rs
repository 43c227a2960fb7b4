//! The operator's scope registry: which scopes exist, what each means in
//! plain words, and which kinds of subject may hold it. The four scopes
//! Gatehouse ships with are its seed and cannot be deleted; `full` stays
//! an account-only scope, and `admin` is kept only when asked for by name
//! (who may approve it is decided at approval, not here).
//!
//! The registry is read often (every redemption, refresh, discovery and
//! approval page) and changes rarely, so each process reuses what it read
//! for `SCOPE_CACHE_TTL`, as it does for clients; a change made here is seen
//! here at once.

use super::Ports;
use super::recent::Recent;
use crate::actor::Admin;
use crate::error::StoreError;
use crate::formats::token::TokenKind;
use crate::model::{ScopeDefinition, ScopeHolders};
use crate::ports::{AuditEvent, AuditKind};
use std::sync::Arc;

/// How long the registry is reused from this process's memory.
const SCOPE_CACHE_TTL: chrono::Duration = chrono::Duration::seconds(5);
/// The longest scope name and description.
pub const NAME_MAX_CHARS: usize = 64;
pub const DESCRIPTION_MAX_CHARS: usize = 200;

/// Why a scope could not be created, changed or deleted.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("a scope name is 1 to 64 letters, digits, ':', '.', '_', '/' or '-'")]
    InvalidName,
    #[error("the description must be 1 to 200 characters, with no control or direction-changing characters")]
    InvalidDescription,
    #[error("a scope with this name exists")]
    Exists,
    #[error("no such scope")]
    NotFound,
    #[error("a built-in scope cannot be deleted, and who may hold it cannot change")]
    BuiltIn,
    #[error("clients still allow this scope: {}", .0.join(", "))]
    InUse(Vec<String>),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// The registry as read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeCatalog(Arc<Vec<ScopeDefinition>>);

impl ScopeCatalog {
    /// Every scope, built-in ones first.
    pub fn all(&self) -> &[ScopeDefinition] {
        &self.0
    }

    pub fn find(&self, name: &str) -> Option<&ScopeDefinition> {
        self.0.iter().find(|s| s.name == name)
    }

    /// Whether `name` is a scope of the registry.
    pub fn knows(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The plain words for `name` on the approval page.
    pub fn describe(&self, name: &str) -> String {
        self.find(name).map_or_else(|| "An unrecognised permission".to_owned(), |s| s.description.clone())
    }

    /// Every scope name, in the registry's order (discovery lists them).
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|s| s.name.clone()).collect()
    }

    /// What a token of `kind` carries of `granted`: the scopes its kind may
    /// hold, never more. `full` means "everything this subject may have": an
    /// account keeps `full` alone (it covers the rest); an SSO person gets
    /// every scope external subjects may hold. `admin` is kept only when
    /// asked for by name, and a client's token carries only it. Unknown
    /// scopes are dropped.
    pub fn narrow(&self, kind: TokenKind, granted: &[String]) -> Vec<String> {
        use crate::scope::{ADMIN, FULL};
        let holdable = |name: &str| self.find(name).is_some_and(|s| s.holders.allows(kind));
        // `full` never stands for `admin`: that is kept only when asked for by name.
        let admin = granted.iter().any(|g| g == ADMIN) && holdable(ADMIN);
        let mut narrowed: Vec<String> = if kind != TokenKind::Client && granted.iter().any(|g| g == FULL) {
            match kind {
                // `full` already covers every other scope.
                TokenKind::Account => vec![FULL.to_owned()],
                _ => self
                    .0
                    .iter()
                    .filter(|s| s.holders.allows(kind) && s.name != ADMIN)
                    .map(|s| s.name.clone())
                    .collect(),
            }
        } else {
            granted.iter().filter(|g| kind != TokenKind::Client && *g != ADMIN && holdable(g)).cloned().collect()
        };
        if admin {
            narrowed.push(ADMIN.to_owned());
        }
        narrowed
    }
}

/// The registry's use cases.
#[derive(Clone)]
pub struct ScopeService {
    ports: Ports,
    cache: Arc<Recent<(), ScopeCatalog>>,
}

impl ScopeService {
    pub(crate) fn new(ports: Ports) -> Self {
        Self { ports, cache: Arc::new(Recent::new(SCOPE_CACHE_TTL, 1)) }
    }

    /// The registry, from this process's short-lived copy or the database.
    pub async fn catalog(&self) -> Result<ScopeCatalog, StoreError> {
        let now = self.ports.clock.now();
        if let Some(catalog) = self.cache.get(&(), now) {
            return Ok(catalog);
        }
        let catalog = ScopeCatalog(Arc::new(self.ports.scopes.list_scopes().await?));
        self.cache.insert((), catalog.clone(), now);
        Ok(catalog)
    }

    /// An admin adds a scope.
    pub async fn create(
        &self,
        admin: &Admin,
        name: &str,
        description: &str,
        holders: ScopeHolders,
    ) -> Result<ScopeDefinition, ScopeError> {
        let name = check_name(name)?;
        let description = check_description(description)?;
        let scope = ScopeDefinition { name, description, holders, built_in: false, created_at: self.ports.clock.now() };
        if !self.ports.scopes.create_scope(&scope).await? {
            return Err(ScopeError::Exists);
        }
        self.cache.remove(&());
        self.record(AuditKind::ScopeCreated, admin, &scope.name, details(&scope)).await;
        Ok(scope)
    }

    /// An admin changes a scope's words or who may hold it (a built-in
    /// scope's words only).
    pub async fn update(
        &self,
        admin: &Admin,
        name: &str,
        description: &str,
        holders: ScopeHolders,
    ) -> Result<ScopeDefinition, ScopeError> {
        let description = check_description(description)?;
        let current = self.stored(name).await?;
        if current.built_in && holders != current.holders {
            return Err(ScopeError::BuiltIn);
        }
        if !self.ports.scopes.update_scope(name, &description, holders).await? {
            return Err(ScopeError::NotFound);
        }
        self.cache.remove(&());
        let scope = ScopeDefinition { description, holders, ..current };
        self.record(AuditKind::ScopeUpdated, admin, name, details(&scope)).await;
        Ok(scope)
    }

    /// An admin deletes a scope no client allows. Tokens already holding it
    /// keep the name until they end; nothing honours an unknown scope.
    pub async fn delete(&self, admin: &Admin, name: &str) -> Result<(), ScopeError> {
        if self.stored(name).await?.built_in {
            return Err(ScopeError::BuiltIn);
        }
        let users: Vec<String> = self
            .ports
            .clients
            .list()
            .await?
            .into_iter()
            .filter(|c| c.allowed_scopes.iter().any(|s| s == name))
            .map(|c| c.client_id)
            .collect();
        if !users.is_empty() {
            return Err(ScopeError::InUse(users));
        }
        if !self.ports.scopes.delete_scope(name).await? {
            return Err(ScopeError::NotFound);
        }
        self.cache.remove(&());
        self.record(AuditKind::ScopeDeleted, admin, name, serde_json::Value::Null).await;
        Ok(())
    }

    /// The scope as the database holds it now (a change is never decided
    /// on this process's cached copy).
    async fn stored(&self, name: &str) -> Result<ScopeDefinition, ScopeError> {
        let scopes = self.ports.scopes.list_scopes().await?;
        scopes.into_iter().find(|s| s.name == name).ok_or(ScopeError::NotFound)
    }

    async fn record(&self, kind: AuditKind, admin: &Admin, name: &str, details: serde_json::Value) {
        self.ports
            .audit(AuditEvent {
                kind,
                actor: Some(admin.actor().clone()),
                subject: Some(name.to_owned()),
                client_id: None,
                ip: admin.ip().map(str::to_owned),
                details,
                at: self.ports.clock.now(),
            })
            .await;
    }
}

fn details(scope: &ScopeDefinition) -> serde_json::Value {
    serde_json::json!({ "description": scope.description, "holders": scope.holders.as_str() })
}

/// A scope name: RFC 6749 §3.3 allows more, but these are the characters a
/// person can read and type without doubt.
fn check_name(name: &str) -> Result<String, ScopeError> {
    let name = name.trim();
    let ok = (1..=NAME_MAX_CHARS).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '/' | '-'));
    if ok { Ok(name.to_owned()) } else { Err(ScopeError::InvalidName) }
}

/// Plain words shown on the approval page: no control characters and no
/// bidirectional overrides, which could make a description read as
/// something else.
fn check_description(description: &str) -> Result<String, ScopeError> {
    let description = description.trim();
    let tricky = |c: char| {
        c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    let ok = !description.is_empty()
        && description.chars().count() <= DESCRIPTION_MAX_CHARS
        && !description.chars().any(tricky);
    if ok { Ok(description.to_owned()) } else { Err(ScopeError::InvalidDescription) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn scope(name: &str, holders: ScopeHolders) -> ScopeDefinition {
        ScopeDefinition {
            name: name.into(),
            description: format!("{name} words"),
            holders,
            built_in: false,
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    fn catalog() -> ScopeCatalog {
        ScopeCatalog(Arc::new(vec![
            scope("full", ScopeHolders::Accounts),
            scope("apps:run", ScopeHolders::Everyone),
            scope("reports:read", ScopeHolders::External),
            scope("billing", ScopeHolders::Accounts),
            scope("admin", ScopeHolders::Everyone),
        ]))
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn narrowing_keeps_what_the_kind_may_hold() {
        let c = catalog();
        assert_eq!(c.narrow(TokenKind::Account, &names(&["full", "apps:run"])), names(&["full"]));
        assert_eq!(c.narrow(TokenKind::Account, &names(&["reports:read", "billing"])), names(&["billing"]));
        assert_eq!(c.narrow(TokenKind::External, &names(&["full"])), names(&["apps:run", "reports:read"]));
        assert_eq!(c.narrow(TokenKind::External, &names(&["billing", "apps:run"])), names(&["apps:run"]));
        // `full` never brings `admin` along; asked for by name, it is kept.
        assert_eq!(c.narrow(TokenKind::External, &names(&["full"])), names(&["apps:run", "reports:read"]));
        assert_eq!(c.narrow(TokenKind::Account, &names(&["admin", "full"])), names(&["full", "admin"]));
        assert_eq!(c.narrow(TokenKind::External, &names(&["admin"])), names(&["admin"]));
        // A client's own token carries `admin` and nothing else.
        assert_eq!(c.narrow(TokenKind::Client, &names(&["full", "apps:run", "admin"])), names(&["admin"]));
        assert_eq!(c.narrow(TokenKind::Client, &names(&["full", "apps:run"])), Vec::<String>::new());
        assert_eq!(c.narrow(TokenKind::Account, &names(&["unknown"])), Vec::<String>::new());
        assert_eq!(c.describe("billing"), "billing words");
        assert_eq!(c.describe("nope"), "An unrecognised permission");
    }

    #[test]
    fn names_and_descriptions_are_checked() {
        assert_eq!(check_name(" reports:read ").ok().as_deref(), Some("reports:read"));
        for bad in ["", "has space", "é", "a\"b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_description("Read your reports").is_ok());
        for bad in ["", " ", "tab\there", "evil\u{202e}txt", &"x".repeat(201)] {
            assert!(check_description(bad).is_err(), "{bad:?}");
        }
    }
}
