//! OAuth client registration and client authentication (RFC 6749 §2.3).

use super::Ports;
use super::recent::Recent;
use super::scopes::{ScopeCatalog, ScopeService};
use crate::actor::{Actor, Admin};
use crate::approval_policy::ApprovalPolicy;
use crate::error::{OAuthError, OAuthErrorCode, StoreError};
use crate::formats::base62;
use crate::listing::TokenSelector;
use crate::model::{CLIENT_ISSUER, ClientType, OAuthClient, SubjectId, TokenPolicy};
use crate::ports::{AuditEvent, AuditKind, ClientEdit};
use crate::random::random_string;
use crate::secret::{SecretString, sha256_hex};
use crate::services::revocation::RevokedBy;
use std::sync::Arc;

/// How long a client record is reused from this process's memory. Polls are
/// the hottest path and must reach only the state store, so clients are not
/// read from SQL on every request; a change (disable) reaches this instance at
/// once and other instances within this time.
const CLIENT_CACHE_TTL: chrono::Duration = chrono::Duration::seconds(5);

/// The public client every installation has, used by `gatehouse login`.
pub const DEFAULT_CLI_CLIENT_ID: &str = "gatehouse-cli";

/// Why a client could not be authenticated for the device grant.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Why a client could not be registered or changed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("a client id is 1 to 64 letters, digits, '.', '_' or '-'")]
    InvalidId,
    #[error("the name must be 1 to 100 characters")]
    InvalidName,
    #[error("unknown scope {0:?}")]
    UnknownScope(String),
    #[error("a client needs at least one scope")]
    NoScopes,
    #[error("a client with this id already exists")]
    IdTaken,
    #[error("no such client")]
    NotFound,
    #[error("only confidential clients have a secret")]
    NotConfidential,
    #[error("{0}")]
    InvalidPolicy(&'static str),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

fn check_id(client_id: &str) -> Result<(), ClientError> {
    let ok = (1..=64).contains(&client_id.len())
        && client_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(ClientError::InvalidId) }
}

/// Checks an edit: a trimmed name of 1–100 characters, known scopes, at least one.
fn check_edit(edit: ClientEdit, registry: &ScopeCatalog) -> Result<ClientEdit, ClientError> {
    let name = edit.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ClientError::InvalidName);
    }
    if let Some(unknown) = edit.allowed_scopes.iter().find(|s| !registry.knows(s)) {
        return Err(ClientError::UnknownScope(unknown.clone()));
    }
    if edit.allowed_scopes.is_empty() {
        return Err(ClientError::NoScopes);
    }
    let mut allowed_scopes: Vec<String> = Vec::new();
    for scope in edit.allowed_scopes {
        if !allowed_scopes.contains(&scope) {
            allowed_scopes.push(scope);
        }
    }
    check_policy(&edit.policy)?;
    edit.approval.check().map_err(ClientError::InvalidPolicy)?;
    Ok(ClientEdit { name, allowed_scopes, device_grant_enabled: edit.device_grant_enabled, ..edit })
}

/// The bounds of a client's own lifetimes: a minute to a year, and a
/// polling interval of 1 to 60 seconds (RFC 8628 §3.2's default is 5).
fn check_policy(policy: &TokenPolicy) -> Result<(), ClientError> {
    const MINUTE: u32 = 60;
    const YEAR: u32 = 366 * 24 * 3600;
    let lifetime_ok = |ttl: Option<u32>| ttl.is_none_or(|t| (MINUTE..=YEAR).contains(&t));
    if !lifetime_ok(policy.access_token_ttl) || !lifetime_ok(policy.grant_ttl) || !lifetime_ok(policy.grant_idle_ttl) {
        return Err(ClientError::InvalidPolicy("a lifetime is 60 seconds to 366 days"));
    }
    if policy.poll_interval.is_some_and(|i| !(1..=60).contains(&i)) {
        return Err(ClientError::InvalidPolicy("the polling interval is 1 to 60 seconds"));
    }
    Ok(())
}

/// What to register.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    pub allowed_scopes: Vec<String>,
    /// Whether the client may use the device authorization grant.
    pub device_grant: bool,
    pub policy: TokenPolicy,
    pub approval: ApprovalPolicy,
}

