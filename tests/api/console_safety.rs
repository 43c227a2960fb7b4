//! The console's promises under stress: a revoke the person was told about
//! is audited and stops the token everywhere; one that failed is safe to
//! retry; revoke-all racing a redemption leaves no token that works but is
//! not listed; the admin listing pages by keyset without gaps or repeats.

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_overriding};
use crate::on_every_backend;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse::startup::Overrides;
use gatehouse_core::listing::TokenStatus;
use gatehouse_core::listing::{TokenQuery, TokenSelector};
use gatehouse_core::model::{
    AccessTokenRecord, GrantRotation, IssuedToken, NewAccessToken, ProviderSession, RefreshLookup, SubjectId,
};
use gatehouse_core::ports::{AuditKind, CachedLookup, TokenCache, TokenRepository};
use gatehouse_core::rate_limit::Visitor;
use gatehouse_core::rate_limit::{RateCheck, RateLimited};
use gatehouse_core::services::authorizations::AuthorizationFilter;
use gatehouse_core::services::device_flow::DecisionKind;
use gatehouse_core::{Admin, Principal, StoreError};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

/// A token cache whose invalidation fails while `failing` is set.
struct FlakyCache {
    inner: Arc<dyn TokenCache>,
    failing: Arc<AtomicBool>,
}

#[async_trait]
impl TokenCache for FlakyCache {
    async fn get_within(
        &self,
        token_hash: &str,
        limits: &[RateCheck],
        now: DateTime<Utc>,
    ) -> Result<(Option<CachedLookup>, Option<RateLimited>), StoreError> {
        self.inner.get_within(token_hash, limits, now).await
    }
    async fn put(
        &self,
        token_hash: &str,
        lookup: &CachedLookup,
        ttl: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.put(token_hash, lookup, ttl, now).await
    }
    async fn invalidate(&self, token_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::new("injected cache fault"));
        }
        self.inner.invalidate(token_id, now).await
    }
}

/// A token repository whose reads of a person's tokens fail while `failing`
/// is set (as a database that went away would).
struct FlakyTokens {
    inner: Arc<dyn TokenRepository>,
    failing: Arc<AtomicBool>,
}

impl FlakyTokens {
    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) { Err(StoreError::new("injected database fault")) } else { Ok(()) }
    }
}

