//! Who did something (audit actors) and who is signed in (principals).

use crate::model::{Account, LOCAL_ISSUER, SsoPerson, SubjectId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who performed an audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    /// A person acting on their own things (approving, revoking their tokens).
    Account { email: String },
    /// A person signed in at the external SSO provider (no account row).
    External { email: String },
    /// An administrator acting through the console on someone else's things.
    Admin { email: String },
    /// An OAuth client (revoking its token, polling).
    Client { client_id: String },
    /// Gatehouse itself (expiry, first start, retention).
    System,
    /// An operator at the server's command line.
    Cli,
}

impl Actor {
    /// The stored kind: `account`, `external`, `admin`, `client`, `system` or `cli`.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Account { .. } => "account",
            Actor::External { .. } => "external",
            Actor::Admin { .. } => "admin",
            Actor::Client { .. } => "client",
            Actor::System => "system",
            Actor::Cli => "cli",
        }
    }

    /// The stored name: an email, a client id, or the kind for `system`/`cli`.
    pub fn name(&self) -> &str {
        match self {
            Actor::Account { email } | Actor::External { email } | Actor::Admin { email } => email,
            Actor::Client { client_id } => client_id,
            Actor::System => "system",
            Actor::Cli => "cli",
        }
    }

    /// Rebuilds an actor from its stored kind and name.
    pub fn from_stored(kind: &str, name: &str) -> Option<Self> {
        match kind {
            "account" => Some(Actor::Account { email: name.to_owned() }),
            "external" => Some(Actor::External { email: name.to_owned() }),
            "admin" => Some(Actor::Admin { email: name.to_owned() }),
            "client" => Some(Actor::Client { client_id: name.to_owned() }),
            "system" => Some(Actor::System),
            "cli" => Some(Actor::Cli),
            _ => None,
        }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::System | Actor::Cli => f.write_str(self.kind()),
            _ => write!(f, "{}:{}", self.kind(), self.name()),
        }
    }
}

/// Who is signed in to the browser's console: a local account, or a person
/// signed in through the SSO provider (no account row; their admin rights
/// come from the provider's groups). A person who approves one device
/// through the external-SSO branch is not signed in here: that identity
/// lives in the single-use approval grant (`services::sso`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Account(Account),
    Sso(SsoPerson),
}

impl Principal {
    /// The email tokens of this principal are recorded under.
    pub fn email(&self) -> &str {
        match self {
            Principal::Account(account) => &account.email,
            Principal::Sso(person) => &person.email,
        }
    }

    /// The issuer tokens of this principal are recorded under.
    pub fn issuer(&self) -> &str {
        match self {
            Principal::Account(_) => LOCAL_ISSUER,
            Principal::Sso(person) => &person.subject.issuer,
        }
    }

    /// Who the principal's grants belong to.
    pub fn subject(&self) -> SubjectId {
        match self {
            Principal::Account(account) => SubjectId::account(account.id),
            Principal::Sso(person) => person.subject.clone(),
        }
    }

    /// How pages greet the principal.
    pub fn display_name(&self) -> &str {
        match self {
            Principal::Account(account) => &account.name,
            Principal::Sso(person) => person.name.as_deref().unwrap_or(&person.email),
        }
    }

    /// The local account, if the principal is one.
    pub fn account(&self) -> Option<&Account> {
        match self {
            Principal::Account(account) => Some(account),
            Principal::Sso(_) => None,
        }
    }

    /// The account id, if the principal is a local account.
    pub fn account_id(&self) -> Option<Uuid> {
        self.account().map(|a| a.id)
    }

    /// The principal acting on its own things.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Account(account) => Actor::Account { email: account.email.clone() },
            Principal::Sso(person) => Actor::External { email: person.email.clone() },
        }
    }

    /// Proof of admin rights, if the principal has them. Admin use cases take
    /// an `Admin`, so the check cannot be forgotten by an edge.
    pub fn as_admin(&self) -> Option<Admin> {
        match self {
            Principal::Account(account) if account.is_admin && !account.disabled => {
                Some(Admin { actor: Actor::Admin { email: account.email.clone() }, ip: None })
            }
            Principal::Sso(person) if person.is_admin => {
                Some(Admin { actor: Actor::Admin { email: person.email.clone() }, ip: None })
            }
            Principal::Account(_) | Principal::Sso(_) => None,
        }
    }
}

/// Authority to administer Gatehouse: a signed-in admin (only
/// `Principal::as_admin` makes one) or the operator at the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    actor: Actor,
    /// Where the admin acts from, for the audit log.
    ip: Option<String>,
}

impl Admin {
    /// The operator at the server's command line, who owns the machine.
    pub fn command_line() -> Self {
        Self { actor: Actor::Cli, ip: None }
    }

    /// A confidential client an admin allowed the `admin` scope, acting
    /// through the admin API with its own token (only
    /// `BearerService::admin` makes one, after checking it still may).
    pub(crate) fn client(client_id: String) -> Self {
        Self { actor: Actor::Client { client_id }, ip: None }
    }

    /// The same admin, acting from `ip` (recorded with what they do).
    pub fn acting_from(self, ip: Option<String>) -> Self {
        Self { ip, ..self }
    }

    /// Where the admin acts from, if known.
    pub fn ip(&self) -> Option<&str> {
        self.ip.as_deref()
    }

    /// The audit actor for the admin's actions.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_round_trip_through_their_stored_form() {
        for actor in [
            Actor::Account { email: "ada@example.com".into() },
            Actor::Admin { email: "root@example.com".into() },
            Actor::Client { client_id: "gatehouse-cli".into() },
            Actor::System,
            Actor::Cli,
        ] {
            assert_eq!(Actor::from_stored(actor.kind(), actor.name()), Some(actor));
        }
        assert_eq!(Actor::from_stored("robot", "x"), None);
    }

    #[test]
    fn only_active_admin_accounts_are_admins() {
        let mut account = Account {
            id: Uuid::nil(),
            email: "root@example.com".into(),
            name: "Root".into(),
            is_admin: true,
            disabled: false,
            created_at: chrono::DateTime::UNIX_EPOCH,
            sessions_valid_after: None,
            passwordless: false,
        };
        assert!(Principal::Account(account.clone()).as_admin().is_some());
        account.disabled = true;
        assert!(Principal::Account(account.clone()).as_admin().is_none());
        account.disabled = false;
        account.is_admin = false;
        assert!(Principal::Account(account).as_admin().is_none());
    }
}