/// Past this many cached client ids (unknown ones included) the cache sheds.
const CLIENT_CACHE_LIMIT: usize = 10_000;

/// Client registration and authentication.
#[derive(Clone)]
pub struct ClientService {
    ports: Ports,
    scopes: ScopeService,
    /// Client records (or their absence) recently read.
    recent: Arc<Recent<String, Option<OAuthClient>>>,
}

impl ClientService {
    pub(crate) fn new(ports: Ports, scopes: ScopeService) -> Self {
        Self { ports, scopes, recent: Arc::new(Recent::new(CLIENT_CACHE_TTL, CLIENT_CACHE_LIMIT)) }
    }

    /// The client by id, from the short-lived in-process cache or the database.
    /// Unknown ids are cached too (briefly); the cache is bounded.
    pub(crate) async fn find(&self, client_id: &str) -> Result<Option<OAuthClient>, StoreError> {
        let now = self.ports.clock.now();
        if let Some(client) = self.recent.get(client_id, now) {
            return Ok(client);
        }
        let client = self.ports.clients.find(client_id).await?;
        self.recent.insert(client_id.to_owned(), client.clone(), now);
        Ok(client)
    }

    fn forget(&self, client_id: &str) {
        self.recent.remove(client_id);
    }

    /// Registers a client. For a confidential client the generated secret is
    /// returned once and only its hash is stored. `None` when the id is taken.
    pub async fn register(
        &self,
        admin: &Admin,
        registration: ClientRegistration,
    ) -> Result<(OAuthClient, Option<SecretString>), ClientError> {
        check_id(&registration.client_id)?;
        let registry = self.scopes.catalog().await?;
        let edit = check_edit(
            ClientEdit {
                name: registration.name,
                allowed_scopes: registration.allowed_scopes,
                device_grant_enabled: registration.device_grant,
                policy: registration.policy,
                approval: registration.approval,
            },
            &registry,
        )?;
        let registration = ClientRegistration {
            client_id: registration.client_id,
            name: edit.name,
            client_type: registration.client_type,
            allowed_scopes: edit.allowed_scopes,
            device_grant: edit.device_grant_enabled,
            policy: edit.policy,
            approval: edit.approval,
        };
        self.insert(registration, admin.actor().clone(), admin.ip()).await?.ok_or(ClientError::IdTaken)
    }

    fn new_secret(&self) -> SecretString {
        SecretString::new(random_string(self.ports.random.as_ref(), base62::ALPHABET, 40))
    }

    /// The client by id, read from the database (the console shows it).
    pub async fn get(&self, _admin: &Admin, client_id: &str) -> Result<Option<OAuthClient>, StoreError> {
        self.ports.clients.find(client_id).await
    }

    /// Changes what an admin may change about a client. The audit event
    /// names every setting as it now is, and `changed` the ones this edit
    /// changed. A new approval policy judges flows started after it.
    pub async fn update(&self, admin: &Admin, client_id: &str, edit: ClientEdit) -> Result<OAuthClient, ClientError> {
        let edit = check_edit(edit, &self.scopes.catalog().await?)?;
        let before = self.ports.clients.find(client_id).await?.ok_or(ClientError::NotFound)?;
        if !self.ports.clients.update(client_id, &edit).await? {
            return Err(ClientError::NotFound);
        }
        self.forget(client_id);
        let now =
            client_settings(&edit.name, &edit.allowed_scopes, edit.device_grant_enabled, &edit.policy, &edit.approval);
        let was = client_settings(
            &before.name,
            &before.allowed_scopes,
            before.device_grant_enabled,
            &before.policy,
            &before.approval,
        );
        let changed: Vec<&String> = match (&now, &was) {
            (serde_json::Value::Object(now), serde_json::Value::Object(was)) => {
                now.iter().filter(|(key, value)| was.get(*key) != Some(*value)).map(|(key, _)| key).collect()
            }
            _ => Vec::new(),
        };
        let mut details = now.clone();
        details["changed"] = serde_json::json!(changed);
        self.record(AuditKind::ClientUpdated, admin, client_id, details).await;
        self.ports.clients.find(client_id).await?.ok_or(ClientError::NotFound)
    }