#[async_trait]
impl TokenRepository for FlakyTokens {
    async fn issue(&self, token: &NewAccessToken) -> Result<IssuedToken, StoreError> {
        self.inner.issue(token).await
    }
    async fn find_by_hash(&self, token_hash: &str) -> Result<Option<AccessTokenRecord>, StoreError> {
        self.inner.find_by_hash(token_hash).await
    }
    async fn find_by_refresh_hash(&self, refresh_hash: &str) -> Result<RefreshLookup, StoreError> {
        self.inner.find_by_refresh_hash(refresh_hash).await
    }
    async fn rotate(&self, rotation: &GrantRotation) -> Result<Option<AccessTokenRecord>, StoreError> {
        self.inner.rotate(rotation).await
    }
    async fn provider_session(&self, grant_id: Uuid) -> Result<Option<ProviderSession>, StoreError> {
        self.inner.provider_session(grant_id).await
    }
    async fn provider_session_checked(
        &self,
        grant_id: Uuid,
        sealed: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.provider_session_checked(grant_id, sealed, at).await
    }
    async fn find_active_for_device(
        &self,
        subject: &SubjectId,
        client_id: &str,
        device_label: &str,
    ) -> Result<Option<AccessTokenRecord>, StoreError> {
        self.inner.find_active_for_device(subject, client_id, device_label).await
    }
    async fn find_by_id(&self, id: Uuid) -> Result<Option<AccessTokenRecord>, StoreError> {
        self.inner.find_by_id(id).await
    }
    async fn list_active_for_subject(
        &self,
        subject: &SubjectId,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccessTokenRecord>, StoreError> {
        self.check()?;
        self.inner.list_active_for_subject(subject, now).await
    }
    async fn update_subject_email(&self, subject: &SubjectId, email: &str) -> Result<u64, StoreError> {
        self.inner.update_subject_email(subject, email).await
    }
    async fn search(&self, query: &TokenQuery) -> Result<Vec<AccessTokenRecord>, StoreError> {
        self.inner.search(query).await
    }
    async fn unrevoked_ids(&self, selector: &TokenSelector) -> Result<Vec<Uuid>, StoreError> {
        self.check()?;
        self.inner.unrevoked_ids(selector).await
    }
    async fn revoke(&self, ids: &[Uuid], at: DateTime<Utc>) -> Result<Vec<AccessTokenRecord>, StoreError> {
        self.inner.revoke(ids, at).await
    }
    async fn hard_expire(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.inner.hard_expire(id, at).await
    }
    async fn touch(&self, id: Uuid, at: DateTime<Utc>, ip: Option<&str>) -> Result<(), StoreError> {
        self.inner.touch(id, at, ip).await
    }
}

async fn a_storage_fault_on_a_console_page_or_form_is_a_503_or_the_error_page(backend: Backend) {
    const MY_APPS: &str = "/settings/authorized-apps";
    const REVOKE_ALL: &str = "/console/api/settings/authorized-apps/revoke-all";
    let failing = Arc::new(AtomicBool::new(false));
    let flag = failing.clone();
    let overrides = Overrides {
        wrap_tokens: Some(Arc::new(move |inner| Arc::new(FlakyTokens { inner, failing: flag.clone() }))),
        ..Overrides::default()
    };
    let app = spawn_app_overriding(backend, |_| {}, overrides).await;
    let token = app.token_for("laptop").await;
    assert_eq!(app.sign_in("ada@example.com", crate::helpers::PASSWORD).await.status(), 200);
    let csrf = app.csrf_of(MY_APPS).await;
    failing.store(true, Ordering::SeqCst);

    // The page: 503 with Retry-After, and words a person understands.
    let page = app.browser.get(app.url(MY_APPS)).send().await.expect("page");
    assert_eq!(page.status(), 503);
    assert_eq!(page.headers()["retry-after"], "2");
    assert!(page.text().await.expect("html").contains("briefly unavailable"));
    // The form action called by a script (JavaScript on): 503, Retry-After, JSON.
    let answer = app.browser_post(REVOKE_ALL, &[("csrf_token", &csrf)]).await;
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "2");
    let body: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    // The same form posted by a browser with JavaScript off: the friendly page.
    let location = app.plain_form_post(REVOKE_ALL, &[("csrf_token", &csrf)]).await;
    assert_eq!(location, "/error?error=temporarily_unavailable");
    let error_page = app.browser.get(app.url(&location)).send().await.expect("error page");
    assert!(error_page.text().await.expect("html").contains("briefly unavailable"));
    // Nothing changed; once the database is back, all works.
    failing.store(false, Ordering::SeqCst);
    assert_eq!(app.me(&token).await.status(), 200);
    assert_eq!(app.browser.get(app.url(MY_APPS)).send().await.expect("page").status(), 200);

    // A page's server function called without a session: 401 no_session.
    let anonymous = reqwest::Client::new();
    let answer = anonymous
        .post(app.url("/console/api/settings/authorized-apps/page"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("confirm", ""), ("error", ""), ("revoked", "")])
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 401);
    let body: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(body["error"], "no_session");
}

async fn revoked_events(app: &TestApp) -> usize {
    let events = app.services.ports().audit.recent(100).await.expect("audit");
    events.iter().filter(|e| e.kind == AuditKind::TokenRevoked).count()
}

async fn a_revoke_that_fails_changes_nothing_and_a_retry_finishes_it(backend: Backend) {
    let failing = Arc::new(AtomicBool::new(false));
    let flag = failing.clone();
    let overrides = Overrides {
        wrap_token_cache: Some(Arc::new(move |inner| Arc::new(FlakyCache { inner, failing: flag.clone() }))),
        ..Overrides::default()
    };
    let app = spawn_app_overriding(backend, |_| {}, overrides).await;
    let token = app.token_for("laptop").await;
    assert_eq!(app.me(&token).await.status(), 200, "now cached");
    let revoke = || app.device.delete(app.url("/v1/oauth/authorizations/self")).bearer_auth(&token).send();

    failing.store(true, Ordering::SeqCst);
    let refused = revoke().await.expect("request");
    assert_eq!(refused.status(), 503, "the person is told it did not work");
    assert!(refused.headers().contains_key("retry-after"));
    failing.store(false, Ordering::SeqCst);
    assert_eq!(app.me(&token).await.status(), 200, "and indeed nothing changed");
    assert_eq!(revoked_events(&app).await, 0);

    assert_eq!(revoke().await.expect("request").status(), 204);
    assert_eq!(app.me(&token).await.status(), 401, "told it worked: refused at once");
    assert_eq!(revoked_events(&app).await, 1, "audited exactly once");
}

