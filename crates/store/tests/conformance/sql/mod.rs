//! The same cases against every SQL backend: each repository query is
//! checked once, on SQLite and on PostgreSQL (when
//! `GATEHOUSE_TEST_DATABASE_URL` is set; skipped by name otherwise, and a
//! failure under `CI=true`), below the HTTP layer.

use chrono::{DateTime, Duration, DurationRound, Utc};
use gatehouse_core::Actor;
use gatehouse_core::listing::{ActivityCursor, TokenQuery, TokenSelector, TokenStatus};
use gatehouse_core::model::{
    ClientType, DpopMode, FlowSubject, GrantRotation, NewAccessToken, OAuthClient, ProviderSession, RefreshLookup,
    ScopeDefinition, ScopeHolders, SsoPerson, SubjectId, TokenPolicy,
};
use gatehouse_core::ports::{
    AccountChange, AccountChangeOutcome, AccountQuery, AuditEvent, AuditKind, AuditQuery, ClientEdit,
    CreateAccountError, NewAccount, Prunable,
};
use gatehouse_store::Database;
use gatehouse_store::sql::Repositories;
use gatehouse_store::testing::TestDatabase;
use gatehouse_store::tls::ExtraRoots;
use uuid::Uuid;

use crate::common::service;

mod accounts;
mod audit;
mod clients;
mod passkeys;
mod retention;
mod scopes;
mod tokens;

/// What keeps a test's database alive until the test ends.
#[allow(dead_code)]
enum Kept {
    File(tempfile::TempDir),
    Postgres(TestDatabase),
}

/// Every backend with a fresh, migrated database.
async fn databases(test: &str) -> Vec<(&'static str, Repositories, Kept, Database)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = Database::connect(&format!("sqlite://{}/conformance.db", dir.path().display()), &ExtraRoots::none())
        .await
        .expect("sqlite");
    sqlite.migrate().await.expect("migrate sqlite");
    let mut all = vec![("sqlite", sqlite.repositories(), Kept::File(dir), sqlite)];
    if let Some(base) = service::backend_url("GATEHOUSE_TEST_DATABASE_URL", "postgres", test) {
        let database = TestDatabase::create(&base).await;
        let postgres = Database::connect(database.url(), &ExtraRoots::none()).await.expect("postgres");
        all.push(("postgres", postgres.repositories(), Kept::Postgres(database), postgres));
    }
    all
}

/// Now, to the second: SQLite keeps whole seconds.
fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).expect("truncate")
}

async fn client(repos: &Repositories, id: &str) {
    let client = OAuthClient {
        client_id: id.to_owned(),
        name: format!("{id} app"),
        client_type: ClientType::Public,
        secret_hash: None,
        allowed_scopes: vec!["full".into()],
        device_grant_enabled: true,
        disabled: false,
        created_at: now(),
        policy: TokenPolicy::default(),
        approval: Default::default(),
    };
    assert!(repos.clients.create(&client).await.expect("create client"));
}

/// The SSO issuer the tokens below are minted under.
const ISSUER: &str = "https://idp.example";

/// The person who goes by `email` at [`ISSUER`] (their `sub` is made from it).
fn person(email: &str) -> SubjectId {
    SubjectId { issuer: ISSUER.into(), id: format!("sub-{email}") }
}

/// An SSO person's flow subject: `sub` and `email` at [`ISSUER`].
fn flow_subject(sub: Option<&str>, email: &str) -> FlowSubject {
    FlowSubject { sub: sub.map(str::to_owned), ..FlowSubject::new(None, email.to_owned(), ISSUER.into()) }
}

/// A token for one person's device, valid for 30 days from `created`.
fn new_token(email: &str, client_id: &str, label: &str, created: DateTime<Utc>) -> NewAccessToken {
    NewAccessToken {
        id: Uuid::new_v4(),
        subject: flow_subject(Some(&person(email).id), email),
        client_id: client_id.to_owned(),
        device_label: label.to_owned(),
        prefix: "gtha_".into(),
        token_hash: format!("hash-{}", Uuid::new_v4()),
        refresh_token_hash: Some(format!("refresh-{}", Uuid::new_v4())),
        scopes: vec!["full".into()],
        created_at: created,
        expires_at: created + Duration::days(30),
        access_expires_at: created + Duration::hours(1),
        max_expires_at: created + Duration::days(90),
        dpop_jkt: Some(format!("jkt-{}", Uuid::new_v4())),
        provider_session: None,
        approval: None,
    }
}

async fn token(repos: &Repositories, email: &str, client_id: &str, label: &str, created: DateTime<Utc>) -> Uuid {
    repos.tokens.issue(&new_token(email, client_id, label, created)).await.expect("issue").id
}

fn query(now: DateTime<Utc>) -> TokenQuery {
    TokenQuery {
        subject_email: None,
        client_id: None,
        crossed_networks: false,
        status: TokenStatus::Active,
        after: None,
        limit: 100,
        now,
    }
}