    /// Enables a disabled client; false when it was not disabled.
    pub async fn enable(&self, admin: &Admin, client_id: &str) -> Result<bool, StoreError> {
        let enabled = self.ports.clients.enable(client_id).await?;
        self.forget(client_id);
        if enabled {
            self.record(AuditKind::ClientEnabled, admin, client_id, serde_json::Value::Null).await;
        }
        Ok(enabled)
    }

    /// Gives a confidential client a new secret, returned once. The old one
    /// stops working at once on every instance (confidential clients are
    /// always authenticated against the database, never a cached record),
    /// and so do the tokens the client got with it (`client_credentials`):
    /// a secret is rotated because it may have leaked, and whoever held it
    /// may hold those tokens too.
    pub async fn rotate_secret(&self, admin: &Admin, client_id: &str) -> Result<SecretString, ClientError> {
        let client = self.ports.clients.find(client_id).await?.ok_or(ClientError::NotFound)?;
        if client.client_type != ClientType::Confidential {
            return Err(ClientError::NotConfidential);
        }
        let secret = self.new_secret();
        if !self.ports.clients.set_secret_hash(client_id, &sha256_hex(secret.expose())).await? {
            return Err(ClientError::NotFound);
        }
        self.forget(client_id);
        self.record(AuditKind::ClientSecretRotated, admin, client_id, serde_json::Value::Null).await;
        let own = TokenSelector::Subject(SubjectId { issuer: CLIENT_ISSUER.to_owned(), id: client_id.to_owned() });
        self.ports.revoke_selected(&own, admin.actor(), RevokedBy::ClientSecretRotated, admin.ip()).await?;
        Ok(secret)
    }

    async fn record(&self, kind: AuditKind, admin: &Admin, client_id: &str, details: serde_json::Value) {
        self.ports
            .audit(AuditEvent {
                kind,
                actor: Some(admin.actor().clone()),
                subject: Some(client_id.to_owned()),
                client_id: Some(client_id.to_owned()),
                ip: admin.ip().map(str::to_owned),
                details,
                at: self.ports.clock.now(),
            })
            .await;
    }

    async fn insert(
        &self,
        registration: ClientRegistration,
        actor: Actor,
        ip: Option<&str>,
    ) -> Result<Option<(OAuthClient, Option<SecretString>)>, StoreError> {
        let secret = (registration.client_type == ClientType::Confidential).then(|| self.new_secret());
        let client = OAuthClient {
            client_id: registration.client_id,
            name: registration.name,
            client_type: registration.client_type,
            secret_hash: secret.as_ref().map(|s| sha256_hex(s.expose())),
            allowed_scopes: registration.allowed_scopes,
            device_grant_enabled: registration.device_grant,
            disabled: false,
            created_at: self.ports.clock.now(),
            policy: registration.policy,
            approval: registration.approval,
        };
        if !self.ports.clients.create(&client).await? {
            return Ok(None);
        }
        self.forget(&client.client_id);
        self.ports
            .audit(AuditEvent {
                kind: AuditKind::ClientCreated,
                actor: Some(actor),
                subject: Some(client.client_id.clone()),
                client_id: Some(client.client_id.clone()),
                ip: ip.map(str::to_owned),
                details: serde_json::json!({ "client_type": client.client_type.as_str() }),
                at: client.created_at,
            })
            .await;
        Ok(Some((client, secret)))
    }

    /// Creates the default public CLI client unless it exists; true when created.
    pub async fn ensure_default_cli_client(&self) -> Result<bool, StoreError> {
        if self.ports.clients.find(DEFAULT_CLI_CLIENT_ID).await?.is_some() {
            return Ok(false);
        }
        let registration = ClientRegistration {
            client_id: DEFAULT_CLI_CLIENT_ID.to_owned(),
            name: "Gatehouse CLI".to_owned(),
            client_type: ClientType::Public,
            allowed_scopes: vec![crate::scope::FULL.to_owned(), crate::scope::ADMIN.to_owned()],
            device_grant: true,
            // The shipped CLI refreshes its grant (docs/api.md, "Grants and refresh tokens").
            policy: TokenPolicy { refresh_allowed: true, ..TokenPolicy::default() },
            approval: ApprovalPolicy::default(),
        };
        Ok(self.insert(registration, Actor::System, None).await?.is_some())
    }