async fn introspection_and_me_agree_on_a_disabled_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app
        .register_client("resource-server", gatehouse_core::model::ClientType::Confidential, &["full"], false)
        .await
        .expect("secret");
    let token = app.token_for("laptop").await;
    let introspect = || {
        app.device
            .post(app.url("/v1/oauth/introspect"))
            .basic_auth("resource-server", Some(&secret))
            .form(&[("token", token.as_str())])
            .send()
    };
    // (Both read the account through one short-lived subject cache, so
    // neither is asked before the account is disabled.)
    let ada = app.ada().await;
    app.disable_account_in_database(&ada).await;
    let me = app.me(&token).await.status().as_u16();
    let inactive: serde_json::Value = introspect().await.expect("request").json().await.expect("json");
    assert_eq!((me, inactive["active"].as_bool()), (401, Some(false)));
}

async fn revoke_all_racing_a_redemption_leaves_no_unlisted_working_token(backend: Backend) {
    // Eighty approvals by one account: the rate limits (tested in
    // `rate_limits`) are off so the race is all that is tested.
    let app = crate::helpers::spawn_app_with(backend, |c| {
        c.settings.rate_limits = gatehouse_core::rate_limit::RateLimitSettings::off()
    })
    .await;
    let ada = app.ada().await;
    let principal = Principal::Account(ada.clone());
    for round in 0..40 {
        let old = app.token_for("old").await;
        let flow = app.start_flow(&[("device_label", &format!("racer-{round}"))]).await;
        let (user_code, device_code) =
            (flow["user_code"].as_str().expect("code"), flow["device_code"].as_str().expect("code"));
        app.services
            .device_flows
            .decide_as_account(user_code, &ada, DecisionKind::Approve, &Visitor::default())
            .await
            .expect("approve");
        let revoke_all = app.services.authorizations.revoke_all_own(&principal, None);
        let (revoked, (status, body)) = tokio::join!(revoke_all, app.poll(device_code));
        revoked.expect("revoke all");
        assert_eq!(app.me(&old).await.status(), 401, "round {round}: the older token is gone");
        let listed: HashSet<String> = app
            .services
            .authorizations
            .list_own(&principal)
            .await
            .expect("list")
            .into_iter()
            .map(|a| a.record.id.to_string())
            .collect();
        if status == 200 {
            let new = body["access_token"].as_str().expect("token");
            let works = app.me(new).await.status() == 200;
            let id = body["token_id"].as_str().expect("id").to_owned();
            assert_eq!(works, listed.contains(&id), "round {round}: works iff listed");
        }
        // Start each round from nothing.
        app.services.authorizations.revoke_all_own(&principal, None).await.expect("clean");
    }
}

async fn the_admin_listing_pages_by_keyset_without_gaps_or_repeats(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut expected = HashSet::new();
    for n in 0..7 {
        // Several tokens share a last-activity instant: ties break by id.
        if n % 3 == 0 {
            app.advance(1);
        }
        let token = app.token_for(&format!("device-{n}")).await;
        let me: serde_json::Value = app.me(&token).await.json().await.expect("json");
        expected.insert(me["token_id"].as_str().expect("id").to_owned());
    }
    let admin = Admin::command_line();
    let filter = AuthorizationFilter::default();
    for size in [1, 2, 3, 7, 8] {
        let (mut seen, mut after, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = app.services.authorizations.search(&admin, &filter, after, size).await.expect("page");
            pages += 1;
            seen.extend(page.items.iter().map(|a| a.record.id.to_string()));
            let Some(next) = page.next else { break };
            after = Some(next);
        }
        let unique: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "size {size}: no repeats");
        assert_eq!(unique, expected, "size {size}: no gaps");
        // A full last page says there is no next one.
        assert_eq!(pages, 7usize.div_ceil(size as usize), "size {size}");
    }
    // Filtered by a client with no tokens, and by status.
    let none = AuthorizationFilter { client_id: Some("nobody".into()), ..AuthorizationFilter::default() };
    assert!(app.services.authorizations.search(&admin, &none, None, 10).await.expect("page").items.is_empty());
    let revoked = AuthorizationFilter { status: TokenStatus::Revoked, ..AuthorizationFilter::default() };
    assert!(app.services.authorizations.search(&admin, &revoked, None, 10).await.expect("page").items.is_empty());
    // A cursor that does not parse is the first page, not an error.
    app.create_admin("root@example.com").await;
    app.sign_in("root@example.com", crate::helpers::PASSWORD).await;
    let page = app.browser.get(app.url("/admin/authorized-apps?after=garbage")).send().await.expect("page");
    assert_eq!(page.status(), 200);
}

on_every_backend!(
    a_storage_fault_on_a_console_page_or_form_is_a_503_or_the_error_page,
    a_revoke_that_fails_changes_nothing_and_a_retry_finishes_it,
    introspection_and_me_agree_on_a_disabled_account,
    revoke_all_racing_a_redemption_leaves_no_unlisted_working_token,
    the_admin_listing_pages_by_keyset_without_gaps_or_repeats,
);