    /// Authenticates a client (RFC 6749 §2.3): it must exist and be enabled,
    /// and prove its secret when confidential. Public clients have no secret.
    pub async fn authenticate(
        &self,
        client_id: Option<&str>,
        secret: Option<&SecretString>,
    ) -> Result<OAuthClient, ClientAuthError> {
        let client_id = client_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| OAuthError::new(OAuthErrorCode::InvalidRequest, "client_id is required"))?;
        let unknown = || OAuthError::new(OAuthErrorCode::InvalidClient, "unknown or disabled client");
        let mut client = self.find(client_id).await?.ok_or_else(unknown)?;
        if client.client_type == ClientType::Confidential {
            // A rotated secret must stop working at once everywhere, so a
            // confidential client's secret is always checked against the
            // database. (Public clients, the hot polling path, use the cache.)
            client = self.ports.clients.find(client_id).await?.ok_or_else(unknown)?;
        }
        if client.disabled {
            return Err(unknown().into());
        }
        let secret = secret.filter(|s| !s.expose().is_empty());
        match (client.client_type, secret, client.secret_hash.as_deref()) {
            (ClientType::Public, None, _) => {}
            (ClientType::Public, Some(_), _) => {
                return Err(OAuthError::new(OAuthErrorCode::InvalidClient, "public clients have no secret").into());
            }
            (ClientType::Confidential, Some(secret), Some(hash))
                if SecretString::new(sha256_hex(secret.expose())).constant_time_eq(hash) => {}
            (ClientType::Confidential, _, _) => {
                return Err(OAuthError::new(OAuthErrorCode::InvalidClient, "client authentication failed").into());
            }
        }
        Ok(client)
    }

    /// Authenticates the client of a device-grant request, which must also
    /// be allowed that grant.
    pub async fn authenticate_for_device_grant(
        &self,
        client_id: Option<&str>,
        secret: Option<&SecretString>,
    ) -> Result<OAuthClient, ClientAuthError> {
        let client = self.authenticate(client_id, secret).await?;
        if !client.device_grant_enabled {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "this client may not use the device authorization grant",
            )
            .into());
        }
        Ok(client)
    }

    /// Every registered client, oldest first.
    pub async fn list(&self) -> Result<Vec<OAuthClient>, StoreError> {
        self.ports.clients.list().await
    }

    /// Disables a client: it can no longer start flows, poll, revoke or
    /// introspect. False when no enabled client has this id.
    pub async fn disable(&self, admin: &Admin, client_id: &str) -> Result<bool, StoreError> {
        let disabled = self.ports.clients.disable(client_id, self.ports.clock.now()).await?;
        self.forget(client_id);
        if disabled {
            self.record(AuditKind::ClientDisabled, admin, client_id, serde_json::Value::Null).await;
        }
        Ok(disabled)
    }
}

/// A client's settings as its audit events name them.
fn client_settings(
    name: &str,
    allowed_scopes: &[String],
    device_grant_enabled: bool,
    policy: &TokenPolicy,
    approval: &ApprovalPolicy,
) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "allowed_scopes": allowed_scopes,
        "device_grant_enabled": device_grant_enabled,
        "refresh_allowed": policy.refresh_allowed,
        "access_token_ttl_secs": policy.access_token_ttl,
        "grant_ttl_secs": policy.grant_ttl,
        "grant_idle_ttl_secs": policy.grant_idle_ttl,
        "poll_interval_secs": policy.poll_interval,
        "dpop": policy.dpop.as_str(),
        "device_networks": approval.device_networks,
        "approver_network": approval.approver_network,
        "approver_networks": approval.approver_networks,
        "max_code_age_secs": approval.max_code_age_secs,
        "code_lifetime_secs": approval.code_lifetime_secs,
        "one_person_per_code": approval.one_person_per_code,
        "device_confirmation": approval.device_confirmation,
        "approvers": approval.approvers,
    })
}
